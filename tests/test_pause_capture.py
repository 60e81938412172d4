"""Pause and resume take effect where the microphone was when they were pressed, not when the
pipeline gets round to reading its queue (it may lag by seconds).

The microphone here is ``MicrophoneSource`` itself, fed through its PortAudio callback by the test;
its reads wait until the test lets the pipeline in, so every block is captured before it is read.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest

from api_fixtures import wait_for
from fakes import FAKE_CONFIG, EnergyVad, FakeEncoder, read_to_end, render
from tracker.audio import SAMPLE_RATE, AudioChunk, to_samples
from tracker.sources.live import LiveInput
from tracker.sources.paired import PairedSource
from tracker.pipeline.build import lite_pipeline
from tracker.pipeline.pipeline import Pipeline
from tracker.pipeline.runner import Runner
from tracker.meeting.session import MeetingSession
from tracker.sources.microphone import MicrophoneSource
from tracker.sources.base import BLOCK_SAMPLES, EndOfStream, SourceStats, _Resampler
from tracker.segments import SpeakerSegment

# Voice 0 talks in the parts that count, voice 1 in the part captured while paused.
BEFORE = render([(0, 0.5, 3.5)], 4.0)  # captured while running, read after Pause
PAUSED = render([(1, 0.5, 2.5)], 3.0)  # captured while paused
AFTER = render([(0, 0.5, 1.5)], 2.0)  # captured after Resume


class GatedMicrophone(MicrophoneSource):
    """The microphone's read path (callback queue, stamps, resampler) fed by the test; reads
    wait for ``release`` (a pipeline that lags), and the stream ends when the queue is empty."""

    def __init__(self) -> None:
        super().__init__(max_queue_blocks=10_000)
        self.release = threading.Event()

    def start(self) -> None:
        self._resample = _Resampler(SAMPLE_RATE)
        self._stream = object()
        self.device_name = "fed microphone"

    def stop(self) -> None:
        self._stream = None

    def capture(self, samples: np.ndarray) -> None:
        for i in range(0, len(samples), BLOCK_SAMPLES):
            block = samples[i : i + BLOCK_SAMPLES, None]
            self._callback(block, len(block), None, None)

    def read(self, timeout: float) -> AudioChunk | None:
        if not self.release.wait(timeout):
            return None
        if self._queue.empty():
            raise EndOfStream
        return super().read(timeout)


def fresh_pipeline() -> Pipeline:
    return lite_pipeline(FAKE_CONFIG, vad_model=EnergyVad(), encoder=FakeEncoder())


@pytest.fixture
def mic() -> Iterator[GatedMicrophone]:
    yield GatedMicrophone()


def session_on(mic: GatedMicrophone, *, autostart: bool = True) -> MeetingSession:
    session = MeetingSession(fresh_pipeline(), LiveInput(lambda: mic, retry=False, label="fed microphone"),
                             autostart=autostart)
    session.open()
    wait_for(lambda: session.input.source is mic, what="the microphone to open")
    return session


def read_all(session: MeetingSession, mic: GatedMicrophone) -> None:
    mic.release.set()
    wait_for(lambda: session.input.status == "end of input", what="the queue to be read")
    session.end()


def timeline_of(audio: np.ndarray) -> list[SpeakerSegment]:
    """What the same pipeline makes of ``audio`` read straight through the microphone's path."""
    mic = GatedMicrophone()
    mic.release.set()
    pipeline = fresh_pipeline()
    mic.start()
    mic.capture(audio)
    Runner(LiveInput(lambda: mic, retry=False), pipeline).run()
    return list(pipeline.accountant.timeline)


def test_talk_captured_before_pause_counts_and_talk_after_it_does_not(mic: GatedMicrophone) -> None:
    session = session_on(mic)
    mic.capture(BEFORE)
    session.pause()  # the pipeline has read nothing yet
    mic.capture(PAUSED)
    read_all(session, mic)
    snap = session.snapshot()
    assert snap.clock_s == len(BEFORE) / SAMPLE_RATE  # sample-exact: 4.0 s
    assert snap.input.paused_s == len(PAUSED) / SAMPLE_RATE
    assert session.input.delivered_samples == len(BEFORE)
    assert list(session.pipeline.accountant.timeline) == timeline_of(BEFORE)
    assert sum(p.talk_time_s for p in snap.speakers) == pytest.approx(3.0, abs=0.1)


