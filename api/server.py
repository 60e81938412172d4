"""``talktime run``: capture, pipeline and dashboard in one process, served by uvicorn.

Prints where the room can open the page and the codes it needs, then serves until Ctrl-C (or
SIGTERM), which ends the meeting.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import socket
import sys

import uvicorn
from fastapi import FastAPI

from api.app import create_app, room_from_settings, session_from_settings
from api.limits import MAX_HEAD_BYTES
from api.network import NO_NETWORK, is_loopback_host, lan_addresses
from api.reports import open_store_for_run
from api.settings import Settings, settings_from_args
from tracker.logs import CurrentStderr
from tracker.meeting.session import MeetingSession
from tracker.sources.files import FileSource
from tracker.store.storage import MeetingStore

log = logging.getLogger("talktime")

WS_PING_INTERVAL_S = 10.0  # seconds between pings; a browser that vanished is noticed within
WS_PING_TIMEOUT_S = 10.0  # ... interval + timeout seconds
GRACEFUL_SHUTDOWN_S = 3  # seconds uvicorn waits for open connections when stopping
SPARE_CONNECTIONS = 50  # connections beyond max_viewers for page loads and controls (uvicorn answers 503 beyond)


class _Server(uvicorn.Server):
    """uvicorn's server, except that Ctrl-C or SIGTERM is a normal end of the meeting (exit 0)."""

    async def _serve(self, sockets: list[socket.socket] | None = None) -> None:
        await super()._serve(sockets)
        # NB: uvicorn re-raises a caught signal after a graceful shutdown; the lifespan has already
        # ended the meeting, so there is nothing left for the signal to do.
        self._captured_signals.clear()


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise OSError(f"port {port} on {host} is in use; expected a free port (--port)") from exc
            raise OSError(f"cannot listen on {host}:{port} ({exc.strerror}); expected an address of this machine (--host)") from exc


def banner(settings: Settings, session: MeetingSession, addresses: list[str] | None = None) -> str:
    """What ``talktime run`` prints: where to open the page and with which code.

    ``addresses`` are this machine's LAN addresses (default: found now, ``api.network.lan_addresses``).
    """
    port = settings.port
    everywhere = settings.host in ("0.0.0.0", "::")
    local = "127.0.0.1" if everywhere else settings.host
    lines = [
        f"talktime: meeting {session.id} ({session.input.label})",
        f"  facilitator (this machine): http://{local}:{port}/#code={settings.token}",
    ]
    # NB: the code rides in the fragment, which browsers never send: it stays out of every log.
    if everywhere:
        hosts = lan_addresses() if addresses is None else addresses
        lines += [f"  viewers on the room's network: http://{h}:{port}/#code={settings.code}" for h in hosts]
        if not hosts:
            lines.append(f"  viewers: {NO_NETWORK}: http://{local}:{port}/#code={settings.code}")
    elif is_loopback_host(settings.host):
        lines.append(f"  viewers: this machine only (--host {settings.host}): "
                     f"http://{local}:{port}/#code={settings.code}")
    else:
        lines.append(f"  viewers on the room's network: http://{settings.host}:{port}/#code={settings.code}")
    lines += [
        f"  meeting code: {settings.code}    facilitator token: {settings.token}",
        "  Ctrl-C ends the meeting.",
    ]
    return "\n".join(lines)


def uvicorn_config(app: FastAPI, settings: Settings) -> uvicorn.Config:
    """How uvicorn serves the dashboard: quiet, with the limits of ``settings`` on sizes and connections."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,  # NB: URLs may carry the meeting code
        lifespan="on",
        ws_max_size=settings.max_message_bytes,
        ws_per_message_deflate=False,  # compressing every state for every viewer costs more than it saves
        ws_ping_interval=WS_PING_INTERVAL_S,
        ws_ping_timeout=WS_PING_TIMEOUT_S,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        limit_concurrency=settings.max_viewers + SPARE_CONNECTIONS,
    )


def configure_logging(level: str) -> None:
    """talktime's events, one line each, on standard error at ``level`` (journald, under systemd,
    adds the time and the unit itself)."""
    under_journald = bool(os.environ.get("JOURNAL_STREAM"))
    fmt = "%(levelname)s %(message)s" if under_journald else "%(asctime)s %(levelname)s %(message)s"
    handler = logging.StreamHandler(CurrentStderr())
    handler.setFormatter(logging.Formatter(fmt, datefmt="%Y-%m-%d %H:%M:%S"))
    logger = logging.getLogger("talktime")
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False


def _started(settings: Settings, store: MeetingStore | None) -> str:
    device = f"file {settings.input}" if settings.input else f"microphone {settings.device or '(system default)'}"
    if settings.call_input is not None or settings.call_device is not None:
        call = f"call file {settings.call_input}" if settings.call_input else f"call source {settings.call_device}"
        device = call if settings.input is None and settings.device is None else f"{device} + {call}"
    auto = []
    if settings.start_on_speech:
        auto.append(f"meetings start on speech after {settings.quiet_before_start_s:g} s of quiet")
    if settings.auto_end_after:
        auto.append(f"end after {settings.auto_end_after:g} min without speech")
    return (f"talktime started: dashboard on {settings.host}:{settings.port}, input {device}, "
            f"data dir {store.path.parent if store else 'none (--no-save)'}" + "".join(f"; {a}" for a in auto))


def serve(args: argparse.Namespace) -> int:
    """Run the live dashboard from parsed ``talktime run`` flags; returns the exit code."""
    settings = settings_from_args(args).with_secrets()
    configure_logging(settings.log_level)
    if settings.input is not None:
        FileSource(settings.input)  # a bad file fails before the models load
    _check_port_free(settings.host, settings.port)
    store, notes = open_store_for_run(settings) if settings.save else (None, ["meeting record: off (--no-save)"])
    try:
        return _serve(settings, store, notes)
    finally:
        if store is not None:
            store.close()


def _serve(settings: Settings, store: MeetingStore | None, notes: list[str]) -> int:
    session = session_from_settings(settings)
    room = room_from_settings(settings, session, store)
    try:
        # NB: opened here, not in the app's startup, so a store that cannot record the meeting is
        # one clear line and a non-zero exit rather than a traceback from uvicorn.
        room.open()
        server = _Server(uvicorn_config(create_app(settings, room=room), settings))
        print(banner(settings, session), flush=True)
        print("\n".join(f"  {n}" for n in notes), flush=True)
        log.info("%s", _started(settings, store))
        server.run()
    finally:
        room.close()
    if not server.started:
        print("talktime: the dashboard did not start (see the message above)", file=sys.stderr)
        return 1
    log.info("talktime stopped")
    return 0
