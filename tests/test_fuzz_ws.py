"""Fuzzing of the dashboard's websocket with a real client over a real socket.

Generated messages (any text, any JSON, any bytes, near the size limit) each get the answer the
protocol promises: ``pong``, ``state`` or an ``error`` saying what was expected. Huge messages,
floods and broken frames close that one connection with a code and a reason, while another
viewer keeps receiving the meeting and the server keeps serving.

More examples, by hand: ``TALKTIME_FUZZ_EXAMPLES=2000 .venv/bin/python -m pytest -q tests/test_fuzz_ws.py``.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from api.events import CLIENT_TYPES
from security_fixtures import VIEW, LiveRoom, live_room

FUZZ_EXAMPLES = int(os.environ.get("TALKTIME_FUZZ_EXAMPLES", "60"))
MAX_BYTES = 16_384  # the default max_message_bytes

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
messages = st.one_of(
    st.text(max_size=200),  # mostly not JSON
    json_values.map(json.dumps),  # JSON, but rarely an object with a known type
    st.fixed_dictionaries({"type": st.sampled_from([*CLIENT_TYPES, "hello", "state", "", "PING"]) | json_values},
                          optional={"extra": json_values}).map(json.dumps),
    st.binary(max_size=200),
    st.integers(MAX_BYTES - 64, MAX_BYTES).map(lambda n: json.dumps({"type": "ping", "pad": "x" * n})[:MAX_BYTES]),
)


def viewer_headers() -> dict[str, str]:
    """The viewer's code header, fresh: starlette's TestClient adds its own websocket headers to the
    dict it is given, so the shared ``VIEW`` may carry a stale Sec-WebSocket-Key by the time a real
    client sends it (the server then answers 400: "multiple values")."""
    return {"Authorization": VIEW["Authorization"]}


def expected_reply(message: str | bytes) -> str:
    """The event type the protocol promises for ``message`` (see api/events.py)."""
    if isinstance(message, bytes):
        return "error"
    try:
        decoded = json.loads(message)
    except ValueError:
        return "error"
    kind = decoded.get("type") if isinstance(decoded, dict) else None
    return {"ping": "pong", "refresh": "state"}.get(kind, "error") if isinstance(kind, str) else "error"


def next_reply(ws: ClientConnection, wanted: str) -> dict[str, Any]:
    """The next message of type ``wanted``, skipping the periodic ``state`` pushes (unless wanted)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        msg: dict[str, Any] = json.loads(ws.recv(timeout=5))
        if msg["type"] == wanted:
            return msg
        assert msg["type"] in ("state", "hello"), msg
    raise AssertionError(f"no {wanted} reply within 5 s")


@pytest.fixture(scope="module")
def room() -> Iterator[LiveRoom]:
    # NB: the message rate is raised here so the generated messages are not a flood; floods have their own test.
    with live_room(ws_messages_per_s=10_000.0, ws_message_burst=10_000) as served:
        yield served


@pytest.fixture(scope="module")
def viewer(room: LiveRoom) -> Iterator[ClientConnection]:
    with connect(room.ws_url, additional_headers=viewer_headers(), max_size=None) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "hello"
        yield ws


@given(message=messages)
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_message_gets_the_promised_answer(viewer: ClientConnection, message: str | bytes) -> None:
    viewer.send(message)
    wanted = expected_reply(message)
    reply = next_reply(viewer, wanted)
    if wanted == "error":
        assert "expected" in reply["reason"], reply


def test_the_fuzzed_viewer_is_still_served(viewer: ClientConnection, room: LiveRoom) -> None:
    viewer.send(json.dumps({"type": "ping"}))
    next_reply(viewer, "pong")
    assert requests.get(f"{room.base}/api/state", headers=VIEW, timeout=5).json()["status"] == "running"


# ----------------------------------------------------------------------------- what closes a connection


@pytest.fixture
def default_room() -> Iterator[LiveRoom]:
    with live_room(seconds=2.0) as served:
        yield served


def watcher(room: LiveRoom) -> ClientConnection:
    ws = connect(room.ws_url, additional_headers=viewer_headers())
    assert json.loads(ws.recv(timeout=5))["type"] == "hello"
    return ws


def assert_still_watching(ws: ClientConnection, room: LiveRoom) -> None:
    next_reply(ws, "state")  # the periodic push still arrives
    ws.send(json.dumps({"type": "ping"}))
    next_reply(ws, "pong")
    assert requests.get(f"{room.base}/api/state", headers=VIEW, timeout=5).json()["status"] == "running"


def test_a_flood_closes_only_the_flooder(default_room: LiveRoom) -> None:
    other = watcher(default_room)
    with connect(default_room.ws_url, additional_headers=viewer_headers()) as flooder:
        with pytest.raises(ConnectionClosed):
            for _ in range(500):
                flooder.send(json.dumps({"type": "ping"}))
            while True:
                flooder.recv(timeout=5)
        assert flooder.close_code == 1008 and "too many messages" in (flooder.close_reason or "")
    assert_still_watching(other, default_room)
    other.close()


