"""The post-meeting report's figures, computed from a stored meeting.

Every figure comes from ``tracker.stages.accounting.Accountant`` (talk time, shares, turns, equity)
and ``tracker.meeting.view.phase_views`` run over the stored segments, so the report shows exactly
what the dashboard showed at the end of the meeting. Rendering is in ``tracker.reports.render``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from tracker.audio import seconds
from tracker.meeting.view import (PersonFigures, PhaseView, ViewConfig, background_text, people_view, phase_views,
                                  room_and_remote)
from tracker.reports.accuracy import Confidence, confidence_of
from tracker.reports.sinks import rounded
from tracker.store.records import Gap, MeetingInfo, MeetingRecord
from tracker.stages.accounting import AccountingConfig, Accountant, GroupStats, default_name
from tracker.stages.display import clock, duration, equal_percent, score, whole_percents

__all__ = ["PersonFigures", "Report", "build_report", "report_dict", "whole_percents"]  # the last: its home is stages.display

MONOLOGUES = 5  # longest turns listed
TREND_STEP = 0.05  # a balance change smaller than this is "about the same"
NOT_MEASURED = ("Overlap and interruptions were not measured: the engine of this meeting hears one voice at a time "
                "(the lite engine).")


@dataclass(frozen=True)
class Monologue:
    """One of the longest turns: ``name`` held the floor from ``start_s`` to ``end_s``."""

    id: int
    name: str
    start_s: float
    end_s: float
    duration_s: float


@dataclass(frozen=True)
class TrendPoint:
    """One meeting of a recurring series, for the trend."""

    meeting_id: str
    title: str
    started_at: str
    duration_s: float
    people: int
    balance: float | None
    evenness: float | None
    top_share: float | None
    shares: dict[str, float]  # named people only: an unnamed voice is not the same person twice


@dataclass(frozen=True)
class Report:
    """Everything the report shows about one meeting."""

    meeting: MeetingInfo
    duration_s: float  # counted length (pauses excluded)
    group: GroupStats
    equal_share: float | None
    people: list[PersonFigures]  # loudest first; roster people who did not speak last
    silent: list[str]  # roster names who did not speak
    brief_voices: list[PersonFigures]  # under the phantom threshold: not counted
    phases: list[PhaseView]
    monologues: list[Monologue]
    segments: list[tuple[int, float, float]]  # (voice id, start_s, end_s), exact
    reading: list[str]  # plain-language sentences
    history: list[TrendPoint] = field(default_factory=list)  # oldest first, this meeting included
    trend: str | None = None
    notes: list[str] = field(default_factory=list)
    # the engine, its measured accuracy, the facilitator's names and merges (tracker.reports.accuracy)
    confidence: Confidence = field(default_factory=lambda: confidence_of(None, [], {}))
    gaps: list[Gap] = field(default_factory=list)  # restarts the meeting was continued over (not recorded)

    def name_of(self, speaker: int) -> str:
        found = next((p.name for p in self.people + self.brief_voices if p.id == speaker), None)
        return found or default_name(speaker)

    def percent_of(self, speaker: int) -> int:
        """A counted person's share as the whole percent the report shows (they add up to 100)."""
        return next(p.percent or 0 for p in self.people if p.id == speaker)


def overlap_measured(record: MeetingRecord) -> bool:
    """Whether the meeting's engine could see two people at once, as stored with it. A meeting
    stored before that was recorded counts as measured only if two people's segments overlap
    somewhere (an engine with one voice per moment never gives that)."""
    if record.info.overlap_measured is not None:
        return record.info.overlap_measured
    ends: dict[int, int] = {}
    for s in sorted(record.segments, key=lambda s: s.start_sample):
        if any(e > s.start_sample for who, e in ends.items() if who != s.speaker):
            return True
        ends[s.speaker] = max(ends.get(s.speaker, 0), s.end_sample)
    return False


def accountant_for(record: MeetingRecord, config: AccountingConfig | None = None) -> Accountant:
    """An ``Accountant`` holding the stored meeting, as the live one held it at the end."""
    acc = Accountant(config, overlap_measured=overlap_measured(record))
    acc.begin(0)  # a meeting's stream starts at sample 0
    acc.add(sorted(record.segments, key=lambda s: (s.start_sample, s.speaker)))
    acc.advance(record.info.clock_samples)
    for speaker, name in record.names.items():
        acc.rename(speaker, name)
    for name in record.expected:
        acc.expect(name)
    return acc


