"""After a crash: the room continues its interrupted meeting when restarted soon, or starts a new one
that follows it when restarted late (``tracker.meeting.restart``, ``Room.open``). In process, with a
scripted engine; ``tests/test_cli_store.py`` does it with ``kill -9`` of ``talktime run``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from api_fixtures import FedSource, ScriptedEngine, wait_for
from tracker.audio import to_samples
from tracker.meeting.recorder import MeetingRecorder, recover
from tracker.meeting.restart import RESUME_WITHIN_S, lost_words, plan
from tracker.meeting.room import Room
from tracker.meeting.session import MeetingSession
from tracker.pipeline.engine import EmbeddingRecord, Vector
from tracker.pipeline.pipeline import Pipeline, PipelineConfig
from tracker.reports.figures import build_report
from tracker.segments import Phase, SpeakerSegment
from tracker.sources.live import LiveInput
from tracker.store.records import LiveVoice, MeetingInfo, MeetingRecord
from tracker.store.storage import MeetingStore

LABEL = "test feed"


class VoicedEngine(ScriptedEngine):
    """A scripted engine with a voice memory (``VoiceMemory``): it remembers what it was seeded with."""

    embedding_model = "test-voices/4"

    def __init__(self, script: Sequence[tuple[int, float, float]]) -> None:
        super().__init__(script)
        self.voices: dict[int, tuple[Vector, int]] = {}

    def seed(self, speaker: int, centroid: Vector, *, weight: int, claim_threshold: float | None = None) -> None:
        self.voices[speaker] = (np.asarray(centroid, np.float32), weight)

    def centroids(self) -> Mapping[int, tuple[Vector, int]]:
        return dict(self.voices)

    def records(self) -> Sequence[EmbeddingRecord]:
        return []


def session_of(engine: ScriptedEngine) -> tuple[MeetingSession, FedSource]:
    source = FedSource()
    live = LiveInput(lambda: source, retry=False, label=LABEL)
    return MeetingSession(Pipeline(PipelineConfig(), engine=engine), live), source


def ago(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat(timespec="seconds")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MeetingStore]:
    with MeetingStore.in_folder(tmp_path) as s:
        yield s


def crashed(store: MeetingStore, *, stopped_s_ago: float) -> MeetingRecord:
    """A meeting as a killed ``talktime run`` leaves it: live in the store (no end), nobody holding
    its lock, last saved ``stopped_s_ago`` seconds ago; 60 s counted, two named voices, a roster
    entry, an open phase and the engine's voices."""
    info = MeetingInfo(id="5e1f0000-0000-4000-8000-000000000001", title="Planning", series=None, room=None,
                       source=LABEL, started_at=ago(stopped_s_ago + 60), sample_rate=16_000,
                       clock_samples=to_samples(60.0), heartbeat_at=ago(stopped_s_ago), overlap_measured=False)
    segs = [SpeakerSegment(0, to_samples(1.0), to_samples(21.0)), SpeakerSegment(1, to_samples(22.0), to_samples(52.0))]
    record = MeetingRecord(info, segs, {0: "Ada", 1: "Bo"}, ["Cy"], [Phase("Intro", 0, to_samples(30.0)),
                                                                     Phase("Plans", to_samples(30.0))])
    store.save(record)
    voices = [LiveVoice(0, VoicedEngine.embedding_model, np.array([1, 0, 0, 0], np.float32), 50),
              LiveVoice(1, VoicedEngine.embedding_model, np.array([0, 1, 0, 0], np.float32), 70)]
    from tracker.store import records

    store.write(lambda c: records._write_voices(c, info.id, voices))
    assert recover(store)[0].id == info.id  # what `talktime run` does first
    return record


