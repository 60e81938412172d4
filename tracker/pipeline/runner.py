"""Wiring: a source feeds the pipeline (engine -> accounting) in one worker thread.

The microphone and a file take exactly the same path: ``Runner.run`` reads chunks from any
``Source`` and pushes them through ``Pipeline``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tracker.pipeline.pipeline import Pipeline
from tracker.segments import SpeakerSegment
from tracker.stages.accounting import Accountant
from tracker.sources.base import AudioInputError, EndOfStream, Source

log = logging.getLogger("talktime")

DRAIN_WAIT_S = 0.02  # seconds; while draining, a read that waits longer than this is new audio, not queued


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

    @contextmanager
    def figures(self) -> Iterator[Accountant]:
        """The pipeline's figures, held still while the block reads or changes them (from any
        thread: the worker counts the next chunk after the block)."""
        with self.lock:
            yield self.pipeline.accountant

    @contextmanager
    def held(self) -> Iterator[Pipeline]:
        """The pipeline between two chunks' figures, for a block that changes what it keeps."""
        with self.lock:
            yield self.pipeline

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
