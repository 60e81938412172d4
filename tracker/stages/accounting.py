"""Talk-time accounting: speaker segments in, per-person and group figures out, sample-exact.

A *turn* is what a facilitator ticks on paper: a person takes the floor and keeps it through pauses
shorter than ``turn_gap_s`` until someone else speaks. Equity figures count everyone present,
silent expected attendees included, and leave out phantom voices (under ``min_presence_s``).

Overlap and interruptions, per person (only where the engine can see two people at once: see
``Accountant.overlap_measured``): a person's *overlap* is the time they talked while someone else
also talked. A person *interrupts* when they start talking (after at least ``turn_gap_s`` of their
own silence) while another person is talking, and that other person stops within
``interrupt_window_s`` of that start (and does not go on within ``turn_gap_s``: a breath is not a
stop). A back-channel ("mm-hm" while the other keeps talking) is therefore not an interruption.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from tracker.audio import seconds, to_samples
from tracker.segments import SpeakerSegment
from tracker.stages.display import balance_band, balance_reading
from tracker.stages.equity import effective_speakers, evenness, gini, shares


@dataclass(frozen=True)
class AccountingConfig:
    """Settings of the accountant."""

    turn_gap_s: float = 1.5  # seconds; a pause shorter than this does not end a person's turn
    recent_s: float = 600.0  # seconds; the "last 10 minutes" view
    min_presence_s: float = 2.0  # seconds; unnamed voices with less talk are phantoms, left out of equity
    interrupt_window_s: float = 2.0  # seconds; a talker who stops this soon after another starts was interrupted

    def __post_init__(self) -> None:
        for name in ("turn_gap_s", "recent_s", "min_presence_s", "interrupt_window_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"AccountingConfig.{name} expected >= 0 seconds, got {getattr(self, name)!r}")


# ----------------------------------------------------------------------------- equity measures


# ----------------------------------------------------------------------------- results


REMOTE_SPEAKER_BASE = 100_000  # voice ids from here on are people heard through the call (hybrid meetings)


def is_remote(speaker: int) -> bool:
    """Whether a voice id belongs to someone heard through the call, not in the room."""
    return speaker >= REMOTE_SPEAKER_BASE


def default_name(speaker: int) -> str:
    """What a voice nobody has named is called: "Guest N" in the room, "Remote N" on the call."""
    return f"Remote {speaker - REMOTE_SPEAKER_BASE + 1}" if is_remote(speaker) else f"Guest {speaker + 1}"


@dataclass(frozen=True)
class SpeakerStats:
    """One person's figures. Times in seconds; ``share`` of all talk time, in [0, 1]."""

    id: int
    name: str
    talk_time_s: float
    share: float
    turns: int
    longest_turn_s: float
    last_spoke_s: float | None  # stream time when they last stopped speaking
    since_last_spoke_s: float | None
    recent_talk_time_s: float
    recent_share: float
    present: bool  # counted in the equity figures
    expected: bool  # on the roster (may not have spoken)
    # None when the engine cannot see two people at once (``GroupStats.overlap_measured``):
    overlap_s: float | None = 0.0  # time they talked while someone else also talked
    interruptions_made: int | None = 0  # times they started while another talked, who stopped soon after
    interruptions_suffered: int | None = 0  # times someone started while they talked and they stopped soon after
    provisional_s: float = 0.0  # of talk_time_s, heard but not yet decided for good (the engine may give it to another voice)


@dataclass(frozen=True)
class GroupStats:
    """Figures for the whole meeting so far (seconds)."""

    duration_s: float
    speech_s: float
    silence_s: float
    overlap_s: float
    people: int  # present people counted in the equity figures
    gini: float | None
    evenness: float | None
    top_share: float | None
    dominance: float | None  # N * top share; 1 means equal
    effective_speakers: float | None
    balance: float | None  # 1 - gini
    reading: str
    turn_cv: float | None  # coefficient of variation of turn counts
    overlap_measured: bool = True  # False: the engine cannot see two people at once, so overlap_s says nothing
    band: str | None = None  # the balance score's band ("good", "fair", "uneven", "bad"; ``display.balance_band``)


@dataclass(frozen=True)
class Summary:
    speakers: list[SpeakerStats]
    group: GroupStats


# ----------------------------------------------------------------------------- accountant


@dataclass
class Turn:
    """``speaker`` held the floor over samples [start, end)."""

    speaker: int
    start: int
    end: int


