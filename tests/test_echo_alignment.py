"""A call that reaches the pairing late (or far too early) is lined up again from its own echo.

Real speech from tests/data: the call is meeting2.wav, the room's own talk is meeting3.wav, and the
room microphone hears the call 50 ms later at -12 dB. The call stream is handed to ``PairedSource``
late by 0.7 s or 1.5 s against its echo, as when the microphone starts slower than the call's
monitor; ``EchoGate`` alone cannot find an echo that comes before the call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from fakes import ListSource, read_to_end
from tracker.audio import REALIGNED_UNKNOWN, SAMPLE_RATE, AudioChunk, Samples, to_samples
from tracker.sources.live import LiveInput
from tracker.sources.paired import PairedSource
from tracker.sources.base import EndOfStream
from tracker.stages.echo import CallAligner, EchoConfig, EchoGate, level_db

DATA = Path(__file__).resolve().parent / "data"
ECHO_DELAY_S = 0.05  # loudspeaker to microphone
ECHO_GAIN = 0.25  # -12 dB
DURATION_S = 40.0
FRAME = to_samples(0.02)
CALL_SPEAKS = [(0.0, 12.0), (18.0, 30.0), (34.0, 40.0)]  # seconds
ROOM_SPEAKS = [(12.0, 18.0), (24.0, 28.0), (30.0, 34.0)]  # 24-28: talk over the call


def cut(samples: Samples, size: int, start: int = 0) -> list[AudioChunk]:
    return [AudioChunk(samples[i : i + size], start + i) for i in range(0, len(samples), size)]


def load(name: str) -> Samples:
    x, rate = sf.read(str(DATA / name), dtype="float32")
    assert rate == SAMPLE_RATE
    return np.asarray(x, dtype=np.float32)


def windowed(x: Samples, spans: list[tuple[float, float]], n: int) -> Samples:
    out = np.zeros(n, np.float32)
    for a, b in spans:
        out[to_samples(a) : to_samples(b)] = x[to_samples(a) : to_samples(b)]
    return out


@pytest.fixture(scope="module")
def meeting() -> tuple[Samples, Samples, Samples]:
    """(room microphone, room talk alone, call) over DURATION_S, all aligned to the room's clock."""
    n = to_samples(DURATION_S)
    m2, m3 = load("meeting2.wav"), load("meeting3.wav")
    call = windowed(np.concatenate([m2, m2])[:n], CALL_SPEAKS, n)
    talk = windowed(m3[:n], ROOM_SPEAKS, n)
    d = to_samples(ECHO_DELAY_S)
    echo = np.concatenate([np.zeros(d, np.float32), call])[:n] * ECHO_GAIN
    noise = np.random.default_rng(0).normal(0, 1e-3, n).astype(np.float32)  # about -60 dBFS
    return (talk + echo + noise).astype(np.float32), talk, call


@dataclass
class Run:
    src: PairedSource
    gate: EchoGate
    read: list[AudioChunk]  # as the pairing gave them
    gated: list[AudioChunk]  # as the gate passed them on
    at: int | None  # the room sample from which the call was read corrected


def run(room: Samples, call: Samples, late_s: float, echo: EchoConfig | None = None, block: int = 1600) -> Run:
    """Room and call through the pairing and the gate, the call stream ``late_s`` behind the room
    (it starts at another sample number, as a device's clock does)."""
    late = np.concatenate([np.zeros(to_samples(late_s), np.float32), call])
    src = PairedSource(ListSource(cut(room, block)), ListSource(cut(late, 640, start=123_456)), echo=echo)
    gate = EchoGate(echo)
    read: list[AudioChunk] = []
    gated: list[AudioChunk] = []
    corrected_at = None
    src.start()
    while True:
        try:
            chunk = src.read(0.1)
        except EndOfStream:
            break
        assert chunk is not None
        if src.call_shifts and corrected_at is None:
            corrected_at = chunk.end_sample
        read.append(chunk)
        gated.append(gate(chunk))
    return Run(src, gate, read, gated, corrected_at)


