"""Hybrid meetings: the call's echo in the room is not a room speaker, remote people count once.

The first tests use pure-tone fake voices (exact, fast); the last ones real espeak-ng speech made by
scripts/make_hybrid.py (two people in the room, two on the call, the call played into the room at
-3 dB with 150 ms delay and reverberation) through the same runner the microphone feeds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import PulseServer
from fakes import FAKE_CONFIG, EnergyVad, FakeEncoder, ListSource, chunks, read_to_end, render, rttm_mask, step, write_wav
from tracker.audio import SAMPLE_RATE, AudioChunk, Samples, to_samples
from tracker.sources.live import LiveInput
from tracker.pipeline.build import build_hybrid_pipeline, hybrid_pipeline
from tracker.pipeline.hybrid import HybridEngine
from tracker.pipeline.pipeline import Pipeline
from tracker.sources.paired import PairedSource
from tracker.stages.accounting import REMOTE_SPEAKER_BASE, is_remote
from tracker.sources.pulse import PulseSource, list_pulse_sources
from tracker.pipeline.runner import Runner
from tracker.meeting.session import build_session
from tracker.sources.files import FileSource
from tracker.sources.base import EndOfStream, SourceStats
from tracker.stages.echo import EchoConfig, EchoGate

ROOT = Path(__file__).resolve().parents[1]
ECHO_DELAY_S = 0.15
ECHO_GAIN = 0.5  # -6 dB


def delayed(x: Samples, seconds: float, gain: float) -> Samples:
    d = to_samples(seconds)
    return (np.concatenate([np.zeros(d, np.float32), x])[: len(x)] * gain).astype(np.float32)


def hybrid_fixture() -> tuple[Samples, Samples]:
    """Room: voice 1 talks; call: voices 0 and 2 take turns, heard in the room -6 dB, 150 ms late."""
    call = render([(0, 0.5, 3.5), (2, 8.0, 11.0), (0, 14.0, 16.0)], 20.0)
    room_talk = render([(1, 4.0, 7.5), (1, 11.5, 13.5), (1, 17.0, 19.5)], 20.0)
    return (room_talk + delayed(call, ECHO_DELAY_S, ECHO_GAIN)).astype(np.float32), call


def gate_all(gate: EchoGate, room: Samples, call: Samples, size: int = 1600) -> Samples:
    return np.concatenate([gate(AudioChunk(c.samples, c.start_sample, reference=call[c.start_sample : c.end_sample])).samples
                           for c in chunks(room, size)])


def test_gate_learns_the_delay_and_silences_only_the_echo() -> None:
    room, call = hybrid_fixture()
    gate = EchoGate()
    out = gate_all(gate, room, call)
    assert gate.stats.delay_s == pytest.approx(ECHO_DELAY_S, abs=0.021)
    assert gate.stats.gain_db == pytest.approx(20 * np.log10(ECHO_GAIN), abs=1.5)
    t = np.arange(len(room)) / SAMPLE_RATE
    echo_only = (t > 1.5) & (t < 3.5) | (t > 8.5) & (t < 11.0) | (t > 14.5) & (t < 16.0)  # after the delay is learned
    room_talk = (t > 4.1) & (t < 7.4) | (t > 11.6) & (t < 13.4) | (t > 17.1) & (t < 19.4)
    assert np.mean(out[echo_only] == 0) > 0.95
    assert np.mean(out[room_talk] == 0) < 0.02
    assert np.array_equal(out[room_talk], room[room_talk])  # what passes is untouched


def test_talk_over_the_call_louder_than_the_echo_passes() -> None:
    call = render([(0, 0.5, 10.0)], 10.0)
    room_talk = render([(1, 6.0, 8.0)], 10.0, amplitude=0.6)  # someone in the room talks over the call, 12 dB above its echo
    room = (room_talk + delayed(call, ECHO_DELAY_S, ECHO_GAIN)).astype(np.float32)
    out = gate_all(EchoGate(), room, call)
    t = np.arange(len(room)) / SAMPLE_RATE
    assert np.mean(out[(t > 6.1) & (t < 7.9)] == 0) < 0.05
    assert np.mean(out[(t > 2.0) & (t < 5.5)] == 0) > 0.95


def test_gate_without_reference_or_call_silence_changes_nothing() -> None:
    room = render([(1, 0.5, 3.0)], 4.0)
    gate = EchoGate()
    chunk = AudioChunk(room, 0)
    assert gate(chunk) is chunk
    out = gate_all(gate, room, np.zeros_like(room))
    assert np.array_equal(out, room)
    assert gate.stats.echo_frames == 0


def test_echo_config_says_what_it_expected() -> None:
    with pytest.raises(ValueError, match="expected frame_s > 0"):
        EchoConfig(frame_s=0)


def fake_hybrid(fake_encoder: FakeEncoder, *, room: bool = True) -> Pipeline:
    return hybrid_pipeline(FAKE_CONFIG, vad_model=EnergyVad(), call_vad_model=EnergyVad(), encoder=fake_encoder, room=room)


def test_remote_voices_count_once_and_room_voices_stay_in_the_room(fake_encoder: FakeEncoder) -> None:
    room, call = hybrid_fixture()
    pipe = fake_hybrid(fake_encoder)
    for c in chunks(room, 1600):
        step(pipe, AudioChunk(c.samples, c.start_sample, reference=call[c.start_sample : c.end_sample]))
    pipe.flush()
    talk = {s.id: s.talk_time_s for s in pipe.accountant.summary().speakers if s.present}
    room_ids = [k for k in talk if not is_remote(k)]
    remote_ids = [k for k in talk if is_remote(k)]
    assert len(room_ids) == 1 and len(remote_ids) == 2, talk
    assert talk[room_ids[0]] == pytest.approx(3.5 + 2.0 + 2.5, abs=1.0)
    assert sorted(talk[k] for k in remote_ids) == pytest.approx([3.0, 5.0], abs=1.0)
    final = {s.speaker for s in pipe.final_segments()}
    assert len([k for k in final if is_remote(k)]) == 2 and len([k for k in final if not is_remote(k)]) == 1


def test_without_the_gate_the_echo_would_be_a_room_speaker(fake_encoder: FakeEncoder) -> None:
    """The control of the test above: the same audio, the room side alone, counts the call again."""
    room, call = hybrid_fixture()
    pipe = fake_hybrid(fake_encoder)
    for c in chunks(room, 1600):
        step(pipe, c)  # no reference: nothing to tell the echo by
    pipe.flush()
    room_ids = [s.id for s in pipe.accountant.summary().speakers if s.present and not is_remote(s.id)]
    assert len(room_ids) >= 2


def test_a_fully_remote_meeting_counts_everyone_as_remote(fake_encoder: FakeEncoder) -> None:
    _, call = hybrid_fixture()
    pipe = fake_hybrid(fake_encoder, room=False)
    for c in chunks(call, 1600):
        step(pipe, c)
    pipe.flush()
    ids = [s.id for s in pipe.accountant.summary().speakers if s.present]
    assert len(ids) == 2 and all(k >= REMOTE_SPEAKER_BASE for k in ids)


def test_merging_two_remote_voices_reaches_the_call_diarizer(fake_encoder: FakeEncoder) -> None:
    room, call = hybrid_fixture()
    pipe = fake_hybrid(fake_encoder)
    cs = chunks(room, 1600)
    half = len(cs) * 3 // 4
    for c in cs[:half]:
        step(pipe, AudioChunk(c.samples, c.start_sample, reference=call[c.start_sample : c.end_sample]))
    remote = sorted(s.id for s in pipe.accountant.summary().speakers if s.present and is_remote(s.id))
    assert len(remote) == 2
    pipe.merge(remote[0], remote[1])
    for c in cs[half:]:
        step(pipe, AudioChunk(c.samples, c.start_sample, reference=call[c.start_sample : c.end_sample]))
    pipe.flush()
    assert remote[1] not in pipe.engine.call_engine.diarizer.clustering.voices or remote[1] - REMOTE_SPEAKER_BASE not in pipe.engine.call_engine.diarizer.clustering.voices
    left = [s.id for s in pipe.accountant.summary().speakers if s.present and is_remote(s.id)]
    assert left == [remote[0]]


def test_paired_source_lines_up_streams_of_different_block_sizes_and_offsets() -> None:
    room = np.arange(16000, dtype=np.float32)
    call = -np.arange(16000, dtype=np.float32)
    src = PairedSource(ListSource(chunks(room, 1000)), ListSource(chunks(call, 640, start=5000)))  # the call's clock started elsewhere
    src.start()
    got = []
    while True:
        try:
            c = src.read(0.1)
        except EndOfStream:
            break
        assert c is not None and c.reference is not None
        got.append((c.samples, c.reference))
    assert np.array_equal(np.concatenate([r for _, r in got])[:15360], -np.concatenate([s for s, _ in got])[:15360])
    assert src.call_status == "ok"


def test_paired_source_names_the_rooms_device_and_a_recording_none() -> None:
    """The dashboard's input line and the log name the room microphone of a hybrid meeting; a room
    that is a recording has no device (it was logged as "default device", then as nothing)."""
    silence = np.zeros(1600, dtype=np.float32)
    mic = ListSource(chunks(silence, 800))
    mic.device_name = "USB room mic"  # type: ignore[attr-defined]
    assert PairedSource(mic, ListSource(chunks(silence, 800))).device_name == "USB room mic"
    default = ListSource(chunks(silence, 800))
    default.device_name = None  # type: ignore[attr-defined]
    assert PairedSource(default, ListSource(chunks(silence, 800))).device_name is None
    assert not hasattr(PairedSource(ListSource(chunks(silence, 800)), ListSource(chunks(silence, 800))), "device_name")


def test_paired_source_goes_on_without_the_call_when_it_fails() -> None:
    room = np.ones(16000, dtype=np.float32)
    src = PairedSource(ListSource(chunks(room, 1600)), ListSource(chunks(room, 1600), fail_after=3), wait_s=0.01)
    src.start()
    out = [src.read(0.1) for _ in range(10)]
    assert all(c is not None for c in out)
    assert [c.reference is not None for c in out if c is not None] == [True] * 3 + [False] * 7
    assert src.call_status == "no call audio: device unplugged"


# --------------------------------------------------------------------------- real speech


@pytest.fixture(scope="module")
def hybrid_meeting(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hybrid")
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_hybrid.py"), "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return out


def reference_talk(rttm: Path) -> dict[str, float]:
    talk: dict[str, float] = {}
    for line in rttm.read_text().splitlines():
        f = line.split()
        talk[f[7]] = talk.get(f[7], 0.0) + float(f[4])
    return talk


@pytest.mark.audio
def test_real_speech_each_person_once_with_their_side(hybrid_meeting: Path) -> None:
    pipe = build_hybrid_pipeline()
    Runner(PairedSource(FileSource(hybrid_meeting / "room.wav"), FileSource(hybrid_meeting / "call.wav")), pipe).run()
    found = {s.id: s.talk_time_s for s in pipe.accountant.summary().speakers if s.present}
    ref = reference_talk(hybrid_meeting / "hybrid.rttm")
    room_found = sorted(v for k, v in found.items() if not is_remote(k))
    remote_found = sorted(v for k, v in found.items() if is_remote(k))
    room_ref = sorted(v for k, v in ref.items() if k.startswith("room:"))
    remote_ref = sorted(v for k, v in ref.items() if k.startswith("call:"))
    assert len(room_found) == 2 and len(remote_found) == 2, found
    assert room_found == pytest.approx(room_ref, abs=2.5)
    assert remote_found == pytest.approx(remote_ref, abs=2.5)
    # The echo gate silenced most of the call in the room channel, and little of the room's own talk.
    assert pipe.engine.echo.stats.delay_s == pytest.approx(0.15, abs=0.03)
    gated = pipe.engine.echo.stats.echo_frames / pipe.engine.echo.stats.frames
    n = int(pipe.accountant.clock_samples)
    call_share = float(np.mean(rttm_mask(hybrid_meeting / "call.rttm", n) & ~rttm_mask(hybrid_meeting / "room.rttm", n)))
    assert gated == pytest.approx(call_share, abs=0.1)


@pytest.mark.audio
def test_cli_analyze_with_call_audio(hybrid_meeting: Path, tmp_path: Path) -> None:
    out = tmp_path / "h.rttm"
    proc = subprocess.run(
        [sys.executable, "-m", "cli", "analyze", str(hybrid_meeting / "room.wav"), "--call", str(hybrid_meeting / "call.wav"),
         "--rttm", str(out), "--mode", "live"],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith(("Guest ", "Remote "))]
    assert sum(r.startswith("Remote ") for r in rows) == 2 and sum(r.startswith("Guest ") for r in rows) == 2, proc.stdout
    assert "in the room" in proc.stdout and "remote" in proc.stdout
    assert len(out.read_text().splitlines()) > 5


@pytest.mark.audio
def test_analyze_lines_up_a_late_call_recording_with_the_pipelines_settings(hybrid_meeting: Path, tmp_path: Path,
                                                                           fake_encoder: FakeEncoder) -> None:
    """``talktime analyze --call`` with a call recording that starts 0.7 s late, so its echo comes
    first: the call is lined up once, the gate learns of it, and everyone is found once on their
    side. The pairing takes the pipeline's echo settings: with the realignment off, no shift."""
    from tracker.pipeline.analysis import analyze

    call, rate = sf.read(str(hybrid_meeting / "call.wav"), dtype="float32")
    late = tmp_path / "late_call.wav"
    sf.write(str(late), np.concatenate([np.zeros(to_samples(0.7), np.float32), call]), rate, subtype="FLOAT")
    pipe = build_hybrid_pipeline()
    a = analyze(hybrid_meeting / "room.wav", pipe, mode="live", call=late)
    assert pipe.engine.echo.stats.realignments == 1
    assert pipe.engine.echo.stats.delay_s is not None and 0.1 <= pipe.engine.echo.stats.delay_s <= 0.35
    present = [s.id for s in a.summary.speakers if s.present]
    assert sum(is_remote(k) for k in present) == 2 and sum(not is_remote(k) for k in present) == 2, present
    off = hybrid_pipeline(FAKE_CONFIG, vad_model=EnergyVad(), call_vad_model=EnergyVad(), encoder=fake_encoder,
                         echo=EchoConfig(max_shift_s=0.0))  # the speech side does not matter here
    analyze(hybrid_meeting / "room.wav", off, mode="live", call=late)
    assert off.engine.echo.stats.realignments == 0