SETTLE_S = 30.0  # seconds behind the clock after which a segment is settled: the diarizer releases a
# new voice's first words a few seconds late at most, so nothing is inserted before a settled segment


@dataclass
class _Pending:
    """``by`` started at ``at`` while ``of`` talked; ``of``'s run ended at ``end``, soon after: an
    interruption, unless ``of`` goes on before ``end`` + the turn gap."""

    by: int
    of: int
    at: int
    end: int


@dataclass
class _Sweep:
    """Turns, speech and overlap of segments fed in timeline order (by start): O(1) per segment.

    Every earlier segment starts at or before the one fed, so from its start on the time covered
    once is [start, e1) and twice [start, e2), with e1 >= e2 the two latest ends so far. Per person
    the same holds: each voice's runs are disjoint, so from the fed start on a voice talks over
    [start, its latest end); its overlapped time is a union of intervals fed by start, counted
    through a high-water mark. State stays bounded: one run and one mark per voice, and the
    interruptions not yet decided (those of the last few seconds).
    """

    gap: int  # samples; a pause shorter than this keeps a turn going
    window: int = 0  # samples; interrupt_window_s
    cur: Turn | None = None
    n_turns: dict[int, int] = field(default_factory=dict)
    longest: dict[int, int] = field(default_factory=dict)  # samples, over closed turns
    union: int = 0
    overlap: int = 0
    e1: int = 0
    e2: int = 0
    closed: list[Turn] | None = None  # every closed turn, when asked for (the report's monologues)
    run: dict[int, tuple[int, int]] = field(default_factory=dict)  # voice -> its latest run fed (start, end)
    overlap_of: dict[int, int] = field(default_factory=dict)  # voice -> samples talked while another talked
    overlap_to: dict[int, int] = field(default_factory=dict)  # voice -> overlap counted up to this sample
    made: dict[int, int] = field(default_factory=dict)  # voice -> interruptions made
    suffered: dict[int, int] = field(default_factory=dict)  # voice -> interruptions suffered
    pending: list[_Pending] = field(default_factory=list)

    def feed(self, seg: SpeakerSegment) -> None:
        s, e, who = seg.start_sample, seg.end_sample, seg.speaker
        cur = self.cur
        if cur is not None and cur.speaker == who and s - cur.end <= self.gap:
            cur.end = max(cur.end, e)
        elif cur is not None and e <= cur.end and cur.speaker != who:
            pass  # a remark entirely inside another's turn does not take the floor
        else:
            if cur is not None:
                self._close(cur)
            self.cur = Turn(who, s, e)
            self.n_turns[who] = self.n_turns.get(who, 0) + 1
        self.union += max(0, e - max(s, self.e1))
        self.overlap += max(0, min(e, self.e1) - max(s, self.e2))
        if e > self.e1:
            self.e1, self.e2 = e, self.e1
        elif e > self.e2:
            self.e2 = e
        self._people(s, e, who)

    def _people(self, s: int, e: int, who: int) -> None:
        self._settle_pending(s, who)
        own = self.run.get(who)
        fresh = own is None or s - own[1] > self.gap  # they start talking, not go on
        others = 0
        stale = []
        for other, (os_, oe) in self.run.items():
            if oe < s - self.gap:
                stale.append(other)  # later segments start at s or after: it can matter no more
                continue
            if other == who or oe <= s:
                continue
            others = max(others, oe)
            self._credit(other, s, min(e, oe))  # the other's time under this segment
            if fresh and os_ < s and oe - s <= self.window:
                self.pending.append(_Pending(who, other, s, oe))
        for other in stale:
            del self.run[other]
            self.overlap_to.pop(other, None)
        if others > s:
            self._credit(who, s, min(e, others))
        self.run[who] = (s, e) if own is None or own[1] < s else (own[0], max(own[1], e))

    def _credit(self, who: int, lo: int, hi: int) -> None:
        mark = self.overlap_to.get(who, lo)
        n = hi - max(lo, mark)
        if n > 0:
            self.overlap_of[who] = self.overlap_of.get(who, 0) + n
        self.overlap_to[who] = max(mark, hi)

    def _settle_pending(self, s: int, who: int) -> None:
        """Decide the interruptions that segments from ``s`` on can no longer change."""
        keep = []
        for p in self.pending:
            if p.of == who and s <= p.end + self.gap:
                continue  # they went on talking: not stopped
            if s > p.end + self.gap:
                self._count(p)
            else:
                keep.append(p)
        self.pending = keep

    def _count(self, p: _Pending) -> None:
        self.made[p.by] = self.made.get(p.by, 0) + 1
        self.suffered[p.of] = self.suffered.get(p.of, 0) + 1

    def finish(self, now: int) -> None:
        """Count the interruptions whose talker has been silent long enough by ``now``."""
        keep = []
        for p in self.pending:
            if now > p.end + self.gap:
                self._count(p)
            else:
                keep.append(p)
        self.pending = keep

    def _close(self, t: Turn) -> None:
        self.longest[t.speaker] = max(self.longest.get(t.speaker, 0), t.end - t.start)
        if self.closed is not None:
            self.closed.append(t)

    def copy(self) -> _Sweep:
        cur = None if self.cur is None else Turn(self.cur.speaker, self.cur.start, self.cur.end)
        return _Sweep(self.gap, self.window, cur, dict(self.n_turns), dict(self.longest), self.union, self.overlap,
                      self.e1, self.e2, None, dict(self.run), dict(self.overlap_of), dict(self.overlap_to),
                      dict(self.made), dict(self.suffered), list(self.pending))

    def longest_of(self, speaker: int) -> int:
        open_turn = self.cur.end - self.cur.start if self.cur is not None and self.cur.speaker == speaker else 0
        return max(self.longest.get(speaker, 0), open_turn)