def frame_db(x: Samples) -> np.ndarray:
    n = len(x) // FRAME
    return level_db(x[: n * FRAME].reshape(n, FRAME))


@pytest.mark.parametrize("late_s", [0.7, 1.5])
def test_a_late_call_is_lined_up_again_and_its_echo_silenced(meeting: tuple[Samples, Samples, Samples], late_s: float) -> None:
    room, talk, call = meeting
    r = run(room, call, late_s + ECHO_DELAY_S)
    src, read, gated, at = r.src, r.read, r.gated, r.at
    # One correction, by the call's lateness plus the 0.1 s lead it is given (within a frame or two).
    assert len(src.call_shifts) == 1, src.aligner.estimates
    assert src.call_shifts[0] == pytest.approx(to_samples(late_s + 0.1), abs=2 * FRAME)
    assert at is not None and at < to_samples(16.0), at / SAMPLE_RATE
    # The room is its own clock: every sample read once, in order, untouched.
    assert [c.start_sample for c in read] == list(range(0, len(room), 1600))
    assert np.array_equal(np.concatenate([c.samples for c in read]), room)
    out = np.concatenate([c.samples for c in gated])
    assert len(out) == len(room) and np.all((out == room) | (out == 0))
    # After the correction the call leads its echo again, within the gate's range.
    ref = np.concatenate([c.reference for c in read if c.reference is not None and c.start_sample >= at])
    assert len(ref) == len(room) - at
    lead = src.call_shifts[0] - to_samples(late_s + ECHO_DELAY_S)  # the call now reads this far ahead of the room
    assert 0 < lead and 0.0 <= ECHO_DELAY_S + lead / SAMPLE_RATE <= 0.6
    # The first chunk read after the correction carries the echo's new delay, and only that one
    # (the first chunk says the new pairing's delay is unknown); the gate relearned the delay from it.
    marks = [(c.start_sample, c.realigned) for c in read if c.realigned is not None]
    assert marks == [(0, REALIGNED_UNKNOWN), (at, to_samples(0.1))]
    assert r.gate.stats.realignments == 1
    assert r.gate.stats.delay_s == pytest.approx(ECHO_DELAY_S + lead / SAMPLE_RATE, abs=0.03)
    assert np.array_equal(ref[: len(call) - at - lead], call[at + lead :])  # contiguous: nothing doubled, one skip
    assert src.call_skipped_samples == src.call_shifts[0]
    # The echo is silenced from 2 s after the correction; the room's own talk, over the call too, is
    # kept as well as when the call was never late (the gate's own limit on double talk).
    echo_only, talk_loud, over = regions(room, talk, at + to_samples(2.0))
    f_out = frame_db(np.concatenate([c.samples for c in gated]))
    f_aligned = frame_db(np.concatenate([c.samples for c in run(room, call, 0.0).gated]))
    assert echo_only.sum() > 300 and talk_loud.sum() > 300 and over.sum() > 50
    assert np.mean(f_out[echo_only] < -99) > 0.9
    assert np.mean(f_out[talk_loud] < -99) < np.mean(f_aligned[talk_loud] < -99) + 0.03 < 0.1
    assert np.mean(f_out[over] < -99) < np.mean(f_aligned[over] < -99) + 0.03


