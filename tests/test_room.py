"""Room: one meeting after another in one process, recorded; automatic end on silence and start on talk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from api_fixtures import FedSource, scripted_session, wait_for
from fakes import FAKE_VAD, EnergyVad, render
from tracker.audio import SAMPLE_RATE, AudioChunk, to_samples
from tracker.sources.live import LiveInput
from tracker.stages.onset import SpeechOnset
from tracker.meeting.room import Room
from tracker.pipeline.pipeline import Pipeline
from tracker.meeting.session import MeetingSession
from tracker.sources.base import BLOCK_SAMPLES
from tracker.stages.vad import VoiceActivityDetector
from tracker.store.storage import MeetingStore


def fed(room: Room, source: FedSource, seconds: float) -> None:
    target = room.snapshot().clock_s + seconds
    source.feed(seconds)
    wait_for(lambda: room.snapshot().clock_s >= target - 1e-6, what=f"clock to reach {target} s")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MeetingStore]:
    with MeetingStore.in_folder(tmp_path) as s:
        yield s


def stored(store: MeetingStore) -> dict[str, tuple[str | None, int]]:
    return {m.id: (m.end_reason, m.clock_samples) for m in store.meetings()}


def test_new_meeting_keeps_the_last_one_and_starts_afresh(store: MeetingStore) -> None:
    session, source = scripted_session([(0, 0.0, 3.0), (1, 3.5, 5.0)])
    room = Room(session, store=store, title="Weekly")
    room.open()
    try:
        fed(room, source, 6.0)
        first = room.current.id
        nxt = room.new_meeting()
        assert nxt is room.current and nxt.id != first and nxt.previous_id == first
        assert room.snapshot().status == "running" and room.snapshot().previous_meeting_id == first
        assert room.snapshot().speakers == [] and room.snapshot().clock_s == 0.0
        old = room.record_of(first)
        assert old is not None and old.info.end_reason == "ended"
        assert sum(s.end_sample - s.start_sample for s in old.segments) == to_samples(4.5)
        assert stored(store)[first] == ("ended", to_samples(6.0))
        fed(room, source, 2.0)  # the same input goes on feeding the new meeting, from its own zero
        assert room.snapshot().speakers[0].talk_time_s == pytest.approx(2.0)
        wait_for(lambda: nxt.id in stored(store), what="the new meeting to be stored")
    finally:
        room.close()
    assert stored(store)[nxt.id] == ("ended", to_samples(2.0))
    assert room.record_of("not-a-meeting") is None


def test_a_room_that_waits_stores_nothing(store: MeetingStore) -> None:
    session, source = scripted_session(autostart=False)
    room = Room(session, store=store)
    room.open()
    try:
        source.feed(30.0)  # half a minute of a waiting room
        wait_for(lambda: room.snapshot().input.paused_s >= 30.0 - 1e-6, what="the audio to be read")
        assert store.meetings() == [] and room.recorder is None
        room.current.start()
        wait_for(lambda: room.recorder is not None, what="recording to start with the meeting")
        assert [m.id for m in store.meetings()] == [session.id]
    finally:
        room.close()


def test_a_meeting_that_counted_no_audio_is_not_kept(store: MeetingStore) -> None:
    """A room service started without its microphone: each restart must not leave an empty meeting.
    One the facilitator put something in (a roster name) is kept."""
    session, _source = scripted_session()  # runs at once; no audio ever arrives
    room = Room(session, store=store)
    room.open()
    try:
        wait_for(lambda: room.recorder is not None, what="recording to start with the meeting")
        assert [m.id for m in store.meetings()] == [session.id]
    finally:
        room.close()
    assert store.meetings() == []
    kept = []
    for roster, entered in ((["Ada"], None), (["Ada"], "Bob"), ([], "Ada")):
        session, _source = scripted_session()
        session.pipeline.known = SimpleNamespace(roster=roster, from_profile={})  # as `talktime run --roster`
        room = Room(session, store=store)
        room.open()
        try:
            wait_for(lambda: room.recorder is not None, what="recording to start with the meeting")
            for name in roster:
                session.expect(name)  # what the roster's seeding does when the meeting opens
            if entered is not None:
                session.expect(entered)  # the facilitator's own entry
        finally:
            room.close()
        kept.append(session.id in {m.id for m in store.meetings()})
    assert kept == [False, True, True]  # the room's roster alone is nothing entered


def test_silence_ends_a_meeting_at_its_last_words(store: MeetingStore) -> None:
    session, source = scripted_session([(0, 0.0, 1.5)])
    room = Room(session, store=store, auto_end_after_s=2.0, tick_s=0.05)
    room.open()
    try:
        source.feed(5.0)
        wait_for(lambda: session.status == "ended", what="the meeting to end for silence")
        snap = session.snapshot()
        assert snap.end_reason == "silence" and snap.clock_s == pytest.approx(1.5)  # the silence is not counted
        assert snap.group.silence_s == pytest.approx(0.0)
        wait_for(lambda: stored(store).get(session.id) == ("silence", to_samples(1.5)), what="the stored end")
        assert room.current is session  # without talk-started meetings the room shows the last one
    finally:
        room.close()


def test_a_meeting_without_a_word_is_not_kept(store: MeetingStore) -> None:
    session, source = scripted_session([])
    room = Room(session, store=store, auto_end_after_s=1.0, tick_s=0.05)
    room.open()
    try:
        source.feed(2.0)
        wait_for(lambda: session.status == "ended", what="the meeting to end for silence")
        wait_for(lambda: session.id not in stored(store), what="the empty meeting to be removed")
        assert store.meetings() == []
    finally:
        room.close()


# ----------------------------------------------------------------------------- start on talk


def talk_started_room(pipeline: Pipeline, store: MeetingStore | None, *, quiet_s: float) -> tuple[Room, FedSource]:
    feed = FedSource()
    onset = SpeechOnset(VoiceActivityDetector(FAKE_VAD, model=EnergyVad()), quiet_s=quiet_s, already_quiet=True)
    session = MeetingSession(pipeline, LiveInput(lambda: feed, label="test mic"), onset=onset)
    # NB: longer than the fake diarizer's decision delay: silence is measured from decided speech.
    return Room(session, store=store, auto_end_after_s=6.0, tick_s=0.05), feed


def test_talk_starts_the_meeting_from_its_first_words_and_silence_readies_the_next(
    fake_pipeline: Pipeline, store: MeetingStore
) -> None:
    room, feed = talk_started_room(fake_pipeline, store, quiet_s=5.0)
    room.open()
    try:
        first = room.current
        feed.play(render([], 20.0))  # a quiet room: nothing happens
        wait_for(lambda: room.snapshot().input.paused_s >= 19.9, what="the quiet to be read")
        assert room.snapshot().status == "ready" and room.snapshot().waiting_for_speech and store.meetings() == []
        feed.play(render([(0, 0.0, 4.0)], 4.0))  # someone speaks: the meeting starts at their first words
        wait_for(lambda: first.status == "running", what="talk to start the meeting")
        feed.play(render([], 8.0))
        wait_for(lambda: first.status == "ended", what="silence to end the meeting")
        ended = first.snapshot()
        assert ended.end_reason == "silence"
        (person,) = ended.speakers
        assert person.talk_time_s == pytest.approx(4.0, abs=0.1)  # the words before the start was decided count
        assert ended.clock_s == pytest.approx(4.0 + 0.3, abs=0.1)  # 0.3 s of pre-roll, then the talk
        wait_for(lambda: room.current is not first, what="the next meeting to be ready")
        second = room.current
        assert second.status == "ready" and second.previous_id == first.id
        assert stored(store)[first.id][0] == "silence"
        feed.play(render([(1, 0.5, 3.0)], 3.0))  # the room was quiet long enough: talk starts it at once
        wait_for(lambda: second.status == "running", what="talk to start the second meeting")
        wait_for(lambda: second.snapshot().group.speech_s >= 2.0, what="the second meeting's talk", timeout=10)
    finally:
        room.close()


def test_talk_right_after_a_meeting_waits_for_the_quiet_period(fake_pipeline: Pipeline) -> None:
    feed = FedSource()
    vad = VoiceActivityDetector(FAKE_VAD, model=EnergyVad())
    onset = SpeechOnset(vad, quiet_s=5.0, already_quiet=False)
    live = LiveInput(lambda: feed, label="test mic")
    session = MeetingSession(fake_pipeline, live, onset=onset)
    session.open()
    try:
        feed.play(render([(0, 0.0, 3.0)], 3.0))  # people still chatting as the last meeting ended
        feed.play(render([], 3.0))
        wait_for(lambda: session.snapshot().input.paused_s >= 5.9, what="the chat to be read")
        assert session.status == "ready"
        feed.play(render([], 6.0))  # then quiet for longer than the quiet period, then talk
        feed.play(render([(1, 0.0, 3.0)], 3.0))
        wait_for(lambda: session.status == "running", what="talk after the quiet to start the meeting")
    finally:
        session.close()


def test_new_meeting_in_a_talk_started_room_counts_the_next_talk_at_once(fake_pipeline: Pipeline) -> None:
    room, feed = talk_started_room(fake_pipeline, None, quiet_s=5.0)
    room.open()
    try:
        first = room.current
        feed.play(render([(0, 0.0, 3.0)], 3.0))
        wait_for(lambda: first.status == "running", what="talk to start the meeting")
        wait_for(lambda: room.snapshot().clock_s >= 2.9, what="the talk to be counted")
        second = room.new_meeting()  # the facilitator's New meeting, while people talk on
        feed.play(render([(1, 0.0, 3.0)], 3.0))
        wait_for(lambda: second.status == "running", what="the talk right after New meeting to start it")
        wait_for(lambda: second.snapshot().group.speech_s >= 2.0, what="the second meeting's talk", timeout=10)
    finally:
        room.close()


def test_waiting_for_days_keeps_memory_bounded() -> None:
    onset = SpeechOnset(VoiceActivityDetector(FAKE_VAD, model=EnergyVad()), quiet_s=60.0)
    hum = (0.005 * np.sin(2 * np.pi * 50 * np.arange(BLOCK_SAMPLES) / SAMPLE_RATE)).astype(np.float32)
    for k in range(36_000):  # an hour of a humming, empty room, in 0.1 s blocks
        assert onset(AudioChunk(hum, k * BLOCK_SAMPLES)) is None
    assert onset._buffered <= to_samples(10.0) + BLOCK_SAMPLES  # noqa: SLF001 - the pre-roll buffer is bounded
    assert len(onset.vad._raw) < 200  # noqa: SLF001 - and so is the detector's state


# ----------------------------------------------------------------------------- over the API


def test_new_meeting_over_the_api_moves_viewers_and_keeps_the_report() -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings
    from test_api import CODE, CONTROL, TOKEN, VIEW, receive_state

    session, source = scripted_session([(0, 0.0, 3.0), (1, 3.5, 5.0)])
    with TestClient(create_app(Settings(code=CODE, token=TOKEN, save=False), session=session)) as client:
        target = 6.0
        source.feed(target)
        wait_for(lambda: session.snapshot().clock_s >= target, what="the first meeting's audio")
        with client.websocket_connect("/ws", headers=VIEW) as ws:
            assert receive_state(ws)["meeting_id"] == session.id
            assert client.post("/api/meetings", headers=VIEW).status_code == 403  # viewers only watch
            r = client.post("/api/meetings", headers=CONTROL)
            assert r.status_code == 201, r.text
            new = r.json()
            assert new["meeting_id"] != session.id and new["previous_meeting_id"] == session.id
            assert new["status"] == "running" and new["speakers"] == []
            # The viewer's page follows the room without reconnecting.
            moved = receive_state(ws, until=lambda s: s["meeting_id"] == new["meeting_id"])
            assert moved["previous_meeting_id"] == session.id
        assert client.get("/api/state", headers=VIEW).json()["meeting_id"] == new["meeting_id"]
        report = client.get(f"/api/meetings/{session.id}/report?format=json", headers=VIEW)
        assert report.status_code == 200, report.text
        data = report.json()
        assert data["meeting"]["end_reason"] == "ended" and data["group"]["speech_s"] == pytest.approx(4.5)
        # Controls go to the current meeting; the ended one answers 404 with where to look.
        assert client.post(f"/api/meetings/{session.id}/start", headers=CONTROL).status_code == 404
        assert client.get("/api/meetings/nope/report", headers=VIEW).status_code == 404


# ----------------------------------------------------------------------------- after End


def test_names_and_merges_made_after_end_are_stored_and_kept(store: MeetingStore, tmp_path: Path) -> None:
    session, source = scripted_session([(0, 0.0, 2.0), (1, 2.5, 4.0), (2, 4.5, 5.0)])
    room = Room(session, store=store, tick_s=0.05)
    room.open()
    try:
        fed(room, source, 6.0)
        first = session.id
        session.end()
        wait_for(lambda: store.load(first).info.end_reason == "ended", what="the end to be stored")
        wait_for(lambda: room._finished, what="the room to keep the ended meeting")  # noqa: SLF001
        session.rename(1, "Bob")  # the facilitator fixes the report after End
        wait_for(lambda: store.load(first).names.get(1) == "Bob", what="the rename to be stored")
        session.merge(0, 2)  # one person split in two
        session.expect("Cy")
        room.new_meeting()
        assert room.current.id != first
    finally:
        room.close()
    kept = room.record_of(first)
    assert kept is not None and kept.names == {1: "Bob"} and kept.expected == ["Cy"]
    with MeetingStore.in_folder(tmp_path) as again:  # after a restart
        rec = again.load(first)
    assert rec.names == {1: "Bob"} and rec.expected == ["Cy"]
    assert {s.speaker for s in rec.segments} == {0, 1}
    assert sum(s.end_sample - s.start_sample for s in rec.segments if s.speaker == 0) == to_samples(2.5)


# ----------------------------------------------------------------------------- changes by another process


def test_a_meeting_deleted_or_forgotten_meanwhile_is_not_served_from_memory(store: MeetingStore) -> None:
    session, source = scripted_session([(0, 0.0, 2.0), (1, 2.5, 4.0)])
    room = Room(session, store=store)
    room.open()
    try:
        fed(room, source, 5.0)
        session.rename(1, "Bob")
        first = session.id
        second = room.new_meeting()
        fed(room, source, 5.0)
        second.rename(0, "Bob")
        room.new_meeting()
        assert room.record_of(first) is not None
        with MeetingStore(store.path) as cli:  # `talktime delete` / `forget-person`, another process
            assert cli.delete(first)
            cli.forget_person("Bob")
        assert room.record_of(first) is None
        kept = room.record_of(second.id)
        assert kept is not None and "Bob" not in kept.names.values()
    finally:
        room.close()


def test_the_next_meeting_recognises_the_profiles_stored_now(fake_pipeline: Pipeline, store: MeetingStore) -> None:
    from tracker.meeting.enrollment import known_voices
    from tracker.segments import Profile
    from tracker.pipeline.profiles import model_id

    model, dim = fake_pipeline.embedding_model, fake_pipeline.engine.diarizer.encoder.dimension
    rng = np.random.default_rng(3)

    def profile(name: str) -> Profile:
        v = rng.standard_normal(dim).astype(np.float32)
        return Profile(name, model, v / np.linalg.norm(v), windows=10, speech_s=4.0, consent=True)

    store.save_profile(profile("Ada"))
    fake_pipeline.use_profiles(known_voices(store, fake_pipeline, roster=["Ada", "Cy"]))
    feed = FedSource()
    room = Room(MeetingSession(fake_pipeline, LiveInput(lambda: feed, label="test mic")), store=store)
    room.open()
    try:
        assert fake_pipeline.known is not None and fake_pipeline.known.matcher.named("Ada") is not None
        with MeetingStore(store.path) as cli:  # `talktime profiles delete Ada` and an enrollment, meanwhile
            assert cli.delete_profile("Ada") == 1
            cli.save_profile(profile("Bo"))
        nxt = room.new_meeting()
        known = fake_pipeline.known
        assert known is not None and known.roster == ["Ada", "Cy"]  # the same roster
        assert known.matcher.named("Ada") is None and known.matcher.named("Bo") is not None
        assert sorted(p.name for p in nxt.snapshot().speakers if p.expected) == ["Ada", "Cy"]
    finally:
        room.close()
        fake_pipeline.use_profiles(None)
