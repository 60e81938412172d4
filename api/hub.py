"""Fan-out of events to websocket viewers that survives slow and vanished browsers.

Each connection has a bounded outbox: publishing appends to every outbox without awaiting anyone,
and a full outbox drops its oldest message (only the newest state matters). A sender task per
connection drains its own outbox; a receiver task answers the browser and notices when it leaves.
Both run in one task group, so either ending ends the connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import anyio
from starlette.websockets import WebSocket, WebSocketDisconnect

from api.events import CLIENT_TYPES, ErrorEvent, Event, PongEvent, encode
from api.limits import TokenBucket

log = logging.getLogger("talktime.api")

CLOSE_TOO_BIG = 1009  # RFC 6455: message too big to process
CLOSE_TRY_LATER = 1013  # RFC 6455: try again later (too many viewers)
CLOSE_SLOW = 1008  # policy violation: did not keep up for send_timeout_s
CLOSE_FLOOD = 1008  # policy violation: sent more messages than messages_per_s allows


class Outbox:
    """A bounded queue of encoded messages that never blocks a producer.

    States and replies are bounded apart: a new state beyond ``maxlen`` drops the oldest queued
    state (only the newest state matters), and a reply (``hello``, ``pong``, ``error``) beyond
    ``max_replies`` drops the oldest queued reply. So a burst of states never pushes out the answer
    to a browser's message. Messages leave in the order they were put.

    ``close_after`` ends the outbox: what is queued still leaves, nothing new is taken, and then
    ``get`` gives the close (code, reason) instead of a message.
    """

    def __init__(self, maxlen: int, *, max_replies: int = 32) -> None:
        if maxlen < 1 or max_replies < 1:
            raise ValueError(f"Outbox expected maxlen >= 1 and max_replies >= 1, got {maxlen!r} and {max_replies!r}")
        self.maxlen, self.max_replies = maxlen, max_replies
        self._items: deque[tuple[bool, str]] = deque()  # (is a reply, text)
        self._counts = {False: 0, True: 0}
        self._ready = asyncio.Event()
        self.dropped = 0
        self.closing: tuple[int, str] | None = None

    def put(self, text: str, *, reply: bool = False) -> None:
        if self.closing is not None:
            return
        if self._counts[reply] == (self.max_replies if reply else self.maxlen):
            oldest = next(i for i, (kind, _) in enumerate(self._items) if kind is reply)
            del self._items[oldest]
            self._counts[reply] -= 1
            self.dropped += 1
        self._items.append((reply, text))
        self._counts[reply] += 1
        self._ready.set()

    def close_after(self, code: int, reason: str) -> None:
        """Close the connection once what is queued now has left."""
        if self.closing is None:
            self.closing = (code, reason)
            self._ready.set()

    async def get(self) -> str | tuple[int, str]:
        """The next message, or the close once every queued message has left."""
        while not self._items:
            if self.closing is not None:
                return self.closing
            self._ready.clear()
            await self._ready.wait()
        reply, text = self._items.popleft()
        self._counts[reply] -= 1
        return text

    def __len__(self) -> int:
        return len(self._items)


@dataclass(eq=False)
class Connection:
    websocket: WebSocket
    outbox: Outbox
    role: str
    info: dict[str, Any] = field(default_factory=dict)


class Hub:
    """The set of live viewers and the newest state, shared by every connection.

    Parameters
    ----------
    outbox_size : messages queued per viewer.
    max_viewers : connections at once; later ones are closed with 1013.
    max_message_bytes : largest message a browser may send; larger ones close with 1009.
    send_timeout_s : seconds one send may take before the viewer is dropped as too slow.
    messages_per_s, message_burst : messages a browser may send per second on average, and at once;
        a flood closes its connection with 1008.
    """

    def __init__(
        self, *, outbox_size: int = 4, max_viewers: int = 200, max_message_bytes: int = 16_384, send_timeout_s: float = 10.0,
        messages_per_s: float = 5.0, message_burst: int = 20,
    ) -> None:
        self.messages_per_s, self.message_burst = messages_per_s, message_burst
        self.outbox_size = outbox_size
        self.max_viewers = max_viewers
        self.max_message_bytes = max_message_bytes
        self.send_timeout_s = send_timeout_s
        self.connections: set[Connection] = set()
        self.latest: str | None = None  # the newest encoded state, sent at once to a new viewer
        self.published = 0

    def publish(self, text: str) -> None:
        """Queue an encoded state for every viewer; never awaits (call it in the event loop)."""
        self.latest = text
        self.published += 1
        for conn in tuple(self.connections):
            conn.outbox.put(text)

    @property
    def dropped(self) -> int:
        return sum(c.outbox.dropped for c in self.connections)

    async def serve(self, websocket: WebSocket, *, role: str, hello: Event) -> None:
        """Run one accepted connection until the browser leaves or stops keeping up."""
        if len(self.connections) >= self.max_viewers:
            await websocket.close(CLOSE_TRY_LATER, f"too many viewers (at most {self.max_viewers})")
            return
        # NB: room for the hello and an answer to every message of a burst
        conn = Connection(websocket, Outbox(self.outbox_size, max_replies=self.message_burst + 1), role)
        conn.outbox.put(encode(hello), reply=True)
        if self.latest is not None:
            conn.outbox.put(self.latest)
        self.connections.add(conn)
        try:
            async with anyio.create_task_group() as tg:

                async def receive() -> None:
                    if not await self._receive(conn):  # NB: closing: the sender ends it after the queued answers
                        tg.cancel_scope.cancel()

                async def send() -> None:
                    await self._send(conn)
                    tg.cancel_scope.cancel()

                tg.start_soon(receive)
                tg.start_soon(send)
        finally:
            self.connections.discard(conn)

    async def _send(self, conn: Connection) -> None:
        while True:
            text = await conn.outbox.get()
            if isinstance(text, tuple):
                await self._close(conn, *text)
                return
            try:
                with anyio.fail_after(self.send_timeout_s):
                    await conn.websocket.send_text(text)
            except TimeoutError:
                log.info("dropping a viewer that took over %.0f s to accept a message", self.send_timeout_s)
                await self._close(conn, CLOSE_SLOW, "too slow")
                return
            except (WebSocketDisconnect, RuntimeError, OSError):
                return

    async def _receive(self, conn: Connection) -> bool:
        """Answer the browser's messages until it leaves (False) or floods (True: the connection
        closes once the answers to the messages within the burst have been sent)."""
        ws = conn.websocket
        bucket = TokenBucket(self.messages_per_s, self.message_burst)
        while True:
            try:
                message = await ws.receive()
            except (RuntimeError, OSError):
                return False
            if message["type"] == "websocket.disconnect":
                return False
            if not bucket.take():
                conn.outbox.close_after(CLOSE_FLOOD, f"too many messages; expected at most {self.messages_per_s:g} per second")
                return True
            text = message.get("text")
            data = message.get("bytes")
            size = len(text.encode()) if text is not None else len(data or b"")
            if size > self.max_message_bytes:
                await self._close(conn, CLOSE_TOO_BIG, f"message of {size} bytes; expected at most {self.max_message_bytes}")
                return False
            reply = self._answer(text)
            if reply is not None:
                conn.outbox.put(reply, reply=True)

    def _answer(self, text: str | None) -> str | None:
        """The reply to one browser message (an ``error`` event for anything unusable)."""
        if text is None:
            return encode(ErrorEvent("binary message; expected JSON text like {\"type\": \"ping\"}"))
        try:
            msg = json.loads(text)
        except ValueError:
            return encode(ErrorEvent("malformed message; expected JSON like {\"type\": \"ping\"}"))
        except RecursionError:  # NB: valid JSON nested deeper than Python's parser goes
            return encode(ErrorEvent("message nested too deeply; expected JSON like {\"type\": \"ping\"}"))
        kind = msg.get("type") if isinstance(msg, dict) else None
        if kind not in CLIENT_TYPES:
            return encode(ErrorEvent(f"unknown message type {kind!r}; expected one of {list(CLIENT_TYPES)}"))
        if kind == "ping":
            return encode(PongEvent())
        return self.latest  # refresh

    async def _close(self, conn: Connection, code: int, reason: str) -> None:
        try:
            with anyio.move_on_after(1.0):
                await conn.websocket.close(code, reason[:120])
        except (RuntimeError, OSError, WebSocketDisconnect):
            pass
