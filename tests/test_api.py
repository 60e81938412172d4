"""The dashboard's HTTP API and websocket, through the app's own test client.

The meeting behind the app is a ``ScriptedEngine`` fed by hand, so every figure is known.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from api.app import create_app
from api.settings import Settings
from api_fixtures import FedSource, scripted_session, speaker, wait_for
from tracker.meeting.session import MeetingSession

CODE, TOKEN = "viewer-code-1", "facilitator-token-1"
VIEW = {"Authorization": f"Bearer {CODE}"}
CONTROL = {"Authorization": f"Bearer {TOKEN}"}


class Room:
    """A running app over a scripted meeting, with the test client and the hand-fed source."""

    def __init__(self, client: TestClient, session: MeetingSession, source: FedSource) -> None:
        self.client, self.session, self.source = client, session, source

    @property
    def mid(self) -> str:
        return self.session.id

    def feed(self, seconds: float) -> None:
        target = self.session.snapshot().clock_s + seconds
        self.source.feed(seconds)
        wait_for(lambda: self.session.snapshot().clock_s >= target - 1e-6, what=f"clock to reach {target} s")

    def control(self, method: str, path: str, body: Any = None) -> Any:
        return self.client.request(method, f"/api/meetings/{self.mid}/{path}", json=body, headers=CONTROL)


def make_room(**settings: Any) -> Iterator[Room]:
    session, source = scripted_session()
    app = create_app(Settings(code=CODE, token=TOKEN, **settings), session=session)
    with TestClient(app) as client:
        yield Room(client, session, source)


@pytest.fixture
def room() -> Iterator[Room]:
    yield from make_room()


def receive_state(ws: Any, *, until: Any = None, timeout: float = 3.0) -> dict[str, Any]:
    """The next ``state`` message (skipping others), or the first for which ``until(state)`` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = ws.receive_json()
        if msg["type"] == "state" and (until is None or until(msg["state"])):
            return msg["state"]  # type: ignore[no-any-return]
    raise AssertionError("no matching state in time")


# ----------------------------------------------------------------------------- access


def test_only_the_health_check_answers_without_a_code(room: Room) -> None:
    c = room.client
    assert c.get("/healthz").json() == {"status": "ok"}
    for path in ("/api/state", "/static/app.js", "/static/index.html", f"/api/meetings/{room.mid}", "/nowhere"):
        r = c.get(path)
        assert r.status_code == 401, path
        assert "meeting code required" in r.json()["detail"]
    assert c.post(f"/api/meetings/{room.mid}/end").status_code == 401
    page = c.get("/")
    assert page.status_code == 200 and "Meeting code" in page.text and "viewer-code" not in page.text  # the login form
    assert page.headers["x-content-type-options"] == "nosniff"
    assert c.get("/api/state", headers={"Authorization": "Bearer wrong-code"}).status_code == 401
    with pytest.raises(WebSocketDisconnect) as exc:
        with c.websocket_connect("/ws"):
            pass
    assert exc.value.code == 1008
    assert room.session.status == "running"


def test_viewers_watch_and_the_facilitator_controls(room: Room) -> None:
    c = room.client
    assert c.get("/api/state", headers=VIEW).status_code == 200
    r = c.post(f"/api/meetings/{room.mid}/pause", headers=VIEW)
    assert r.status_code == 403 and "facilitator" in r.json()["detail"]
    assert c.get("/api/access", headers=VIEW).json() == {"role": "viewer", "meeting_id": room.mid}
    access = c.get("/api/access", headers=CONTROL).json()
    assert access["role"] == "facilitator" and access["code"] == CODE and access["join_url"].endswith(f"/#code={CODE}")
    assert room.control("POST", "pause").json()["status"] == "paused"