def test_cli_call_file_missing_is_a_clear_error(tmp_path: Path) -> None:
    room = write_wav(tmp_path / "room.wav", render([(0, 0.5, 2.0)], 3.0))
    proc = subprocess.run(
        [sys.executable, "-m", "cli", "analyze", str(room), "--call", str(tmp_path / "nope.wav")],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "nope.wav" in proc.stderr and "expected" in proc.stderr


# --------------------------------------------------------------------------- two real devices


@pytest.fixture
def call_sink(pulse_server: PulseServer) -> Iterator[str]:
    """A second null sink on the test PulseAudio: the output the meeting app plays the call to."""
    proc = subprocess.run(["pactl", "load-module", "module-null-sink", "sink_name=talktime_call", "rate=16000", "channels=1"],
                          env=pulse_server.env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    try:
        yield "talktime_call"
    finally:
        subprocess.run(["pactl", "unload-module", proc.stdout.strip()], env=pulse_server.env, capture_output=True)


@pytest.mark.audio
@pytest.mark.models
def test_room_microphone_and_call_monitor_captured_live(pulse_server: PulseServer, call_sink: str, tmp_path: Path) -> None:
    """Two PulseAudio null sinks: the room's (its monitor is the default microphone) and the call's;
    the room recording already holds the call's echo (-3 dB, 150 ms, reverberant). Captured in real
    time through the microphone path (sounddevice) and the call path (parec), each person is found
    once, on their side."""
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_hybrid.py"), "--out", str(tmp_path), "--turns", "8"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert any(s["name"] == f"{call_sink}.monitor" for s in list_pulse_sources())
    # The same construction as `talktime run --device pulse --call-device talktime_call.monitor`.
    session = build_session(device="pulse", call_device=f"{call_sink}.monitor")
    pipe = session.pipeline
    assert isinstance(pipe.engine, HybridEngine) and pipe.engine.room
    session.open()
    try:
        deadline = time.monotonic() + 10
        while session.snapshot().input.call != "ok" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert session.snapshot().input.status == "ok" and session.snapshot().input.call == "ok", session.snapshot().input
        paired = session.input.source
        assert isinstance(paired, PairedSource)
        while session.snapshot().input.audio_s < 0.5 and time.monotonic() < deadline + 10:
            time.sleep(0.05)  # NB: the microphone's stream delivers its first audio up to 2 s after it opens
        room = pulse_server.play(tmp_path / "room.wav")
        call = subprocess.Popen(["paplay", "-d", call_sink, str(tmp_path / "call.wav")], env=pulse_server.env)
        delays = []  # the gate's delay estimate every half second while the meeting plays
        while room.poll() is None or call.poll() is None:
            delays.append(pipe.engine.echo.stats.delay_s)
            time.sleep(0.5)
        assert room.wait(timeout=90) == 0 and call.wait(timeout=90) == 0
        time.sleep(1.5)
        session.end()
        assert session.runner.error is None
    finally:
        session.close()
    found = {s.id: s.talk_time_s for s in pipe.accountant.summary().speakers if s.present}
    ref = reference_talk(tmp_path / "hybrid.rttm")
    room_found = sorted(v for k, v in found.items() if not is_remote(k))
    remote_found = sorted(v for k, v in found.items() if is_remote(k))
    # How the call was lined up: the corrections and every estimate of the call's place against its echo.
    why = (f"shifts {[round(s / SAMPLE_RATE, 2) for s in paired.call_shifts]} s; gate delay {pipe.engine.echo.stats.delay_s}; "
           f"gate delays {delays}; estimates (lag s, r, room-call dB) "
           f"{[(round(a, 2), round(b, 2), round(g, 1)) for a, b, g in paired.aligner.estimates]}; "
           f"gate realignments {pipe.engine.echo.stats.realignments}")
    print(why)
    assert len(room_found) == 2 and len(remote_found) == 2, (found, why)  # no call voice twice
    assert room_found == pytest.approx(sorted(v for k, v in ref.items() if k.startswith("room:")), abs=3.0), why
    assert remote_found == pytest.approx(sorted(v for k, v in ref.items() if k.startswith("call:")), abs=3.0), why
    # While the meeting played, the gate ended on the echo's delay: 0.1 s after a correction. (After the
    # meeting, when both sides fall silent, its estimate may wander: no call speech is left to gate.)
    assert delays[-1] is not None and 0.0 <= delays[-1] <= 0.6, why
    if paired.call_shifts:
        assert delays[-1] == pytest.approx(0.1, abs=0.06), why
    assert pipe.engine.echo.stats.realignments == len(paired.call_shifts), why  # the gate learned of each correction


@pytest.mark.audio
def test_a_missing_call_device_is_reported_and_the_room_goes_on(pulse_server: PulseServer, tmp_path: Path) -> None:
    room = write_wav(tmp_path / "room.wav", render([(0, 0.5, 8.0)], 10.0))
    src = PairedSource(FileSource(room), LiveInput(lambda: PulseSource("no_such_sink.monitor"), retry_s=0.5, label="call"))
    src.start()
    t0 = time.monotonic()
    got = read_to_end(src, 0.2)
    src.stop()
    assert sum(len(c.samples) for c in got) == 10 * SAMPLE_RATE
    assert time.monotonic() - t0 < 6.0  # the room did not wait for a call that is not there
    assert "no_such_sink.monitor" in src.call_state and src.call_state.startswith("no call audio")


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"call_device": "x.monitor", "call_input": "call.wav"}, "not both"),
        ({"call_input": "call.wav", "device": "pulse"}, "beside a room recording"),
        ({"call_device": "x.monitor", "input": "room.wav"}, "beside a room microphone"),
    ],
)
def test_settings_say_which_inputs_go_together(given: dict[str, str], message: str) -> None:
    from pydantic import ValidationError

    from api.settings import Settings

    with pytest.raises(ValidationError, match=message):
        Settings(**given)  # type: ignore[arg-type]


