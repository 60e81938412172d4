"""Every websocket message the server cannot use gets an ``error`` reply (docs/dashboard.md).

The QA run sent six messages in a row while states were streaming and got four replies back: the
viewer's outbox of 4 dropped its oldest messages, answers included. Replies are now queued apart
from states, so a burst of states never pushes an answer out.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.events import HelloEvent
from api.hub import Hub, Outbox
from security_fixtures import VIEW, app_client

# The QA engineer's six messages and the reply each must get.
QA_MESSAGES: list[tuple[str, str]] = [
    ("not json", "error"),
    ("{}", "error"),
    ('{"type":"explode"}', "error"),
    ('{"type":"ping"}', "pong"),
    ("[1,2]", "error"),
    ('{"type": null}', "error"),
]


class GatedSocket:
    """A starlette WebSocket stand-in whose sends wait until ``gate`` is set (a slow phone)."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.received: list[dict[str, Any]] = []
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def send_text(self, text: str) -> None:
        await self.gate.wait()
        self.received.append(json.loads(text))

    async def receive(self) -> dict[str, Any]:
        return await self.incoming.get()

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.incoming.put_nowait({"type": "websocket.disconnect", "code": code})


def test_outbox_drops_old_states_but_keeps_replies() -> None:
    async def main() -> None:
        box = Outbox(2, max_replies=3)
        box.put("hello", reply=True)
        for text in ("s1", "s2", "s3", "s4"):
            box.put(text)
        for text in ("e1", "e2"):
            box.put(text, reply=True)
        assert [await box.get() for _ in range(len(box))] == ["hello", "s3", "s4", "e1", "e2"]
        assert box.dropped == 2
        for text in ("r1", "r2", "r3", "r4"):
            box.put(text, reply=True)
        assert [await box.get() for _ in range(len(box))] == ["r2", "r3", "r4"]  # replies are bounded too

    asyncio.run(main())
    with pytest.raises(ValueError, match="max_replies"):
        Outbox(1, max_replies=0)


def test_a_burst_of_messages_while_states_stream_gets_every_reply() -> None:
    async def main() -> None:
        hub = Hub(outbox_size=4)
        ws = GatedSocket()
        task = asyncio.create_task(hub.serve(ws, role="viewer", hello=HelloEvent("m", "viewer")))  # type: ignore[arg-type]
        await asyncio.sleep(0.01)
        for text, _ in QA_MESSAGES:
            ws.incoming.put_nowait({"type": "websocket.receive", "text": text})
        await asyncio.sleep(0.01)
        for n in range(10):  # the meeting goes on while the phone is slow
            hub.publish(json.dumps({"type": "state", "state": {"n": n}}))
        ws.gate.set()
        await asyncio.sleep(0.05)
        replies = [m["type"] for m in ws.received if m["type"] not in ("hello", "state")]
        assert replies == [want for _, want in QA_MESSAGES]
        states = [m["state"]["n"] for m in ws.received if m["type"] == "state"]
        assert states[-1] == 9  # and the newest state still arrives
        await ws.close()
        await asyncio.wait_for(task, 1.0)

    asyncio.run(main())


@pytest.fixture
def client() -> Iterator[TestClient]:
    with app_client() as c:
        yield c


def test_each_unusable_message_gets_an_error_that_says_what_was_expected(client: TestClient) -> None:
    with client.websocket_connect("/ws", headers=VIEW) as ws:
        assert ws.receive_json()["type"] == "hello"
        for text, _ in QA_MESSAGES:
            ws.send_text(text)
        ws.send_bytes(b"\x00\x01")
        got: list[dict[str, Any]] = []
        while len(got) < len(QA_MESSAGES) + 1:
            msg = ws.receive_json()
            if msg["type"] != "state":
                got.append(msg)
    assert [m["type"] for m in got] == [want for _, want in QA_MESSAGES] + ["error"]
    for m in got:
        if m["type"] == "error":
            assert "expected" in m["reason"], m
