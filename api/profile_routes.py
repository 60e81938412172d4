"""Voice-profile controls of the dashboard (facilitator only): enroll a roster entry from the room's
microphone, and keep the profile of a guest who was named during the meeting.

Both return the meeting's new state. An enrollment that cannot make a profile (no speech, too
short, two voices) answers 422 with a message asking for a retake; a store that cannot keep the
profile (locked, full, corrupt, unwritable) answers 503 saying why. Either way nothing was
changed and the meeting goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio
from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from api.events import snapshot_dict
from api.openapi import STATE_RESPONSES, ErrorDetail, Responses
from api.routes import Control, JsonRoute, Meeting
from tracker.meeting.enrollment import ENROLL_SECONDS, enroll_live, save_voice_profile
from tracker.store.storage import MeetingStore, StoreError

router = APIRouter(route_class=JsonRoute)  # JSON bodies read as the main routes read them

T = TypeVar("T")

PROFILE_RESPONSES: Responses = {
    **STATE_RESPONSES,
    503: {"model": ErrorDetail, "description": "the store cannot keep the profile (the reason says why); "
                                               "nothing was changed and the meeting goes on"},
}


class EnrollBody(BaseModel):
    """Listen to the room for ``seconds``; ``consent``: the person agreed to keep a voice profile."""

    model_config = ConfigDict(extra="forbid")
    seconds: float = Field(default=8.0, ge=ENROLL_SECONDS[0], le=ENROLL_SECONDS[1])
    consent: bool = False


class ConsentBody(BaseModel):
    """``consent``: the person agreed to keep a voice profile."""

    model_config = ConfigDict(extra="forbid")
    consent: bool


def _store(request: Request) -> MeetingStore | None:
    store: MeetingStore | None = getattr(request.app.state, "store", None)
    return store


async def _keeping(fn: Callable[[], T]) -> T:
    """Run ``fn`` (it may write a profile) in a worker thread; a failing store is a 503."""
    try:
        return await anyio.to_thread.run_sync(fn)
    except StoreError as exc:
        raise HTTPException(503, f"the voice profile was not kept: {exc}") from exc


@router.post("/api/meetings/{meeting_id}/attendees/{attendee_id}/enroll", dependencies=[Control],
             responses=PROFILE_RESPONSES)
async def enroll(session: Meeting, attendee_id: int, body: EnrollBody, request: Request) -> dict[str, Any]:
    """Listen for ``seconds`` while the attendee speaks; their voice is named now and, with consent,
    kept as a profile for the next meetings. Answers when the listening is over."""
    store = _store(request)
    await _keeping(lambda: enroll_live(session, attendee_id, seconds=body.seconds, consent=body.consent, store=store))
    return snapshot_dict(session.snapshot())


@router.post("/api/meetings/{meeting_id}/speakers/{speaker_id}/profile", dependencies=[Control],
             responses=PROFILE_RESPONSES)
async def keep_profile(session: Meeting, speaker_id: int, body: ConsentBody, request: Request) -> dict[str, Any]:
    """Keep a named voice's profile (a guest named during the meeting), with the person's consent."""
    store = _store(request)
    await _keeping(lambda: save_voice_profile(session, speaker_id, consent=body.consent, store=store))
    return snapshot_dict(session.snapshot())
