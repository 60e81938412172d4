"""HTTP and websocket endpoints of the dashboard.

Viewers (the meeting's code) may read; the facilitator (the token) may also control. Every control
returns the meeting's new state. Ids that do not exist answer 404, controls that do not fit the
meeting's state 409, unusable input 4xx with a reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any
from html import escape
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, HTTPException, Query, Request, WebSocket
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from api.events import HelloEvent, Role, snapshot_dict
from api.hub import Hub
from api.limits import Limiter, client_key
from api.network import lan_addresses, viewers_base_url
from api.openapi import (
    LOGIN_FORM, LOGIN_RESPONSES, LOGOUT_RESPONSES, PAGE_RESPONSES, STATE_CREATED, STATE_RESPONSES,
)
from api.security import COOKIE, SESSION_MAX_AGE_S, Access, role_of_scope, safe_next
from tracker.meeting.room import Room
from tracker.meeting.session import MAX_NAME_CHARS, MeetingSession

STATIC_DIR = Path(__file__).parent / "static"


def _lone_surrogate(value: Any, where: str = "the body") -> str | None:
    """Where a parsed JSON value holds half of a surrogate pair (JSON may spell one, ``"\\ud800"``;
    it is no character, so it could never be shown, stored or sent on), or None."""
    if isinstance(value, str):
        return where if any("\ud800" <= ch <= "\udfff" for ch in value) else None
    if isinstance(value, dict):
        items = [(k, f"the key {k!r}") for k in value] + [(v, f"{k!r}") for k, v in value.items()]
        return next((found for v, w in items if (found := _lone_surrogate(v, w)) is not None), None)
    if isinstance(value, list):
        return next((found for v in value if (found := _lone_surrogate(v, where)) is not None), None)
    return None


class _JsonRequest(Request):
    """A request whose JSON body is refused as invalid input (422, with the reason, like any other
    unusable JSON) when it is nested too deeply for Python's parser (else: 400) or holds a lone
    surrogate (else: a codec error)."""

    async def json(self) -> Any:
        try:
            value = await super().json()
        except RecursionError:
            raise json.JSONDecodeError("JSON nested too deeply; expected an object like {\"name\": \"Ada\"}",
                                       "", 0) from None
        where = _lone_surrogate(value)
        if where is not None:
            raise json.JSONDecodeError(f"{where} holds a lone surrogate (like \\ud800), half of a character pair; "
                                       "expected text of whole Unicode characters", "", 0)
        return value


class JsonRoute(APIRoute):
    """A route that reads its body with ``_JsonRequest``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            return await handler(_JsonRequest(request.scope, request.receive))

        return route


router = APIRouter(route_class=JsonRoute)


class NameBody(BaseModel):
    """A person's or phase's name."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS)


class MergeBody(BaseModel):
    """Credit everything voice ``gone`` said to voice ``keep``."""

    model_config = ConfigDict(extra="forbid")
    keep: int = Field(ge=0)
    gone: int = Field(ge=0)


# ----------------------------------------------------------------------------- dependencies


def _session(request: Request) -> MeetingSession:
    room: Room = request.app.state.room  # NB: the room's current meeting; it changes with "new meeting"
    return room.current


def viewer(request: Request) -> Role:
    role = role_of_scope(request.scope)
    if role is None:  # the middleware lets only public paths through without one
        raise HTTPException(401, "meeting code required", headers={"WWW-Authenticate": "Bearer"})
    return role


def facilitator(role: Annotated[Role, Depends(viewer)]) -> Role:
    if role != "facilitator":
        raise HTTPException(403, "this needs the facilitator's token; the meeting code only lets you watch")
    return role


def meeting(meeting_id: str, request: Request) -> MeetingSession:
    session = _session(request)
    if meeting_id != session.id:
        raise HTTPException(404, f"no meeting {meeting_id!r} here; GET /api/state shows the current one")
    return session


Meeting = Annotated[MeetingSession, Depends(meeting)]
Control = Depends(facilitator)


def _state(session: MeetingSession) -> dict[str, Any]:
    return snapshot_dict(session.snapshot())


# ----------------------------------------------------------------------------- pages


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness, for monitors: the only answer given without a code."""
    return {"status": "ok"}


