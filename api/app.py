"""The dashboard application: ``create_app(settings, *, session=None) -> FastAPI``.

The lifespan opens the meeting's capture, starts the snapshot pump that feeds the websocket hub,
and on shutdown ends the meeting. Tests pass their own ``session`` (a file or a fake pipeline).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.telemetry import TelemetryConfig

from api.hub import Hub
from api.limits import HeadLimitMiddleware, Limiter, RequestRateMiddleware
from api.openapi import ERROR_RESPONSES, REPORT_RESPONSES
from api.pump import SnapshotPump
from api.profile_routes import router as profile_router
from api.reports import router as reports_router
from api.routes import STATIC_DIR, router
from api.security import Access, AccessMiddleware, BodyLimitMiddleware, SecurityHeadersMiddleware
from api.settings import Settings
from tracker.meeting.room import Room
from tracker.pipeline.pipeline import PipelineConfig
from tracker.meeting.session import ConflictError, MeetingSession, SessionError, UnknownSpeakerError, build_session
from tracker.stages.vad import VadConfig
from tracker.store.storage import MeetingStore


# NB: talktime reports to nobody; FastAPI's OpenTelemetry hooks stay off even if the environment asks.
NO_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
    "auto_configure": False,
}


def session_from_settings(settings: Settings) -> MeetingSession:
    """The live meeting the settings describe (loads the models; a bad input file fails here).

    People of the roster file are expected; voices of people with a stored profile are named."""
    from tracker.meeting.enrollment import read_roster, use_profiles

    if settings.roster is not None:
        read_roster(settings.roster)  # a bad roster fails before the models load
    session = build_session(
        device=settings.device,
        input_path=settings.input,
        config=PipelineConfig(engine=settings.engine, vad=VadConfig(model=settings.vad)),
        view=settings.view_config(),
        retry_s=settings.retry_s,
        autostart=settings.autostart,
        start_on_speech_after_s=settings.quiet_before_start_s if settings.start_on_speech else None,
        call_device=settings.call_device,
        call_input=settings.call_input,
    )
    use_profiles(session, data_dir=settings.store_dir(), roster_file=settings.roster)
    return session


def room_from_settings(settings: Settings, session: MeetingSession, store: MeetingStore | None) -> Room:
    """The room that holds ``session`` and the meetings after it, recorded in ``store``."""
    minutes = settings.auto_end_after
    return Room(session, store=store, title=settings.title, series=settings.series, room=settings.room,
                auto_end_after_s=60 * minutes if minutes else None, resume_within_s=60 * settings.resume_within)


def _status_of(exc: Exception) -> int:
    if isinstance(exc, UnknownSpeakerError):
        return 404
    if isinstance(exc, ConflictError):
        return 409
    return 422


async def _session_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=_status_of(exc))


def create_app(
    settings: Settings,
    *,
    session: MeetingSession | None = None,
    store: MeetingStore | None = None,
    room: Room | None = None,
) -> FastAPI:
    """The dashboard of a room: its current meeting, and the ones after it.

    Parameters
    ----------
    settings : where to listen, the codes, the input (see ``Settings``); missing codes are generated.
    session : the first meeting to serve; by default one is built from ``settings`` when the app starts.
    store : where meetings are recorded while they run (``api.reports.open_store_for_run``); None:
        not recorded (reports are still served, from memory).
    room : the room, when the caller built (and maybe opened) it; ``session`` and ``store`` are then unused.
    """
    settings = settings.with_secrets()
    assert settings.code is not None and settings.token is not None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rm = room
        if rm is None:
            sess = session if session is not None else await anyio.to_thread.run_sync(session_from_settings, settings)
            rm = room_from_settings(settings, sess, store)
        hub = Hub(
            outbox_size=settings.outbox_size,
            max_viewers=settings.max_viewers,
            max_message_bytes=settings.max_message_bytes,
            send_timeout_s=settings.send_timeout_s,
            messages_per_s=settings.ws_messages_per_s,
            message_burst=settings.ws_message_burst,
        )
        app.state.room, app.state.hub, app.state.store = rm, hub, rm.store
        pump = SnapshotPump(rm, hub.publish, interval_s=settings.push_interval_s)
        await anyio.to_thread.run_sync(rm.open)  # NB: idempotent; `talktime run` opens it before serving
        pump.start(asyncio.get_running_loop())
        try:
            yield
        finally:
            pump.stop()
            await anyio.to_thread.run_sync(rm.close)

    app = FastAPI(
        title="talktime",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        telemetry=NO_TELEMETRY,
        responses=ERROR_RESPONSES,  # every route's error answers, in the schema (api/openapi.py)
    )
    app.state.settings = settings
    app.state.access = Access(settings.code, settings.token)
    app.state.limiter = limiter = Limiter(settings.limits())
    app.include_router(router)
    app.include_router(reports_router, responses=REPORT_RESPONSES)
    app.include_router(profile_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for exc_type in (SessionError, ValueError):
        app.add_exception_handler(exc_type, _session_error)
    # NB: the last added middleware runs first: count the request, then check the code, before
    # reading any body.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_message_bytes)
    app.add_middleware(
        AccessMiddleware, access=app.state.access, allowed_origins=settings.allowed_origins, limiter=limiter
    )
    app.add_middleware(RequestRateMiddleware, limiter=limiter)
    app.add_middleware(HeadLimitMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    return app