@dataclass
class _Runs:
    """One voice's disjoint runs in time order, with running totals (samples)."""

    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    cum: list[int] = field(default_factory=list)  # cum[i]: talk over runs 0..i

    def put(self, start: int, end: int) -> None:
        """Replace the runs that touch [start, end) (they were joined into it) by it."""
        i = bisect.bisect_left(self.ends, start)
        j = i
        while j < len(self.starts) and self.starts[j] <= end:
            j += 1
        self.starts[i:j], self.ends[i:j], self.cum[i:j] = [start], [end], [0]
        for k in range(i, len(self.starts)):
            self.cum[k] = (self.cum[k - 1] if k else 0) + self.ends[k] - self.starts[k]

    @property
    def total(self) -> int:
        return self.cum[-1] if self.cum else 0

    def before(self, t: int) -> int:
        """Talk before sample ``t``."""
        n = bisect.bisect_left(self.starts, t)
        if n == 0:
            return 0
        return self.cum[n - 1] - max(0, self.ends[n - 1] - t)


class Accountant:
    """Accumulates segments into talk time, turns and equity.

    ``add`` takes segments as the diarizer releases them; ``advance`` moves the
    meeting clock (samples processed). ``rename``, ``merge`` and ``expect`` are the facilitator's
    corrections; figures are exact after each of them.

    ``summary()`` costs O(speakers) plus the last ``SETTLE_S`` seconds of segments, whatever the
    meeting's length: per-voice running totals answer talk time, recent talk and phase talk by
    bisection, and turns, speech and overlap are swept once over settled segments.
    ``provisional`` holds speech not yet attributed for good (see ``set_provisional``): it is in
    the figures the room sees, never in ``timeline``, which is what is stored.
    ``take_changes()`` says what ``timeline`` gained and lost since it was last called, so a
    store can follow it in O(changes) rather than comparing the whole meeting.
    """

    def __init__(self, config: AccountingConfig | None = None, *, overlap_measured: bool = True) -> None:
        self.config = config or AccountingConfig()
        # Whether the segments come from an engine that can see two people at once (the pipeline
        # sets it from ``tracker.pipeline.engine.sees_overlap``; a report, from the stored meeting).
        # When False, per-person overlap and interruptions are None: not measured, not zero.
        self.overlap_measured = overlap_measured
        self.reset()

    def reset(self) -> None:
        self.timeline: list[SpeakerSegment] = []  # merged, time-ordered per speaker
        self.names: dict[int, str] = {}
        self.expected: list[str] = []  # roster names not (yet) tied to a voice
        self.clock_samples = 0
        self.provisional: list[SpeakerSegment] = []
        self._origin: int | None = None
        self._journal: dict[SpeakerSegment, int] | None = None  # see take_changes; off after a reset
        self._reindex()

    def _reindex(self) -> None:
        """Forget every running total (they are rebuilt from ``timeline`` on demand)."""
        self._runs: dict[int, _Runs] = {}
        for s in self.timeline:
            self._runs.setdefault(s.speaker, _Runs()).put(s.start_sample, s.end_sample)
        self._settled = 0  # timeline[:_settled] is in _sweep and _view
        self._sweep = _Sweep(to_samples(self.config.turn_gap_s), to_samples(self.config.interrupt_window_s))
        self._view: list[SpeakerSegment] = []  # timeline[:_settled] with runs closer than _view_gap joined
        self._view_last: dict[int, int] = {}
        self._view_gap = -1

    # -- input

    def begin(self, sample: int) -> None:
        """The meeting's stream starts at ``sample`` (only the first call counts)."""
        if self._origin is None:
            self._origin = sample
            self.clock_samples = max(self.clock_samples, sample)

    @property
    def origin(self) -> int | None:
        """The sample where the meeting's stream began (None before anything was counted)."""
        return self._origin

    def advance(self, sample: int) -> None:
        """The stream has been processed up to ``sample``."""
        self.begin(sample)
        self.clock_samples = max(self.clock_samples, sample)

    def add(self, segments: Iterable[SpeakerSegment]) -> None:
        """Add segments; they may come a little out of time order (a new voice's first words are
        decided late). The timeline stays sorted by start, with touching runs of a voice joined."""
        for seg in segments:
            if seg.end_sample <= seg.start_sample:
                continue
            if self._origin is None:
                self._origin = seg.start_sample
            self._insert(seg)
            self.clock_samples = max(self.clock_samples, seg.end_sample)

    def set_provisional(self, segments: Iterable[SpeakerSegment], *, decided_to: int = 0) -> None:
        """Speech heard but not yet attributed for good, credited to its likeliest voice until the
        next call; it never goes into ``timeline``. Whatever of it lies before ``decided_to`` (the
        sample before which the engine has decided everything, as far as it knows now) is clipped
        off: that time is the timeline's. An engine that decides late may still guess there."""
        self.provisional = [
            s if s.start_sample >= decided_to else SpeakerSegment(s.speaker, decided_to, s.end_sample)
            for s in segments
            if s.end_sample > max(s.start_sample, decided_to)
        ]

    def _insert(self, seg: SpeakerSegment) -> None:
        tl = self.timeline
        i = len(tl)
        while i > 0 and tl[i - 1].start_sample > seg.start_sample:
            i -= 1  # NB: segments arrive nearly in order, so this walks back a few steps at most
        start, end = seg.start_sample, seg.end_sample
        # Join runs of the same voice that touch or overlap this one. A voice's runs are disjoint
        # and sorted, so looking back stops at its first run that ends before this one starts.
        lo, hi = i, i
        j = i - 1
        while j >= 0:
            if tl[j].speaker == seg.speaker:
                if tl[j].end_sample < start:
                    break
                start, end = min(start, tl[j].start_sample), max(end, tl[j].end_sample)
                lo = j
            j -= 1
        j = i
        while j < len(tl) and tl[j].start_sample <= end:
            if tl[j].speaker == seg.speaker:
                end = max(end, tl[j].end_sample)
                hi = j + 1
            j += 1
        keep = [t for t in tl[lo:hi] if t.speaker != seg.speaker]
        merged = sorted([*keep, SpeakerSegment(seg.speaker, start, end)], key=lambda t: t.start_sample)
        self._note(tl[lo:hi], -1)
        self._note(merged, +1)
        tl[lo:hi] = merged
        self._runs.setdefault(seg.speaker, _Runs()).put(start, end)
        if lo < self._settled:  # older than SETTLE_S: the sweeps start over (rare)
            self._settled, self._sweep = 0, _Sweep(self._sweep.gap, self._sweep.window)
            self._view_gap = -1

    def _settle(self) -> None:
        limit = self.clock_samples - to_samples(SETTLE_S)
        tl = self.timeline
        while self._settled < len(tl) and tl[self._settled].end_sample < limit:
            self._sweep.feed(tl[self._settled])
            if self._view_gap >= 0:
                _join(self._view, self._view_last, tl[self._settled], self._view_gap)
            self._settled += 1

    def take_changes(self) -> dict[SpeakerSegment, int] | None:
        """The net change to ``timeline`` since the last call: segment -> +n added / -n removed.

        There is one reader (the meeting's recorder): a second caller would take changes from it.

        None the first time and after ``reset()``: nothing was being noted, so the caller compares
        the whole ``timeline`` once; changes are noted from this call on. Costs O(changes).
        """
        journal, self._journal = self._journal, {}
        return journal

    def _note(self, segments: Iterable[SpeakerSegment], n: int) -> None:
        journal = self._journal
        if journal is None:
            return
        for seg in segments:
            v = journal.get(seg, 0) + n
            if v:
                journal[seg] = v
            else:
                del journal[seg]

    # -- corrections

    def name_of(self, speaker: int) -> str:
        return self.names.get(speaker, default_name(speaker))

    def rename(self, speaker: int, name: str) -> None:
        self.names[speaker] = name
        if name in self.expected:
            self.expected.remove(name)

    def merge(self, keep: int, gone: int) -> None:
        """Credit everything ``gone`` said to ``keep``."""
        segs = sorted(
            (SpeakerSegment(keep if s.speaker == gone else s.speaker, s.start_sample, s.end_sample) for s in self.timeline),
            key=lambda s: (s.start_sample, s.speaker),
        )
        self._note(self.timeline, -1)
        self.timeline = []
        self._reindex()
        self.add(segs)
        self.provisional = [SpeakerSegment(keep if s.speaker == gone else s.speaker, s.start_sample, s.end_sample)
                            for s in self.provisional]
        self.names.pop(gone, None)

    def revise(self, segments: Iterable[SpeakerSegment], *, since: int = 0) -> None:
        """Replace every decided segment from sample ``since`` on with ``segments`` (an engine's
        post-meeting answer about that part; earlier segments, from before a restart, stay).

        Names, the roster and the clock stay; a voice left with no talk keeps its name (the
        facilitator gave it), and the recorder sees the change like any other.
        """
        kept = [s for s in self.timeline if s.start_sample < since]
        segs = sorted([*kept, *(s for s in segments if s.start_sample >= since)], key=lambda s: (s.start_sample, s.speaker))
        self._note(self.timeline, -1)
        self.timeline = []
        self._reindex()
        self.add(segs)
        self.provisional = []

    def expect(self, name: str) -> None:
        """Add a roster name that counts (at zero) until it is given to a voice."""
        if name not in self.expected and name not in self.names.values():
            self.expected.append(name)

    # -- output

    def turns(self) -> list[Turn]:
        """Every turn of the meeting so far, in time order (samples)."""
        sweep = _Sweep(to_samples(self.config.turn_gap_s), closed=[])
        for seg in self.timeline:
            sweep.feed(seg)
        assert sweep.closed is not None
        return sweep.closed + ([] if sweep.cur is None else [sweep.cur])

    def _recent(self) -> list[SpeakerSegment]:
        """Segments not yet settled and provisional speech, by start."""
        tail = self.timeline[self._settled :]
        if self.provisional:
            tail = sorted([*tail, *self.provisional], key=lambda s: s.start_sample)
        return tail

    def talk_between(self, start: int, end: int) -> dict[int, int]:
        """Talk of each voice inside samples [start, end), provisional speech included."""
        talk = {i: r.before(end) - r.before(start) for i, r in self._runs.items()}
        for s in self.provisional:
            n = min(s.end_sample, end) - max(s.start_sample, start)
            if n > 0:
                talk[s.speaker] = talk.get(s.speaker, 0) + n
        return {i: n for i, n in talk.items() if n > 0}

    def view_timeline(self, gap: int) -> list[SpeakerSegment]:
        """The timeline with provisional speech, one voice's runs closer than ``gap`` samples
        joined, by (start, speaker). Settled runs are joined once and kept while ``gap`` stays."""
        self._settle()
        if gap != self._view_gap:
            self._view, self._view_last, self._view_gap = [], {}, gap
            for s in self.timeline[: self._settled]:
                _join(self._view, self._view_last, s, gap)
        out, last = list(self._view), dict(self._view_last)
        for s in self._recent():
            _join(out, last, s, gap)
        return sorted(out, key=lambda s: (s.start_sample, s.speaker))

    def summary(self) -> Summary:
        """All figures as of ``clock_samples``, provisional speech included."""
        self._settle()
        cfg = self.config
        now = self.clock_samples
        recent_from = now - to_samples(cfg.recent_s)
        talk = {i: r.total for i, r in self._runs.items() if r.total > 0}
        recent = {i: r.total - r.before(recent_from) for i, r in self._runs.items()}
        last_end = {i: r.ends[-1] for i, r in self._runs.items() if r.ends}
        pending: dict[int, int] = {}
        for s in self.provisional:
            talk[s.speaker] = talk.get(s.speaker, 0) + s.duration_samples
            pending[s.speaker] = pending.get(s.speaker, 0) + s.duration_samples
            recent[s.speaker] = recent.get(s.speaker, 0) + max(0, s.end_sample - max(s.start_sample, recent_from))
            last_end[s.speaker] = max(last_end.get(s.speaker, 0), s.end_sample)
        sweep = self._sweep.copy()
        for s in self._recent():
            sweep.feed(s)
        sweep.finish(now)
        measured = self.overlap_measured
        min_presence = to_samples(cfg.min_presence_s)
        ids = sorted(talk, key=lambda i: (-talk[i], i))
        present = {i for i in ids if talk[i] >= min_presence or i in self.names}
        total = sum(talk[i] for i in present) or 1
        recent_total = sum(recent.get(i, 0) for i in present) or 1
        speakers = [
            SpeakerStats(
                id=i,
                name=self.name_of(i),
                talk_time_s=seconds(talk[i]),
                share=talk[i] / total if i in present else 0.0,
                turns=sweep.n_turns.get(i, 0),
                longest_turn_s=seconds(sweep.longest_of(i)),
                last_spoke_s=seconds(last_end[i] - (self._origin or 0)),
                since_last_spoke_s=seconds(max(0, now - last_end[i])),
                recent_talk_time_s=seconds(recent.get(i, 0)),
                recent_share=recent.get(i, 0) / recent_total if i in present else 0.0,
                present=i in present,
                expected=False,
                overlap_s=seconds(sweep.overlap_of.get(i, 0)) if measured else None,
                interruptions_made=sweep.made.get(i, 0) if measured else None,
                interruptions_suffered=sweep.suffered.get(i, 0) if measured else None,
                provisional_s=seconds(pending.get(i, 0)),
            )
            for i in ids
        ]
        for k, name in enumerate(self.expected):
            speakers.append(
                SpeakerStats(-1 - k, name, 0.0, 0.0, 0, 0.0, None, None, 0.0, 0.0, present=True, expected=True,
                             overlap_s=0.0 if measured else None, interruptions_made=0 if measured else None,
                             interruptions_suffered=0 if measured else None)
            )
        return Summary(speakers, self._group(speakers, turns_by=sweep.n_turns, union=sweep.union, overlap=sweep.overlap))

    def _group(self, speakers: list[SpeakerStats], *, turns_by: dict[int, int], union: int, overlap: int) -> GroupStats:
        duration = max(0, self.clock_samples - (self._origin or 0))
        times = [s.talk_time_s for s in speakers if s.present]
        g = gini(times)
        sh = shares(times)
        top = max(sh) if sh and sum(times) > 0 else None
        turn_counts = [turns_by.get(s.id, 0) for s in speakers if s.present]
        mean_turns = sum(turn_counts) / len(turn_counts) if turn_counts else 0
        cv = None
        if len(turn_counts) >= 2 and mean_turns > 0:
            cv = math.sqrt(sum((c - mean_turns) ** 2 for c in turn_counts) / len(turn_counts)) / mean_turns
        balance = None if g is None else 1.0 - g
        return GroupStats(
            duration_s=seconds(duration),
            speech_s=seconds(union),
            silence_s=seconds(max(0, duration - union)),
            overlap_s=seconds(overlap),
            people=len(times),
            gini=g,
            evenness=evenness(times),
            top_share=top,
            dominance=None if top is None else top * len(times),
            effective_speakers=effective_speakers(times),
            balance=balance,
            reading=balance_reading(balance),
            turn_cv=cv,
            overlap_measured=self.overlap_measured,
            band=balance_band(balance),
        )


def _join(out: list[SpeakerSegment], last: dict[int, int], seg: SpeakerSegment, gap: int) -> None:
    """Append ``seg`` to ``out``, or extend its voice's last run there when they are ``gap`` apart at most."""
    i = last.get(seg.speaker)
    if i is not None and seg.start_sample - out[i].end_sample <= gap:
        out[i] = SpeakerSegment(seg.speaker, out[i].start_sample, max(out[i].end_sample, seg.end_sample))
    else:
        last[seg.speaker] = len(out)
        out.append(seg)