def _enter(request: Request, secret: str, next_path: str = "/") -> Response:
    """Log in with ``secret``: set the cookie and go to ``next_path`` (a path of this site, else the
    page), or show the form with the reason."""
    access: Access = request.app.state.access
    limiter: Limiter = request.app.state.limiter
    key = client_key(request.scope)
    if secret and (wait := limiter.locked_out(key)):
        error = f"Too many wrong codes from this device. Try again in {wait} s."
        return _login_page(request, error=error, status_code=429, headers={"Retry-After": str(wait)}, next_path=next_path)
    role = access.role_of(secret)
    if role is None:
        if secret:
            limiter.failed(key)
        return _login_page(request, error="That code is not right. Check the room screen and try again.",
                           next_path=next_path)
    response = RedirectResponse(safe_next(next_path), status_code=303)
    # NB: the cookie holds a random session id, never the code or token (api.security.Logins)
    response.set_cookie(
        COOKIE, access.logins.open(role, secret), max_age=SESSION_MAX_AGE_S, path="/", httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


def _login_page(
    request: Request, *, error: str = "", status_code: int = 401, headers: dict[str, str] | None = None,
    next_path: str = "/",
) -> HTMLResponse:
    html = (STATIC_DIR / "login.html").read_text().replace("{{next}}", escape(safe_next(next_path)))
    return HTMLResponse(html.replace("{{error}}", escape(error)), status_code=status_code, headers=headers)


@router.get("/", response_model=None, responses=PAGE_RESPONSES)
def page(
    request: Request, code: str | None = None, next_path: Annotated[str | None, Query(alias="next")] = None
) -> Response:
    """The dashboard, or the login page without a valid code.

    ``?code=`` (links printed by earlier versions) is moved into the URL's fragment, which the
    browser keeps and never sends: the login page's script logs in from there and clears it.
    ``?next=`` is where a browser sent here to log in wanted to go (only a path of this site).
    """
    if code is not None:
        headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
        back = safe_next(next_path)
        query = f"?next={quote(back, safe='')}" if back != "/" else ""
        return RedirectResponse(f"/{query}#code={quote(code.strip(), safe='')}", status_code=303, headers=headers)
    if role_of_scope(request.scope) is None:
        # NB: a first visit is a normal page (200, no console error); a wrong or old code answers 401
        wrong = "authorization" in request.headers or COOKIE in request.cookies
        return _login_page(request, next_path=next_path or "/", status_code=401 if wrong else 200)
    if safe_next(next_path) != "/":
        return RedirectResponse(safe_next(next_path), status_code=303, headers={"Cache-Control": "no-store"})
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-store"})


@router.post(
    "/login", response_model=None, response_class=RedirectResponse, status_code=303, responses=LOGIN_RESPONSES,
    openapi_extra=LOGIN_FORM,
)
async def login(request: Request) -> Response:
    """The login form (``code=...``, form-encoded)."""
    form = parse_qs((await request.body()).decode(errors="replace"))
    codes, nexts = form.get("code", []), form.get("next", [])
    return _enter(request, codes[0].strip() if codes else "", nexts[0] if nexts else "/")


@router.post(
    "/logout", response_model=None, response_class=RedirectResponse, status_code=303, responses=LOGOUT_RESPONSES,
    dependencies=[Depends(viewer)],
)
def logout(request: Request) -> Response:
    """Log this browser out: its session ends here, so its cookie is worthless even if copied."""
    access: Access = request.app.state.access
    access.logins.close(request.cookies.get(COOKIE))
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


# ----------------------------------------------------------------------------- reading


@router.get("/api/state", responses=STATE_RESPONSES)
def state(request: Request, role: Annotated[Role, Depends(viewer)]) -> dict[str, Any]:
    """The current meeting (see ``MeetingSnapshot``)."""
    return _state(_session(request))


@router.get("/api/access")
def access_info(request: Request, role: Annotated[Role, Depends(viewer)]) -> dict[str, Any]:
    """The caller's role; the facilitator also gets the viewers' code and join link."""
    out: dict[str, Any] = {"role": role, "meeting_id": _session(request).id}
    if role == "facilitator":
        code = request.app.state.access.code
        out["code"] = code
        # NB: a page opened on this machine (127.0.0.1) gives viewers the room network's address
        settings = request.app.state.settings
        base = viewers_base_url(str(request.base_url), settings.host, lan_addresses(), settings.port)
        out["join_url"] = f"{base}#code={code}"  # NB: a fragment never reaches a server or its logs
    return out


@router.get("/api/meetings/{meeting_id}", responses=STATE_RESPONSES)
def meeting_state(session: Meeting, role: Annotated[Role, Depends(viewer)]) -> dict[str, Any]:
    return _state(session)


# ----------------------------------------------------------------------------- control


@router.post("/api/meetings/{meeting_id}/start", dependencies=[Control], responses=STATE_RESPONSES)
def start(session: Meeting) -> dict[str, Any]:
    session.start()
    return _state(session)


@router.post("/api/meetings/{meeting_id}/pause", dependencies=[Control], responses=STATE_RESPONSES)
def pause(session: Meeting) -> dict[str, Any]:
    session.pause()
    return _state(session)


@router.post("/api/meetings/{meeting_id}/end", dependencies=[Control], responses=STATE_RESPONSES)
def end(session: Meeting) -> dict[str, Any]:
    session.end()
    return _state(session)


@router.post("/api/meetings", dependencies=[Control], status_code=201, responses=STATE_CREATED)
def new_meeting(request: Request) -> dict[str, Any]:
    """The room's next meeting: the current one ends (and is kept) if it has not, a new one opens
    on the same microphone and settings; viewers follow it without reloading."""
    room: Room = request.app.state.room
    return _state(room.new_meeting())


@router.patch("/api/meetings/{meeting_id}/speakers/{speaker_id}", dependencies=[Control], responses=STATE_RESPONSES)
def rename(session: Meeting, speaker_id: int, body: NameBody) -> dict[str, Any]:
    """Name a voice, or correct an expected attendee's name (negative ids)."""
    session.rename(speaker_id, body.name)
    return _state(session)


@router.post("/api/meetings/{meeting_id}/merge", dependencies=[Control], responses=STATE_RESPONSES)
def merge(session: Meeting, body: MergeBody) -> dict[str, Any]:
    session.merge(body.keep, body.gone)
    return _state(session)


@router.post("/api/meetings/{meeting_id}/attendees", dependencies=[Control], status_code=201, responses=STATE_CREATED)
def add_attendee(session: Meeting, body: NameBody) -> dict[str, Any]:
    session.expect(body.name)
    return _state(session)


@router.delete("/api/meetings/{meeting_id}/attendees/{attendee_id}", dependencies=[Control], responses=STATE_RESPONSES)
def remove_attendee(session: Meeting, attendee_id: int) -> dict[str, Any]:
    session.remove_attendee(attendee_id)
    return _state(session)


@router.post("/api/meetings/{meeting_id}/phases", dependencies=[Control], status_code=201, responses=STATE_CREATED)
def mark_phase(session: Meeting, body: NameBody) -> dict[str, Any]:
    """Start an agenda phase now (the current one ends)."""
    session.mark_phase(body.name)
    return _state(session)


@router.post("/api/meetings/{meeting_id}/phases/end", dependencies=[Control], responses=STATE_RESPONSES)
def end_phase(session: Meeting) -> dict[str, Any]:
    session.end_phase()
    return _state(session)


# ----------------------------------------------------------------------------- websocket


@router.websocket("/ws")
async def websocket(ws: WebSocket) -> None:
    """Live state: ``hello``, then ``state`` on every change and at least twice a second."""
    role = role_of_scope(ws.scope)
    assert role is not None  # the middleware closed the handshake otherwise
    session: MeetingSession = ws.app.state.room.current
    hub: Hub = ws.app.state.hub
    await ws.accept()
    await hub.serve(ws, role=role, hello=HelloEvent(session.id, role, warmup_s=session.view.warmup_s))
