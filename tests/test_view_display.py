"""The display rules in Python: whole percents, bands, clocks, wording that fits the time elapsed,
the rows' order, and shown talk that never goes back.

Each rule has one home (docs/architecture.md, "Where each rule lives"); the dashboard page and the
report only render what these give (tests/test_dashboard_page.py checks the page in Chromium).
"""

from __future__ import annotations

from collections.abc import Sequence

from api_fixtures import FedSource, ScriptedEngine, wait_for
from tracker.audio import AudioChunk, to_samples
from tracker.meeting.session import MeetingSession, MeetingSnapshot
from tracker.meeting.view import (
    ShownFigures,
    ViewConfig,
    display_view,
    last_spoke,
    people_view,
    ranked,
    speaker_kind,
    status_text,
    timeline_ticks,
)
from tracker.pipeline.engine import Decision
from tracker.pipeline.pipeline import Pipeline, PipelineConfig
from tracker.segments import SpeakerSegment
from tracker.sources.live import LiveInput
from tracker.stages.accounting import Accountant, AccountingConfig
from tracker.stages.display import balance_band, balance_reading, clock, duration, shown_silence, whole_percents


def accountant(script: Sequence[tuple[int, float, float]], clock_s: float, **config: float) -> Accountant:
    acc = Accountant(AccountingConfig(**config))
    acc.begin(0)
    acc.add(SpeakerSegment(s, to_samples(a), to_samples(b)) for s, a, b in script)
    acc.advance(to_samples(clock_s))
    return acc


def test_bands_and_their_words_come_from_one_table() -> None:
    assert [balance_band(b) for b in (None, 1.0, 0.8, 0.79, 0.6, 0.5, 0.4, 0.39, 0.0)] == [
        None, "good", "good", "fair", "fair", "uneven", "uneven", "bad", "bad"]
    assert balance_reading(0.39) == "dominated by one or two people"
    acc = accountant([(0, 0, 30), (1, 30, 32)], 40)
    g = acc.summary().group
    assert g.band == balance_band(g.balance) == "bad"


def test_clocks_round_like_python_and_silence_adds_up() -> None:
    assert [clock(s) for s in (0.5, 1.5, 2.5, 59.5, 3599.5, 3725)] == ["0:00", "0:02", "0:02", "1:00", "1:00:00", "1:02:05"]
    assert [duration(s) for s in (0.4, 12.5, 59.4, 65)] == ["0 s", "12 s", "59 s", "1:05"]
    assert shown_silence(49.188, 43.648, 5.54) == "0:05"  # the shown 0:49 minus the shown 0:44


def test_percents_add_up_to_100_on_the_dashboard() -> None:
    acc = accountant([(0, 0, 10), (1, 10, 20), (2, 20, 30)], 30)
    people = people_view(acc.summary(), clock_s=30, config=ViewConfig())
    assert [p.percent for p in people] == whole_percents([1 / 3] * 3) == [34, 33, 33]
    assert sum(p.recent_percent or 0 for p in people) == 100


def test_kinds() -> None:
    assert speaker_kind(-1, "Ana", expected=True) == "roster"
    assert speaker_kind(100_000, "Remote 1", expected=False) == "remote"
    assert speaker_kind(3, "Ana", expected=False, from_profile={3}) == "profile"
    assert speaker_kind(3, "Guest 4", expected=False) == "guest"
    assert speaker_kind(3, "Ana", expected=False) == "named"


def test_little_talk_is_said_so_far_until_the_recent_window_has_passed() -> None:
    # Three people, one of whom says little: at 1:30 the recent window (10 minutes) is the whole meeting.
    script = [(0, 0, 40), (1, 40, 80), (2, 80, 82)]
    early = people_view(accountant(script, 90).summary(), clock_s=90, config=ViewConfig(), recent_s=600)
    assert early[2].quiet == "little so far"
    script += [(0, 100, 400), (1, 400, 700), (2, 700, 703)]
    late = people_view(accountant(script, 705).summary(), clock_s=705, config=ViewConfig(), recent_s=600)
    assert next(p for p in late if p.id == 2).quiet == "little in the last 10 minutes"


