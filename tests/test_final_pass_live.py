"""A live meeting ends with its engine's post-meeting pass: the figures, the page and the stored
meeting all take the revised answer, and voices the facilitator named are never made one."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

import pytest

from api_fixtures import FedSource, wait_for
from tracker.audio import AudioChunk, to_samples
from tracker.meeting.recorder import MeetingRecorder
from tracker.meeting.session import MeetingSession
from tracker.pipeline.engine import Decision
from tracker.pipeline.pipeline import Pipeline, PipelineConfig
from tracker.reports.figures import build_report, report_dict
from tracker.reports.html import render_html
from tracker.segments import SpeakerSegment
from tracker.sources.live import LiveInput
from tracker.store.records import MeetingInfo, MeetingRecord
from tracker.store.storage import MeetingStore

# Voice 2 is live's mistake: the same person as voice 0, heard at another angle.
SCRIPT = [(0, 0.0, 4.0), (1, 4.0, 7.0), (2, 7.0, 9.0), (1, 9.0, 10.0)]


class RevisingEngine:
    """Decides the script as it goes (like ``api_fixtures.ScriptedEngine``) and, afterwards, folds
    voice 2 into voice 0 unless one of the two is protected. It keeps records, not windows: the
    capabilities of the neural engine that a live meeting's final pass needs."""

    name = "revising"
    latency_samples = 0

    def __init__(self, script: Sequence[tuple[int, float, float]]) -> None:
        self.script = [SpeakerSegment(s, to_samples(a), to_samples(b)) for s, a, b in script]
        self.keep_records = False
        self.decided: list[SpeakerSegment] = []
        self.protected_seen: list[int] | None = None

    def __call__(self, chunk: AudioChunk) -> Decision:
        out = []
        for seg in self.script:
            start, end = max(seg.start_sample, chunk.start_sample), min(seg.end_sample, chunk.end_sample)
            if end > start:
                out.append(SpeakerSegment(seg.speaker, start, end))
        if self.keep_records:
            self.decided += out
        return Decision(out, [], chunk.end_sample)

    def flush(self) -> Decision:
        return Decision()

    def reset(self) -> None:
        self.decided = []

    def merge(self, keep: int, gone: int) -> None:
        pass

    def final_segments(self, *, protected: Collection[int] = ()) -> list[SpeakerSegment]:
        self.protected_seen = sorted(protected)
        fold = not ({0, 2} <= set(protected))
        return [SpeakerSegment(0 if fold and s.speaker == 2 else s.speaker, s.start_sample, s.end_sample)
                for s in self.decided]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MeetingStore]:
    with MeetingStore(tmp_path / "talktime.db") as s:
        yield s


def _meeting(store: MeetingStore) -> tuple[MeetingSession, FedSource, RevisingEngine, MeetingRecorder]:
    engine = RevisingEngine(SCRIPT)
    source = FedSource()
    session = MeetingSession(Pipeline(PipelineConfig(), engine=engine), LiveInput(lambda: source, retry=False, label="test feed"))
    recorder = MeetingRecorder(store, session, interval_s=0.05)
    recorder.start()
    session.open()
    source.feed(12.0)
    wait_for(lambda: session.snapshot().clock_s >= 12.0 - 1e-6, what="the meeting to count 12 s")
    return session, source, engine, recorder


def _talk(session: MeetingSession) -> dict[int, float]:
    return {p.id: round(p.talk_time_s, 3) for p in session.snapshot().speakers if p.id >= 0}


def test_the_meeting_ends_with_the_engines_final_pass(store: MeetingStore) -> None:
    session, _, engine, recorder = _meeting(store)
    try:
        assert engine.keep_records, "a live meeting keeps the bounded post-meeting material"
        assert _talk(session) == {0: 4.0, 1: 4.0, 2: 2.0}  # live: three voices
        assert ("Engine", "revising") in session.snapshot().display.figures
        session.end()
        assert _talk(session) == {0: 6.0, 1: 4.0}  # revised: voice 2 was voice 0
        # The page says why the figures changed at the end.
        assert ("Engine", "revising, revised after the meeting by the whole-meeting pass") in session.snapshot().display.figures
        recorder.flush()
        stored = store.load(session.id).segments
        assert {s.speaker for s in stored} == {0, 1}
        assert sum(s.end_sample - s.start_sample for s in stored if s.speaker == 0) == to_samples(6.0)
    finally:
        recorder.stop()
        session.close()


