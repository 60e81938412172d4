"""Who may see and steer the meeting: codes, cookies, origins and request size.

Viewing needs the meeting's code, control needs the facilitator's token. Browsers present either
once (the link's ``#code=...`` fragment, which never reaches the server, or the login form) and
then carry an HttpOnly, SameSite=Strict cookie (Secure over https) holding a random session id,
never the secret itself (``Logins``); API clients send
``Authorization: Bearer <code or token>``. Every request that carries an ``Origin`` header
(browsers always do on websockets and POSTs) must come from the page's own origin or one of
``allowed_origins``. Only ``PUBLIC_PATHS`` answer without a code; a browser opening any other
page without one is sent to the login page, which brings it back there (``safe_next``). A wrong secret counts against
the client's address (``api.limits``); a wrong cookie is deleted so a browser fails only once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.events import Role
from api.limits import Limiter, client_key, too_many

COOKIE = "talktime_access"
ROLE_KEY = "talktime.role"  # where the middleware leaves the caller's role in the ASGI scope
# Answered without a code: liveness, and the login page, its form and its script (none shows the meeting).
PUBLIC_PATHS = frozenset({"/healthz", "/login", "/", "/static/login.js"})
SESSION_MAX_AGE_S = 12 * 3600  # a browser's login lasts a long meeting day
MAX_SESSIONS = 10_000  # logins remembered at once; the oldest is forgotten first (that browser logs in again)


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


@dataclass
class _Login:
    role: Role
    secret: bytes  # sha256 of the code or token it was opened with
    expires: float  # on the logins' clock, seconds


class Logins:
    """Browsers logged in: a random session id (what the cookie holds) -> the role it grants.

    The cookie never holds the code or token, so a copied cookie jar gives at most a session that
    ends at logout, after ``max_age_s``, or as soon as the secret it was opened with is no longer
    the meeting's (a session is checked against the current ``Access`` on every use).

    Parameters
    ----------
    max_age_s : seconds a login lasts (the cookie's Max-Age is the same).
    max_sessions : logins remembered at once; beyond it the oldest is forgotten.
    clock : monotonic time in seconds (injectable for tests).
    """

    def __init__(self, *, max_age_s: float = SESSION_MAX_AGE_S, max_sessions: int = MAX_SESSIONS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not max_age_s > 0 or max_sessions < 1:
            raise ValueError(f"Logins expected max_age_s > 0 and max_sessions >= 1, got {max_age_s!r} and {max_sessions!r}")
        self.max_age_s, self.max_sessions, self._clock = max_age_s, max_sessions, clock
        self._logins: OrderedDict[str, _Login] = OrderedDict()
        self._lock = threading.Lock()  # NB: the event loop logs in, sync routes (logout) run in worker threads

    def open(self, role: Role, secret: str) -> str:
        """A new session id for a browser that presented ``secret`` (granting ``role``)."""
        sid = secrets.token_urlsafe(32)  # 256 random bits
        with self._lock:
            while len(self._logins) >= self.max_sessions:
                self._logins.popitem(last=False)
            self._logins[sid] = _Login(role, _digest(secret), self._clock() + self.max_age_s)
        return sid

    def role_of(self, sid: str | None, access: Access) -> Role | None:
        """The role of a live session (None: unknown, expired, logged out, or its secret changed)."""
        login_id = sid or ""
        with self._lock:
            login = self._logins.get(login_id)
            if login is None:
                return None
            current = access.token if login.role == "facilitator" else access.code
            if self._clock() >= login.expires or not hmac.compare_digest(login.secret, _digest(current)):
                self._logins.pop(login_id, None)
                return None
            return login.role

    def close(self, sid: str | None) -> None:
        """Log a session out (nothing happens for an unknown one)."""
        if sid:
            with self._lock:
                self._logins.pop(sid, None)

    def __len__(self) -> int:
        return len(self._logins)


@dataclass(frozen=True)
class Access:
    """The meeting's two secrets, and the browsers logged in with them (new secrets: new ``Access``,
    so every earlier login ends)."""

    code: str  # viewers'
    token: str  # facilitator's
    logins: Logins = field(default_factory=Logins, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.code or not self.token or self.code == self.token:
            raise ValueError("Access expected a viewer code and a different facilitator token")

    def role_of(self, secret: str | None) -> Role | None:
        """The role a presented secret grants (compared in constant time), or None."""
        if not secret:
            return None
        if hmac.compare_digest(secret.encode(), self.token.encode()):
            return "facilitator"
        if hmac.compare_digest(secret.encode(), self.code.encode()):
            return "viewer"
        return None


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def presented_secret(headers: dict[str, str]) -> str | None:
    """The bearer token, else the access cookie (a session id)."""
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return _cookie(headers.get("cookie", ""), COOKIE)


def role_of_headers(access: Access, headers: dict[str, str]) -> Role | None:
    """The role a request's bearer secret, or else its session cookie, grants (None: neither is valid)."""
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return access.role_of(auth[7:].strip())
    return access.logins.role_of(_cookie(headers.get("cookie", ""), COOKIE), access)


def cookie_flags(*, secure: bool) -> str:
    """The attributes of the access cookie (``Secure`` only when the page is served over https)."""
    return "Path=/; HttpOnly; SameSite=Strict" + ("; Secure" if secure else "")


def origin_allowed(scope: Scope, headers: dict[str, str], allowed: Iterable[str]) -> bool:
    """True without an Origin header (not a browser), for the page's own origin, or a listed one."""
    origin = headers.get("origin")
    if origin is None:
        return True
    scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
    own = f"{scheme}://{headers.get('host', '')}"
    return origin == own or origin in set(allowed)