@pytest.mark.audio
def test_report_of_a_hybrid_meeting_shows_the_room_and_the_call(hybrid_meeting: Path, tmp_path: Path) -> None:
    """`analyze --call --save`, then the report: remote people marked, the split read out."""
    env = {**os.environ, "TALKTIME_DATA_DIR": str(tmp_path / "data")}

    def talktime(*args: str) -> str:
        proc = subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True, cwd=ROOT, env=env)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    talktime("analyze", str(hybrid_meeting / "room.wav"), "--call", str(hybrid_meeting / "call.wav"), "--mode", "live",
             "--save", "--title", "Hybrid")
    data = json.loads(talktime("report", "--format", "json"))
    people = data["people"]
    assert sorted(p["remote"] for p in people) == [False, False, True, True]
    assert any("on the call" in line and "in the room" in line.lower() for line in data["reading"])
    html = talktime("report", "--format", "html", "-o", "-")
    assert html.count("(remote)") == 2


class OutageSource:
    """A call source whose device vanishes for ``outage`` reads after ``before`` chunks, then comes
    back stamping on from where it stopped (as a retrying LiveInput does)."""

    def __init__(self, items: list[AudioChunk], *, before: int, outage: int) -> None:
        self.items, self.before, self.outage = list(items), before, outage
        self.stats = SourceStats()
        self.reads = 0
        self.status = "ok"

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def read(self, timeout: float) -> AudioChunk | None:
        self.reads += 1
        if self.before <= self.reads - 1 < self.before + self.outage:
            self.status = "no microphone: gone"
            return None
        self.status = "ok"
        if not self.items:
            raise EndOfStream
        return self.items.pop(0)


