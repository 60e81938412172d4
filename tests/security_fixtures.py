"""A dashboard served by real uvicorn on a loopback port, for the security and fuzzing tests.

It is ``talktime run``'s server (``api.server.uvicorn_config``: the same size and connection
limits) over a ``ScriptedEngine`` meeting fed by hand, so raw paths, raw websocket frames and
real sockets reach the app exactly as they would from the room's network.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn

from api.app import create_app
from api.server import uvicorn_config
from api.settings import Settings
from api_fixtures import FedSource, scripted_session, wait_for
from tracker.meeting.session import MeetingSession

CODE, TOKEN = "viewer-code-7", "facilitator-token-7"
VIEW = {"Authorization": f"Bearer {CODE}"}
CONTROL = {"Authorization": f"Bearer {TOKEN}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveRoom:
    """A served meeting: ``base`` is ``http://127.0.0.1:<port>``."""

    base: str
    port: int
    session: MeetingSession
    source: FedSource
    settings: Settings

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"


@contextmanager
def live_room(seconds: float = 20.0, roster: Sequence[str] = (), **settings: Any) -> Iterator[LiveRoom]:
    """Serve a scripted meeting with ``seconds`` of it already heard and ``roster`` expected (ids -1,
    -2, ...); stop the server afterwards."""
    session, source = scripted_session()
    for name in roster:
        session.expect(name)
    port = free_port()
    full = Settings(code=CODE, token=TOKEN, host="127.0.0.1", port=port, save=False, **settings)
    app = create_app(full, session=session)
    server = uvicorn.Server(uvicorn_config(app, full))
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, timeout=20, what="uvicorn to start")
        source.feed(seconds)
        wait_for(lambda: session.snapshot().clock_s >= seconds - 1e-6, what="the meeting to hear the feed")
        yield LiveRoom(f"http://127.0.0.1:{port}", port, session, source, full)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        assert not thread.is_alive(), "uvicorn did not stop"


@contextmanager
def app_client(fed_s: float = 2.0) -> Iterator[Any]:
    """The real app (``create_app``) over a scripted meeting with this module's codes, in
    starlette's TestClient, ``fed_s`` seconds of the meeting already fed."""
    from fastapi.testclient import TestClient

    session, source = scripted_session()
    app = create_app(Settings(code=CODE, token=TOKEN, save=False), session=session)
    with TestClient(app) as client:
        source.feed(fed_s)
        yield client
