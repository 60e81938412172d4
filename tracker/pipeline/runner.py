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
from tracker.pipeline.profiles import KnownVoices
from tracker.sources.base import AudioInputError, EndOfStream, Source
from tracker.stages.accounting import AccountingConfig, Accountant
from tracker.stages.diarization import DiarizationConfig, SpeakerSegment, StreamingDiarizer
from tracker.stages.reclustering import ReclusteringConfig, recluster
from tracker.stages.vad import VadConfig, VoiceActivityDetector

log = logging.getLogger("talktime")

DRAIN_WAIT_S = 0.02  # seconds; while draining, a read that waits longer than this is new audio, not queued


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

    The slow part (``decide``: the models) and the quick part (``account``: the figures) are
    separate so a live runner holds its lock only for the quick part; ``__call__`` does both.

    Speech not yet attributed for good is credited to its likeliest voice as provisional speech
    (``Accountant.provisional``): the room sees talk a fraction of a second after it is said, and
    the diarizer's decision, about a second later, replaces it. Decided figures never include it.

    ``keep_history`` (default True) keeps what ``analyze`` needs afterwards: ``segments`` as
    decided and the diarizer's window records for the post-meeting pass. A live meeting turns it
    off: its report is built from the stored segments, and 8 hours of windows would be ~125 MB.
    """

    def __init__(self, config: PipelineConfig, *, vad_model: FrameVadModel, encoder: SpeakerEncoder) -> None:
        self.config = config
        self.vad = VoiceActivityDetector(config.vad, model=vad_model)
        self.diarizer = StreamingDiarizer(config.diarization, encoder=encoder)
        self.accountant = Accountant(config.accounting)
        self.known: KnownVoices | None = None  # enrolled people (tracker.pipeline.profiles); set with use_profiles
        self.keep_history = True
        self.reset()

    @property
    def keep_history(self) -> bool:
        return self._keep_history

    @keep_history.setter
    def keep_history(self, keep: bool) -> None:
        self._keep_history = keep
        for diarizer in self._diarizers():
            diarizer.keep_records = keep

    def _diarizers(self) -> list[StreamingDiarizer]:
        """Every diarizer of the pipeline (a hybrid one has two)."""
        return [self.diarizer]

    def reset(self) -> None:
        self.vad.reset()
        self.diarizer.reset()
        self.accountant.reset()
        self.segments: list[SpeakerSegment] = []  # what the live pipeline decided, as decided
        self._merged: dict[int, int] = {}  # voice merged away -> the voice it now counts as
        self._merge_requests: list[tuple[int, int]] = []  # for the diarizer, applied in its own thread
        self._undecided: list[SpeakerSegment] = []  # provisional speech found by the last ``decide``
        if self.known is not None:
            self.known.seed(self.diarizer, self.accountant)

    def use_profiles(self, known: KnownVoices | None) -> None:
        """Recognise enrolled people from now on (seeds them at once and after every reset)."""
        self.known = known
        self.reset()

    def _alias(self, speaker: int) -> int:
        while speaker in self._merged:
            speaker = self._merged[speaker]
        return speaker

    def decide(self, chunk: AudioChunk) -> list[SpeakerSegment]:
        """The models' part of one chunk: VAD and diarization (touches no figure)."""
        requests, self._merge_requests = self._merge_requests, []
        for keep, gone in requests:
            self.diarizer.merge(keep, gone)
        segs = self.diarizer(chunk, self.vad(chunk))
        self._undecided = self.diarizer.undecided(self.vad.tentative())
        return segs

    def decide_rest(self) -> list[SpeakerSegment]:
        """End of stream: the models decide everything still pending."""
        self._undecided = []
        return self.diarizer.flush(self.vad.flush())

    def account(self, segs: list[SpeakerSegment], *, start: int | None = None, end: int | None = None) -> list[SpeakerSegment]:
        """Add decided segments to the figures; ``start``/``end`` are the chunk's samples."""
        if start is not None:
            self.accountant.begin(start)
        segs = [SpeakerSegment(self._alias(s.speaker), s.start_sample, s.end_sample) for s in segs] if self._merged else segs
        if self._keep_history:
            self.segments += segs
        self.accountant.add(segs)
        self.accountant.set_provisional(
            SpeakerSegment(self._alias(s.speaker), s.start_sample, s.end_sample) for s in self._undecided
        )
        if self.known is not None and segs:
            for keep, gone in self.known.update(self.diarizer, self.accountant, segs):
                self.merge(keep, gone)
        self.accountant.advance(self.accountant.clock_samples if end is None else end)
        return segs

    def __call__(self, chunk: AudioChunk) -> list[SpeakerSegment]:
        """Process one chunk; return the speaker segments decided because of it."""
        return self.account(self.decide(chunk), start=chunk.start_sample, end=chunk.end_sample)

    def flush(self) -> list[SpeakerSegment]:
        """End of stream: decide everything still pending."""
        return self.account(self.decide_rest())

    def final_segments(self) -> list[SpeakerSegment]:
        """The post-meeting answer: the live labels revisited with hindsight (see ``recluster``)."""
        return [
            SpeakerSegment(self._alias(s.speaker), s.start_sample, s.end_sample)
            for s in recluster(self.diarizer.records, self.config.reclustering)
        ]

    def merge(self, keep: int, gone: int) -> None:
        """Credit voice ``gone`` to ``keep`` from now on and in the past.

        The figures change at once; the diarizer folds the voices before its next chunk, in its
        own thread, and anything it decides for ``gone`` meanwhile is counted as ``keep``.
        """
        self._merged[gone] = keep
        self._merge_requests = [*self._merge_requests, (keep, gone)]
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
    with an empty list at the end; ``on_provisional`` after a chunk that released nothing but
    changed the provisional speech (talk shown before it is attributed for good), so a dashboard
    can follow the room chunk by chunk. ``lock`` guards the pipeline for readers in other threads.
    """

    def __init__(
        self,
        source: Source,
        pipeline: Pipeline,
        *,
        on_segments: Callable[[list[SpeakerSegment]], None] | None = None,
        on_provisional: Callable[[], None] | None = None,
        read_timeout_s: float = 0.5,
    ) -> None:
        self.source = source
        self.pipeline = pipeline
        self.on_segments = on_segments
        self.on_provisional = on_provisional
        self.read_timeout_s = read_timeout_s
        self.lock = threading.RLock()
        self.processing_s = 0.0  # CPU-bound wall time spent inside the pipeline
        self.error: Exception | None = None
        self._stop = threading.Event()
        self._drain = threading.Event()
        self._thread: threading.Thread | None = None

    def _emit(self, segs: list[SpeakerSegment]) -> None:
        if self.on_segments is not None:
            self.on_segments(segs)

    def run(self) -> None:
        """Process until the source ends or ``stop()`` is called; then flush.

        Any failure ends the run with ``error`` set (and logged) instead of killing the thread
        silently; what was decided so far is kept and flushed.
        """
        try:
            self.source.start()
            while not self._stop.is_set():
                draining = self._drain.is_set()
                t_read = time.monotonic()
                try:
                    chunk = self.source.read(0.0 if draining else self.read_timeout_s)
                except EndOfStream:
                    break
                if draining and (chunk is None or time.monotonic() - t_read > DRAIN_WAIT_S):
                    break  # the queue is empty: this chunk (if any) was captured after the end
                if chunk is None:
                    continue
                t0 = time.perf_counter()
                shown = self.pipeline.accountant.provisional
                segs = self.pipeline.decide(chunk)  # NB: the models run outside the lock
                with self.lock:
                    segs = self.pipeline.account(segs, start=chunk.start_sample, end=chunk.end_sample)
                self.processing_s += time.perf_counter() - t0
                if segs:
                    self._emit(segs)
                elif self.on_provisional is not None and self.pipeline.accountant.provisional != shown:
                    self.on_provisional()
        except AudioInputError as exc:
            self.error = exc
            log.error("audio input failed: %s", exc)
        except Exception as exc:  # noqa: BLE001 - the meeting's figures must survive a failing stage
            self.error = exc
            log.exception("the pipeline failed")
        finally:
            self.source.stop()
            try:
                segs = self.pipeline.decide_rest()
                with self.lock:
                    segs = self.pipeline.account(segs)
                if segs:
                    self._emit(segs)
            except Exception:  # noqa: BLE001
                log.exception("the pipeline failed while finishing")
            self._emit([])

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="talktime-pipeline", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0, *, drain: bool = False) -> None:
        """Stop reading and flush. ``drain``: first process the audio already captured and queued
        (a microphone's queue holds up to 5 s when the pipeline lags), then stop at the first read
        that would wait for new audio; at most ``timeout`` seconds are spent on it."""
        if drain and self._thread is not None and self._thread.is_alive():
            self._drain.set()
            self._thread.join(timeout)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
