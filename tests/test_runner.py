"""The runner: a file and a microphone take the same path; threads start, stop and fail cleanly.

The last test captures for real: a meeting is played into a PulseAudio null sink and the
microphone source records its monitor while the full pipeline runs (about 30 s).
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import DATA, PulseServer
from fakes import FAKE_CONFIG, EnergyVad, FakeEncoder, load_rttm, render, rttm_shares, write_wav, step
from tracker.audio import SAMPLE_RATE, AudioChunk
from tracker.pipeline.build import lite_pipeline
from tracker.pipeline.pipeline import Pipeline
from tracker.pipeline.runner import Runner
from tracker.sources.base import BLOCK_SAMPLES, AudioInputError, EndOfStream, SourceStats, _Resampler
from tracker.sources.files import FileSource
from tracker.sources.microphone import MicrophoneSource
from tracker.segments import SpeakerSegment

TURNS = [(0, 0.5, 5.5), (1, 6.0, 10.0), (0, 10.5, 14.0), (1, 14.5, 19.0), (0, 19.5, 23.5)]


@pytest.fixture
def meeting_wav(tmp_path: Path) -> Path:
    return write_wav(tmp_path / "tones.wav", render(TURNS, 24.0))


def fresh_pipeline() -> Pipeline:
    return lite_pipeline(FAKE_CONFIG, vad_model=EnergyVad(), encoder=FakeEncoder())


class FedMicrophone(MicrophoneSource):
    """The microphone's read path (queue, clock, resampler) fed by a test instead of PortAudio."""

    def __init__(self, audio: np.ndarray) -> None:
        super().__init__(max_queue_blocks=10_000)
        self._audio = audio

    def start(self) -> None:
        self._resample = _Resampler(SAMPLE_RATE)
        self._stream = object()
        for i in range(0, len(self._audio), BLOCK_SAMPLES):
            self._callback(self._audio[i : i + BLOCK_SAMPLES, None], BLOCK_SAMPLES, None, None)

    def stop(self) -> None:
        pass

    def read(self, timeout: float) -> AudioChunk | None:
        if self._queue.empty():
            raise EndOfStream
        return super().read(timeout)


def talk(segs: list[SpeakerSegment]) -> dict[int, int]:
    out: dict[int, int] = {}
    for s in segs:
        out[s.speaker] = out.get(s.speaker, 0) + s.duration_samples
    return out


def test_a_file_and_a_microphone_give_identical_segments(meeting_wav: Path) -> None:
    audio, _ = sf.read(str(meeting_wav), dtype="float32")
    by_file, by_mic = fresh_pipeline(), fresh_pipeline()
    Runner(FileSource(meeting_wav), by_file).run()  # 2 s blocks, as fast as possible
    Runner(FedMicrophone(audio), by_mic).run()  # 0.1 s blocks through the callback queue
    assert by_file.segments == by_mic.segments
    assert by_file.accountant.clock_samples == by_mic.accountant.clock_samples == len(audio)


def test_a_file_and_a_microphone_give_identical_accounting(meeting_wav: Path) -> None:
    audio, _ = sf.read(str(meeting_wav), dtype="float32")
    by_file, by_mic = fresh_pipeline(), fresh_pipeline()
    Runner(FileSource(meeting_wav), by_file).run()
    Runner(FedMicrophone(audio), by_mic).run()
    assert by_file.accountant.summary() == by_mic.accountant.summary()


def test_the_meeting_lasts_as_long_as_the_audio(meeting_wav: Path) -> None:
    pipeline = fresh_pipeline()
    Runner(FileSource(meeting_wav), pipeline).run()
    group = pipeline.accountant.summary().group
    assert group.duration_s == pytest.approx(24.0)
    assert group.silence_s == pytest.approx(24.0 - group.speech_s)


def test_runner_reports_every_segment_and_totals_are_sample_exact(meeting_wav: Path) -> None:
    pipeline = fresh_pipeline()
    batches: list[list[SpeakerSegment]] = []
    runner = Runner(FileSource(meeting_wav, block_samples=BLOCK_SAMPLES), pipeline, on_segments=batches.append)
    runner.run()
    assert runner.error is None and runner.processing_s > 0
    assert [s for b in batches for s in b] == pipeline.segments
    summary = pipeline.accountant.summary()
    assert {s.id: round(s.talk_time_s * SAMPLE_RATE) for s in summary.speakers} == talk(pipeline.segments)
    assert sorted(s.talk_time_s for s in summary.speakers) == pytest.approx([8.5, 12.5], abs=0.6)


