"""MeetingSession and LiveInput: the meeting's state machine, corrections, phases and device loss."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from api_fixtures import FedSource, ScriptedEngine, scripted_pipeline, scripted_session, wait_for
from tracker.audio import to_samples
from tracker.sources.live import LiveInput, microphone_opener
from tracker.meeting.view import ViewConfig
from tracker.meeting.session import ConflictError, MeetingSession, UnknownSpeakerError, build_session
from tracker.sources.base import AudioInputError
from tracker.segments import SpeakerSegment


@pytest.fixture
def meeting() -> Iterator[tuple[MeetingSession, FedSource]]:
    session, source = scripted_session()
    session.open()
    yield session, source
    session.close()


def fed(session: MeetingSession, source: FedSource, seconds: float) -> None:
    """Feed audio and wait until the pipeline has counted it."""
    target = session.snapshot().clock_s + seconds
    source.feed(seconds)
    wait_for(lambda: session.snapshot().clock_s >= target - 1e-6, what=f"clock to reach {target} s")


def talk(session: MeetingSession) -> dict[int, float]:
    return {p.id: p.talk_time_s for p in session.snapshot().speakers}


def test_figures_follow_the_script(meeting: tuple[MeetingSession, FedSource]) -> None:
    session, source = meeting
    fed(session, source, 20.0)
    snap = session.snapshot()
    assert snap.status == "running" and snap.started_at is not None
    assert math.isclose(snap.clock_s, 20.0)
    assert talk(session) == pytest.approx({0: 10.5, 1: 4.5, 2: 2.5})
    assert snap.group.people == 3 and snap.equal_share == pytest.approx(1 / 3)
    assert math.isclose(snap.group.speech_s, 17.5) and math.isclose(snap.group.silence_s, 2.5)
    first = next(p for p in snap.speakers if p.id == 0)
    assert first.turns == 2 and math.isclose(first.longest_turn_s, 6.0)
    assert snap.timeline[0] == (0, 0.0, 6.0)
    assert snap.input.status == "ok" and not snap.too_many_people


def test_pause_drops_audio_and_notes_it(meeting: tuple[MeetingSession, FedSource]) -> None:
    session, source = meeting
    fed(session, source, 5.0)
    session.pause()
    assert session.status == "paused"
    source.feed(3.0)
    wait_for(lambda: session.snapshot().input.paused_s >= 3.0, what="paused audio to be read")
    assert math.isclose(session.snapshot().clock_s, 5.0)
    session.start()
    fed(session, source, 2.0)
    snap = session.snapshot()
    # The meeting stream skips the paused audio: speaker 0's script goes on from 5 s to 6 s.
    assert math.isclose(snap.clock_s, 7.0) and math.isclose(snap.input.paused_s, 3.0)
    assert talk(session)[0] == pytest.approx(6.0)


def test_end_stops_capture_and_keeps_figures(meeting: tuple[MeetingSession, FedSource]) -> None:
    session, source = meeting
    fed(session, source, 10.0)
    session.mark_phase("brainstorm")
    session.end()
    snap = session.snapshot()
    assert snap.status == "ended" and source.stopped
    assert talk(session) == pytest.approx({0: 6.5, 1: 2.5})
    assert snap.phases[0].end_s == pytest.approx(10.0)
    session.end()  # ending twice is harmless
    with pytest.raises(ConflictError):
        session.start()
    with pytest.raises(ConflictError):
        session.mark_phase("assign actions")
    session.rename(0, "Ada")  # corrections still work on the final figures
    assert session.snapshot().speakers[0].name == "Ada"


def test_ready_until_started() -> None:
    session, source = scripted_session(autostart=False)
    session.open()
    try:
        source.feed(2.0)
        wait_for(lambda: session.snapshot().input.paused_s >= 2.0, what="audio to be dropped")
        assert session.status == "ready" and session.snapshot().started_at is None
        session.start()
        fed(session, source, 1.0)
        assert session.status == "running" and math.isclose(session.snapshot().clock_s, 1.0)
    finally:
        session.close()


def test_rename_merge_and_roster(meeting: tuple[MeetingSession, FedSource]) -> None:
    session, source = meeting
    fed(session, source, 20.0)
    session.rename(1, "  Grace   Hopper ")
    assert next(p for p in session.snapshot().speakers if p.id == 1).name == "Grace Hopper"
    with pytest.raises(ConflictError):
        session.rename(2, "Grace Hopper")
    with pytest.raises(UnknownSpeakerError):
        session.rename(7, "Nobody")
    with pytest.raises(ValueError):
        session.rename(0, "   ")
    with pytest.raises(ValueError):
        session.rename(0, "x" * 61)
    session.merge(1, 2)  # speaker 2 was Grace with a cold
    assert talk(session) == pytest.approx({0: 10.5, 1: 7.0})
    with pytest.raises(UnknownSpeakerError):
        session.merge(0, 2)
    with pytest.raises(ValueError):
        session.merge(0, 0)
    session.expect("Linus")
    snap = session.snapshot()
    linus = next(p for p in snap.speakers if p.name == "Linus")
    assert linus.expected and linus.present and linus.talk_time_s == 0 and snap.group.people == 3
    with pytest.raises(ConflictError):
        session.expect("Grace Hopper")
    session.rename(0, "Linus")  # the roster name is given to a voice
    assert [p.name for p in session.snapshot().speakers if p.expected] == []


def test_a_voice_shown_before_its_first_turn_is_decided_can_be_renamed(
    meeting: tuple[MeetingSession, FedSource],
) -> None:
    """The dashboard shows speech still being attributed (provisional) at once; the facilitator
    may name that voice straight away (CI once got "no speaker with id 0" here, under load)."""
    session, source = meeting
    fed(session, source, 20.0)
    with session.runner.lock:  # a new voice talking, nothing of it decided yet
        session.pipeline.accountant.set_provisional([SpeakerSegment(5, to_samples(18.0), to_samples(20.0))])
    assert 5 in {p.id for p in session.snapshot().speakers if p.present}
    session.rename(5, "Ada")
    assert next(p for p in session.snapshot().speakers if p.id == 5).name == "Ada"
    with pytest.raises(UnknownSpeakerError):
        session.rename(6, "Nobody")


def test_merge_keeps_the_gone_voice_name(meeting: tuple[MeetingSession, FedSource]) -> None:
    session, source = meeting
    fed(session, source, 20.0)
    session.rename(2, "Ada")
    session.merge(1, 2)
    assert {p.id: p.name for p in session.snapshot().speakers} == {0: "Guest 1", 1: "Ada"}
    engine = session.pipeline.engine
    fed(session, source, 0.5)  # the engine folds the voices in its own thread, before its next chunk
    assert isinstance(engine, ScriptedEngine) and engine.merged == [(1, 2)]


def test_expected_attendee_can_be_renamed_and_removed(meeting: tuple[MeetingSession, FedSource]) -> None:
    session, _ = meeting
    session.expect("Ada")
    session.expect("Bob")
    session.rename(-2, "Bobby")
    assert [p.name for p in session.snapshot().speakers if p.expected] == ["Ada", "Bobby"]
    session.remove_attendee(-1)
    assert [p.name for p in session.snapshot().speakers if p.expected] == ["Bobby"]
    with pytest.raises(UnknownSpeakerError):
        session.remove_attendee(-5)


def test_phases_split_the_figures(meeting: tuple[MeetingSession, FedSource]) -> None:
    session, source = meeting
    fed(session, source, 6.0)
    session.mark_phase("identify problems")
    fed(session, source, 8.0)
    session.mark_phase("brainstorm")
    fed(session, source, 6.0)
    session.end_phase()
    phases = session.snapshot().phases
    assert [(p.name, p.start_s, p.end_s) for p in phases] == [
        ("identify problems", 6.0, 14.0),
        ("brainstorm", 14.0, 20.0),
    ]
    first = {s.id: s.talk_time_s for s in phases[0].speakers}
    second = {s.id: s.talk_time_s for s in phases[1].speakers}
    assert first == pytest.approx({0: 4.5, 1: 2.5, 2: 0.0})
    assert second == pytest.approx({0: 0.0, 1: 2.0, 2: 2.5})
    assert phases[1].balance is not None and phases[1].reading


def test_quiet_and_dominant_flags() -> None:
    script = [(0, 0.0, 50.0), (1, 50.0, 54.0), (2, 54.0, 56.0)]
    session, source = scripted_session(script, view=ViewConfig(warmup_s=30.0, quiet_after_s=20.0))
    session.open()
    try:
        source.feed(80.0)
        wait_for(lambda: session.snapshot().clock_s >= 80.0, what="the meeting to be counted")
        session.expect("Dana")
        people = {p.name: p for p in session.snapshot().speakers}
        assert people["Guest 1"].dominant and people["Guest 1"].quiet == "quiet for 0 min"
        assert people["Guest 3"].quiet is not None and not people["Guest 3"].dominant
        assert people["Dana"].quiet == "has not spoken yet"
    finally:
        session.close()


def test_too_many_people_warning() -> None:
    script = [(i, 3.0 * i, 3.0 * i + 2.5) for i in range(4)]
    session, source = scripted_session(script, view=ViewConfig(max_people=3))
    session.open()
    try:
        source.feed(12.0)
        wait_for(lambda: session.snapshot().group.people == 4, what="four people")
        assert session.snapshot().too_many_people
    finally:
        session.close()


def test_listeners_hear_every_change(meeting: tuple[MeetingSession, FedSource]) -> None:
    session, source = meeting
    calls: list[str] = []
    unsubscribe = session.subscribe(lambda: calls.append(threading.current_thread().name))
    fed(session, source, 1.0)
    session.rename(0, "Ada")
    assert "talktime-pipeline" in calls and threading.current_thread().name in calls
    version = session.snapshot().version
    unsubscribe()
    session.expect("Bob")
    assert session.snapshot().version == version + 1
    assert len(calls) == len(set(range(len(calls))))  # nothing called after unsubscribing twice
    unsubscribe()


# ----------------------------------------------------------------------------- capture


def test_missing_microphone_is_retried_until_it_appears() -> None:
    attempts = {"n": 0}
    source = FedSource()

    def opener() -> FedSource:
        attempts["n"] += 1
        if attempts["n"] < 3:
            raise AudioInputError("no audio input device found")
        return source

    live = LiveInput(opener, retry_s=0.05, label="microphone")
    session = MeetingSession(scripted_pipeline([(0, 0.0, 1.0)]), live)
    session.open()
    try:
        wait_for(lambda: session.snapshot().input.status == "no microphone: no audio input device found", what="no mic")
        wait_for(lambda: session.snapshot().input.status == "ok", what="the microphone to be picked up")
        fed(session, source, 1.0)
        assert attempts["n"] == 3 and session.snapshot().speakers[0].talk_time_s == pytest.approx(1.0)
    finally:
        session.close()


class _Unplugged(FedSource):
    def read(self, timeout: float) -> None:
        raise AudioInputError("the audio input device stopped delivering audio (unplugged?)")


def test_lost_device_is_reported_and_reopened() -> None:
    sources: list[FedSource] = [_Unplugged(), FedSource()]
    opened: list[FedSource] = []

    def opener() -> FedSource:
        opened.append(sources[len(opened)])
        return opened[-1]

    session = MeetingSession(scripted_pipeline([]), LiveInput(opener, retry_s=0.3))
    session.open()
    try:
        wait_for(lambda: session.snapshot().input.status.startswith("no microphone: the audio input device"), what="loss")
        assert sources[0].stopped
        wait_for(lambda: session.snapshot().input.status == "ok" and len(opened) == 2, what="the device to come back")
        fed(session, sources[1], 0.5)
    finally:
        session.close()


def test_no_such_device_still_starts() -> None:
    live = LiveInput(microphone_opener("no-such-device-for-talktime-tests"), retry_s=10.0, label="microphone")
    session = MeetingSession(scripted_pipeline([]), live)
    session.open()
    try:
        wait_for(lambda: session.snapshot().input.status.startswith("no microphone: "), what="no microphone")
        assert session.status == "running"
    finally:
        session.close()


def _pulse_server(runtime: Path) -> subprocess.Popen[bytes]:
    """A private PulseAudio server whose only capture device is a sine "microphone". NB: without
    shared memory (``--disable-shm``): a client whose server dies while it holds shared audio blocks
    can deadlock in libpulse (the stream's thread waits on the connection's, which waits for the
    blocks), and this test kills its server under an open stream on purpose."""
    env = {**os.environ, "HOME": str(runtime), "XDG_RUNTIME_DIR": str(runtime), "PULSE_RUNTIME_PATH": str(runtime)}
    cmd = ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no", "--disable-shm=yes",
           "--log-target=stderr",
           "-L", f"module-native-protocol-unix socket={runtime}/native auth-anonymous=1",
           "-L", "module-null-sink sink_name=room", "-L", "module-sine-source source_name=mic frequency=440"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.audio
@pytest.mark.filterwarnings("ignore:device .* does not capture")
def test_a_real_microphone_appears_vanishes_and_returns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("pulseaudio") is None:
        pytest.fail("needs PulseAudio: run `make test` or `scripts/bootstrap.sh --dev`, which install it")
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path}/native")  # ours alone, not the machine's
    live = LiveInput(microphone_opener(None), retry_s=0.3, label="microphone")
    session = MeetingSession(scripted_pipeline([(0, 0.0, 600.0)]), live)
    session.open()
    server = None
    try:
        wait_for(lambda: session.snapshot().input.status != "starting", what="a first attempt")
        if session.snapshot().input.status == "ok":
            pytest.skip("this machine has a capture device of its own")
        for _ in range(2):  # plugged in, unplugged, plugged in again
            server = _pulse_server(tmp_path)
            wait_for(lambda: session.snapshot().input.status == "ok", timeout=15, what="the microphone to be picked up")
            clock = session.snapshot().clock_s
            wait_for(lambda: session.snapshot().clock_s >= clock + 0.5, what="audio from the microphone")
            server.terminate()
            server.wait(10)
            wait_for(lambda: session.snapshot().input.status.startswith("no microphone"), timeout=10, what="loss")
        assert session.snapshot().speakers[0].talk_time_s > 1.0
    finally:
        session.close()
        if server is not None and server.poll() is None:
            server.kill()
            server.wait()


def test_build_session_checks_its_input_before_loading_models(tmp_path: object) -> None:
    with pytest.raises(AudioInputError, match="no such file"):
        build_session(input_path="/nonexistent/meeting.wav")
    with pytest.raises(ValueError, match="not both"):
        build_session(device="1", input_path="/nonexistent/meeting.wav")


def test_recording_end_is_reported() -> None:
    session, source = scripted_session([(0, 0.0, 1.0)])
    session.open()
    try:
        fed(session, source, 1.0)
        source.finish()
        wait_for(lambda: session.snapshot().input.status == "end of input", what="end of input")
        assert session.status == "running"  # the facilitator ends the meeting
    finally:
        session.close()
    assert session.status == "ended"