def test_the_call_lines_up_again_after_an_outage() -> None:
    room = np.zeros(30 * 1600, dtype=np.float32)
    call = np.ones(30 * 1600, dtype=np.float32)  # restamped: the outage leaves no gap in its clock
    src = PairedSource(ListSource(chunks(room, 1600)), OutageSource(chunks(call, 1600), before=5, outage=10), wait_s=0.0)
    src.start()
    refs = []
    for _ in range(30):
        c = src.read(0.1)
        assert c is not None
        refs.append(c.reference if c.reference is not None else np.zeros(1600, np.float32))
    got = [float(np.mean(r)) for r in refs]
    assert got[:5] == [1.0] * 5
    assert got[5:15] == [0.0] * 10  # during the outage: silence beside the room
    assert got[-5:] == [1.0] * 5, got  # after it: the call is heard again


def test_talk_that_starts_a_hybrid_meeting_keeps_the_call_beside_it() -> None:
    """With --start-on-speech, the buffered first words reach the pipeline with the call's audio, so
    the echo gate can still tell the call's echo from the room (``SpeechOnset`` and ``LiveInput``)."""
    from tracker.stages.onset import SpeechOnset
    from tracker.stages.vad import VoiceActivityDetector

    room = render([(0, 3.0, 6.0)], 8.0)
    call = render([(1, 0.5, 7.5)], 8.0)
    onset = SpeechOnset(VoiceActivityDetector(FAKE_CONFIG.vad, model=EnergyVad()), quiet_s=0.0)
    talk = None
    for c in chunks(room, 1600):
        talk = talk or onset(AudioChunk(c.samples, c.start_sample, reference=call[c.start_sample : c.end_sample]))
    assert talk is not None and talk.reference is not None
    first = talk.start_sample
    assert np.array_equal(talk.samples, room[first : talk.end_sample])
    assert np.array_equal(talk.reference, call[first : talk.end_sample])


def test_a_live_hybrid_meeting_keeps_no_window_history_on_either_side(fake_encoder: FakeEncoder) -> None:
    room, call = hybrid_fixture()
    pipe = fake_hybrid(fake_encoder)
    pipe.keep_history = False  # as a live MeetingSession sets it
    for c in chunks(room, 1600):
        step(pipe, AudioChunk(c.samples, c.start_sample, reference=call[c.start_sample : c.end_sample]))
    assert pipe.engine.room_engine.diarizer.records == [] and pipe.engine.call_engine.diarizer.records == []


def test_a_hybrid_meeting_sums_the_background_both_sides_set_aside(fake_encoder: FakeEncoder) -> None:
    pipe = fake_hybrid(fake_encoder)
    assert pipe.background_s == 0.0  # lite engines never set any aside
    pipe.engine.room_engine.background_samples = to_samples(3.0)  # type: ignore[union-attr]
    pipe.engine.call_engine.background_samples = to_samples(1.5)  # type: ignore[union-attr]
    assert pipe.background_s == 4.5
