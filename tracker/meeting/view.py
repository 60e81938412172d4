"""What a live meeting looks like to the room: per-person figures with flags, phases and a timeline.

Pure functions over an ``Accountant``'s figures (no threads, no I/O). Times are seconds since the
start of the meeting's stream, derived from sample counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tracker.audio import SAMPLE_RATE, seconds, to_samples
from tracker.stages.accounting import Accountant, GroupStats, SpeakerStats, Summary, balance_reading, is_remote
from tracker.stages.equity import gini, shares
from tracker.segments import Phase, SpeakerSegment, merge_segments

PHASE_PRESETS = ("identify problems", "brainstorm", "assign actions")


@dataclass(frozen=True)
class ViewConfig:
    """When a person is flagged, and how the timeline is drawn."""

    quiet_after_s: float = 300.0  # seconds without speaking after which a present person is quiet
    quiet_share: float = 0.5  # recent share below this fraction of an equal share is quiet
    dominant_share: float = 1.5  # cumulative share above this multiple of an equal share dominates
    warmup_s: float = 60.0  # seconds of meeting before anyone is flagged quiet or dominant
    max_people: int = 10  # above this many people the page warns that the group is too big
    timeline_gap_s: float = 0.5  # seconds; one speaker's segments closer than this are drawn as one
    timeline_blocks: int = 800  # the timeline's resolution is meeting length / this (a pixel or two of a screen)

    def __post_init__(self) -> None:
        for name in ("quiet_after_s", "quiet_share", "dominant_share", "warmup_s", "timeline_gap_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"ViewConfig.{name} expected >= 0, got {getattr(self, name)!r}")
        if self.timeline_blocks < 1:
            raise ValueError(f"ViewConfig.timeline_blocks expected >= 1, got {self.timeline_blocks!r}")
        if self.max_people < 2:
            raise ValueError(f"ViewConfig.max_people expected >= 2, got {self.max_people!r}")


@dataclass(frozen=True)
class PersonView:
    """One person as the dashboard shows them (seconds; shares in [0, 1])."""

    id: int  # voice id (>= 0) or expected attendee (< 0)
    name: str
    talk_time_s: float
    share: float
    turns: int
    longest_turn_s: float
    since_last_spoke_s: float | None  # None: has not spoken
    recent_talk_time_s: float  # in the last ``AccountingConfig.recent_s`` seconds
    recent_share: float
    present: bool  # counted in the equity figures (phantom voices are not)
    expected: bool  # on the roster without a voice yet
    quiet: str | None  # why they should be asked in ("has not spoken yet", ...), or None
    dominant: bool  # well above an equal share of the talk
    remote: bool = False  # heard through the call (hybrid meetings), not in the room
    # None when the engine cannot see two people at once (``GroupStats.overlap_measured``):
    overlap_s: float | None = None  # time they talked while someone else also talked
    interruptions_made: int | None = None  # they started while another talked, who stopped soon after
    interruptions_suffered: int | None = None  # someone started while they talked and they stopped soon after


@dataclass(frozen=True)
class PhaseShare:
    id: int
    talk_time_s: float
    share: float


@dataclass(frozen=True)
class PhaseView:
    """Talk inside one agenda phase; everyone present in the meeting counts, at zero if silent."""

    name: str
    start_s: float
    end_s: float | None  # None: the current phase
    duration_s: float
    speakers: list[PhaseShare]
    balance: float | None  # 1 - Gini over the phase's talk times
    reading: str


def _quiet_reason(s: SpeakerStats, *, equal: float, clock_s: float, cfg: ViewConfig) -> str | None:
    if clock_s < cfg.warmup_s:
        return None
    if s.since_last_spoke_s is None or s.talk_time_s <= 0:
        return "has not spoken yet"
    if s.since_last_spoke_s >= cfg.quiet_after_s:
        return f"quiet for {int(s.since_last_spoke_s // 60)} min"
    if s.recent_share < cfg.quiet_share * equal:
        return "little in the last 10 minutes"
    return None


def people_view(summary: Summary, *, clock_s: float, config: ViewConfig) -> list[PersonView]:
    """Every voice and expected attendee, loudest first, with quiet/dominant flags."""
    n = summary.group.people
    equal = 1.0 / n if n else 0.0
    out = []
    for s in summary.speakers:
        flagged = s.present and n >= 2
        quiet = _quiet_reason(s, equal=equal, clock_s=clock_s, cfg=config) if flagged else None
        dominant = flagged and clock_s >= config.warmup_s and s.share > config.dominant_share * equal
        out.append(
            PersonView(
                id=s.id,
                name=s.name,
                talk_time_s=s.talk_time_s,
                share=s.share,
                turns=s.turns,
                longest_turn_s=s.longest_turn_s,
                since_last_spoke_s=s.since_last_spoke_s,
                recent_talk_time_s=s.recent_talk_time_s,
                recent_share=s.recent_share,
                present=s.present,
                expected=s.expected,
                quiet=quiet,
                dominant=dominant,
                remote=is_remote(s.id),
                overlap_s=s.overlap_s,
                interruptions_made=s.interruptions_made,
                interruptions_suffered=s.interruptions_suffered,
            )
        )
    return out


def _clipped_talk(timeline: Sequence[SpeakerSegment] | Accountant, start: int, end: int) -> dict[int, int]:
    if isinstance(timeline, Accountant):
        return timeline.talk_between(start, end)  # O(speakers), provisional speech included
    talk: dict[int, int] = {}
    for seg in timeline:
        n = min(seg.end_sample, end) - max(seg.start_sample, start)
        if n > 0:
            talk[seg.speaker] = talk.get(seg.speaker, 0) + n
    return talk


def phase_views(
    timeline: Sequence[SpeakerSegment] | Accountant, phases: Sequence[Phase], *, people: Sequence[int], clock_samples: int
) -> list[PhaseView]:
    """Per-phase talk time and balance of ``people`` (ids present in the meeting).

    ``timeline`` is the meeting's segments, or a live ``Accountant``, whose running totals answer
    in O(speakers) per phase, however long the meeting.
    """
    out = []
    for ph in phases:
        end = clock_samples if ph.end_sample is None else ph.end_sample
        talk = _clipped_talk(timeline, ph.start_sample, end)
        times = [seconds(talk.get(i, 0)) for i in people]
        g = gini(times)
        balance = None if g is None else 1.0 - g
        out.append(
            PhaseView(
                name=ph.name,
                start_s=seconds(ph.start_sample),
                end_s=None if ph.end_sample is None else seconds(ph.end_sample),
                duration_s=seconds(max(0, end - ph.start_sample)),
                speakers=[PhaseShare(i, t, s) for i, t, s in zip(people, times, shares(times), strict=True)],
                balance=balance,
                reading=balance_reading(balance),
            )
        )
    return out


def timeline_gap(gap_s: float, clock_samples: int, blocks: int) -> int:
    """Samples below which one voice's runs are drawn as one: ``gap_s``, or a ``blocks``-th of the
    meeting rounded up to a power of two (so it changes a few times per meeting, not per chunk)."""
    coarse = clock_samples // blocks
    return max(to_samples(gap_s), 1 << max(0, coarse - 1).bit_length() if coarse > 0 else 0)


def timeline_view(
    timeline: Sequence[SpeakerSegment] | Accountant, *, gap_s: float, clock_samples: int = 0, blocks: int = 800
) -> list[tuple[int, float, float]]:
    """Who spoke when as (speaker, start_s, end_s), 0.1 s precision.

    One speaker's runs closer than ``gap_s``, or than about a ``blocks``-th of the meeting
    (``timeline_gap``), are joined: a long meeting's timeline stays about as large as the screen
    can show (and as each push carries). Given a live ``Accountant``, its settled runs are joined
    once and kept, and provisional speech is drawn too.
    """
    gap = timeline_gap(gap_s, clock_samples, blocks)
    if isinstance(timeline, Accountant):
        merged = timeline.view_timeline(gap)
    else:
        merged = merge_segments(timeline, gap_samples=gap)
    return [(s.speaker, round(s.start_sample / SAMPLE_RATE, 1), round(s.end_sample / SAMPLE_RATE, 1)) for s in merged]


def equal_share(group: GroupStats) -> float | None:
    """The share each person would have if everyone spoke equally (1/N), None with nobody present."""
    return 1.0 / group.people if group.people else None