def test_named_voices_are_never_made_one(store: MeetingStore) -> None:
    session, _, engine, recorder = _meeting(store)
    try:
        session.rename(0, "Ada")
        session.rename(2, "Grace")
        session.end()
        assert engine.protected_seen == [0, 2]
        assert _talk(session) == {0: 4.0, 1: 4.0, 2: 2.0}
    finally:
        recorder.stop()
        session.close()


def test_a_meeting_continued_after_a_crash_keeps_what_came_before_its_restart(store: MeetingStore) -> None:
    """The engine of a continued meeting saw only what followed the restart: its post-meeting pass
    revises that part and leaves the stored part before the gap as it was."""
    info = MeetingInfo(id="5e1f0000-0000-4000-8000-0000000000aa", title="Planning", series=None, room=None,
                       source="test feed", started_at="2026-12-07T09:00:00+00:00", sample_rate=16_000,
                       clock_samples=to_samples(6.0))
    before = [SpeakerSegment(2, 0, to_samples(3.0)), SpeakerSegment(1, to_samples(3.0), to_samples(5.0))]
    engine = RevisingEngine([(0, 6.0, 8.0), (2, 8.0, 10.0)])
    source = FedSource()
    session = MeetingSession(Pipeline(PipelineConfig(), engine=engine), LiveInput(lambda: source, retry=False, label="test feed"))
    session.continue_from(MeetingRecord(info, before, {}), [])
    session.open()
    try:
        source.feed(6.0)
        wait_for(lambda: session.snapshot().clock_s >= 12.0 - 1e-6, what="the continued meeting to reach 12 s")
        session.end()
        # after the restart voice 2 was voice 0; before it, voice 2's 3 s stay as stored
        assert _talk(session) == {0: 4.0, 1: 2.0, 2: 3.0}
    finally:
        session.close()


class BackgroundEngine(RevisingEngine):
    """Its post-meeting pass credits voice 2 to nobody: a conversation in the background."""

    def __init__(self, script: Sequence[tuple[int, float, float]]) -> None:
        super().__init__(script)
        self.background_samples = 0

    def final_segments(self, *, protected: Collection[int] = ()) -> list[SpeakerSegment]:
        kept = [s for s in self.decided if s.speaker != 2 or 2 in protected]
        self.background_samples = sum(s.end_sample - s.start_sample for s in self.decided) - \
            sum(s.end_sample - s.start_sample for s in kept)
        return kept


def test_the_page_and_the_report_say_how_much_background_talk_the_pass_did_not_count(store: MeetingStore) -> None:
    engine = BackgroundEngine(SCRIPT)
    source = FedSource()
    session = MeetingSession(Pipeline(PipelineConfig(), engine=engine), LiveInput(lambda: source, retry=False, label="test feed"))
    recorder = MeetingRecorder(store, session, interval_s=0.05)
    recorder.start()
    session.open()
    try:
        source.feed(12.0)
        wait_for(lambda: session.snapshot().clock_s >= 12.0 - 1e-6, what="the meeting to count 12 s")
        recorder.flush()
        assert store.load(session.id).info.background_samples is None  # not known before the meeting ends
        session.end()
        assert _talk(session) == {0: 4.0, 1: 4.0}
        assert ("Engine", "revising, revised after the meeting by the whole-meeting pass "
                          "(2 s of a quieter conversation in the background not counted)") in session.snapshot().display.figures
        recorder.flush()
    finally:
        recorder.stop()
        session.close()
    stored = store.load(session.id)
    assert stored.info.background_samples == to_samples(2.0)
    report = build_report(stored)
    assert any(n.startswith("2 s of a quieter conversation in the background not counted:") for n in report.notes)
    assert report_dict(report)["meeting"]["background_s"] == 2.0
    assert "2 s of a quieter conversation in the background" in render_html(report)


def test_a_meeting_with_no_background_says_nothing_of_it(store: MeetingStore) -> None:
    session, _, _, recorder = _meeting(store)
    try:
        session.end()
        recorder.flush()
    finally:
        recorder.stop()
        session.close()
    stored = store.load(session.id)
    assert stored.info.background_samples == 0  # recorded: none set aside
    report = build_report(stored)
    assert not any("background" in n for n in report.notes) and report_dict(report)["meeting"]["background_s"] == 0.0