def test_pause_and_resume_cut_out_exactly_the_audio_captured_between_them(mic: GatedMicrophone) -> None:
    session = session_on(mic)
    mic.capture(BEFORE)
    session.pause()
    mic.capture(PAUSED)
    session.start()  # resumed before the pipeline read anything: the paused talk must still not count
    mic.capture(AFTER)
    read_all(session, mic)
    snap = session.snapshot()
    assert session.input.delivered_samples == len(BEFORE) + len(AFTER)
    assert session.input.paused_samples == len(PAUSED)
    # The meeting's stream is the two counted stretches joined, exactly as if nothing had been between them.
    assert list(session.pipeline.accountant.timeline) == timeline_of(np.concatenate([BEFORE, AFTER]))
    assert [p.talk_time_s for p in snap.speakers] == [pytest.approx(4.0, abs=0.1)]  # voice 1 never counted


def test_audio_captured_before_start_is_not_counted_though_read_after_it(mic: GatedMicrophone) -> None:
    session = session_on(mic, autostart=False)
    mic.capture(PAUSED)  # the room chats before the facilitator starts the meeting
    session.start()
    mic.capture(AFTER)
    read_all(session, mic)
    assert session.input.paused_samples == len(PAUSED)
    assert session.input.delivered_samples == len(AFTER)
    assert list(session.pipeline.accountant.timeline) == timeline_of(AFTER)


class PositionedSource:
    """A source with a capture position the test sets, to cut a chunk at any sample."""

    def __init__(self, chunks: list[AudioChunk]) -> None:
        self.stats = SourceStats()
        self.chunks = chunks
        self.position = 0

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def captured_to(self) -> int:
        return self.position

    def read(self, timeout: float) -> AudioChunk | None:
        if not self.chunks:
            raise EndOfStream
        return self.chunks.pop(0)


def test_a_switch_inside_a_block_cuts_it_at_that_sample_with_the_call_audio_beside_it() -> None:
    n = 1000
    samples = np.linspace(-0.5, 0.5, n, dtype=np.float32)
    reference = np.linspace(0.5, -0.5, n, dtype=np.float32)
    # The second block starts 200 samples after the first ended: the device dropped them.
    src = PositionedSource([AudioChunk(samples[:400], 0, reference=reference[:400]),
                            AudioChunk(samples[600:], 600, reference=reference[600:])])
    live = LiveInput(lambda: src, retry=False)
    live.start()
    src.position = 100
    live.counting = False
    src.position = 300
    live.counting = True
    src.position = 700
    live.counting = False
    src.position = 750
    live.counting = True
    first, second = live.read(0.1), live.read(0.1)
    assert first is not None and second is not None
    assert first.start_sample == 0 and len(first.samples) == 100 + 100  # [0, 100) and [300, 400)
    assert first.reference is not None and len(first.reference) == len(first.samples)
    # The gap [400, 600) counts as time (200 samples), then [600, 700) and [750, 1000) are joined.
    assert second.start_sample == 200 + 200 and len(second.samples) == 100 + 250
    assert live.paused_samples == 200 + 50 and live.delivered_samples == 400 + 350
    assert second.reference is not None
    np.testing.assert_array_equal(second.reference, np.concatenate([reference[600:700], reference[750:]]))
    assert live.counting


@pytest.mark.parametrize("pause_first", [True, False])
def test_a_switch_inside_a_gap_of_dropped_blocks_takes_none_of_the_next_block(pause_first: bool) -> None:
    """Blocks [0, 400) and [600, 1000): the device dropped [400, 600), and Pause (or Start) was
    pressed at 500, inside the gap. The next block is wholly on the new side of the switch."""
    samples = np.linspace(-0.5, 0.5, 1000, dtype=np.float32)
    src = PositionedSource([AudioChunk(samples[:400], 0), AudioChunk(samples[600:], 600)])
    live = LiveInput(lambda: src, retry=False)
    live.start()
    if not pause_first:
        live.counting = False  # nothing open yet: paused from the start
    first = live.read(0.1)
    src.position = 500
    live.counting = not pause_first
    second = live.read(0.1)
    if pause_first:
        assert first is not None and len(first.samples) == 400 and second is None
        assert live.delivered_samples == 500 and live.paused_samples == 500
    else:
        assert first is None and second is not None
        assert second.start_sample == 100 and len(second.samples) == 400  # 100 of the gap counted as time
        assert live.delivered_samples == 500 and live.paused_samples == 500
    assert live.delivered_samples + live.paused_samples == 1000  # every captured sample is one or the other