def _pongs_to(room: LiveRoom, pings: int) -> tuple[int, float, ClientConnection]:
    """Send ``pings`` pings at once; the pongs that came back, the seconds the sending took, the connection."""
    ws = connect(room.ws_url, additional_headers=viewer_headers())
    try:
        assert json.loads(ws.recv(timeout=5))["type"] == "hello"
        began = time.monotonic()
        for _ in range(pings):
            ws.send(json.dumps({"type": "ping"}))
        took = time.monotonic() - began
        pongs, quiet_after = 0, time.monotonic() + 3  # states keep coming twice a second: stop on time
        try:
            while time.monotonic() < quiet_after:
                pongs += json.loads(ws.recv(timeout=3))["type"] == "pong"
        except (ConnectionClosed, TimeoutError):
            pass
    finally:
        try:
            ws.close()
        except (ConnectionClosed, TimeoutError):  # NB: the server closed first (1008, kept in ws.close_code);
            pass  # on a busy machine the end of its TCP connection can outlast the client's close timeout
    return pongs, took, ws


def test_the_documented_burst_is_answered_in_full(default_room: LiveRoom) -> None:
    """docs/security.md: 5 messages a second, bursts of 20; beyond the burst the connection closes
    with 1008, after answering every message within the burst."""
    pongs, _, ws = _pongs_to(default_room, 20)
    assert pongs == 20 and ws.close_code in (None, 1000)  # closed by us, not by the server
    pongs, took, ws = _pongs_to(default_room, 40)
    assert ws.close_code == 1008 and ws.close_reason == "too many messages; expected at most 5 per second"
    assert 20 <= pongs <= 20 + int(5 * took), (pongs, took)  # the bucket refills 5 a second while they are sent


def test_a_deeply_nested_message_gets_an_error_and_the_viewer_stays(default_room: LiveRoom) -> None:
    with connect(default_room.ws_url, additional_headers=viewer_headers()) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "hello"
        ws.send("[" * 5000 + "]" * 5000)  # valid JSON, under 16 KiB, deeper than Python's parser goes
        assert "nested too deeply; expected JSON" in next_reply(ws, "error")["reason"]
        ws.send(json.dumps({"type": "ping"}))
        next_reply(ws, "pong")


@pytest.mark.parametrize("size", [MAX_BYTES + 1, 1_000_000])
def test_huge_messages_close_with_1009(default_room: LiveRoom, size: int) -> None:
    other = watcher(default_room)
    for payload in ("x" * size, b"\x00" * size):
        with connect(default_room.ws_url, additional_headers=viewer_headers()) as big:
            with pytest.raises(ConnectionClosed):
                big.send(payload)
                while True:
                    big.recv(timeout=5)
            assert big.close_code == 1009, (type(payload), big.close_code, big.close_reason)
    assert_still_watching(other, default_room)
    other.close()


def raw_websocket(room: LiveRoom) -> socket.socket:
    """A websocket opened by hand, so frames can be broken on purpose."""
    s = socket.create_connection(("127.0.0.1", room.port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{room.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
               f"Authorization: {VIEW['Authorization']}\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def frame(opcode: int, payload: bytes, *, fin: bool = True, masked: bool = True, rsv: int = 0) -> bytes:
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    mask = os.urandom(4) if masked else b""
    length = len(payload)
    head = bytes([first, (0x80 if masked else 0) | length]) if length < 126 else (
        bytes([first, (0x80 if masked else 0) | 126]) + struct.pack("!H", length))
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if masked else payload
    return head + mask + body


def close_code_after(s: socket.socket, data: bytes) -> int | None:
    """Send ``data``; the close code the server answers with (None: it just dropped the connection)."""
    s.sendall(data)
    deadline = time.monotonic() + 5
    buffer = b""
    try:
        while time.monotonic() < deadline:
            chunk = s.recv(4096)
            if not chunk:
                return None
            buffer += chunk
            while len(buffer) >= 2:
                opcode, length = buffer[0] & 0x0F, buffer[1] & 0x7F
                start = 2 if length < 126 else 4
                if length == 126:
                    length = struct.unpack("!H", buffer[2:4])[0]
                if len(buffer) < start + length:
                    break
                payload, buffer = buffer[start:start + length], buffer[start + length:]
                if opcode == 0x8:
                    return int(struct.unpack("!H", payload[:2])[0]) if len(payload) >= 2 else 1005
    except (ConnectionResetError, TimeoutError):
        return None
    raise AssertionError("the server neither closed nor answered within 5 s")


BROKEN_FRAMES = {
    "text that is not UTF-8": (frame(0x1, b"\xff\xfe\xfd"), 1007),
    "an unmasked frame": (frame(0x1, b'{"type":"ping"}', masked=False), 1002),
    "a reserved opcode": (frame(0x3, b"x"), 1002),
    "reserved bits set": (frame(0x1, b'{"type":"ping"}', rsv=0b100), 1002),
    "a continuation without a start": (frame(0x0, b"x"), 1002),
    "a fragmented control frame": (frame(0x9, b"x", fin=False), 1002),
}


@pytest.mark.parametrize("name", list(BROKEN_FRAMES))
def test_broken_frames_close_that_connection_only(default_room: LiveRoom, name: str) -> None:
    data, code = BROKEN_FRAMES[name]
    other = watcher(default_room)
    with raw_websocket(default_room) as s:
        assert close_code_after(s, data) == code, name
    assert_still_watching(other, default_room)
    other.close()