def test_a_restart_soon_after_a_crash_continues_the_same_meeting(store: MeetingStore) -> None:
    old = crashed(store, stopped_s_ago=65)
    engine = VoicedEngine([(1, 61.0, 63.0), (2, 63.5, 64.5)])  # Bo again, then someone new (on the meeting's clock)
    session, source = session_of(engine)
    room = Room(session, store=store, tick_s=0.05)
    room.open()
    try:
        snap = room.snapshot()
        assert snap.meeting_id == old.info.id and snap.status == "running" and snap.clock_s == 60.0
        assert snap.started_at == old.info.started_at
        assert {p.name for p in snap.speakers} == {"Ada", "Bo", "Cy"}
        assert [(p.name, p.end_s) for p in snap.phases] == [("Intro", 30.0), ("Plans", None)]  # the open phase goes on
        r = snap.restart
        assert r is not None and r.continued and r.interrupted_id == old.info.id
        assert 64 <= r.lost_s <= 70 and r.message.startswith("talktime restarted at ")
        assert f"; {lost_words(r.lost_s)} were not recorded" in r.message and "2 voices carried on" in r.message
        assert {i: w for i, (_, w) in engine.voices.items()} == {0: 50, 1: 70}  # the engine knows them again
        source.feed(5.0)
        wait_for(lambda: room.snapshot().clock_s >= 65.0 - 1e-6, what="the clock to go on from 60 s")
        talk = {p.name: p.talk_time_s for p in room.snapshot().speakers}
        assert talk["Bo"] == pytest.approx(32.0) and talk["Ada"] == pytest.approx(20.0)
        assert room.snapshot().group.duration_s == pytest.approx(65.0)  # the gap is not in the clock
        assert [m.end_reason for m in store.meetings()] == [None]  # one meeting, live again
    finally:
        room.close()
    (info,) = store.meetings()
    rec = store.load(info.id)
    assert info.end_reason == "ended" and info.clock_samples == to_samples(65.0)
    assert len(rec.gaps) == 1 and rec.gaps[0].at_sample == to_samples(60.0)
    assert rec.gaps[0].stopped_at == old.info.heartbeat_at
    assert store.live_voices(info.id) == []  # ended: its voices are not kept
    report = build_report(rec)
    assert report.duration_s == pytest.approx(65.0) and report.group.silence_s < 65.0 - 52.0
    assert any("was restarted" in n and "neither talk nor silence" in n for n in report.notes)
    assert not any("stopped unexpectedly" in n or "still going" in n for n in report.notes)


def test_a_restart_after_the_threshold_starts_a_new_meeting_that_follows_the_old(store: MeetingStore) -> None:
    old = crashed(store, stopped_s_ago=RESUME_WITHIN_S + 300)
    session, source = session_of(VoicedEngine([(0, 0.5, 2.0)]))
    room = Room(session, store=store, tick_s=0.05)
    room.open()
    try:
        snap = room.snapshot()
        assert snap.meeting_id != old.info.id and snap.clock_s == 0.0 and snap.previous_meeting_id == old.info.id
        r = snap.restart
        assert r is not None and not r.continued and r.interrupted_id == old.info.id
        assert "were not recorded" in r.message and "this is a new meeting" in r.message
        assert room.record_of(old.info.id) is not None  # the link on the page answers
        source.feed(3.0)
        wait_for(lambda: room.snapshot().clock_s >= 3.0 - 1e-6, what="the new meeting to count")
        wait_for(lambda: len(store.meetings()) == 2, what="the new meeting to be stored")
    finally:
        room.close()
    by_id = {m.id: m for m in store.meetings()}
    closed = by_id[old.info.id]
    assert closed.end_reason == "interrupted" and closed.ended_at == old.info.heartbeat_at
    assert closed.clock_samples == old.info.clock_samples and store.live_voices(old.info.id) == []
    assert by_id[snap.meeting_id].follows == old.info.id
    notes = build_report(store.load(snap.meeting_id)).notes
    assert any(f"talktime report {old.info.id[:8]}" in n for n in notes)


def test_what_decides_between_continuing_and_a_new_meeting() -> None:
    now = "2026-05-04T10:00:00+00:00"

    def info(stopped: str, *, reason: str | None = "interrupted", source: str = LABEL, room: str | None = None
             ) -> MeetingInfo:
        return MeetingInfo(id="x", title="t", series=None, room=room, source=source, started_at=stopped,
                           ended_at=stopped, end_reason=reason, heartbeat_at=stopped)

    assert plan(info("2026-05-04T09:55:00+00:00"), source=LABEL, room=None, within_s=600, now=now) is True
    assert plan(info("2026-05-04T09:45:00+00:00"), source=LABEL, room=None, within_s=600, now=now) is False
    assert plan(info("2026-05-04T09:55:00+00:00"), source=LABEL, room=None, within_s=0, now=now) is False
    assert plan(info(now), source=LABEL, room=None, within_s=0, now=now) is False  # 0: never, even at once
    assert plan(info("2026-05-04T09:55:00+00:00"), source="microphone", room=None, within_s=600, now=now) is False
    assert plan(info("2026-05-04T09:55:00+00:00", room="B12"), source=LABEL, room=None, within_s=600, now=now) is False
    assert plan(info("2026-05-03T09:55:00+00:00"), source=LABEL, room=None, within_s=10**6, now=now) is False  # a day later
    assert plan(info("2026-05-04T09:55:00+00:00", reason="ended"), source=LABEL, room=None, within_s=600, now=now) is None
    assert plan(None, source=LABEL, room=None, within_s=600, now=now) is None


