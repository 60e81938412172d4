"""Talk-time accounting: speaker segments in, per-person and group figures out, sample-exact.

A *turn* is what a facilitator ticks on paper: a person takes the floor and keeps it through pauses
shorter than ``turn_gap_s`` until someone else speaks. Equity figures count everyone present,
silent expected attendees included, and leave out phantom voices (under ``min_presence_s``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from tracker.audio import seconds, to_samples
from tracker.stages.diarization import SpeakerSegment


@dataclass(frozen=True)
class AccountingConfig:
    """Settings of the accountant."""

    turn_gap_s: float = 1.5  # seconds; a pause shorter than this does not end a person's turn
    recent_s: float = 600.0  # seconds; the "last 10 minutes" view
    min_presence_s: float = 2.0  # seconds; unnamed voices with less talk are phantoms, left out of equity

    def __post_init__(self) -> None:
        for name in ("turn_gap_s", "recent_s", "min_presence_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"AccountingConfig.{name} expected >= 0 seconds, got {getattr(self, name)!r}")


# ----------------------------------------------------------------------------- equity measures


def shares(times: Sequence[float]) -> list[float]:
    """Each value's fraction of the total (all zeros when nobody spoke)."""
    total = sum(times)
    return [t / total if total > 0 else 0.0 for t in times]


def gini(times: Sequence[float]) -> float | None:
    """Gini coefficient scaled by N/(N-1), so one talker among N gives 1 and equal talk 0."""
    n, total = len(times), sum(times)
    if n < 2 or total <= 0:
        return None
    diff = sum(abs(a - b) for a in times for b in times)
    return min(1.0, diff / (2 * n * total) * n / (n - 1))


def evenness(times: Sequence[float]) -> float | None:
    """Pielou's normalised entropy: 1 when everyone talks equally, 0 when one person talks."""
    n = len(times)
    if n < 2 or sum(times) <= 0:
        return None
    h = -sum(s * math.log(s) for s in shares(times) if s > 0)
    return h / math.log(n)


def effective_speakers(times: Sequence[float]) -> float | None:
    """Inverse Simpson index 1 / sum(s_i^2): how many equal talkers the talk is worth."""
    if sum(times) <= 0:
        return None
    return 1.0 / sum(s * s for s in shares(times))


def balance_reading(balance: float | None) -> str:
    """Plain words for the balance score (1 - Gini)."""
    if balance is None:
        return "not enough speech yet"
    if balance >= 0.8:
        return "balanced: everyone is being heard"
    if balance >= 0.6:
        return "fairly balanced, with some voices louder than others"
    if balance >= 0.4:
        return "uneven: a few people are doing most of the talking"
    return "dominated by one or two people"


# ----------------------------------------------------------------------------- results


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


