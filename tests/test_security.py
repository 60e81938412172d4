"""Security of the dashboard's network face: who may call what, login, limits and the file system.

Access is checked by walking the app's own routes, so a route added later cannot be left open
without this failing. Raw paths and heads go over a real socket to uvicorn (``live_room``), since
HTTP clients clean up ``..`` and encodings before sending.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount, WebSocketRoute
from starlette.websockets import WebSocketDisconnect

import api.app
from api.app import create_app
from api.limits import KeyedBuckets, TokenBucket, client_key
from api.routes import STATIC_DIR, facilitator, viewer
from api.security import COOKIE, PUBLIC_PATHS
from api.settings import Settings
from api_fixtures import scripted_session
from security_fixtures import CODE, CONTROL, TOKEN, VIEW, live_room

READS = {"GET", "HEAD"}
NOT_CONTROLS = {"/login", "/logout"}  # POSTs that only set or drop the caller's own cookie


@pytest.fixture
def app_and_client(request: pytest.FixtureRequest) -> Iterator[tuple[FastAPI, TestClient]]:
    settings = getattr(request, "param", {})
    session, source = scripted_session()
    app = create_app(Settings(code=CODE, token=TOKEN, save=False, **settings), session=session)
    with TestClient(app) as client:
        source.feed(2.0)
        yield app, client


def meeting_of(client: TestClient) -> dict[str, Any]:
    """The current meeting's state, through the API (the app may switch meetings)."""
    state: dict[str, Any] = client.get("/api/state", headers=VIEW).json()
    return state


def _concrete(path: str, meeting_id: str) -> str:
    return (path.replace("{meeting_id}", meeting_id).replace("{speaker_id}", "0").replace("{attendee_id}", "-1"))


def _dependency_calls(dependant: Any) -> set[Any]:
    found, todo = set(), [dependant]
    while todo:
        dep = todo.pop()
        found.add(dep.call)
        todo.extend(dep.dependencies)
    return found


# ----------------------------------------------------------------------------- access, from the routes


def test_every_route_needs_the_code_and_every_control_the_token(app_and_client: tuple[FastAPI, TestClient]) -> None:
    app, client = app_and_client
    mid = meeting_of(client)["meeting_id"]
    public_seen, kinds = set(), set()
    for context in iter_route_contexts(app.routes):  # NB: FastAPI includes routers lazily; this flattens them
        route = context.original_route
        kinds.add(type(route).__name__)
        if isinstance(route, APIRoute):
            path = _concrete(str(context.path), mid)
            calls = _dependency_calls(context.dependant)
            for method in sorted(context.methods or ()):
                anonymous = client.request(method, path)
                if context.path in PUBLIC_PATHS:
                    public_seen.add(context.path)
                    assert anonymous.status_code in (200, 303, 401), (method, path)
                    continue
                assert anonymous.status_code == 401, (method, path, anonymous.status_code)
                assert viewer in calls, f"{method} {context.path} does not depend on the viewer check"
                if method in READS or context.path in NOT_CONTROLS:
                    assert client.request(method, path, headers=VIEW).status_code not in (401, 403), (method, path)
                else:  # a control: the viewers' code is refused before anything else is looked at
                    assert facilitator in calls, f"{method} {context.path} is a control without the facilitator check"
                    refused = client.request(method, path, headers=VIEW, json={})
                    assert refused.status_code == 403, (method, path, refused.status_code)
        elif isinstance(route, WebSocketRoute):
            with pytest.raises(WebSocketDisconnect) as closed:
                with client.websocket_connect(str(context.path)) as ws:
                    ws.receive_json()
            assert closed.value.code == 1008
        elif isinstance(route, Mount):
            assert context.path == "/static"
            for item in STATIC_DIR.iterdir():
                answer = client.get(f"/static/{item.name}")
                expected = 200 if f"/static/{item.name}" in PUBLIC_PATHS else 401
                assert answer.status_code == expected, item.name
        else:
            raise AssertionError(f"unknown kind of route {type(route).__name__} at {context.path}: add it to this test")
    assert public_seen == {"/healthz", "/", "/login"}
    assert kinds == {"JsonRoute", "APIRoute", "APIWebSocketRoute", "Mount"}  # JsonRoute: api.routes, an APIRoute
    assert meeting_of(client)["status"] == "running"


def test_the_public_paths_show_nothing_of_the_meeting(app_and_client: tuple[FastAPI, TestClient]) -> None:
    app, client = app_and_client
    mid = meeting_of(client)["meeting_id"]
    for path in ("/healthz", "/", "/static/login.js"):
        text = client.get(path).text
        assert mid not in text and CODE not in text and TOKEN not in text, path