def _names(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def plain_reading(group: GroupStats, people: Sequence[PersonFigures], monologues: Sequence[Monologue]) -> list[str]:
    """A few sentences a facilitator can read out."""
    out = []
    if group.balance is None:
        return ["Not enough speech to judge the balance."]
    out.append(f"Balance {score(group.balance)} out of 100: {group.reading}.")
    counted = [p for p in people if p.present]
    top = max(counted, key=lambda p: p.share)
    if top.of_equal_share is not None:
        out.append(f"{top.name} spoke most: {top.percent}% of the talk, {top.of_equal_share:.1f} times an "
                   f"equal share ({equal_percent(group.people)}% each for {group.people} people).")
    remote = [p for p in counted if p.remote]
    split = room_and_remote(counted)
    if remote and split is not None:
        out.append(f"In the room {split[0]}% of the talk ({len(counted) - len(remote)} people); "
                   f"on the call {split[1]}% ({len(remote)} people).")
    if group.effective_speakers is not None:
        out.append(f"The talk was worth {group.effective_speakers:.1f} equal voices out of {group.people}.")
    quiet = [p.name for p in counted if p.spoke and p.quiet]
    if quiet:
        out.append(f"{_names(quiet)} spoke less than half an equal share.")
    silent = [p.name for p in counted if not p.spoke]  # NB: p.quiet says "did not speak" for them too
    if silent:
        out.append(f"{_names(silent)} did not speak.")
    if monologues:
        m = monologues[0]
        out.append(f"The longest monologue was {m.name}'s: {clock(m.duration_s)} from {clock(m.start_s)}.")
    made = max(counted, key=lambda p: p.interruptions_made or 0)
    if group.overlap_measured and made.interruptions_made:
        suffered = max(counted, key=lambda p: p.interruptions_suffered or 0)
        n, m_ = made.interruptions_made, suffered.interruptions_suffered or 0
        out.append(f"{made.name} interrupted most ({n} time{'s' if n != 1 else ''}); {suffered.name} was interrupted "
                   f"most ({m_} time{'s' if m_ != 1 else ''}).")
    return out


def _people(acc: Accountant) -> tuple[GroupStats, list[PersonFigures], list[PersonFigures]]:
    """The people as the dashboard showed them at the end (the same type, order and rounding), with
    the flags about the whole meeting."""
    summary = acc.summary()
    people = people_view(summary, clock_s=seconds(acc.clock_samples), config=ViewConfig(), recent_s=acc.config.recent_s,
                         counting=False, final=True, whole_meeting=True)
    return summary.group, [p for p in people if p.present], [p for p in people if not p.present]


def build_report(
    record: MeetingRecord, *, series: Sequence[MeetingRecord] = (), config: AccountingConfig | None = None
) -> Report:
    """The report of ``record``; ``series`` (oldest first) gives the recurring meeting's trend."""
    acc = accountant_for(record, config)
    group, people, brief = _people(acc)
    turns = sorted(acc.turns(), key=lambda t: t.start - t.end)[:MONOLOGUES]
    monologues = [Monologue(t.speaker, acc.name_of(t.speaker), seconds(t.start), seconds(t.end), seconds(t.end - t.start))
                  for t in turns]
    present = [p.id for p in people]
    history = trend_points([r for r in series if r.info.started_at <= record.info.started_at] or [record], config)
    info = record.info
    return Report(
        meeting=info,
        duration_s=seconds(acc.clock_samples),
        group=group,
        equal_share=1.0 / group.people if group.people else None,
        people=people,
        silent=[p.name for p in people if p.expected],
        brief_voices=brief,
        phases=phase_views(acc.timeline, record.phases, people=present, clock_samples=acc.clock_samples),
        monologues=monologues,
        segments=[(s.speaker, seconds(s.start_sample), seconds(s.end_sample))
                  for s in sorted(acc.timeline, key=lambda s: (s.start_sample, s.speaker))],
        reading=plain_reading(group, people, monologues),
        history=history if len(history) >= 2 else [],
        trend=trend_reading(history),
        notes=_notes(info, brief, measured=group.overlap_measured, brief_s=acc.config.min_presence_s)
        + _restart_notes(record),
        confidence=confidence_of(info.engine, record.corrections, record.names),
        gaps=list(record.gaps),
    )


def _restart_notes(record: MeetingRecord) -> list[str]:
    """What a crash and restart did to the meeting: continued over a gap, or started after one."""
    notes = []
    for gap in record.gaps:
        m, sec = divmod(int(round(gap.lost_s)), 60)
        lost = f"{m} min {sec} s" if m else f"{sec} s"
        notes.append(f"The tracker stopped at {clock(seconds(gap.at_sample))} into the meeting and was restarted "
                     f"{lost} later: that time was not recorded and counts as neither talk nor silence.")
    if record.info.follows:
        notes.append(f"Started after meeting {record.info.follows[:8]} was interrupted too long to be continued "
                     f"(`talktime report {record.info.follows[:8]}`).")
    return notes


def _notes(info: MeetingInfo, brief: Sequence[PersonFigures], *, measured: bool = True,
           brief_s: float = AccountingConfig.min_presence_s) -> list[str]:
    notes = []
    if not measured:
        notes.append(NOT_MEASURED)
    if info.end_reason == "interrupted":
        notes.append(f"The tracker stopped unexpectedly; the figures cover the first {clock(seconds(info.clock_samples))} "
                     "(up to the last save before it stopped).")
    elif info.ended_at is None:
        notes.append("The meeting is still going: these are its figures so far.")
    if info.removed_people:
        notes.append(f"{info.removed_people} person's record was deleted on request; shares are among the others."
                     if info.removed_people == 1 else
                     f"{info.removed_people} people's records were deleted on request; shares are among the others.")
    if brief:
        notes.append(f"{len(brief)} brief voice(s) with under {duration(brief_s)} of talk (a cough, a door, a split voice) "
                     "are not counted.")
    if info.dropped_blocks:
        notes.append(f"{info.dropped_blocks} blocks of audio were dropped because the computer fell behind.")
    background = background_text(seconds(info.background_samples or 0))
    if background is not None:
        notes.append(f"{background[0].upper()}{background[1:]}: speech well below the meeting's level that talked over "
                     "its people was judged to come from behind them, and is no one's talk time.")
    return notes


def trend_points(meetings: Sequence[MeetingRecord], config: AccountingConfig | None = None) -> list[TrendPoint]:
    """Balance and each named person's share in each meeting (in the order given)."""
    out = []
    for rec in meetings:
        summary = accountant_for(rec, config).summary()
        g = summary.group
        named = set(rec.names.values()) | set(rec.expected)
        shares = {s.name: s.share for s in summary.speakers if s.present and s.name in named}
        out.append(TrendPoint(rec.info.id, rec.info.title, rec.info.started_at, g.duration_s, g.people, g.balance,
                              g.evenness, g.top_share, shares))
    return out


def trend_reading(points: Sequence[TrendPoint]) -> str | None:
    """This meeting's balance against the average of the earlier ones, in words."""
    scored = [p.balance for p in points if p.balance is not None]
    if len(points) < 2 or len(scored) < 2 or points[-1].balance is None:
        return None
    now, before = points[-1].balance, scored[:-1]
    mean = sum(before) / len(before)
    diff = now - mean
    how = "more balanced than" if diff >= TREND_STEP else "less balanced than" if diff <= -TREND_STEP else "about as balanced as"
    return (f"Balance {score(now)} this time: {how} the {len(before)} earlier meeting"
            f"{'s' if len(before) > 1 else ''} of this series (average {score(mean)}).")


SCHEMA = "talktime.report/5"  # 2: per-person overlap and interruptions; 3: per-person figures as the dashboard shows them (percent, kind, text); 4: confidence, gaps; 5: meeting.background_s


def report_dict(report: Report) -> dict[str, Any]:
    """The report's figures as JSON-ready data (the fields are documented in the README)."""
    info = report.meeting
    meeting = {k: getattr(info, k) for k in ("id", "title", "series", "room", "source", "started_at", "ended_at",
                                             "end_reason", "sample_rate", "dropped_blocks", "removed_people",
                                             "follows")}
    gaps = [{"at_s": seconds(g.at_sample), "stopped_at": g.stopped_at, "resumed_at": g.resumed_at, "lost_s": g.lost_s}
            for g in report.gaps]
    names = {p.id: p.name for p in report.people + report.brief_voices}
    data = {
        "schema": SCHEMA,
        "meeting": {**meeting, "duration_s": report.duration_s,
                    "background_s": None if info.background_samples is None else seconds(info.background_samples)},
        "group": {**asdict(report.group), "equal_share": report.equal_share},
        "people": [asdict(p) for p in report.people],
        "silent": list(report.silent),
        "brief_voices": [asdict(p) for p in report.brief_voices],
        "phases": [
            {**{k: v for k, v in asdict(ph).items() if k != "speakers"},
             "speakers": [{**asdict(s), "name": names.get(s.id, "")} for s in ph.speakers]}
            for ph in report.phases
        ],
        "monologues": [asdict(m) for m in report.monologues],
        "segments": [{"id": i, "name": report.name_of(i), "start_s": a, "end_s": b} for i, a, b in report.segments],
        "reading": list(report.reading),
        "history": [asdict(p) for p in report.history],
        "trend": report.trend,
        "notes": list(report.notes),
        "confidence": asdict(report.confidence),
        "gaps": gaps,
    }
    return dict(rounded(data))