def test_an_engine_without_voices_says_so(store: MeetingStore) -> None:
    crashed(store, stopped_s_ago=5)
    session, _source = session_of(ScriptedEngine([]))
    room = Room(session, store=store, tick_s=0.05)
    room.open()
    try:
        r = room.snapshot().restart
        assert r is not None and r.continued and "could not be carried on (this engine keeps no voices)" in r.voices
    finally:
        room.close()


def test_a_meeting_another_process_continues_is_not_taken_twice(store: MeetingStore) -> None:
    old = crashed(store, stopped_s_ago=5)
    first, _ = session_of(VoicedEngine([]))
    room = Room(first, store=store, tick_s=0.05)
    room.open()
    try:
        second, _ = session_of(VoicedEngine([]))
        recorder = MeetingRecorder(store, second, info=store.load(old.info.id).info, continues=True)
        from tracker.store.records import Gap

        with pytest.raises(Exception, match="already being recorded by another process"):
            recorder.claim(Gap(0, ago(5), ago(0)))
    finally:
        room.close()


def test_the_recorder_keeps_the_engine_voices_while_live(store: MeetingStore) -> None:
    engine = VoicedEngine([(0, 0.2, 1.0)])
    engine.voices = {0: (np.array([0, 0, 1, 0], np.float32), 12)}
    session, source = session_of(engine)
    room = Room(session, store=store, tick_s=0.05)
    room.open()
    try:
        source.feed(1.5)
        wait_for(lambda: room.recorder is not None, what="recording to start")
        assert room.recorder is not None
        room.recorder.flush()
        (voice,) = store.live_voices(session.id)
        assert voice.speaker == 0 and voice.weight == 12 and voice.model == VoicedEngine.embedding_model
        assert voice.centroid.tolist() == [0, 0, 1, 0]
    finally:
        room.close()
    assert store.live_voices(session.id) == []


def test_meetings_and_report_agree_on_a_crashed_meeting_even_when_the_store_is_locked(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json
    import sqlite3

    from cli.main import main
    from tracker.store.storage import STORE_FILE

    info = MeetingInfo(id="5e1f0000-0000-4000-8000-000000000002", title="Planning", series=None, room=None,
                       source=LABEL, started_at=ago(120), sample_rate=16_000, clock_samples=to_samples(60.0),
                       heartbeat_at=ago(60))
    with MeetingStore.in_folder(tmp_path) as store:  # killed: no end, nobody holds its lock
        store.save(MeetingRecord(info, [SpeakerSegment(0, 0, to_samples(61.0))], phases=[Phase("Intro", 0)]))
    other = sqlite3.connect(tmp_path / STORE_FILE, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another program is writing: nothing can be closed in the store
    try:
        assert main(["meetings", "--data-dir", str(tmp_path)]) == 0
        listed = capsys.readouterr().out
        assert main(["report", info.id[:8], "--format", "json", "--data-dir", str(tmp_path)]) == 0
        report = json.loads(capsys.readouterr().out)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert "interrupted" in listed and "1:01" in listed
    assert report["meeting"]["end_reason"] == "interrupted" and report["meeting"]["ended_at"] == info.heartbeat_at
    assert not any("still going" in n for n in report["notes"]) and report["phases"][0]["end_s"] == 61.0
    with MeetingStore.in_folder(tmp_path) as store:
        assert store.load(info.id).info.ended_at is None  # read as closed; closed for good by the next recover


def test_the_voices_of_a_meeting_interrupted_a_day_ago_are_forgotten(store: MeetingStore) -> None:
    recent = crashed(store, stopped_s_ago=60)
    assert len(store.live_voices(recent.info.id)) == 2  # a restart may still continue it
    store.delete(recent.info.id)
    old = crashed(store, stopped_s_ago=2 * 86_400)
    assert store.live_voices(old.info.id) == []  # no restart continues a meeting of another day