def safe_next(value: str | None) -> str:
    """``value`` when it is a path of this site (``/api/...?format=html``), else ``"/"``.

    Only a single leading slash is accepted: no scheme, no host, no ``//`` or backslash (browsers
    read both as another host), no spaces or control characters (browsers drop some of them, which
    could turn ``/<tab>/evil`` into ``//evil``). So a login link's ``next`` can never send anyone away.
    """
    if not value or len(value) > 2000 or not value.startswith("/") or value.startswith("//"):
        return "/"
    if "\\" in value or any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in value):
        return "/"
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else "/"


def _wants_page(scope: Scope, headers: dict[str, str]) -> bool:
    """A browser opening a link (GET or HEAD asking for HTML), not an API client."""
    return (scope.get("method") in ("GET", "HEAD") and "authorization" not in headers
            and "text/html" in headers.get("accept", ""))


async def _to_login(scope: Scope, send: Send) -> None:
    """303 to the login page, which comes back to the asked-for path once the code is given."""
    query = scope.get("query_string", b"").decode("latin-1")
    raw = scope.get("raw_path")  # still percent-encoded, as the browser asked for it
    wanted = (raw.decode("latin-1") if raw else scope["path"]) + (f"?{query}" if query else "")
    location = "/?" + urlencode({"next": safe_next(wanted)})
    headers = [(b"location", location.encode("latin-1")), (b"cache-control", b"no-store"), (b"content-length", b"0")]
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def _json_response(send: Send, status: int, detail: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})


class AccessMiddleware:
    """Checks the origin and the code of every request and websocket, and records the role.

    With a ``limiter``, a wrong code or token counts against the client's address, and an address
    with too many recent failures gets 429 for anything that presents a secret.
    """

    def __init__(
        self, app: ASGIApp, *, access: Access, allowed_origins: Iterable[str] = (), limiter: Limiter | None = None
    ) -> None:
        self.app = app
        self.access = access
        self.allowed_origins = tuple(allowed_origins)
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        websocket = scope["type"] == "websocket"
        if not origin_allowed(scope, headers, self.allowed_origins):
            if websocket:
                await send({"type": "websocket.close", "code": 1008, "reason": "origin not allowed"})
                return
            detail = f"origin {headers['origin']!r} is not allowed; expected this page's own origin or an allowed one"
            await _json_response(send, 403, detail)
            return
        secret = presented_secret(headers)
        key = client_key(scope)
        if secret and self.limiter is not None and (wait := self.limiter.locked_out(key)):
            detail = f"too many wrong codes from this address; try again in {wait} s"
            await too_many(send, detail, wait, websocket=websocket)
            return
        role = role_of_headers(self.access, headers)
        scope[ROLE_KEY] = role
        if secret and role is None:
            if self.limiter is not None:
                self.limiter.failed(key)
            if not headers.get("authorization"):
                send = _forgetting_cookie(send, secure=scope.get("scheme") in ("https", "wss"))
        if role is None and (websocket or scope["path"] not in PUBLIC_PATHS):
            if websocket:
                await send({"type": "websocket.close", "code": 1008, "reason": "meeting code required"})
                return
            if _wants_page(scope, headers):
                await _to_login(scope, send)
                return
            detail = "meeting code required; expected `Authorization: Bearer <code>` or the page's login"
            await _json_response(send, 401, detail, [(b"www-authenticate", b"Bearer")])
            return
        await self.app(scope, receive, send)


def _forgetting_cookie(send: Send, *, secure: bool) -> Send:
    """``send`` that also tells the browser to drop its access cookie (it holds a wrong or old code)."""
    expire = f"{COOKIE}=\"\"; Max-Age=0; {cookie_flags(secure=secure)}".encode("latin-1")

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            sets_own = any(k.lower() == b"set-cookie" and v.startswith(COOKIE.encode() + b"=") for k, v in headers)
            if not sets_own:  # NB: a login that sets a new cookie must not be undone by this
                message = {**message, "headers": [*headers, (b"set-cookie", expire)]}
        await send(message)

    return wrapped


class BodyLimitMiddleware:
    """Answers 413 to a request body over ``max_bytes``, declared or streamed, before any route reads it."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _headers(scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _json_response(send, 413, f"request body of {declared} bytes; expected at most {self.max_bytes}")
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge(413, f"request body of more than {self.max_bytes} bytes; expected at most {self.max_bytes}")
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _json_response(send, 413, f"request body of more than {self.max_bytes} bytes; expected at most {self.max_bytes}")


class _TooLarge(HTTPException):
    """Raised inside a route's body read, so FastAPI answers it as a 413 with its reason."""


def role_of_scope(scope: Scope) -> Role | None:
    """The role the middleware found for this request or websocket (None: public path, no code)."""
    role: Role | None = scope.get(ROLE_KEY)
    return role


SECURITY_HEADERS = [
    # Everything the page needs is served here: no other origin may be loaded, framed or told.
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; "
     b"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),  # NB: "no-referrer" makes browsers send "Origin: null" on POSTs
]


class SecurityHeadersMiddleware:
    """Adds ``SECURITY_HEADERS`` to every HTTP response (the facilitator's page must not be framed)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}  # NB: a route may set a stricter one
                message = {**message, "headers": headers + [h for h in SECURITY_HEADERS if h[0] not in present]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
