"""Messages on the dashboard's websocket: typed dataclasses with a ``type`` field, sent as JSON.

Server to browser: ``hello`` (once, on connecting), ``state`` (the whole meeting, on every change
and at least every ``push_interval_s``), ``pong`` and ``error``. Browser to server: ``ping`` and
``refresh`` (send the state again now).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from tracker.meeting.session import MeetingSnapshot
from tracker.reports.sinks import rounded

Role = Literal["viewer", "facilitator"]
CLIENT_TYPES = ("ping", "refresh")


@dataclass(frozen=True)
class HelloEvent:
    """First message of a connection: who the browser is to the server."""

    meeting_id: str
    role: Role
    warmup_s: float | None = None  # seconds before anyone is flagged quiet or dominant (--warmup-s)
    type: Literal["hello"] = "hello"


@dataclass(frozen=True)
class StateEvent:
    """The whole meeting (see ``MeetingSnapshot``); only the newest one matters."""

    state: dict[str, Any] = field(default_factory=dict)
    type: Literal["state"] = "state"


@dataclass(frozen=True)
class PongEvent:
    """Answer to a ``ping``."""

    type: Literal["pong"] = "pong"


@dataclass(frozen=True)
class ErrorEvent:
    """A message the server could not use; the connection stays open."""

    reason: str
    type: Literal["error"] = "error"


Event = HelloEvent | StateEvent | PongEvent | ErrorEvent
EVENT_TYPES = (HelloEvent, StateEvent, PongEvent, ErrorEvent)


def snapshot_dict(snapshot: MeetingSnapshot) -> dict[str, Any]:
    """The JSON-ready form of a snapshot (what ``GET /api/state`` returns)."""
    # NB: the timeline is the bulk of a long meeting's state and is already rounded; copying it
    # through asdict and rounded would cost more than everything else together.
    out: dict[str, Any] = rounded(asdict(replace(snapshot, timeline=[])))
    out["timeline"] = snapshot.timeline
    return out


def state_event(snapshot: MeetingSnapshot) -> StateEvent:
    return StateEvent(snapshot_dict(snapshot))


def encode(event: Event) -> str:
    """One event as compact JSON text."""
    return json.dumps(asdict(event), separators=(",", ":"), allow_nan=False)