def test_the_end_of_input_is_signalled_by_an_empty_list(meeting_wav: Path) -> None:
    batches: list[list[SpeakerSegment]] = []
    Runner(FileSource(meeting_wav), fresh_pipeline(), on_segments=batches.append).run()
    assert batches[-1] == []


def test_stop_ends_a_realtime_stream_promptly_and_flushes(meeting_wav: Path) -> None:
    pipeline = fresh_pipeline()
    runner = Runner(FileSource(meeting_wav, realtime=True), pipeline, read_timeout_s=0.1)
    runner.start()
    time.sleep(3.0)  # in the middle of the first turn
    t0 = time.monotonic()
    runner.stop(timeout=5.0)
    assert time.monotonic() - t0 < 1.0
    assert runner._thread is not None and not runner._thread.is_alive()  # noqa: SLF001
    clock = pipeline.accountant.clock_samples
    assert 2.5 * SAMPLE_RATE < clock < 4.0 * SAMPLE_RATE
    # The flush decided the speech still pending (the live diarizer lags by about a second).
    assert max(s.end_sample for s in pipeline.segments) > clock - 0.2 * SAMPLE_RATE


class FailingSource:
    """Delivers a few chunks, then the device goes away."""

    def __init__(self, audio: np.ndarray, fail_after: int) -> None:
        self.stats = SourceStats()
        self.audio = audio
        self.fail_after = fail_after
        self.position = 0
        self.stopped = False

    def start(self) -> None:
        pass

    def read(self, timeout: float) -> AudioChunk | None:
        if self.position >= self.fail_after:
            raise AudioInputError("the audio input device stopped delivering audio (unplugged?)")
        chunk = AudioChunk(self.audio[self.position : self.position + BLOCK_SAMPLES], self.position)
        self.position += BLOCK_SAMPLES
        return chunk

    def stop(self) -> None:
        self.stopped = True


def test_an_input_failure_is_recorded_and_what_was_heard_is_kept() -> None:
    source = FailingSource(render(TURNS, 24.0), fail_after=12 * SAMPLE_RATE)
    pipeline = fresh_pipeline()
    batches: list[list[SpeakerSegment]] = []
    runner = Runner(source, pipeline, on_segments=batches.append)
    runner.run()
    assert isinstance(runner.error, AudioInputError)
    assert source.stopped
    assert len(talk(pipeline.segments)) == 2
    assert max(s.end_sample for s in pipeline.segments) <= 12 * SAMPLE_RATE


def test_a_device_that_cannot_be_opened_is_recorded_not_raised() -> None:
    class Unopenable(FailingSource):
        def start(self) -> None:
            raise AudioInputError("no audio input device found; expected a microphone")

    source = Unopenable(np.zeros(0, np.float32), 0)
    runner = Runner(source, fresh_pipeline())
    runner.run()
    assert isinstance(runner.error, AudioInputError) and source.stopped


def test_runner_waits_for_a_silent_microphone_without_spinning() -> None:
    class Silent(FailingSource):
        def read(self, timeout: float) -> AudioChunk | None:
            time.sleep(timeout)
            return None

    runner = Runner(Silent(np.zeros(0, np.float32), 0), fresh_pipeline(), read_timeout_s=0.05)
    cpu0 = time.process_time()
    runner.start()
    time.sleep(0.5)
    runner.stop()
    assert time.process_time() - cpu0 < 0.25
    assert runner.error is None


def test_readers_in_other_threads_see_a_consistent_pipeline(meeting_wav: Path) -> None:
    pipeline = fresh_pipeline()
    runner = Runner(FileSource(meeting_wav, block_samples=BLOCK_SAMPLES), pipeline)
    seen: list[int] = []
    wrong: list[tuple[int, int]] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            with runner.lock:
                total = sum(s.duration_samples for s in pipeline.segments)
                total += sum(s.duration_samples for s in pipeline.accountant.provisional)  # shown, not yet decided
                summary = pipeline.accountant.summary()
            shown = sum(round(s.talk_time_s * SAMPLE_RATE) for s in summary.speakers)
            if shown != total:
                wrong.append((shown, total))
            seen.append(total)
            time.sleep(0.001)

    t = threading.Thread(target=reader)
    t.start()
    runner.run()
    done.set()
    t.join()
    assert seen and not wrong


# --------------------------------------------------------------------------- real capture


