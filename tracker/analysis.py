"""Analyse a recording end to end through the live path (FileSource -> Runner -> Pipeline)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from tracker.audio import SAMPLE_RATE
from tracker.runner import Pipeline, Runner
from tracker.sources import FileSource
from tracker.stages.accounting import Accountant, Summary
from tracker.stages.diarization import SpeakerSegment

MODES = ("live", "final")


class NoSpeechError(Exception):
    """The recording holds no speech the detector could find."""


@dataclass(frozen=True)
class Analysis:
    """The result of analysing one recording."""

    path: Path
    mode: str
    segments: list[SpeakerSegment]  # who spoke when (samples at SAMPLE_RATE)
    summary: Summary
    duration_s: float  # length of the recording
    elapsed_s: float  # wall time of the analysis (models already loaded)
    notices: list[str]

    @property
    def real_time_factor(self) -> float:
        """Wall time / audio time: 0.05 means 20x faster than real time."""
        return self.elapsed_s / self.duration_s if self.duration_s else 0.0


def analyze(path: str | Path, pipeline: Pipeline, *, mode: str = "final", realtime: bool = False) -> Analysis:
    """Run a file through the same runner the microphone uses.

    ``mode="live"`` returns exactly the labels the live pipeline emitted, without hindsight;
    ``mode="final"`` re-clusters the whole meeting afterwards.
    """
    if mode not in MODES:
        raise ValueError(f"mode expected one of {MODES}, got {mode!r}")
    source = FileSource(path, realtime=realtime)
    pipeline.reset()
    t0 = time.perf_counter()
    Runner(source, pipeline).run()
    if mode == "final":
        segments = pipeline.final_segments()
        acc = Accountant(pipeline.config.accounting)
        acc.begin(0)
        acc.add(sorted(segments, key=lambda s: s.start_sample))
        acc.advance(pipeline.accountant.clock_samples)
        summary = acc.summary()
    else:
        segments = list(pipeline.segments)
        summary = pipeline.accountant.summary()
    elapsed = time.perf_counter() - t0
    duration = pipeline.accountant.clock_samples / SAMPLE_RATE
    return Analysis(Path(path), mode, segments, summary, duration, elapsed, list(source.stats.notices))