def test_speaking_now_only_while_audio_is_counted() -> None:
    cfg = ViewConfig()
    assert last_spoke(0.5, clock_s=21, counting=True, config=cfg) == "speaking now"
    assert last_spoke(3.0, clock_s=21, counting=True, config=cfg) == "3 s ago"
    assert last_spoke(0.5, clock_s=21, counting=False, config=cfg) == "last spoke at 0:20"
    assert status_text("running", "ok") == "live"
    assert status_text("running", "end of input") == "recording ended"
    assert status_text("ended", "end of input") == "ended"


def test_the_warm_up_and_the_band() -> None:
    acc = accountant([(0, 0, 15), (1, 15, 18)], 21)
    summary = acc.summary()
    people = people_view(summary, clock_s=21, config=ViewConfig())
    early = display_view(people, summary.group, [], clock_s=21, status="running", input_status="ok", meeting_id="m",
                         previous_meeting_id=None, config=ViewConfig())
    assert early.warming_up and early.band is None and early.reading == early.too_early == "too early to tell (first minute)"
    ended = display_view(people, summary.group, [], clock_s=21, status="ended", input_status="ok", meeting_id="m",
                         previous_meeting_id=None, config=ViewConfig())
    assert ended.too_early == "too short to tell (under a minute)" and ended.report_meeting_id == "m"
    acc.advance(to_samples(75))
    summary = acc.summary()
    later = display_view(people_view(summary, clock_s=75, config=ViewConfig()), summary.group, [], clock_s=75,
                         status="running", input_status="ok", meeting_id="m", previous_meeting_id=None, config=ViewConfig())
    assert not later.warming_up and later.band == "bad" and later.reading == "dominated by one or two people"


def test_overlap_is_not_shown_as_zero_when_not_measured() -> None:
    acc = Accountant(overlap_measured=False)
    acc.begin(0)
    acc.add([SpeakerSegment(0, 0, to_samples(5)), SpeakerSegment(1, to_samples(5), to_samples(9))])
    summary = acc.summary()
    people = people_view(summary, clock_s=9, config=ViewConfig())
    assert all(p.overlap is None for p in people)
    shown = dict(display_view(people, summary.group, [], clock_s=9, status="running", input_status="ok", meeting_id="m",
                              previous_meeting_id=None, config=ViewConfig()).figures)
    assert shown["Overlap"].startswith("not measured")


def test_timeline_ticks_are_round_and_few() -> None:
    assert [label for _, label in timeline_ticks(75, 8)] == ["0:00", "0:10", "0:20", "0:30", "0:40", "0:50", "1:00", "1:10"]
    assert len(timeline_ticks(3600, 8)) <= 9


def test_rows_keep_their_place_within_the_margin() -> None:
    assert ranked({1: 10.0, 2: 30.0, 3: 20.0}) == [2, 3, 1]  # by talk
    assert ranked({1: 29.5, 2: 30.0}, previous=[1, 2], margin_s=1.0) == [1, 2]  # within the margin: kept
    assert ranked({1: 28.0, 2: 30.0}, previous=[1, 2], margin_s=1.0) == [2, 1]  # clearly ahead: moves up
    assert ranked({1: 5.0, 2: 3.0, 9: 8.0}, previous=[1, 2], margin_s=1.0) == [9, 1, 2]  # a new voice finds its place