class Accountant:
    """Accumulates segments into talk time, turns and equity.

    ``add`` takes segments as the diarizer releases them; ``advance`` moves the
    meeting clock (samples processed). ``rename``, ``merge`` and ``expect`` are the facilitator's
    corrections; every figure is recomputed from the kept timeline, so they are exact.
    """

    def __init__(self, config: AccountingConfig | None = None) -> None:
        self.config = config or AccountingConfig()
        self.reset()

    def reset(self) -> None:
        self.timeline: list[SpeakerSegment] = []  # merged, time-ordered per speaker
        self.names: dict[int, str] = {}
        self.expected: list[str] = []  # roster names not (yet) tied to a voice
        self.clock_samples = 0
        self._origin: int | None = None

    # -- input

    def begin(self, sample: int) -> None:
        """The meeting's stream starts at ``sample`` (only the first call counts)."""
        if self._origin is None:
            self._origin = sample
            self.clock_samples = max(self.clock_samples, sample)

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
        tl[lo:hi] = merged

    # -- corrections

    def name_of(self, speaker: int) -> str:
        return self.names.get(speaker, f"Guest {speaker + 1}")

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
        self.timeline = []
        self.add(segs)
        self.names.pop(gone, None)

    def expect(self, name: str) -> None:
        """Add a roster name that counts (at zero) until it is given to a voice."""
        if name not in self.expected and name not in self.names.values():
            self.expected.append(name)

    # -- output

    def turns(self) -> list[Turn]:
        """Every turn of the meeting so far, in time order (samples)."""
        gap = to_samples(self.config.turn_gap_s)
        turns: list[Turn] = []
        for seg in sorted(self.timeline, key=lambda s: s.start_sample):
            cur = turns[-1] if turns else None
            if cur is not None and cur.speaker == seg.speaker and seg.start_sample - cur.end <= gap:
                cur.end = max(cur.end, seg.end_sample)
            elif cur is not None and seg.end_sample <= cur.end and cur.speaker != seg.speaker:
                continue  # a remark entirely inside another's turn does not take the floor
            else:
                turns.append(Turn(seg.speaker, seg.start_sample, seg.end_sample))
        return turns

    def _union_and_overlap(self) -> tuple[int, int]:
        events = sorted([(s.start_sample, 1) for s in self.timeline] + [(s.end_sample, -1) for s in self.timeline])
        union = overlap = 0
        depth, prev = 0, 0
        for t, d in events:
            if depth >= 1:
                union += t - prev
            if depth >= 2:
                overlap += t - prev
            depth += d
            prev = t
        return union, overlap

    def summary(self) -> Summary:
        """All figures as of ``clock_samples``."""
        cfg = self.config
        now = self.clock_samples
        recent_from = now - to_samples(cfg.recent_s)
        talk: dict[int, int] = {}
        recent: dict[int, int] = {}
        last_end: dict[int, int] = {}
        for s in self.timeline:
            talk[s.speaker] = talk.get(s.speaker, 0) + s.duration_samples
            clipped = s.end_sample - max(s.start_sample, recent_from)
            if clipped > 0:
                recent[s.speaker] = recent.get(s.speaker, 0) + clipped
            last_end[s.speaker] = max(last_end.get(s.speaker, 0), s.end_sample)
        turns = self.turns()
        n_turns: dict[int, int] = {}
        longest: dict[int, int] = {}
        for t in turns:
            n_turns[t.speaker] = n_turns.get(t.speaker, 0) + 1
            longest[t.speaker] = max(longest.get(t.speaker, 0), t.end - t.start)
        min_presence = to_samples(cfg.min_presence_s)
        ids = sorted(talk, key=lambda i: -talk[i])
        present = {i for i in ids if talk[i] >= min_presence or i in self.names}
        total = sum(talk[i] for i in present) or 1
        recent_total = sum(recent.get(i, 0) for i in present) or 1
        speakers = [
            SpeakerStats(
                id=i,
                name=self.name_of(i),
                talk_time_s=seconds(talk[i]),
                share=talk[i] / total if i in present else 0.0,
                turns=n_turns.get(i, 0),
                longest_turn_s=seconds(longest.get(i, 0)),
                last_spoke_s=seconds(last_end[i] - (self._origin or 0)),
                since_last_spoke_s=seconds(max(0, now - last_end[i])),
                recent_talk_time_s=seconds(recent.get(i, 0)),
                recent_share=recent.get(i, 0) / recent_total if i in present else 0.0,
                present=i in present,
                expected=False,
            )
            for i in ids
        ]
        for k, name in enumerate(self.expected):
            speakers.append(
                SpeakerStats(-1 - k, name, 0.0, 0.0, 0, 0.0, None, None, 0.0, 0.0, present=True, expected=True)
            )
        return Summary(speakers, self._group(speakers, turns_by=n_turns))

    def _group(self, speakers: list[SpeakerStats], *, turns_by: dict[int, int]) -> GroupStats:
        union, overlap = self._union_and_overlap()
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
        )

