"""Wiring: a source feeds the pipeline (VAD -> diarization -> accounting) in one worker thread.

The microphone and a file take exactly the same path: ``Runner.run`` reads chunks from any
``Source`` and pushes them through ``Pipeline``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from models.embedding import ResemblyzerEncoder, SpeakerEncoder
from models.vad import FrameVadModel, load_vad_model
from tracker.audio import AudioChunk
from tracker.sources import AudioInputError, EndOfStream, Source
from tracker.stages.accounting import AccountingConfig, Accountant
from tracker.stages.diarization import DiarizationConfig, SpeakerSegment, StreamingDiarizer
from tracker.stages.reclustering import ReclusteringConfig, recluster
from tracker.stages.vad import VadConfig, VoiceActivityDetector

log = logging.getLogger("talktime")


@dataclass(frozen=True)
class PipelineConfig:
    """The settings of every stage, assembled once at the edge (CLI or app settings)."""

    vad: VadConfig = field(default_factory=VadConfig)
    diarization: DiarizationConfig = field(default_factory=DiarizationConfig)
    accounting: AccountingConfig = field(default_factory=AccountingConfig)
    reclustering: ReclusteringConfig = field(default_factory=ReclusteringConfig)


class Pipeline:
    """VAD -> streaming diarization -> accounting for one audio stream (no I/O, no threads).

    Parameters
    ----------
    config : PipelineConfig
    vad_model : frame VAD model.
    encoder : speaker embedding model.
    """

    def __init__(self, config: PipelineConfig, *, vad_model: FrameVadModel, encoder: SpeakerEncoder) -> None:
        self.config = config
        self.vad = VoiceActivityDetector(config.vad, model=vad_model)
        self.diarizer = StreamingDiarizer(config.diarization, encoder=encoder)
        self.accountant = Accountant(config.accounting)
        self.segments: list[SpeakerSegment] = []  # exactly what the live pipeline decided, as decided

    def reset(self) -> None:
        self.vad.reset()
        self.diarizer.reset()
        self.accountant.reset()
        self.segments = []

    def _take(self, segs: list[SpeakerSegment], position: int) -> list[SpeakerSegment]:
        self.segments += segs
        self.accountant.add(segs)
        self.accountant.advance(position)
        return segs

    def __call__(self, chunk: AudioChunk) -> list[SpeakerSegment]:
        """Process one chunk; return the speaker segments decided because of it."""
        self.accountant.begin(chunk.start_sample)
        frames = self.vad(chunk)
        return self._take(self.diarizer(chunk, frames), chunk.end_sample)

    def flush(self) -> list[SpeakerSegment]:
        """End of stream: decide everything still pending."""
        frames = self.vad.flush()
        return self._take(self.diarizer.flush(frames), self.accountant.clock_samples)

    def final_segments(self) -> list[SpeakerSegment]:
        """The post-meeting answer: every window re-clustered with hindsight."""
        return recluster(self.diarizer.records, self.config.reclustering)

    def merge(self, keep: int, gone: int) -> None:
        self.diarizer.merge(keep, gone)
        self.accountant.merge(keep, gone)


def build_pipeline(config: PipelineConfig | None = None, *, encoder: SpeakerEncoder | None = None) -> Pipeline:
    """Load the default models (shipped in pip packages, offline) and build a pipeline."""
    config = config or PipelineConfig()
    enc = encoder or ResemblyzerEncoder()
    enc.warmup()
    return Pipeline(config, vad_model=load_vad_model(config.vad.model), encoder=enc)


class Runner:
    """Reads a source in a loop and feeds the pipeline; used for files and microphones alike.

    ``on_segments`` is called (in the worker thread) with each batch of new segments, and once
    with an empty list at the end. ``lock`` guards the pipeline for readers in other threads.
    """

    def __init__(
        self,
        source: Source,
        pipeline: Pipeline,
        *,
        on_segments: Callable[[list[SpeakerSegment]], None] | None = None,
        read_timeout_s: float = 0.5,
    ) -> None:
        self.source = source
        self.pipeline = pipeline
        self.on_segments = on_segments
        self.read_timeout_s = read_timeout_s
        self.lock = threading.RLock()
        self.processing_s = 0.0  # CPU-bound wall time spent inside the pipeline
        self.error: Exception | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _emit(self, segs: list[SpeakerSegment]) -> None:
        if self.on_segments is not None:
            self.on_segments(segs)

    def run(self) -> None:
        """Process until the source ends or ``stop()`` is called; then flush."""
        try:
            self.source.start()
            while not self._stop.is_set():
                try:
                    chunk = self.source.read(self.read_timeout_s)
                except EndOfStream:
                    break
                if chunk is None:
                    continue
                t0 = time.perf_counter()
                with self.lock:
                    segs = self.pipeline(chunk)
                self.processing_s += time.perf_counter() - t0
                if segs:
                    self._emit(segs)
        except AudioInputError as exc:
            self.error = exc
            log.error("audio input failed: %s", exc)
        finally:
            self.source.stop()
            with self.lock:
                segs = self.pipeline.flush()
            if segs:
                self._emit(segs)
            self._emit([])

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="talktime-pipeline", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