class Recording:
    """A source wrapper that keeps every chunk it delivers."""

    def __init__(self, inner: MicrophoneSource) -> None:
        self.inner = inner
        self.stats = inner.stats
        self.chunks: list[AudioChunk] = []

    def start(self) -> None:
        self.inner.start()

    def read(self, timeout: float) -> AudioChunk | None:
        chunk = self.inner.read(timeout)
        if chunk is not None:
            self.chunks.append(chunk)
        return chunk

    def stop(self) -> None:
        self.inner.stop()


def _best_lag(captured: np.ndarray, original: np.ndarray) -> tuple[int, float]:
    """Where ``original`` starts in ``captured`` (samples; negative if the capture began after it)
    and the normalised correlation of the two at that lag."""
    n = len(captured) + len(original)
    xc = np.fft.irfft(np.fft.rfft(captured, n) * np.conj(np.fft.rfft(original, n)), n)
    k = int(np.argmax(xc))
    lag = k if k < len(captured) else k - n
    seg, ref = (captured[lag:], original) if lag >= 0 else (captured, original[-lag:])
    m = min(len(seg), len(ref))
    seg, ref = seg[:m], ref[:m]
    return lag, float(seg @ ref / (np.linalg.norm(seg) * np.linalg.norm(ref) + 1e-12))


@pytest.mark.audio
@pytest.mark.models
def test_live_capture_of_a_meeting_played_into_the_room(
    pulse_server: PulseServer, pipeline: Pipeline, tmp_path: Path
) -> None:
    wav = DATA / "meeting2.wav"
    pipeline.reset()
    source = Recording(MicrophoneSource(device="pulse"))
    runner = Runner(source, pipeline, read_timeout_s=0.2)
    runner.start()
    deadline = time.monotonic() + 10
    while source.inner._stream is None and runner.error is None and time.monotonic() < deadline:  # noqa: SLF001
        time.sleep(0.05)
    assert runner.error is None and source.inner._stream is not None, f"capture did not start: {runner.error}"  # noqa: SLF001
    t0 = time.monotonic()
    player = pulse_server.play(wav)
    assert player.wait(timeout=90) == 0
    played_s = time.monotonic() - t0
    time.sleep(1.0)
    runner.stop()
    assert runner.error is None
    live_segments = list(pipeline.segments)
    live = pipeline.accountant.summary()

    # The capture is the file, in real time, without gaps or drops.
    duration = sf.info(str(wav)).duration
    assert duration - 0.5 < played_s < duration + 3.0
    assert source.stats.dropped_blocks == 0
    assert source.inner.device_name == "pulse"
    starts = [c.start_sample for c in source.chunks]
    assert starts == list(np.cumsum([0] + [len(c.samples) for c in source.chunks[:-1]]))
    captured = np.concatenate([c.samples for c in source.chunks])
    original, _ = sf.read(str(wav), dtype="float32")
    lag, corr = _best_lag(captured, original)
    assert corr > 0.99 and abs(lag) < 3 * SAMPLE_RATE

    # The microphone's path gives exactly what the file path gives for the same audio in the same
    # blocks. NB: the engine decides once per block, so its segments are cut where blocks end, and a
    # frame decided later has heard more: a file read in larger blocks is cut elsewhere.
    replay = tmp_path / "captured.wav"
    sf.write(str(replay), captured, SAMPLE_RATE, subtype="FLOAT")
    assert {len(c.samples) for c in source.chunks[:-1]} == {BLOCK_SAMPLES}
    pipeline.reset()
    Runner(FileSource(replay, block_samples=BLOCK_SAMPLES), pipeline).run()
    assert len(live_segments) > 10 and pipeline.segments == live_segments

    # And it heard the two people. NB: where the capture starts shifts the analysis windows, and
    # for some starts a third voice is founded at a change of speaker (see test_analysis.py's
    # xfail); so here the two main voices must be the two people and any third one stays small.
    ref = load_rttm(DATA / "meeting2.rttm")
    assert live.group.speech_s == pytest.approx(sum(b - a for _, a, b in ref), rel=0.2)
    people = sorted((s for s in live.speakers if s.present), key=lambda s: -s.talk_time_s)
    truth = sorted(rttm_shares(DATA / "meeting2.rttm").values(), reverse=True)
    assert 2 <= len(people) <= 3
    assert [p.share for p in people[:2]] == pytest.approx(truth, abs=0.15)
    assert sum(p.share for p in people[2:]) < 0.15


class _FailingEncoder(FakeEncoder):
    """Works for a few batches, then raises: a model that breaks mid-meeting."""

    def __init__(self, good_calls: int) -> None:
        super().__init__()
        self.good_calls = good_calls

    def embed(self, waveforms: list[np.ndarray]) -> np.ndarray:
        if self.good_calls <= 0:
            raise RuntimeError("the model broke")
        self.good_calls -= 1
        return super().embed(waveforms)


