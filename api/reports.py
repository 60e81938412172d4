"""The meeting record behind ``talktime run``, and the post-meeting report over HTTP.

``GET /api/meetings/{id}/report?format=html|pdf|csv|json`` (viewer code, like every read) answers
with the report of a meeting this room has held, built from the live session for the current one
(so it is never a flush behind), plus, for a recurring meeting, the earlier meetings of its series
from the store. Recording itself is the room's (``tracker.meeting.room``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from api.events import Role
from api.routes import viewer
from api.settings import Settings
from tracker.store.records import MeetingRecord
from tracker.meeting.recorder import recover
from tracker.reports.figures import build_report
from tracker.reports.render import render
from tracker.meeting.room import Room
from tracker.store.storage import MeetingStore, StoreError

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
                         f"closed at its last save, unless this run continues it (`talktime report {info.id[:8]}`)")
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


def _record(request: Request, meeting_id: str) -> MeetingRecord:
    """The record of a meeting this room held: the current one as it stands, or an ended one."""
    room: Room = request.app.state.room
    try:
        record = room.record_of(meeting_id)
    except StoreError as exc:  # NB: an unknown id is None, not an error; this is a store that cannot be read
        raise HTTPException(503, f"the meeting store cannot be read: {exc}; expected a readable SQLite file") from exc
    if record is None:
        raise HTTPException(404, f"no meeting {meeting_id!r} here; GET /api/state shows the current one")
    return record


def _filename(record: MeetingRecord, fmt: str) -> str:
    return f"talktime-{record.info.started_at[:10]}-{record.info.id[:8]}.{fmt}"


@router.get("/api/meetings/{meeting_id}/report", response_model=None)
def meeting_report(
    meeting_id: str, request: Request, role: Annotated[Role, Depends(viewer)], format: Format = "html"
) -> Response:
    """The meeting's report: an HTML page, a printable PDF, or its figures as CSV or JSON. Any
    meeting this room has held since it started answers, not only the current one."""
    record = _record(request, meeting_id)
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