def regions(room: Samples, talk: Samples, after: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames of echo alone (from sample ``after`` on), of loud room talk, and of that talk over the call."""
    f_talk, f_echo = frame_db(talk), frame_db(room - talk)
    echo_only = (np.arange(len(f_talk)) * FRAME >= after) & (f_echo > -45) & (f_talk < -70)
    talk_loud = (f_talk > f_echo + 12) & (f_talk > -40)
    return echo_only, talk_loud, (f_talk > -40) & (f_echo > -45)


def test_a_recording_read_in_long_blocks_is_corrected_as_soon(meeting: tuple[Samples, Samples, Samples]) -> None:
    """A file is read in 2 s blocks: the aligner still estimates every 0.5 s, so the correction
    comes in the block where the live 0.1 s blocks got it."""
    room, _, call = meeting
    live, fast = run(room, call, 0.75), run(room, call, 0.75, block=32_000)
    assert live.src.call_shifts == fast.src.call_shifts and len(fast.src.call_shifts) == 1
    assert live.at is not None and fast.at is not None and 0 <= fast.at - live.at < 32_000
    assert fast.gate.stats.realignments == 1


def test_without_the_correction_the_late_echo_passes(meeting: tuple[Samples, Samples, Samples]) -> None:
    """The control of the test above: with the aligner off, the gate finds no delay and the echo passes."""
    room, talk, call = meeting
    r = run(room, call, 0.7 + ECHO_DELAY_S, echo=EchoConfig(max_shift_s=0.0))
    assert r.src.call_shifts == [] and r.at is None and r.gate.stats.realignments == 0
    f_out = frame_db(np.concatenate([c.samples for c in r.gated]))
    echo_only, _, _ = regions(room, talk, to_samples(12.0))
    assert np.mean(f_out[echo_only] > -99) > 0.15  # with the correction: under 0.1 (the test above)


@pytest.mark.parametrize("delay_s", [0.05, 0.3, 0.55])
def test_an_echo_in_the_normal_range_is_left_alone(meeting: tuple[Samples, Samples, Samples], delay_s: float) -> None:
    room, talk, call = meeting
    d = to_samples(delay_s)
    mic = (talk + np.concatenate([np.zeros(d, np.float32), call])[: len(call)] * ECHO_GAIN).astype(np.float32)
    r = run(mic, call, 0.0)
    assert r.src.call_shifts == [] and r.gate.stats.realignments == 0, r.src.aligner.estimates
    assert r.gate.stats.delay_s == pytest.approx(delay_s, abs=0.03)


def test_unrelated_room_talk_and_call_are_never_shifted() -> None:
    """No echo at all: two different meetings side by side give no clear peak to act on."""
    m2, m3 = load("meeting2.wav"), load("meeting3.wav")
    n = len(m2)
    for room, call in ((m3[:n], m2), (m3[-n:], m2), (m2, m3[-n:])):
        r = run(room, call, 0.0)
        assert r.src.call_shifts == [] and r.gate.stats.realignments == 0, r.src.aligner.estimates


def test_a_call_far_too_early_is_held_back_with_silence(meeting: tuple[Samples, Samples, Samples]) -> None:
    """An echo 1.2 s after the call (beyond the gate's 0.6 s): the call waits, nothing of it is skipped."""
    room, talk, call = meeting
    d = to_samples(1.2)
    mic = (talk + np.concatenate([np.zeros(d, np.float32), call])[: len(call)] * ECHO_GAIN).astype(np.float32)
    r = run(mic, call, 0.0)
    src, read, at = r.src, r.read, r.at
    assert len(src.call_shifts) == 1 and src.call_shifts[0] == pytest.approx(-to_samples(1.1), abs=2 * FRAME)
    assert src.call_skipped_samples == 0
    ref = np.concatenate([c.reference for c in read if c.reference is not None])
    assert len(ref) == len(mic)
    assert at is not None
    wait = -src.call_shifts[0]
    assert np.array_equal(ref[:at], call[:at])
    assert not ref[at : at + wait].any()
    assert np.array_equal(ref[at + wait :], call[at : len(call) - wait])  # the call goes on where it was, later


def test_the_aligner_says_what_it_expected() -> None:
    with pytest.raises(ValueError, match="same length"):
        CallAligner()(np.zeros(10, np.float32), np.zeros(11, np.float32))
    with pytest.raises(ValueError, match="expected max_shift_s >= 0"):
        EchoConfig(shift_target_s=1.0)


def test_a_call_that_sends_the_room_back_is_not_shifted(caplog: pytest.LogCaptureFixture) -> None:
    """A remote participant without echo cancellation sends the room's own voice back 0.4 or 0.8 s
    later, 10 dB down: the envelopes match as an echo's would, with the call after the room. At the
    peak the room is 10 dB louder than the call, far more than a real echo's, so no shift."""
    n = to_samples(DURATION_S)
    talk = load("meeting3.wav")[:n]
    room = (talk + np.random.default_rng(0).normal(0, 1e-3, n)).astype(np.float32)
    for rtt_s in (0.4, 0.8):
        back = np.concatenate([np.zeros(to_samples(rtt_s), np.float32), talk])[:n] * 0.3
        call = (back + np.random.default_rng(1).normal(0, 3e-4, n)).astype(np.float32)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="talktime"):
            r = run(room, call, 0.0)
        assert r.src.call_shifts == [] and r.gate.stats.realignments == 0, list(r.src.aligner.estimates)[-5:]
        # Said once, with the level difference and what was expected, so a user can tell why.
        said = [m for m in caplog.messages if "shift_max_gain_db" in m]
        assert len(said) == 1 and f"{rtt_s:.2f} s after" in said[0] and "at most 6.0 dB louder" in said[0], said
        assert r.src.aligner.refused_loud
        # The control: without the level check the same peak is taken for a late call.
        loose = run(room, call, 0.0, echo=EchoConfig(shift_max_gain_db=100.0))
        assert len(loose.src.call_shifts) == 1 and loose.gate.stats.realignments == 1


def test_the_aligner_keeps_a_bounded_history() -> None:
    aligner = CallAligner()
    assert aligner.estimates.maxlen is not None and aligner.estimates.maxlen <= 1000


def test_a_late_call_paused_through_its_correction_reaches_the_gate(meeting: tuple[Samples, Samples, Samples]) -> None:
    """The call lands 0.8 s late; the meeting is paused from 5 s to 20 s, so the pairing lines the
    call up while its audio is dropped. The mark of the correction still reaches the gate, on the
    first chunk after Start, and the echo is silenced from there as without the pause."""
    room, talk, call = meeting
    late = np.concatenate([np.zeros(to_samples(0.8), np.float32), call])
    paired: list[PairedSource] = []

    def opener() -> PairedSource:
        paired.append(PairedSource(ListSource(cut(room, 1600)), ListSource(cut(late, 640, start=123_456))))
        return paired[-1]

    live = LiveInput(opener, retry=False, label="room + call")
    gate = EchoGate()
    live.start()
    gated: list[AudioChunk] = []
    shifted_paused = None
    for k in range(10_000):
        if k == 50:
            live.counting = False  # Pause after 5 s
        if k == 200:
            live.counting = True  # Start at 20 s
        try:
            chunk = live.read(0.1)
        except EndOfStream:
            break
        if paired[0].call_shifts and shifted_paused is None:
            shifted_paused = not live.counting
        if chunk is not None:
            gated.append(gate(chunk))
    assert shifted_paused is True and len(paired[0].call_shifts) == 1  # the case: the call moved while paused
    assert live.paused_samples == to_samples(15.0)
    marks = [(c.start_sample, c.realigned) for c in gated if c.realigned is not None]
    assert marks == [(0, REALIGNED_UNKNOWN), (to_samples(5.0), to_samples(0.1))] and gate.stats.realignments == 1
    assert gate.stats.delay_s == pytest.approx(0.1, abs=0.03)
    # Echo alone in 20-25 s of the recording (5-10 s of the meeting): silenced as without the pause.
    f_talk, f_echo = frame_db(talk), frame_db(room - talk)
    f_out = frame_db(np.concatenate([c.samples for c in gated]))
    idx = np.arange(len(f_talk))
    echo_only = idx[(idx * FRAME >= to_samples(20.0)) & (idx * FRAME < to_samples(25.0)) & (f_echo > -45) & (f_talk < -70)]
    assert len(echo_only) > 100
    assert np.mean(f_out[echo_only - to_samples(15.0) // FRAME] > -99) < 0.1


def tone_chunk(start: int, n: int = 3200, realigned: int | None = None) -> AudioChunk:
    t = np.arange(n) / SAMPLE_RATE
    x = (0.1 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    return AudioChunk(x, start, reference=x.copy(), realigned=realigned)


def test_a_gap_in_the_stamps_keeps_the_meetings_counts() -> None:
    """Blocks dropped under load make a jump in the stamps: the gate forgets the stream (the
    delay is learned again) but the realignments and frames counted so far stay the meeting's."""
    gate = EchoGate()
    gate(tone_chunk(0, realigned=1600))
    gate(tone_chunk(3200))
    before = gate.stats.frames
    gate(tone_chunk(3200 * 10))  # 1.4 s of blocks dropped
    assert gate.stats.realignments == 1 and gate.stats.frames == before + 3200 // FRAME
    assert gate.stats.delay_s is None  # the stream was forgotten
    gate.reset()  # a new meeting starts the counts again
    assert gate.stats.realignments == 0 and gate.stats.frames == 0


def test_a_call_lined_up_afresh_tells_the_gate_its_delay_is_unknown() -> None:
    """The call's input comes back after an outage and re-stamps from where it stopped: the pairing
    lines it up afresh, and the gate must not keep (or be handed) a delay from before."""
    noise = np.random.default_rng(1).normal(0, 0.05, 16 * 1600).astype(np.float32)
    call = cut(noise[: 5 * 1600], 1600) + cut(noise[5 * 1600 :], 1600)  # the second run starts at 0 again
    src = PairedSource(ListSource(cut(noise, 1600)), ListSource(call))
    src.start()
    out = read_to_end(src, 0.0)
    marks = [(c.start_sample, c.realigned) for c in out if c.realigned is not None]
    assert marks == [(0, REALIGNED_UNKNOWN), (5 * 1600, REALIGNED_UNKNOWN)]  # a new pairing, then the return
    gate = EchoGate()
    gate(tone_chunk(0, realigned=1600))
    assert gate.stats.delay_s == pytest.approx(0.1)
    gate(tone_chunk(3200, realigned=REALIGNED_UNKNOWN))
    assert gate.stats.realignments == 1 and gate.stats.delay_s is None  # searched again, not counted


class OneShift(CallAligner):
    """Asks once, at the first chunk, for the call to be held back by ``shift`` samples."""

    def __init__(self, shift: int) -> None:
        super().__init__()
        self.shift = shift

    def __call__(self, room: Samples, call: Samples) -> int:
        shift, self.shift = self.shift, 0
        return shift


def test_the_corrected_chunk_keeps_its_mark_when_the_call_is_then_lined_up_afresh() -> None:
    """A call held back by more than max_lead_s is lined up afresh when the next chunk is sliced:
    that chunk still carries the correction's mark (it has the corrected audio), the next one
    says the delay is unknown."""
    noise = np.random.default_rng(2).normal(0, 0.05, 8 * 1600).astype(np.float32)
    src = PairedSource(ListSource(cut(noise, 1600)), ListSource(cut(noise, 1600)), max_lead_s=0.2)
    src.aligner = OneShift(-6400)
    src.start()
    out = read_to_end(src, 0.0)
    marks = [(c.start_sample, c.realigned) for c in out if c.realigned is not None]
    assert marks == [(0, REALIGNED_UNKNOWN), (1600, to_samples(0.1)), (3200, REALIGNED_UNKNOWN)]


def test_a_reopened_room_device_tells_the_gate_its_delay_is_unknown() -> None:
    """The room microphone is lost after 4 blocks, while the gate follows a correction's delay
    (0.1 s). ``LiveInput`` opens it again and a new pairing lines the call up afresh: its first
    chunk says the delay is unknown, so the gate searches again instead of keeping the old 0.1 s."""
    noise = np.random.default_rng(3).normal(0, 0.05, 8 * 1600).astype(np.float32)
    paired: list[PairedSource] = []

    def opener() -> PairedSource:
        room = ListSource(cut(noise, 1600), fail_after=None if paired else 4)
        paired.append(PairedSource(room, ListSource(cut(noise, 1600)), wait_s=0.0))
        if len(paired) == 1:
            paired[0].aligner = OneShift(-1600)  # the call held back: the gate is handed 0.1 s
        return paired[-1]

    live = LiveInput(opener, retry_s=0.01, label="room + call")
    gate = EchoGate()
    live.start()
    out: list[AudioChunk] = []
    delays: list[float | None] = []
    for _ in range(1000):
        chunk = live.read(0.05)
        if chunk is not None:
            out.append(gate(chunk))
            delays.append(gate.stats.delay_s)
        if len(out) == 4 + 8:
            break
    live.stop()
    assert len(paired) == 2 and [c.start_sample for c in out] == [i * 1600 for i in range(12)]
    marks = [(c.start_sample, c.realigned) for c in out if c.realigned is not None]
    assert marks == [(0, REALIGNED_UNKNOWN), (1600, to_samples(0.1)), (4 * 1600, REALIGNED_UNKNOWN)]
    assert delays[3] == pytest.approx(0.1)  # the old pairing's delay, up to the loss
    assert delays[4] is None  # searched again from the new pairing's first chunk
    assert gate.stats.realignments == 1


def test_a_new_pairings_first_mark_changes_nothing_at_the_start(meeting: tuple[Samples, Samples, Samples]) -> None:
    """Every pairing marks its first chunk ``REALIGNED_UNKNOWN``; a gate that has seen nothing yet
    gates the meeting exactly as without the mark."""
    room, _, call = meeting
    marked, plain = EchoGate(), EchoGate()
    for i in range(0, len(room), 1600):
        r, c = room[i : i + 1600], call[i : i + 1600]
        got = marked(AudioChunk(r, i, reference=c, realigned=REALIGNED_UNKNOWN if i == 0 else None))
        assert np.array_equal(got.samples, plain(AudioChunk(r, i, reference=c)).samples)
    assert marked.stats == plain.stats and plain.stats.echo_frames > 0


def test_a_mark_inside_a_chunk_is_applied_from_that_sample(meeting: tuple[Samples, Samples, Samples]) -> None:
    """``realigned_at``: the gate passes the chunk's first part as before the mark and takes the
    new delay from the marked sample on, exactly as if the chunk had come in two."""
    room, _, call = meeting
    n = len(room)
    whole, halves = EchoGate(), EchoGate()
    size, k, mark_block = 8000, 4000, 40  # the mark holds from 20.25 s (the call speaks), inside the 41st chunk
    for i in range(0, n, size):
        a, r, c = i, room[i : i + size], call[i : i + size]
        if i // size != mark_block:
            got, want = whole(AudioChunk(r, a, reference=c)), halves(AudioChunk(r, a, reference=c))
            assert np.array_equal(got.samples, want.samples)
            continue
        got = whole(AudioChunk(r, a, reference=c, realigned=to_samples(0.6), realigned_at=k))
        assert whole.stats.realignments == 1 and got.start_sample == a and got.realigned_at == k
        head = halves(AudioChunk(r[:k], a, reference=c[:k]))
        tail = halves(AudioChunk(r[k:], a + k, reference=c[k:], realigned=to_samples(0.6)))
        assert np.array_equal(got.samples, np.concatenate([head.samples, tail.samples]))
    assert whole.stats == halves.stats and whole.stats.delay_s is not None
    with pytest.raises(ValueError, match="realigned_at inside the chunk"):
        AudioChunk(room[:100], 0, reference=call[:100], realigned=1600, realigned_at=100)