# ----------------------------------------------------------------------------- login and cookies


def test_old_code_links_move_the_code_into_the_fragment(app_and_client: tuple[FastAPI, TestClient]) -> None:
    _, client = app_and_client
    r = client.get(f"/?code={CODE}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/#code={CODE}"
    assert "set-cookie" not in r.headers  # a GET never logs in
    assert r.headers["cache-control"] == "no-store"
    assert r.headers.get_list("referrer-policy") == ["no-referrer"]
    facilitator_link = client.get("/api/access", headers=CONTROL).json()["join_url"]
    assert facilitator_link == f"http://testserver/#code={CODE}"


def test_login_cookie_is_strict_httponly_and_secure_over_https(app_and_client: tuple[FastAPI, TestClient]) -> None:
    app, client = app_and_client
    r = client.post("/login", data={"code": CODE}, follow_redirects=False)
    flags = [f.strip().lower() for f in r.headers["set-cookie"].split(";")]
    assert r.status_code == 303 and "httponly" in flags and "samesite=strict" in flags and "secure" not in flags
    secure = TestClient(app, base_url="https://testserver")
    r = secure.post("/login", data={"code": TOKEN}, headers={"Origin": "https://testserver"}, follow_redirects=False)
    assert r.status_code == 303 and "secure" in [f.strip().lower() for f in r.headers["set-cookie"].split(";")]


def test_a_stale_cookie_is_dropped_and_a_new_login_is_kept(app_and_client: tuple[FastAPI, TestClient]) -> None:
    _, client = app_and_client
    client.cookies.set(COOKIE, "code-of-last-weeks-meeting")
    page = client.get("/", follow_redirects=False)
    assert page.status_code == 401 and "Meeting code" in page.text
    assert f'{COOKIE}=""' in page.headers["set-cookie"] and "max-age=0" in page.headers["set-cookie"].lower()
    login = client.post("/login", data={"code": CODE}, headers={"Cookie": f"{COOKIE}=stale"}, follow_redirects=False)
    assert login.status_code == 303
    set_cookies = login.headers.get_list("set-cookie")
    assert len(set_cookies) == 1 and set_cookies[0].startswith(f"{COOKIE}=")  # not undone by the stale one
    session_id = set_cookies[0].split(";")[0].split("=", 1)[1]
    client.cookies.clear()
    assert client.get("/api/state", headers={"Cookie": f"{COOKIE}={session_id}"}).status_code == 200


def _login(client: TestClient, secret: str) -> str:
    """Log in with ``secret``; the session id the cookie holds."""
    r = client.post("/login", data={"code": secret}, follow_redirects=False)
    assert r.status_code == 303
    return str(r.cookies[COOKIE])


def test_the_cookie_holds_a_session_id_never_the_secret(app_and_client: tuple[FastAPI, TestClient]) -> None:
    app, client = app_and_client
    viewer_id, facilitator_id = _login(client, CODE), _login(client, TOKEN)
    for sid, secret in ((viewer_id, CODE), (facilitator_id, TOKEN)):
        assert secret not in sid and len(sid) >= 43  # 32 random bytes, url-safe
    assert _login(client, CODE) != viewer_id  # a new session each time
    client.cookies.clear()
    for sid, role in ((viewer_id, "viewer"), (facilitator_id, "facilitator")):
        assert client.get("/api/access", headers={"Cookie": f"{COOKIE}={sid}"}).json()["role"] == role
    # a cookie jar holding the raw code (what the cookie used to be) is refused and deleted
    replay = client.get("/api/state", headers={"Cookie": f"{COOKIE}={CODE}"})
    assert replay.status_code == 401 and "max-age=0" in replay.headers["set-cookie"].lower()
    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect("/ws", headers={"Cookie": f"{COOKIE}={TOKEN}"}) as ws:
            ws.receive_json()
    with client.websocket_connect("/ws", headers={"Cookie": f"{COOKIE}={viewer_id}"}) as ws:
        assert ws.receive_json()["role"] == "viewer"


def test_logout_ends_the_session_for_a_copied_cookie_too(app_and_client: tuple[FastAPI, TestClient]) -> None:
    app, client = app_and_client
    sid = _login(client, TOKEN)
    copied = {"Cookie": f"{COOKIE}={sid}"}
    assert client.get("/api/state", headers=copied).status_code == 200
    assert client.post("/logout", follow_redirects=False).status_code == 303
    client.cookies.clear()
    assert client.get("/api/state", headers=copied).status_code == 401
    assert len(app.state.access.logins) == 0


def test_a_session_ends_when_it_expires_or_its_secret_changes() -> None:
    from api.security import Access, Logins

    now = [0.0]
    logins = Logins(max_age_s=60, max_sessions=2, clock=lambda: now[0])
    access = Access(CODE, TOKEN, logins)
    sid = logins.open("facilitator", TOKEN)
    assert logins.role_of(sid, access) == "facilitator"
    assert logins.role_of(sid, Access(CODE, "a-new-token", logins)) is None  # new token: this login ends
    assert logins.role_of(sid, access) is None and len(logins) == 0
    sid = logins.open("viewer", CODE)
    now[0] = 59.9
    assert logins.role_of(sid, access) == "viewer"
    now[0] = 60.0
    assert logins.role_of(sid, access) is None
    first, *_ = [logins.open("viewer", CODE) for _ in range(3)]
    assert len(logins) == 2 and logins.role_of(first, access) is None  # the oldest is forgotten
    with pytest.raises(ValueError, match="expected max_age_s > 0"):
        Logins(max_age_s=0)


# ----------------------------------------------------------------------------- limits


@pytest.mark.parametrize("app_and_client", [{"auth_failures": 3, "auth_failure_window_s": 3.0}], indirect=True)
def test_wrong_codes_lock_out_only_their_own_address(app_and_client: tuple[FastAPI, TestClient]) -> None:
    app, client = app_and_client
    for i in range(3):
        assert client.get("/api/state", headers={"Authorization": f"Bearer guess-{i}"}).status_code == 401
    locked = client.get("/api/state", headers={"Authorization": "Bearer guess-3"})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1
    assert "too many wrong codes" in locked.json()["detail"]
    assert client.get("/api/state", headers=CONTROL).status_code == 429  # no oracle while locked
    form = client.post("/login", data={"code": "guess-4"})
    assert form.status_code == 429 and "Try again in" in form.text and form.headers["retry-after"]
    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect("/ws", headers=VIEW) as ws:
            ws.receive_json()
    facilitator_elsewhere = TestClient(app, client=("192.168.1.20", 50001))
    assert facilitator_elsewhere.get("/api/state", headers=CONTROL).status_code == 200
    assert client.get("/healthz").status_code == 200  # presenting nothing is never locked
    time.sleep(1.1)  # one failure forgiven every second
    assert client.get("/api/state", headers=VIEW).status_code == 200


@pytest.mark.parametrize("app_and_client", [{"requests_per_s": 0.1, "request_burst": 10}], indirect=True)
def test_request_rate_per_address(app_and_client: tuple[FastAPI, TestClient]) -> None:
    app, client = app_and_client
    codes = [client.get("/api/state", headers=VIEW).status_code for _ in range(12)]
    assert codes == [200] * 10 + [429] * 2  # the lifespan's startup used no request
    r = client.get("/api/state", headers=VIEW)
    assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 10
    assert "at most 0.1 per second (bursts of 10)" in r.json()["detail"]
    other = TestClient(app, client=("192.168.1.21", 50002))
    assert other.get("/api/state", headers=VIEW).status_code == 200


def test_a_dashboard_day_stays_under_the_default_request_limit(app_and_client: tuple[FastAPI, TestClient]) -> None:
    """Ten page loads in a burst, each with its websocket, plus controls: nothing is refused."""
    app, client = app_and_client
    mid = meeting_of(client)["meeting_id"]
    client.post("/login", data={"code": TOKEN})
    for _ in range(10):
        for path in ("/", "/static/login.js", "/static/app.js", "/static/style.css", "/api/access"):
            assert client.get(path).status_code == 200, path
        with client.websocket_connect("/ws") as ws:
            assert ws.receive_json()["type"] == "hello"
    for path in ("pause", "start", "phases/end"):
        assert client.post(f"/api/meetings/{mid}/{path}").status_code in (200, 409)


def test_token_bucket_and_address_keys() -> None:
    now = [0.0]
    bucket = TokenBucket(2.0, 3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    assert bucket.retry_after_s() == 1
    now[0] = 0.5
    assert bucket.take() and not bucket.take()
    buckets = KeyedBuckets(1.0, 1, clock=lambda: now[0], max_keys=2)
    buckets.get("a").take()
    buckets.get("b")
    buckets.get("c")  # "b" is full, so it is forgotten before the drained "a"
    assert len(buckets) == 2 and buckets.get("a").empty()
    with pytest.raises(ValueError, match="expected rate > 0"):
        TokenBucket(0, 1)
    assert client_key({"client": ("2001:db8::1", 1)}) == client_key({"client": ("2001:db8::ffff:2", 1)}) == "2001:db8::/64"
    assert client_key({"client": ("::ffff:10.0.0.5", 1)}) == "10.0.0.5"
    assert client_key({"client": ("10.0.0.5", 1)}) != client_key({"client": ("10.0.0.6", 1)})


def test_oversized_bodies_get_413_with_the_limit(app_and_client: tuple[FastAPI, TestClient]) -> None:
    app, client = app_and_client
    url = f"/api/meetings/{meeting_of(client)['meeting_id']}/attendees"
    r = client.post(url, content=b"{" + b" " * 20_000 + b"}", headers={**CONTROL, "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["detail"] == "request body of 20002 bytes; expected at most 16384"

    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b" " * 1000

    r = client.post(url, content=chunks(), headers={**CONTROL, "Content-Type": "application/json"})
    assert r.status_code == 413 and "expected at most 16384" in r.json()["detail"]
    assert meeting_of(client)["status"] == "running"


# ----------------------------------------------------------------------------- over a real socket


def raw_get(port: int, target: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """Send ``GET target`` exactly as written (no client clean-up); the status and body."""
    lines = [f"GET {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


TRAVERSALS = [
    "/static/../app.py", "/static/%2e%2e/app.py", "/static/%2E%2E%2Fapp.py", "/static/..%2fapp.py",
    "/static/..%5capp.py", "/static/%252e%252e%252fapp.py", "/static/....//app.py", "/static//etc/passwd",
    "/static/%2fetc%2fpasswd", "/static/..%2f..%2f..%2f..%2f..%2fetc%2fpasswd", "/static/app.js%00.py",
    "/static/../../../../../../etc/passwd", "/static/.%2e/.%2e/tracker/session.py", "/static/%c0%ae%c0%ae/app.py",
]


def test_no_path_reaches_outside_the_static_folder() -> None:
    with live_room(seconds=2.0) as room:
        for target in TRAVERSALS:
            status, body = raw_get(room.port, target, VIEW)
            assert status in (400, 404), (target, status)
            assert b"import" not in body and b"root:" not in body, target
        mid = room.session.id
        for target in (f"/api/meetings/..%2f{mid}/report", f"/api/meetings/{mid}/report?format=..%2f..%2fetc%2fpasswd",
                       f"/api/meetings/{mid}%2f..%2f..%2fhealthz"):
            status, body = raw_get(room.port, target, VIEW)
            assert status in (404, 422), (target, status)
        assert raw_get(room.port, "/static/app.js", VIEW)[0] == 200


def test_symlinks_out_of_the_static_folder_are_not_followed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the static folder")
    static = tmp_path / "static"
    shutil.copytree(STATIC_DIR, static)
    (static / "leak.txt").symlink_to(secret)
    (static / "up").symlink_to(tmp_path, target_is_directory=True)
    monkeypatch.setattr(api.app, "STATIC_DIR", static)
    session, _ = scripted_session()
    with TestClient(create_app(Settings(code=CODE, token=TOKEN, save=False), session=session)) as client:
        assert client.get("/static/app.js", headers=VIEW).status_code == 200
        for path in ("/static/leak.txt", "/static/up/secret.txt"):
            r = client.get(path, headers=VIEW)
            assert r.status_code == 404 and "outside" not in r.text, path


def test_heads_over_8_kib_are_refused_and_the_server_stays_up() -> None:
    with live_room(seconds=2.0) as room:
        status, body = raw_get(room.port, "/healthz", {"X-Padding": "a" * 9000})
        assert status == 431 and b"expected at most 8192" in body
        status, _ = raw_get(room.port, "/healthz?" + "q" * 9000)
        assert status == 431
        slow_status: list[int] = []

        def trickle() -> None:  # a head that arrives in pieces is cut off by uvicorn itself
            with socket.create_connection(("127.0.0.1", room.port), timeout=5) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                try:
                    for _ in range(20):
                        s.sendall(b"X-Pad: " + b"a" * 1000 + b"\r\n")
                        time.sleep(0.01)
                    slow_status.append(int(s.recv(100).split()[1]))
                except OSError:
                    slow_status.append(0)  # closed on us: also refused

        worker = threading.Thread(target=trickle)
        worker.start()
        worker.join(10)
        assert slow_status and slow_status[0] in (0, 400, 431)
        assert raw_get(room.port, "/api/state", VIEW)[0] == 200