def test_people_are_listed_by_talk_with_the_roster_after() -> None:
    # Voice 2 talks most: it comes first, not last (the rows used to follow voice numbers).
    acc = accountant([(0, 0, 5), (1, 5, 8), (2, 8, 30)], 30)
    acc.expect("Dana")
    shown = ShownFigures()
    people = people_view(acc.summary(), clock_s=30, config=ViewConfig(), shown=shown)
    assert [p.id for p in people] == [2, 0, 1, -1]
    assert shown.order == [2, 0, 1, -1]
    # Voice 1 catches up to within 2 % of all talk with voice 0: the rows do not swap.
    acc.add([SpeakerSegment(1, to_samples(30), to_samples(31.8))])
    acc.advance(to_samples(32))
    people = people_view(acc.summary(), clock_s=32, config=ViewConfig(), shown=shown)
    assert [p.id for p in people][:3] == [2, 0, 1]
    acc.add([SpeakerSegment(1, to_samples(32), to_samples(36))])
    acc.advance(to_samples(36))
    assert [p.id for p in people_view(acc.summary(), clock_s=36, config=ViewConfig(), shown=shown)][:3] == [2, 1, 0]


class LateEngine(ScriptedEngine):
    """Decides each moment ``latency_s`` after hearing it, and guesses until then: speech of the
    voices in ``guess`` is first credited to another voice (as the neural engine can)."""

    latency_s = 2.0

    def __init__(self, script: Sequence[tuple[int, float, float]], guess: dict[int, int]) -> None:
        super().__init__(script)
        self.guess = guess
        self.latency_samples = to_samples(self.latency_s)
        self.decided_to = 0
        self.heard_to = 0

    def _between(self, lo: int, hi: int, *, guessed: bool) -> list[SpeakerSegment]:
        out = []
        for seg in self.script:
            a, b = max(seg.start_sample, lo), min(seg.end_sample, hi)
            if b > a:
                out.append(SpeakerSegment(self.guess.get(seg.speaker, seg.speaker) if guessed else seg.speaker, a, b))
        return out

    def __call__(self, chunk: AudioChunk) -> Decision:
        self.heard_to = chunk.end_sample
        to = max(0, chunk.end_sample - self.latency_samples)
        final = self._between(self.decided_to, to, guessed=False)
        self.decided_to = max(self.decided_to, to)
        return Decision(final, self._between(self.decided_to, chunk.end_sample, guessed=True), self.decided_to)

    def flush(self) -> Decision:
        final = self._between(self.decided_to, self.heard_to, guessed=False)
        self.decided_to = self.heard_to
        return Decision(final, [], self.decided_to)


def snapshot_at(session: MeetingSession, clock_s: float) -> MeetingSnapshot | None:
    snap = session.snapshot()
    return snap if snap.clock_s >= clock_s - 1e-6 else None


def test_a_persons_shown_talk_never_goes_back() -> None:
    # Voice 1's words are first guessed to be voice 0's, then decided for voice 1, 2 s later: when
    # voice 1 stops, the 2 s voice 0 had been lent go back to voice 1.
    script = [(0, 0.0, 6.0), (1, 6.0, 12.0), (0, 16.0, 20.0)]
    engine = LateEngine(script, guess={1: 0})
    source = FedSource()
    session = MeetingSession(Pipeline(PipelineConfig(), engine=engine), LiveInput(lambda: source, retry=False, label="t"))
    session.open()
    try:
        shown, raw, pending = [], [], []
        for k in range(1, 241):
            source.feed(0.1)
            snap = wait_for(lambda: snapshot_at(session, k * 0.1), what=f"{k / 10} s of the meeting")
            zero = next(p for p in snap.speakers if p.id == 0)
            shown.append(zero.talk_time_s)
            pending.append(zero.provisional_s)
            with session.figures() as acc:
                raw.append(next(s.talk_time_s for s in acc.summary().speakers if s.id == 0))
        assert max(max(raw[:k]) - raw[k] for k in range(1, len(raw))) > 0.5  # the engine took speech back from voice 0
        assert all(b >= a for a, b in zip(shown, shown[1:])), shown  # the dashboard's figure never went back
        assert max(pending) >= 2.0  # shown as not decided yet meanwhile
        session.end()
        final = next(p for p in session.snapshot().speakers if p.id == 0)
        assert final.talk_time_s == 10.0 and final.provisional_s == 0.0  # exact once the meeting is over
    finally:
        session.close()