def test_a_hybrid_room_pauses_at_the_room_microphones_position(mic: GatedMicrophone) -> None:
    call = GatedMicrophone()
    paired = PairedSource(mic, call)
    paired.start()
    mic.capture(np.zeros(to_samples(1.5), np.float32))
    assert paired.captured_to() == mic.captured_to() == to_samples(1.5)


@pytest.mark.parametrize(("pause_at", "start_at", "marked_start", "marked_len"), [
    (2000, 6000, 1600, 400),  # the marked block [1600, 3200) is cut: the mark stays on its counted first part
    (1000, 2400, 1000, 800),  # its first part is paused: the mark goes on its counted rest
    (1000, 4000, 1000, 800),  # the whole marked block is paused: the mark goes on the next chunk emitted
])
def test_a_realigned_mark_reaches_the_first_chunk_emitted_from_it(pause_at: int, start_at: int, marked_start: int,
                                                                   marked_len: int) -> None:
    """A hybrid pairing marks the block from which the call was lined up again (``realigned``).
    Cut at a Pause and a Start, or dropped while paused, the mark is on the first chunk emitted
    from that block on, and on no other."""
    samples = np.linspace(-0.5, 0.5, 6400, dtype=np.float32)
    blocks = [AudioChunk(samples[i : i + 1600], i, reference=samples[i : i + 1600], realigned=1600 if i == 1600 else None)
              for i in range(0, 6400, 1600)]
    src = PositionedSource(blocks)
    live = LiveInput(lambda: src, retry=False)
    live.start()
    src.position = pause_at
    live.counting = False
    src.position = start_at
    live.counting = True
    marked = [c for c in read_to_end(live) if c.realigned is not None]
    assert len(marked) == 1 and marked[0].realigned == 1600
    assert marked[0].start_sample == marked_start and len(marked[0].samples) == marked_len
    assert live.delivered_samples == 6400 - (start_at - pause_at)


class BufferingOnset:
    """Like ``SpeechOnset``: stamps what it is fed in its own stream (from 0) and, at the 8th chunk,
    returns the last second of it as talk (onsets reach up to 10 s back)."""

    def __init__(self) -> None:
        self.fed: list[AudioChunk] = []

    def __call__(self, chunk: AudioChunk) -> AudioChunk | None:
        self.fed.append(chunk)
        if len(self.fed) < 8:
            return None
        audio = np.concatenate([c.samples for c in self.fed])
        ref = np.concatenate([c.reference for c in self.fed if c.reference is not None])
        return AudioChunk(audio[-SAMPLE_RATE:], len(audio) - SAMPLE_RATE, reference=ref[-SAMPLE_RATE:])


def test_a_mark_met_while_waiting_for_talk_holds_from_its_own_sample() -> None:
    """The pairing lines the call up again (block 6, 1.2 s) while the room waits for talk; talk is
    found at block 7 and starts 1 s back, at 0.6 s. The mark must hold from 1.2 s, 0.6 s into the
    chunk emitted, not from its start: audio before it was paired the old way."""
    b = 3200
    blocks = [AudioChunk(np.full(b, 0.01 * i, np.float32), i * b, reference=np.zeros(b, np.float32),
                         realigned=1600 if i == 6 else None) for i in range(12)]
    live = LiveInput(lambda: PositionedSource(blocks), retry=False)
    live.counting = False
    live.onset = BufferingOnset()  # type: ignore[assignment]
    live.start()
    marked = [c for c in read_to_end(live) if c.realigned is not None]
    assert len(marked) == 1 and marked[0].realigned == 1600
    assert marked[0].start_sample == 0 and len(marked[0].samples) == SAMPLE_RATE
    assert marked[0].realigned_at == 6 * b - (8 * b - SAMPLE_RATE)