def test_a_failing_stage_is_recorded_and_the_figures_are_kept(meeting_wav: Path) -> None:
    pipeline = lite_pipeline(FAKE_CONFIG, vad_model=EnergyVad(), encoder=_FailingEncoder(good_calls=30))
    ends: list[list[SpeakerSegment]] = []
    runner = Runner(FileSource(meeting_wav, block_samples=BLOCK_SAMPLES), pipeline, on_segments=ends.append)
    runner.run()  # the worker thread's loop, in this thread: it must return, not raise
    assert isinstance(runner.error, RuntimeError)
    assert ends and ends[-1] == []  # the end is still signalled
    assert pipeline.accountant.summary().group.speech_s > 0  # what was decided before the failure stays


def test_a_merge_during_the_meeting_holds_for_what_is_decided_later(meeting_wav: Path) -> None:
    pipeline = fresh_pipeline()
    src = FileSource(meeting_wav, block_samples=BLOCK_SAMPLES)
    merged = False
    after = 0
    while True:
        try:
            chunk = src.read(0)
        except EndOfStream:
            break
        assert chunk is not None
        step(pipeline, chunk)
        voices = {s.speaker for s in pipeline.accountant.timeline}
        if not merged and len(voices) == 2:
            keep, gone = sorted(voices)
            pipeline.merge(keep, gone)
            merged = True
            after = len(pipeline.segments)
    pipeline.flush()
    assert merged
    assert gone not in {s.speaker for s in pipeline.accountant.timeline}
    assert gone not in {s.speaker for s in pipeline.segments[after:]}
    assert keep in {s.speaker for s in pipeline.segments[after:]}


def test_after_a_dropped_block_every_sample_keeps_its_exact_time() -> None:
    """The pipeline fell behind and the callback dropped blocks: the blocks read afterwards are
    stamped where they were captured, never early, and the clock still counts the dropped time."""
    audio = np.arange(40 * BLOCK_SAMPLES, dtype=np.float32) / (40 * BLOCK_SAMPLES)  # a sample's value tells its time
    mic = MicrophoneSource(max_queue_blocks=4)
    mic._resample = _Resampler(SAMPLE_RATE)
    mic._stream = object()
    chunks = []

    class ReaderRunsMidDrop(queue.Queue):  # type: ignore[type-arg]
        """The reading thread takes the next block while the callback is dropping the oldest one."""

        def get_nowait(self) -> object:
            item = super().get_nowait()
            chunk = mic.read(0)
            assert chunk is not None
            chunks.append(chunk)
            return item

    mic._queue = ReaderRunsMidDrop(maxsize=4)
    for i in range(40):
        mic._callback(audio[i * BLOCK_SAMPLES : (i + 1) * BLOCK_SAMPLES, None], BLOCK_SAMPLES, None, None)
        if i % 3 == 0:  # the reader keeps up with one block in three
            chunk = mic.read(0)
            assert chunk is not None
            chunks.append(chunk)
    while (chunk := mic.read(0)) is not None:
        chunks.append(chunk)
    assert mic.stats.dropped_blocks > 0
    for c in chunks:
        assert np.array_equal(c.samples, audio[c.start_sample : c.end_sample])
    assert chunks[-1].end_sample == len(audio)


def test_a_change_of_provisional_speech_is_announced_between_releases(meeting_wav: Path) -> None:
    """The dashboard follows talk chunk by chunk: a chunk that releases nothing but changes what
    is shown provisionally calls ``on_provisional``; one that changes nothing stays quiet."""
    pipeline = fresh_pipeline()
    events: list[tuple[str, int, tuple[SpeakerSegment, ...]]] = []
    runner = Runner(
        FileSource(meeting_wav, block_samples=BLOCK_SAMPLES),
        pipeline,
        on_segments=lambda segs: events.append(("segments", len(segs), tuple(pipeline.accountant.provisional))),
        on_provisional=lambda: events.append(("provisional", 0, tuple(pipeline.accountant.provisional))),
    )
    runner.run()
    shown = [e for e in events if e[0] == "provisional"]
    assert len(shown) >= 20  # 24 s of talk and pauses in 0.1 s chunks: the picture changes often
    assert all(e[2] for e in shown[:1])  # the first announcement shows speech before any release
    previous: tuple[SpeakerSegment, ...] | None = None
    for kind, _, prov in events:
        if kind == "provisional":
            assert prov != previous  # announced only when something changed
        previous = prov
    assert events[-1][:2] == ("segments", 0)