def test_login_sets_a_cookie_for_the_page_and_websocket(room: Room) -> None:
    c = room.client
    r = c.post("/login", data={"code": CODE}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert "httponly" in r.headers["set-cookie"].lower() and "samesite=strict" in r.headers["set-cookie"].lower()
    page = c.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert c.get("/static/app.js").status_code == 200
    with c.websocket_connect("/ws") as ws:
        assert ws.receive_json() == {"type": "hello", "meeting_id": room.mid, "role": "viewer", "warmup_s": 60.0}
    bad = c.post("/login", data={"code": "nope"}, follow_redirects=False)
    assert bad.status_code == 401 and "not right" in bad.text
    good = c.post("/login", data={"code": TOKEN}, follow_redirects=False)
    assert good.status_code == 303
    assert c.get("/api/access").json()["role"] == "facilitator"
    c.post("/logout")
    c.cookies.clear()
    assert c.get("/api/state").status_code == 401


def test_foreign_origins_are_refused(room: Room) -> None:
    c = room.client
    evil = {"Origin": "http://evil.example", **CONTROL}
    r = c.post(f"/api/meetings/{room.mid}/end", headers=evil)
    assert r.status_code == 403 and "origin" in r.json()["detail"]
    assert room.session.status == "running"
    assert c.get("/api/state", headers={"Origin": "http://testserver", **VIEW}).status_code == 200
    with pytest.raises(WebSocketDisconnect):
        with c.websocket_connect("/ws", headers={"Origin": "http://evil.example", **VIEW}):
            pass


def test_allowed_origins_setting() -> None:
    for room in make_room(allowed_origins="http://projector.local:9000"):
        headers = {"Origin": "http://projector.local:9000", **VIEW}
        assert room.client.get("/api/state", headers=headers).status_code == 200


# ----------------------------------------------------------------------------- state


def test_state_has_what_the_room_needs(room: Room) -> None:
    room.feed(20.0)
    s = room.client.get("/api/state", headers=VIEW).json()
    assert s["meeting_id"] == room.mid and s["status"] == "running" and s["clock_s"] == pytest.approx(20.0)
    first = speaker(s, 0)
    for key in ("id", "name", "talk_time_s", "share", "turns", "longest_turn_s", "since_last_spoke_s", "quiet", "dominant"):
        assert key in first
    assert first["talk_time_s"] == pytest.approx(10.5) and first["share"] == pytest.approx(0.6)
    assert first["turns"] == 2 and first["longest_turn_s"] == pytest.approx(6.0)
    assert first["since_last_spoke_s"] == pytest.approx(6.0)
    g = s["group"]
    assert g["speech_s"] == pytest.approx(17.5) and g["silence_s"] == pytest.approx(2.5)
    for key in ("gini", "balance", "reading", "evenness", "dominance", "effective_speakers", "people"):
        assert key in g
    assert s["equal_share"] == pytest.approx(1 / 3, abs=1e-3) and s["input"]["status"] == "ok"
    assert s["timeline"][0] == [0, 0.0, 6.0]
    assert room.client.get(f"/api/meetings/{room.mid}", headers=VIEW).json()["meeting_id"] == room.mid


def test_unknown_meeting_is_404(room: Room) -> None:
    other = "00000000-0000-4000-8000-000000000000"
    assert room.client.get(f"/api/meetings/{other}", headers=VIEW).status_code == 404
    r = room.client.post(f"/api/meetings/{other}/end", headers=CONTROL)
    assert r.status_code == 404 and "no meeting" in r.json()["detail"]
    assert room.session.status == "running"


# ----------------------------------------------------------------------------- controls


def test_controls_through_the_api(room: Room) -> None:
    room.feed(20.0)
    s = room.control("PATCH", "speakers/0", {"name": "Ada"}).json()
    assert speaker(s, 0)["name"] == "Ada"
    s = room.control("POST", "merge", {"keep": 1, "gone": 2}).json()
    assert speaker(s, 1)["talk_time_s"] == pytest.approx(7.0) and len(s["speakers"]) == 2
    r = room.control("POST", "attendees", {"name": "Linus"})
    assert r.status_code == 201 and speaker(r.json(), -1)["expected"]
    assert r.json()["group"]["people"] == 3
    assert room.control("DELETE", "attendees/-1").json()["group"]["people"] == 2
    assert room.control("POST", "phases", {"name": "brainstorm"}).status_code == 201
    room.feed(1.0)
    s = room.control("POST", "phases/end").json()
    assert s["phases"][0]["name"] == "brainstorm" and s["phases"][0]["end_s"] == pytest.approx(21.0)
    assert room.control("POST", "pause").json()["status"] == "paused"
    assert room.control("POST", "start").json()["status"] == "running"
    s = room.control("POST", "end").json()
    assert s["status"] == "ended" and speaker(s, 0)["talk_time_s"] == pytest.approx(10.5)
    r = room.control("POST", "start")
    assert r.status_code == 409 and "ended" in r.json()["detail"]


def test_bad_input_gets_a_reason_and_leaves_the_meeting_alone(room: Room) -> None:
    room.feed(20.0)
    cases: list[tuple[str, str, Any, int]] = [
        ("PATCH", "speakers/9", {"name": "Ghost"}, 404),
        ("PATCH", "speakers/-3", {"name": "Ghost"}, 404),
        ("PATCH", "speakers/0", {"name": ""}, 422),
        ("PATCH", "speakers/0", {"name": "   "}, 422),
        ("PATCH", "speakers/0", {"name": "x" * 200}, 422),
        ("PATCH", "speakers/0", {"nom": "Ada"}, 422),
        ("PATCH", "speakers/zero", {"name": "Ada"}, 422),
        ("POST", "merge", {"keep": 0, "gone": 0}, 422),
        ("POST", "merge", {"keep": 0, "gone": 42}, 404),
        ("POST", "merge", {"keep": -1, "gone": 1}, 422),
        ("POST", "merge", [1, 2], 422),
        ("DELETE", "attendees/3", None, 404),
        ("POST", "phases", {"name": "\x00bad"}, 422),
        ("POST", "nothing", None, 404),
    ]
    for method, path, body, status in cases:
        r = room.control(method, path, body)
        assert r.status_code == status, (method, path, body, r.text)
        assert r.json()["detail"], (method, path)
    room.control("PATCH", "speakers/1", {"name": "Ada"})
    conflict = room.control("PATCH", "speakers/2", {"name": "Ada"})
    assert conflict.status_code == 409 and "merge" in conflict.json()["detail"]
    url = f"/api/meetings/{room.mid}/speakers/0"
    r = room.client.patch(url, content=b"{not json", headers={**CONTROL, "Content-Type": "application/json"})
    assert r.status_code == 422
    r = room.client.patch(url, content=b"x" * 20_000, headers={**CONTROL, "Content-Type": "application/json"})
    assert r.status_code == 413 and "at most" in r.json()["detail"]

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(40):
            yield b"y" * 1000
        yield b'"}'

    r = room.client.patch(url, content=chunks(), headers={**CONTROL, "Content-Type": "application/json"})
    assert r.status_code == 413
    room.feed(1.0)  # the pipeline still runs
    s = room.client.get("/api/state", headers=VIEW).json()
    assert s["status"] == "running" and speaker(s, 0)["name"] == "Guest 1" and s["clock_s"] == pytest.approx(21.0)


# ----------------------------------------------------------------------------- websocket


def test_websocket_sends_state_at_once_and_twice_a_second(room: Room) -> None:
    with room.client.websocket_connect("/ws", headers=VIEW) as ws:
        assert ws.receive_json()["type"] == "hello"
        first = ws.receive_json()
        assert first["type"] == "state" and first["state"]["meeting_id"] == room.mid
        t0 = time.monotonic()
        for _ in range(3):
            receive_state(ws)
        assert time.monotonic() - t0 < 1.5  # three pushes with nothing happening: at least 2 per second


def test_websocket_pushes_changes(room: Room) -> None:
    with room.client.websocket_connect("/ws", headers=VIEW) as ws:
        receive_state(ws)
        room.feed(7.0)
        s = receive_state(ws, until=lambda s: s["clock_s"] >= 7.0)
        assert speaker(s, 1)["talk_time_s"] == pytest.approx(0.5)
        t0 = time.monotonic()
        room.control("PATCH", "speakers/1", {"name": "Grace"})
        s = receive_state(ws, until=lambda s: speaker(s, 1)["name"] == "Grace")
        assert time.monotonic() - t0 < 1.0


def test_reconnecting_viewer_gets_the_full_state(room: Room) -> None:
    room.feed(20.0)
    room.control("PATCH", "speakers/0", {"name": "Ada"})
    for _ in range(2):
        with room.client.websocket_connect("/ws", headers=VIEW) as ws:
            assert ws.receive_json()["type"] == "hello"
            msg = ws.receive_json()
            assert msg["type"] == "state" and speaker(msg["state"], 0)["name"] == "Ada"
            assert len(msg["state"]["speakers"]) == 3


def test_websocket_bad_messages(room: Room) -> None:
    with room.client.websocket_connect("/ws", headers=VIEW) as ws:
        ws.send_text("not json")
        assert _next_of(ws, "error")["reason"].startswith("malformed message")
        ws.send_text(json.dumps({"type": "launch"}))
        assert "unknown message type" in _next_of(ws, "error")["reason"]
        ws.send_bytes(b"\x00\x01")
        assert "binary" in _next_of(ws, "error")["reason"]
        ws.send_text(json.dumps({"type": "ping"}))
        _next_of(ws, "pong")
        ws.send_text(json.dumps({"type": "refresh"}))
        _next_of(ws, "state")
        ws.send_text("x" * 20_000)
        with pytest.raises(WebSocketDisconnect) as exc:
            for _ in range(50):
                ws.receive_json()
        assert exc.value.code == 1009
    assert room.session.status == "running"
    assert room.client.get("/api/state", headers=VIEW).status_code == 200


def _next_of(ws: Any, kind: str) -> dict[str, Any]:
    for _ in range(50):
        msg = ws.receive_json()
        if msg["type"] == kind:
            return msg  # type: ignore[no-any-return]
    raise AssertionError(f"no {kind} message")


def test_too_many_viewers_are_turned_away() -> None:
    for room in make_room(max_viewers=2):
        with room.client.websocket_connect("/ws", headers=VIEW) as a, room.client.websocket_connect("/ws", headers=VIEW) as b:
            a.receive_json()
            b.receive_json()
            with room.client.websocket_connect("/ws", headers=VIEW) as c:
                with pytest.raises(WebSocketDisconnect) as exc:
                    c.receive_json()
                assert exc.value.code == 1013


def test_a_store_that_cannot_be_read_answers_503_with_the_reason(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """An ended meeting no longer in memory is read from the store; a store error is a 503 that says why."""
    import tracker.meeting.room
    from tracker.store.storage import MeetingStore, StoreError

    monkeypatch.setattr(tracker.meeting.room, "KEEP_PAST", 0)  # ended meetings are read back from the store only
    session, source = scripted_session([(0, 0.0, 3.0)])
    with MeetingStore.in_folder(tmp_path / "data") as store, \
            TestClient(create_app(Settings(code=CODE, token=TOKEN), session=session, store=store)) as client:
        source.feed(4.0)
        wait_for(lambda: session.snapshot().clock_s >= 4.0, what="the first meeting's audio")
        assert client.post("/api/meetings", headers=CONTROL).status_code == 201
        url = f"/api/meetings/{session.id}/report?format=json"
        assert client.get(url, headers=VIEW).status_code == 200  # from the store

        def unreadable(ref: str | None) -> Any:
            raise StoreError("database disk image is malformed")

        monkeypatch.setattr(store, "load", unreadable)
        r = client.get(url, headers=VIEW)
        assert r.status_code == 503, r.text
        assert "meeting store cannot be read" in r.json()["detail"] and "malformed" in r.json()["detail"]
        assert client.get("/api/state", headers=VIEW).status_code == 200  # the room goes on


def test_the_docs_table_lists_every_http_route() -> None:
    """docs/dashboard.md's API table is written by hand: every route of the app must have a row."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "dashboard.md").read_text()
    rows = [re.findall(r"`([^`]*)`", line) for line in doc.split("## HTTP API", 1)[1].splitlines()
            if line.startswith("| `")]
    names = {"{meeting_id}": "{id}", "{speaker_id}": "{speaker}", "{attendee_id}": "{attendee}"}
    session, _ = scripted_session()
    paths = create_app(Settings(code=CODE, token=TOKEN, save=False), session=session).openapi()["paths"]
    routes = [(method.upper(), path) for path, item in paths.items() for method in item]
    missing = []
    for method, path in routes:
        for raw, shown in names.items():
            path = path.replace(raw, shown)
        parent, last = path.rsplit("/", 1)
        whole = re.compile(rf"{method} {re.escape(path)}($|[ ?])")
        if not any(any(whole.match(span) for span in spans)
                   or (any(span.startswith(f"{method} {parent}/") for span in spans) and f"/{last}" in spans)
                   for spans in rows):
            missing.append(f"{method} {path}")
    assert len(routes) >= 18 and ("POST", "/api/meetings/{meeting_id}/speakers/{speaker_id}/profile") in routes
    assert not missing, missing
