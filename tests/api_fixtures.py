"""Fakes and helpers for the dashboard's tests: a scripted engine and a hand-fed source.

``ScriptedEngine`` sits behind the engine seam of the real ``Pipeline``; instead of models it says
who speaks when from a script, so figures are exact and known in advance (``scripted_pipeline``).
``FedSource`` delivers exactly the audio a test feeds it, through the ``Source`` protocol.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from tracker.audio import AudioChunk, to_samples
from tracker.sources.live import LiveInput
from tracker.meeting.view import ViewConfig
from tracker.pipeline.engine import Decision
from tracker.pipeline.pipeline import Pipeline, PipelineConfig
from tracker.meeting.session import MeetingSession
from tracker.sources.files import read_audio
from tracker.sources.base import BLOCK_SAMPLES, EndOfStream, SourceStats
from tracker.stages.diarization import WindowRecord
from tracker.segments import SpeakerSegment

T = TypeVar("T")

# Who speaks when, in seconds of the meeting stream: (speaker id, start_s, end_s).
THREE_PEOPLE: list[tuple[int, float, float]] = [
    (0, 0.0, 6.0),
    (1, 6.5, 9.0),
    (0, 9.5, 14.0),
    (2, 14.5, 17.0),
    (1, 17.5, 19.5),
]


class ScriptedEngine:
    """A ``StreamingEngine`` that says who speaks when from a script: each chunk decides, for good,
    the scripted speech inside it. It keeps no voices and no windows worth the name (``windows`` is
    always empty, so an enrollment listens and then asks for a retake)."""

    name = "scripted"
    latency_samples = 0
    step_s = 0.4

    def __init__(self, script: Sequence[tuple[int, float, float]]) -> None:
        self.script = [SpeakerSegment(s, to_samples(a), to_samples(b)) for s, a, b in script]
        self.merged: list[tuple[int, int]] = []  # merges the pipeline passed on, in order
        self.keep_windows = False
        self.windows: list[WindowRecord] = []

    def __call__(self, chunk: AudioChunk) -> Decision:
        out = []
        for seg in self.script:
            start, end = max(seg.start_sample, chunk.start_sample), min(seg.end_sample, chunk.end_sample)
            if end > start:
                out.append(SpeakerSegment(seg.speaker, start, end))
        return Decision(out, [], chunk.end_sample)

    def flush(self) -> Decision:
        return Decision()

    def reset(self) -> None:
        pass

    def merge(self, keep: int, gone: int) -> None:
        self.merged.append((keep, gone))


def scripted_pipeline(script: Sequence[tuple[int, float, float]]) -> Pipeline:
    """The real ``Pipeline`` around a ``ScriptedEngine``: figures exact and known in advance."""
    return Pipeline(PipelineConfig(), engine=ScriptedEngine(script))


class FedSource:
    """A ``Source`` that delivers exactly the audio the test gives it, in 0.1 s blocks: ``feed``
    silence, ``play`` samples, ``play_span`` a stretch of a recording; ``finish()`` ends the stream."""

    def __init__(self, recording: Path | None = None) -> None:
        self.stats = SourceStats()
        self.audio = read_audio(recording) if recording is not None else None
        self._queue: queue.Queue[AudioChunk | None] = queue.Queue()
        self._position = 0
        self.started = False
        self.stopped = False

    @property
    def position(self) -> int:
        """Samples given so far."""
        return self._position

    def feed(self, seconds: float) -> None:
        self.play(np.zeros(to_samples(seconds), np.float32))

    def play(self, samples: np.ndarray) -> None:
        for i in range(0, len(samples), BLOCK_SAMPLES):
            block = np.ascontiguousarray(samples[i : i + BLOCK_SAMPLES], dtype=np.float32)
            self._queue.put(AudioChunk(block, self._position))
            self._position += len(block)

    def play_span(self, start_s: float, end_s: float) -> None:
        """Seconds ``start_s`` to ``end_s`` of the recording given at construction."""
        assert self.audio is not None, "FedSource(recording) plays spans of that recording"
        self.play(self.audio[to_samples(start_s) : to_samples(end_s)])

    def finish(self) -> None:
        self._queue.put(None)

    def start(self) -> None:
        self.started = True

    def read(self, timeout: float) -> AudioChunk | None:
        try:
            chunk = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if chunk is None:
            raise EndOfStream
        return chunk

    def stop(self) -> None:
        self.stopped = True


def scripted_session(
    script: Sequence[tuple[int, float, float]] = THREE_PEOPLE,
    *,
    view: ViewConfig | None = None,
    autostart: bool = True,
) -> tuple[MeetingSession, FedSource]:
    """A meeting over a scripted pipeline fed by hand; not opened yet."""
    source = FedSource()
    live = LiveInput(lambda: source, retry=False, label="test feed")
    session = MeetingSession(scripted_pipeline(script), live, view=view, autostart=autostart)
    return session, source


def wait_for(predicate: Callable[[], T], *, timeout: float = 5.0, interval: float = 0.01, what: str = "condition") -> T:
    """Poll until ``predicate()`` is truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def speaker(state: dict[str, Any], speaker_id: int) -> dict[str, Any]:
    """One speaker's entry in a JSON state."""
    found: dict[str, Any] = next(s for s in state["speakers"] if s["id"] == speaker_id)
    return found

