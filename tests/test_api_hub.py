"""The websocket hub: slow or vanished viewers never hold up the others (bounded outboxes)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from api.events import HelloEvent
from api.hub import CLOSE_SLOW, Hub, Outbox


class FakeSocket:
    """The part of a starlette WebSocket the hub uses; ``stuck`` ones never finish a send."""

    def __init__(self, *, stuck: bool = False) -> None:
        self.stuck = stuck
        self.received: list[tuple[float, dict[str, Any]]] = []
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.closed: int | None = None

    async def send_text(self, text: str) -> None:
        if self.stuck:
            await asyncio.Event().wait()
        self.received.append((time.perf_counter(), json.loads(text)))

    async def receive(self) -> dict[str, Any]:
        return await self.incoming.get()

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed = code
        self.incoming.put_nowait({"type": "websocket.disconnect", "code": code})

    def states(self) -> list[dict[str, Any]]:
        return [m for _, m in self.received if m["type"] == "state"]


def test_outbox_drops_the_oldest() -> None:
    async def main() -> None:
        box = Outbox(2)
        for text in ("a", "b", "c"):
            box.put(text)
        assert len(box) == 2 and box.dropped == 1
        assert [await box.get(), await box.get()] == ["b", "c"]

    asyncio.run(main())
    with pytest.raises(ValueError):
        Outbox(0)


def test_stuck_viewers_do_not_delay_fifty_others() -> None:
    async def main() -> None:
        hub = Hub(outbox_size=3, send_timeout_s=30.0)
        fast = [FakeSocket() for _ in range(50)]
        stuck = [FakeSocket(stuck=True) for _ in range(5)]
        hello = HelloEvent("m", "viewer")
        tasks = [asyncio.create_task(hub.serve(ws, role="viewer", hello=hello)) for ws in fast + stuck]  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
        sent_at = []
        for i in range(20):
            t0 = time.perf_counter()
            hub.publish(json.dumps({"type": "state", "state": {"n": i}}))
            assert time.perf_counter() - t0 < 0.01  # publishing never waits for anyone
            sent_at.append(t0)
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        for ws in fast:
            states = ws.states()
            assert [s["state"]["n"] for s in states] == list(range(20))
            delays = [t - sent_at[s["state"]["n"]] for (t, m), s in zip(ws.received[1:], states, strict=True)]
            assert max(delays) < 0.5  # a stuck viewer would hold them for send_timeout_s (30 s); 0.5 s allows a busy CI
        for ws in stuck:
            conn = next(c for c in hub.connections if c.websocket is ws)
            assert len(conn.outbox) <= 3 and conn.outbox.dropped > 0
        for ws in fast + stuck:
            await ws.close()
        await asyncio.wait_for(asyncio.gather(*tasks), 2.0)
        assert not hub.connections

    asyncio.run(main())


def test_a_viewer_too_slow_for_send_timeout_is_dropped() -> None:
    async def main() -> None:
        hub = Hub(send_timeout_s=0.1)
        ws = FakeSocket(stuck=True)
        task = asyncio.create_task(hub.serve(ws, role="viewer", hello=HelloEvent("m", "viewer")))  # type: ignore[arg-type]
        await asyncio.wait_for(task, 2.0)
        assert ws.closed == CLOSE_SLOW and not hub.connections

    asyncio.run(main())


def test_new_viewer_gets_the_latest_state_first() -> None:
    async def main() -> None:
        hub = Hub()
        hub.publish(json.dumps({"type": "state", "state": {"n": 1}}))
        hub.publish(json.dumps({"type": "state", "state": {"n": 2}}))
        ws = FakeSocket()
        task = asyncio.create_task(hub.serve(ws, role="facilitator", hello=HelloEvent("m", "facilitator")))  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
        assert [m["type"] for _, m in ws.received] == ["hello", "state"]
        assert ws.states()[0]["state"] == {"n": 2}
        await ws.close()
        await asyncio.wait_for(task, 1.0)

    asyncio.run(main())
