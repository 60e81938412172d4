"""After a crash: continue the room's interrupted meeting, or start a new one linked to it.

When ``talktime run`` starts, ``api.reports.open_store_for_run`` (through
``tracker.meeting.recorder.recover``) has closed every meeting no process records any more as
``interrupted``, at its last save. ``plan`` then looks at the room's latest stored meeting:

- interrupted at most ``within_s`` ago (``RESUME_WITHIN_S``, the ``--resume-within`` setting), on
  the same day, on the same input and in the same room: it is *continued*. The restarted process
  takes its id, clock, segments, names, roster, phases and voices, and the time it was down is kept
  as a ``Gap``: the clock stops over it as over a pause, so it is neither talk nor silence.
- interrupted longer ago, on another day, or elsewhere: a new meeting starts, and it ``follows`` the
  interrupted one (the link the page and the report show). The old one stays closed at its last
  save and its voices are forgotten.

``Restart`` is what the dashboard says about it (``MeetingSnapshot.restart``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from tracker.store.records import Gap, LiveVoice, MeetingInfo, MeetingRecord, iso_now

log = logging.getLogger("talktime")

# Ten minutes: a supervised restart (systemd, a person noticing the page froze) takes seconds to a
# few minutes, and the room is then still in the same meeting. Ten minutes without a record is half
# of the default --auto-end-after (20 min without speech ends a meeting): after that long the room has
# likely moved on, and one meeting with a longer hole in it would read as if nothing happened.
RESUME_WITHIN_S = 600.0


@dataclass(frozen=True)
class Restart:
    """What the page says after a restart (wall times ISO 8601 UTC, ``message`` in local time)."""

    at: str  # when this process continued or replaced the meeting
    stopped_at: str  # the interrupted meeting's last save
    lost_s: float  # seconds between them: not recorded
    continued: bool  # True: the same meeting goes on; False: this is a new meeting
    interrupted_id: str  # the meeting that was cut off (this one when continued)
    voices: str  # what became of the voices, in words
    message: str  # the banner's text


def _local(iso: str, fmt: str = "%H:%M") -> str:
    return datetime.fromisoformat(iso).astimezone().strftime(fmt)


def lost_words(seconds: float) -> str:
    """"1 min 5 s", "7 s": how long a gap was."""
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s} s" if m else f"{s} s"


def plan(latest: MeetingInfo | None, *, source: str, room: str | None, within_s: float,
         now: str | None = None) -> bool | None:
    """Whether to continue the ``latest`` stored meeting (True), start a new meeting that follows
    it (False), or do neither because it was not interrupted (None)."""
    if latest is None or latest.end_reason != "interrupted":
        return None
    stopped = latest.ended_at or latest.heartbeat_at or latest.started_at
    now = now or iso_now()
    gap_s = (datetime.fromisoformat(now) - datetime.fromisoformat(stopped)).total_seconds()
    same_day = _local(stopped, "%Y-%m-%d") == _local(now, "%Y-%m-%d")
    return within_s > 0 and 0 <= gap_s <= within_s and same_day and latest.source == source and latest.room == room


def voice_words(kept: int, voices: int, why_not: str | None) -> str:
    """What became of the meeting's voices after a restart."""
    if why_not is not None:
        return f"the voices could not be carried on ({why_not}): a returning voice may get a new number; merge it"
    if kept == voices:
        return f"{kept} voice{'s' if kept != 1 else ''} carried on"
    return f"{kept} of {voices} voices carried on; the others may get new numbers (merge them)"


def continued(record: MeetingRecord, gap: Gap, voices: str) -> Restart:
    """The banner of a meeting continued over ``gap``."""
    lost = lost_words(gap.lost_s)
    return Restart(
        at=gap.resumed_at, stopped_at=gap.stopped_at, lost_s=gap.lost_s, continued=True,
        interrupted_id=record.info.id, voices=voices,
        message=f"talktime restarted at {_local(gap.resumed_at)}; {lost} were not recorded. The meeting goes on "
                f"(clock, names, roster and phases kept; {voices}).",
    )


def replaced(old: MeetingInfo, at: str) -> Restart:
    """The banner of a new meeting started after ``old`` was interrupted too long ago to continue."""
    stopped = old.ended_at or old.heartbeat_at or old.started_at
    lost_s = max(0.0, (datetime.fromisoformat(at) - datetime.fromisoformat(stopped)).total_seconds())
    return Restart(
        at=at, stopped_at=stopped, lost_s=lost_s, continued=False, interrupted_id=old.id, voices="",
        message=f"talktime restarted at {_local(at)}; {lost_words(lost_s)} were not recorded. That is too long to "
                f"continue the interrupted meeting ({old.title!r}, closed at its last save at {_local(stopped)}): "
                "this is a new meeting.",
    )


def usable_voices(voices: list[LiveVoice], model: str | None) -> tuple[list[LiveVoice], str | None]:
    """The stored voices an engine of embedding ``model`` can be seeded with, and why none can
    (None when they can)."""
    if not voices:
        return [], "none were saved before it stopped"
    if model is None:
        return [], "this engine keeps no voices"
    same = [v for v in voices if v.model == model]
    if not same:
        return [], f"they were made by {voices[0].model!r}, this engine uses {model!r}"
    return same, None
