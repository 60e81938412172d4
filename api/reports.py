"""The meeting record behind ``talktime run``, and the post-meeting report over HTTP.

``GET /api/meetings/{id}/report?format=html|pdf|csv|json`` (viewer code, like every read) answers
with this meeting's report, built from the live session (so it is never a flush behind) plus, for
a recurring meeting, the earlier meetings of its series from the store.
"""

from __future__ import annotations

from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import Response

from api.events import Role
from api.routes import Meeting, viewer
from api.settings import Settings
from tracker.records import MeetingInfo, MeetingRecord
from tracker.recorder import MeetingRecorder, live_info, recover, session_record
from tracker.report import build_report
from tracker.report_render import render
from tracker.session import MeetingSession
from tracker.storage import MeetingStore, StoreError

router = APIRouter()
Format = Literal["html", "pdf", "csv", "json"]
MEDIA_TYPES = {"html": "text/html; charset=utf-8", "pdf": "application/pdf", "csv": "text/csv; charset=utf-8",
               "json": "application/json"}


def open_store_for_run(settings: Settings) -> tuple[MeetingStore, list[str]]:
    """The store ``talktime run`` records into, after recovering interrupted meetings and applying
    the retention setting; also what to tell the user about it."""
    store = MeetingStore.in_folder(settings.store_dir())
    notes = []
    try:
        for info in recover(store):
            notes.append(f"recovered meeting {info.id[:8]} ({info.title!r}), interrupted at {info.ended_at}: "
                         f"closed at its last save (`talktime report {info.id[:8]}`)")
        for info in store.unfinished():
            notes.append(f"meeting {info.id[:8]} is being recorded by another talktime process: left alone")
        if settings.retention_days is not None:
            gone = store.prune(older_than_days=settings.retention_days)
            if gone:
                notes.append(f"deleted {len(gone)} meetings older than {settings.retention_days} days")
    except BaseException:
        store.close()
        raise
    return store, [*notes, f"meeting record: {store.path}"]


async def start_recording(app: FastAPI, session: MeetingSession, settings: Settings, store: MeetingStore | None) -> None:
    """Store the meeting from now on (called by the lifespan before capture opens)."""
    info = live_info(session, title=settings.title, series=settings.series, room=settings.room)
    app.state.meeting_info, app.state.store, app.state.recorder = info, store, None
    if store is not None:
        recorder = MeetingRecorder(store, session, info=info)
        await anyio.to_thread.run_sync(recorder.start)
        app.state.recorder = recorder


async def stop_recording(app: FastAPI) -> None:
    """Write the meeting's last seconds (called by the lifespan after the meeting ended)."""
    recorder: MeetingRecorder | None = getattr(app.state, "recorder", None)
    if recorder is not None:
        await anyio.to_thread.run_sync(recorder.stop)


def _record(request: Request, session: MeetingSession) -> MeetingRecord:
    recorder: MeetingRecorder | None = request.app.state.recorder
    if recorder is not None:
        return recorder.record()
    info: MeetingInfo = request.app.state.meeting_info
    return session_record(session, info)


def _filename(record: MeetingRecord, fmt: str) -> str:
    return f"talktime-{record.info.started_at[:10]}-{record.info.id[:8]}.{fmt}"


@router.get("/api/meetings/{meeting_id}/report", response_model=None)
def meeting_report(
    session: Meeting, request: Request, role: Annotated[Role, Depends(viewer)], format: Format = "html"
) -> Response:
    """The meeting's report: an HTML page, a printable PDF, or its figures as CSV or JSON."""
    record = _record(request, session)
    store: MeetingStore | None = request.app.state.store
    series: list[MeetingRecord] = []
    if store is not None and record.info.series is not None:
        try:
            series = [r for r in store.series(record.info.series) if r.info.id != record.info.id] + [record]
        except StoreError as exc:
            raise HTTPException(503, f"the meeting store cannot be read: {exc}") from exc
    series.sort(key=lambda r: r.info.started_at)
    data = render(build_report(record, series=series), format)
    disposition = "inline" if format in ("html", "json") else "attachment"
    headers = {"Content-Disposition": f'{disposition}; filename="{_filename(record, format)}"', "Cache-Control": "no-store"}
    return Response(data, media_type=MEDIA_TYPES[format], headers=headers)
