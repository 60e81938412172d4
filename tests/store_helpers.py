"""Meetings whose every figure is known, for the store, report and CLI tests (seeded, no models)."""

from __future__ import annotations

import random
import uuid

from tracker.audio import SAMPLE_RATE, to_samples
from tracker.segments import Phase
from tracker.store.records import MeetingInfo, MeetingRecord
from tracker.segments import SpeakerSegment

NAMES = {0: "Alex", 1: "Blair", 2: "Casey <b>&</b>"}  # a name that must be escaped in HTML and SVG
ROSTER = ["Dana", "Eli"]  # on the roster, never speak


def meeting(
    *,
    seed: int = 0,
    minutes: float = 6.0,
    people: int = 4,
    title: str = "Weekly sync",
    series: str | None = "weekly sync",
    started_at: str = "2026-05-04T09:00:00+00:00",
    names: dict[int, str] | None = None,
    roster: list[str] | None = None,
    phases: bool = True,
    max_turn_s: float = 25.0,
    max_gap_s: float = 2.5,
) -> MeetingRecord:
    """A seeded meeting: voices 0..people-1 take turns with uneven weights; voice 3 is unnamed."""
    rng = random.Random(seed)
    weights = [rng.uniform(0.2, 1.0) ** 2 for _ in range(people)]
    t, end = 0, to_samples(minutes * 60)
    segments = []
    while t < end:
        speaker = rng.choices(range(people), weights)[0]
        d = to_samples(rng.uniform(1.0, max_turn_s))
        segments.append(SpeakerSegment(speaker, t, min(t + d, end)))
        t += d + to_samples(rng.uniform(0.3, max_gap_s))
    info = MeetingInfo(
        id=str(uuid.UUID(int=random.Random(f"id{seed}{title}").getrandbits(128), version=4)),
        title=title, series=series, room="Room 4", source="microphone", started_at=started_at,
        ended_at=started_at[:11] + "10:00:00+00:00", end_reason="ended", sample_rate=SAMPLE_RATE, clock_samples=end,
    )
    ph = [Phase("identify problems", 0, end // 3), Phase("brainstorm", end // 3, 2 * end // 3),
          Phase("assign actions", 2 * end // 3, end)] if phases else []
    return MeetingRecord(info, segments, dict(NAMES if names is None else names),
                         list(ROSTER if roster is None else roster), ph)


def series_of(n: int, *, title: str = "Weekly sync") -> list[MeetingRecord]:
    """``n`` meetings of one series, a week apart, oldest first."""
    return [meeting(seed=k, title=title, series=title.casefold(), started_at=f"2026-04-{6 + 7 * k:02d}T09:00:00+00:00")
            for k in range(n)]
