"""What a live meeting looks like to the room: per-person figures with flags, phases and a timeline.

Pure functions over an ``Accountant``'s figures (no threads, no I/O), plus ``ShownFigures``, what a
live meeting showed last. Times are seconds since the start of the meeting's stream, derived from
sample counts. Everything the dashboard shows is decided here, as it is shown (whole percents,
clocks, words, flags, the rows' order; formatting rules from ``tracker.stages.display``): the page
renders it, and the report uses the same ``PersonFigures``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from tracker.audio import SAMPLE_RATE, seconds, to_samples
from tracker.stages.accounting import AccountingConfig, Accountant, GroupStats, SpeakerStats, Summary, default_name, is_remote
from tracker.stages.display import (
    balance_band,
    balance_reading,
    clock,
    duration,
    equal_percent,
    minutes_words,
    percent,
    score,
    shown_silence,
    whole_percents,
)
from tracker.stages.equity import gini, shares
from tracker.segments import Phase, SpeakerSegment, merge_segments

PHASE_PRESETS = ("identify problems", "brainstorm", "assign actions")


QUIET_SHARE = 0.5  # below this fraction of an equal share a person is quiet: lately on the dashboard, overall in the report
SPEAKER_KINDS = ("roster", "guest", "named", "profile", "remote")  # see ``speaker_kind``
TICK_STEPS_S = (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)  # timeline axis steps


@dataclass(frozen=True)
class ViewConfig:
    """When a person is flagged, and how the rows and the timeline are drawn."""

    quiet_after_s: float = 300.0  # seconds without speaking after which a present person is quiet
    quiet_share: float = QUIET_SHARE  # recent share below this fraction of an equal share is quiet
    dominant_share: float = 1.5  # cumulative share above this multiple of an equal share dominates
    warmup_s: float = 60.0  # seconds of meeting before anyone is flagged quiet or dominant
    max_people: int = 10  # above this many people the page warns that the group is too big
    timeline_gap_s: float = 0.5  # seconds; one speaker's segments closer than this are drawn as one
    timeline_blocks: int = 800  # the timeline's resolution is meeting length / this (a pixel or two of a screen)
    speaking_now_s: float = 2.0  # a person heard this recently is "speaking now" (a state comes every 0.1-0.4 s)
    order_margin: float = 0.02  # rows swap places only when the lower one leads by more than this share of all talk
    timeline_ticks: int = 8  # about this many times are labelled under the timeline
    previous_report_s: float = 60.0  # until this much of the next meeting, the previous meeting's report is offered

    def __post_init__(self) -> None:
        for name in ("quiet_after_s", "quiet_share", "dominant_share", "warmup_s", "timeline_gap_s", "speaking_now_s",
                     "order_margin", "previous_report_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"ViewConfig.{name} expected >= 0, got {getattr(self, name)!r}")
        if self.timeline_blocks < 1:
            raise ValueError(f"ViewConfig.timeline_blocks expected >= 1, got {self.timeline_blocks!r}")
        if self.timeline_ticks < 1:
            raise ValueError(f"ViewConfig.timeline_ticks expected >= 1, got {self.timeline_ticks!r}")
        if self.max_people < 2:
            raise ValueError(f"ViewConfig.max_people expected >= 2, got {self.max_people!r}")


@dataclass(frozen=True)
class PersonFigures:
    """One person as the dashboard and the report show them (seconds; shares in [0, 1]).

    The text fields are the numbers as they are shown (``tracker.stages.display``): the page
    renders them as they are.
    """

    id: int  # voice id (>= 0) or roster place (< 0) of an attendee without a voice
    name: str
    kind: str  # one of SPEAKER_KINDS (``speaker_kind``)
    talk_time_s: float  # shown talk: decided + provisional, never below what the dashboard showed before
    provisional_s: float  # the part of talk_time_s not decided for good yet (drawn lighter)
    share: float  # of the talk of everyone counted
    percent: int | None  # share as a whole percent (the counted people's add up to 100); None: not counted
    of_equal_share: float | None  # share / equal share: 1 is exactly an equal share
    turns: int
    longest_turn_s: float
    since_last_spoke_s: float | None  # None: has not spoken
    recent_talk_time_s: float  # in the last ``AccountingConfig.recent_s`` seconds
    recent_share: float
    recent_percent: int | None
    present: bool  # counted in the equity figures (brief voices are not)
    expected: bool  # on the roster without a voice
    spoke: bool
    remote: bool  # heard through the call in a hybrid meeting
    quiet: str | None  # why they should be asked in ("has not spoken yet", ...), or None
    dominant: bool  # well above an equal share of the talk
    # None when the engine cannot see two people at once (``GroupStats.overlap_measured``):
    overlap_s: float | None  # time they talked while someone else also talked
    interruptions_made: int | None  # they started while another talked, who stopped soon after
    interruptions_suffered: int | None  # someone started while they talked and they stopped soon after
    talk_time: str  # talk_time_s as shown ("12 s", "1:05")
    recent_talk_time: str
    longest_turn: str
    last_spoke: str  # "speaking now", "12 s ago", "3 min ago", "last spoke at 3:02", "not yet"
    overlap: str | None  # overlap_s as shown; None: not measured


PersonView = PersonFigures  # the dashboard's name for the same type


@dataclass(frozen=True)
class PhaseShare:
    id: int
    talk_time_s: float
    share: float
    percent: int  # the phase's whole percents add up to 100
    talk_time: str  # as shown ("12 s", "1:05")


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
    band: str | None = None  # the balance's band (``display.balance_band``)


class ShownFigures:
    """What the dashboard showed last: the rows' order and each person's shown talk.

    A meeting keeps one, so that rows do not swap places on every update and no one's figure goes
    back when the engine gives provisional speech to another voice. Used under the figures' lock.
    """

    def __init__(self) -> None:
        self.order: list[int] = []
        self.talk: dict[int, float] = {}


def speaker_kind(speaker: int, name: str, *, expected: bool, from_profile: Collection[int] = ()) -> str:
    """Who a row is: "roster" (expected, no voice yet), "remote" (heard through the call),
    "profile" (a voice named from a kept voice profile), "guest" (a voice nobody named yet) or
    "named" (a voice named in this meeting, whose profile can be kept)."""
    if expected:
        return "roster"
    if is_remote(speaker):
        return "remote"
    if speaker in from_profile:
        return "profile"
    return "guest" if name == default_name(speaker) else "named"


def _quiet_reason(s: SpeakerStats, *, equal: float, clock_s: float, recent_s: float, cfg: ViewConfig) -> str | None:
    if clock_s < cfg.warmup_s:
        return None
    if s.since_last_spoke_s is None or s.talk_time_s <= 0:
        return "has not spoken yet"
    if s.since_last_spoke_s >= cfg.quiet_after_s:
        return f"quiet for {int(s.since_last_spoke_s // 60)} min"
    if s.recent_share < cfg.quiet_share * equal:
        # The recent window covers the whole meeting until it is that long: say "so far" until then.
        return "little so far" if clock_s < recent_s else f"little in the last {minutes_words(recent_s)}"
    return None


def _final_quiet(share: float, *, spoke: bool, equal: float, cfg: ViewConfig) -> str | None:
    if not spoke:
        return "did not speak"
    return "spoke less than half an equal share" if share < cfg.quiet_share * equal else None


def last_spoke(since_s: float | None, *, clock_s: float, counting: bool, config: ViewConfig) -> str:
    """When a person last spoke, in words. "speaking now" and "... ago" only while audio is being
    counted; otherwise the moment of the meeting they last spoke."""
    if since_s is None:
        return "not yet"
    if not counting:
        return f"last spoke at {clock(clock_s - since_s)}"
    if since_s < config.speaking_now_s:
        return "speaking now"
    if since_s < 60:
        return f"{round(since_s)} s ago"
    return f"{round(since_s / 60)} min ago"


def ranked(talk: dict[int, float], previous: Sequence[int] = (), margin_s: float = 0.0) -> list[int]:
    """Ids by talk, loudest first, but starting from ``previous`` order: a person moves above the one
    before them only when they lead by more than ``margin_s`` (new ids start at the end)."""
    order = [i for i in previous if i in talk]
    seen = set(order)
    order += sorted((i for i in talk if i not in seen), key=lambda i: (-talk[i], i))
    moved = True
    while moved:
        moved = False
        for k in range(len(order) - 1):
            if talk[order[k + 1]] > talk[order[k]] + margin_s:
                order[k], order[k + 1] = order[k + 1], order[k]
                moved = True
    return order


def in_shown_order(people: Sequence[PersonFigures], previous: Sequence[int] = (), margin_s: float = 0.0) -> list[PersonFigures]:
    """The rows as listed: counted voices by talk (``ranked``), then the roster's silent people in
    roster order, then brief voices by talk."""
    voices = {p.id: p for p in people if p.present and not p.expected}
    roster = sorted((p for p in people if p.expected), key=lambda p: -p.id)
    brief = sorted((p for p in people if not p.present), key=lambda p: (-p.talk_time_s, p.id))
    order = ranked({i: p.talk_time_s for i, p in voices.items()}, previous, margin_s)
    return [voices[i] for i in order] + roster + brief


def people_view(
    summary: Summary,
    *,
    clock_s: float,
    config: ViewConfig,
    recent_s: float = AccountingConfig.recent_s,
    counting: bool = True,
    final: bool = False,
    whole_meeting: bool = False,
    from_profile: Collection[int] = (),
    shown: ShownFigures | None = None,
) -> list[PersonFigures]:
    """Every voice and expected attendee as listed (``in_shown_order``), with flags and shown text.

    ``shown`` (a live meeting's): rows keep their order within ``config.order_margin`` and no one's
    talk goes below what was shown before; it is updated. ``final``: the meeting is over and every
    figure is exact (nothing is held up). ``whole_meeting``: the flags are about the whole meeting
    (the report's "did not speak", "spoke less than half an equal share"), not about the last minutes.
    """
    n = summary.group.people
    equal = 1.0 / n if n else 0.0
    talk = {s.id: s.talk_time_s for s in summary.speakers}
    if shown is not None and not final:
        talk = {i: max(t, shown.talk.get(i, 0.0)) for i, t in talk.items()}
    present = [s for s in summary.speakers if s.present]
    total = sum(talk[s.id] for s in present)
    share = {s.id: talk[s.id] / total if total > 0 and s.present else 0.0 for s in summary.speakers}
    percent = dict(zip((s.id for s in present), whole_percents([share[s.id] for s in present]), strict=True))
    recent_percent = dict(zip((s.id for s in present), whole_percents([s.recent_share for s in present]), strict=True))
    out = []
    for s in summary.speakers:
        flagged = s.present and n >= 2
        spoke = s.talk_time_s > 0
        if whole_meeting:
            quiet = _final_quiet(share[s.id], spoke=spoke, equal=equal, cfg=config) if flagged else None
            dominant = flagged and share[s.id] > config.dominant_share * equal
        else:
            quiet = _quiet_reason(s, equal=equal, clock_s=clock_s, recent_s=recent_s, cfg=config) if flagged else None
            dominant = flagged and clock_s >= config.warmup_s and share[s.id] > config.dominant_share * equal
        decided = s.talk_time_s - s.provisional_s
        out.append(
            PersonFigures(
                id=s.id,
                name=s.name,
                kind=speaker_kind(s.id, s.name, expected=s.expected, from_profile=from_profile),
                talk_time_s=talk[s.id],
                provisional_s=max(0.0, talk[s.id] - decided),
                share=share[s.id],
                percent=percent.get(s.id),
                of_equal_share=share[s.id] * n if n and s.present else None,
                turns=s.turns,
                longest_turn_s=s.longest_turn_s,
                since_last_spoke_s=s.since_last_spoke_s,
                recent_talk_time_s=s.recent_talk_time_s,
                recent_share=s.recent_share,
                recent_percent=recent_percent.get(s.id),
                present=s.present,
                expected=s.expected,
                spoke=spoke,
                remote=is_remote(s.id),
                quiet=quiet,
                dominant=dominant,
                overlap_s=s.overlap_s,
                interruptions_made=s.interruptions_made,
                interruptions_suffered=s.interruptions_suffered,
                talk_time=duration(talk[s.id]),
                recent_talk_time=duration(s.recent_talk_time_s),
                longest_turn=duration(s.longest_turn_s),
                last_spoke=last_spoke(s.since_last_spoke_s, clock_s=clock_s, counting=counting, config=config),
                overlap=None if s.overlap_s is None else duration(s.overlap_s),
            )
        )
    if shown is None:
        return in_shown_order(out)
    rows = in_shown_order(out, shown.order, config.order_margin * total)
    shown.order = [p.id for p in rows]
    shown.talk = {p.id: p.talk_time_s for p in rows}
    return rows


def room_and_remote(people: Sequence[PersonFigures]) -> tuple[int, int] | None:
    """Whole percents of the counted talk in the room and on the call (they add up to 100), None
    when nobody was counted."""
    counted = [p for p in people if p.present and p.percent is not None]
    if not counted or sum(p.talk_time_s for p in counted) <= 0:
        return None
    remote = sum(p.percent or 0 for p in counted if p.remote)
    return 100 - remote, remote


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
        phase_shares = shares(times)
        percents = whole_percents(phase_shares) if sum(times) > 0 else [0] * len(times)
        out.append(
            PhaseView(
                name=ph.name,
                start_s=seconds(ph.start_sample),
                end_s=None if ph.end_sample is None else seconds(ph.end_sample),
                duration_s=seconds(max(0, end - ph.start_sample)),
                speakers=[PhaseShare(i, t, sh, pc, duration(t))
                          for i, t, sh, pc in zip(people, times, phase_shares, percents, strict=True)],
                balance=balance,
                reading=balance_reading(balance),
                band=balance_band(balance),
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


@dataclass(frozen=True)
class DisplayView:
    """The meeting as the page shows it around the rows: every string and number is as shown."""

    clock: str  # the meeting's counted time ("12:05")
    status_text: str  # "waiting to start", "live", "paused", "ended", "recording ended", "not counting"
    counting: bool  # running and the input still delivers audio: "live", "speaking now" are true
    warming_up: bool  # before ``ViewConfig.warmup_s``: nobody is flagged, the balance is not judged
    too_early: str | None  # during the warm-up: "too early to tell (first minute)", else None
    balance: str  # the score out of 100, or "–"
    band: str | None  # "good", "fair", "uneven", "bad"; None without a score or during the warm-up
    reading: str  # the score in words (or too_early)
    equal_percent: int | None  # an equal share as a whole percent
    figures: list[tuple[str, str]]  # the Figures panel: (what, value as shown)
    timeline_s: float  # the timeline is drawn from 0 to this many seconds
    ticks: list[tuple[float, str]]  # the timeline's axis: (seconds, clock)
    phase_now: str  # "now: brainstorm (3:02)", or ""
    report_meeting_id: str | None  # whose report the page offers: this meeting once ended, else the previous one early on
    recent_label: str = "Last 10 min"  # the tab of the recent figures (``AccountingConfig.recent_s``)


def is_counting(status: str, input_status: str) -> bool:
    """Whether audio is being counted now: the meeting runs and its input delivers."""
    return status == "running" and input_status in ("ok", "starting")


def status_text(status: str, input_status: str) -> str:
    """The meeting's state in a word or two; "live" only while audio is counted."""
    if status == "running" and not is_counting(status, input_status):
        return "recording ended" if input_status == "end of input" else "not counting"
    return {"ready": "waiting to start", "running": "live", "paused": "paused", "ended": "ended"}.get(status, status)


def too_early(*, clock_s: float, ended: bool, config: ViewConfig) -> str | None:
    """Why nobody is judged yet (within ``warmup_s``), or None once the warm-up is over."""
    if clock_s >= config.warmup_s:
        return None
    span = minutes_words(config.warmup_s)
    if ended:
        return f"too short to tell (under {'a minute' if span == 'minute' else span})"
    return f"too early to tell (first {span})"


MIN_TIMELINE_S = 10.0  # a meeting's first seconds are drawn on a timeline this long


def timeline_ticks(clock_s: float, count: int) -> list[tuple[float, str]]:
    """Times labelled under the timeline: a round step giving at most about ``count`` labels."""
    total = max(clock_s, MIN_TIMELINE_S)
    step = next((st for st in TICK_STEPS_S if st >= total / count), TICK_STEPS_S[-1])
    return [(float(t), clock(t)) for t in range(0, int(total) + 1, step)]


BACKGROUND_SHOWN_S = 0.5  # less talk set aside as background than this is not mentioned


def background_text(background_s: float) -> str | None:
    """What the page and the report say of talk credited to nobody as a quieter conversation in the
    background (``tracker.stages.voice_pass.BackgroundRule``); None when there is too little to say."""
    if background_s < BACKGROUND_SHOWN_S:
        return None
    return f"{duration(background_s)} of a quieter conversation in the background not counted"


def engine_text(name: str, *, stands_in_for: str | None = None, revised: bool = False,
                background_s: float = 0.0) -> str:
    """Which engine made the figures, as the Figures panel says it; ``background_s``: talk the
    post-meeting pass credited to nobody as a conversation in the background."""
    if stands_in_for is not None:
        return f"{name} (standing in: the {stands_in_for} engine could not load its models)"
    background = background_text(background_s)
    if revised and background is not None:
        return f"{name}, revised after the meeting by the whole-meeting pass ({background})"
    if revised:
        return f"{name}, revised after the meeting by the whole-meeting pass"
    return name


def figure_rows(
    people: Sequence[PersonFigures], group: GroupStats, *, paused_s: float = 0.0, call: str | None = None,
    engine: str | None = None,
) -> list[tuple[str, str]]:
    """The Figures panel: (what, value as shown); ``engine`` from ``engine_text``."""
    counted = [p for p in people if p.present]
    top = max((p.percent for p in counted if p.percent is not None), default=None)
    longest = max(counted, key=lambda p: p.longest_turn_s, default=None)
    rows = [
        ("People counted", str(group.people)),
        ("Worth this many equal voices", "–" if group.effective_speakers is None else f"{group.effective_speakers:.1f}"),
        ("Top speaker's share", percent(group.top_share) if top is None or group.top_share is None else f"{top}%"),
        ("Turns", str(sum(p.turns for p in counted))),
        ("Longest monologue", f"{longest.longest_turn} ({longest.name})" if longest and longest.longest_turn_s else "–"),
        ("Speech", clock(group.speech_s)),
        ("Silence", f"{shown_silence(group.duration_s, group.speech_s, group.silence_s)} "
                    f"({percent(group.silence_s / group.duration_s if group.duration_s else None)})"),
        ("Overlap", duration(group.overlap_s) if group.overlap_measured
         else "not measured (this engine hears one voice at a time)"),
    ]
    if paused_s > 0:
        rows.append(("Paused (not counted)", clock(paused_s)))
    if call is not None:  # a hybrid meeting: the people on the call are the ones most easily talked over
        split = room_and_remote(people)
        n_remote = sum(1 for p in counted if p.remote)
        rows.append(("In the room", f"{'–' if split is None else f'{split[0]}%'} of the talk ({len(counted) - n_remote} people)"))
        rows.append(("Remote", f"{'–' if split is None else f'{split[1]}%'} of the talk ({n_remote} people)"))
        if call != "ok":
            rows.append(("Call audio", call))
    if engine is not None:
        rows.append(("Engine", engine))
    return rows


def display_view(
    people: Sequence[PersonFigures],
    group: GroupStats,
    phases: Sequence[PhaseView],
    *,
    clock_s: float,
    status: str,
    input_status: str,
    meeting_id: str,
    previous_meeting_id: str | None,
    config: ViewConfig,
    paused_s: float = 0.0,
    call: str | None = None,
    recent_s: float = AccountingConfig.recent_s,
    engine: str | None = None,
) -> DisplayView:
    """Everything the page shows besides the rows, as it is shown."""
    ended = status == "ended"
    early = too_early(clock_s=clock_s, ended=ended, config=config)
    judged = early is None or group.balance is None
    current = next((ph for ph in phases if ph.end_s is None), None)
    report: str | None
    if ended:
        report = meeting_id
    else:
        report = previous_meeting_id if clock_s < config.previous_report_s else None
    return DisplayView(
        clock=clock(clock_s),
        status_text=status_text(status, input_status),
        counting=is_counting(status, input_status),
        warming_up=early is not None,
        too_early=early,
        balance=score(group.balance),
        band=group.band if judged else None,
        reading=group.reading if judged else early or group.reading,
        equal_percent=equal_percent(group.people),
        figures=figure_rows(people, group, paused_s=paused_s, call=call, engine=engine),
        timeline_s=max(clock_s, MIN_TIMELINE_S),
        ticks=timeline_ticks(clock_s, config.timeline_ticks),
        phase_now=f"now: {current.name} ({clock(current.duration_s)})" if current else "",
        report_meeting_id=report,
        recent_label=f"Last {duration(recent_s) if recent_s < 60 else f'{recent_s / 60:g} min'}",
    )
