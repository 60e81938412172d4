"""Analyse a recording end to end through the live path (FileSource -> Runner -> Pipeline)."""

from __future__ import annotations

import bisect
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tracker.audio import SAMPLE_RATE, Samples
from tracker.pipeline.pipeline import Pipeline
from tracker.pipeline.runner import Runner
from tracker.sources.files import FileSource, read_audio
from tracker.sources.base import Source
from tracker.stages.accounting import Accountant, Summary
from tracker.segments import SpeakerSegment

MODES = ("live", "final")


class NoSpeechError(Exception):
    """The recording holds no speech the detector could find."""


class Turn(Protocol):
    """One speaker turn as a whole-recording model gives it (``models.pyannote.Turn``): samples."""

    @property
    def speaker(self) -> int: ...

    @property
    def start_sample(self) -> int: ...

    @property
    def end_sample(self) -> int: ...


class DiarizationEngine(Protocol):
    """A whole-recording diarizer for the final pass (e.g. ``models.pyannote.PyannoteEngine``)."""

    name: str

    def warmup(self) -> None: ...

    def diarize(self, samples: Samples) -> Sequence[Turn]:
        """Who spoke when in samples of shape (n,) at SAMPLE_RATE; overlapping speech may overlap."""
        ...


def relabel_by_overlap(segments: list[SpeakerSegment], live: list[SpeakerSegment]) -> list[SpeakerSegment]:
    """Give ``segments`` the live speaker ids they overlap most (one-to-one, largest overlaps first),
    so a name given during the meeting stays with its person; other speakers get new ids in order
    of first appearance."""
    live = sorted(live, key=lambda s: s.start_sample)
    starts = [s.start_sample for s in live]
    reach = [0] * len(live)  # reach[i]: the latest end among live[:i + 1]
    for i, s in enumerate(live):
        reach[i] = max(s.end_sample, reach[i - 1] if i else 0)
    votes: dict[tuple[int, int], int] = {}
    for seg in segments:
        i = bisect.bisect_left(starts, seg.end_sample) - 1
        while i >= 0 and reach[i] > seg.start_sample:
            n = min(seg.end_sample, live[i].end_sample) - max(seg.start_sample, live[i].start_sample)
            if n > 0:
                votes[(seg.speaker, live[i].speaker)] = votes.get((seg.speaker, live[i].speaker), 0) + n
            i -= 1
    mapping: dict[int, int] = {}
    taken: set[int] = set()
    for (spk, lid), _ in sorted(votes.items(), key=lambda kv: (-kv[1], kv[0])):
        if spk not in mapping and lid not in taken:
            mapping[spk] = lid
            taken.add(lid)
    next_id = max([s.speaker for s in live] + [-1]) + 1
    for seg in sorted(segments, key=lambda s: s.start_sample):
        if seg.speaker not in mapping:
            mapping[seg.speaker] = next_id
            next_id += 1
    return [SpeakerSegment(mapping[s.speaker], s.start_sample, s.end_sample) for s in segments]


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
    background_s: float = 0.0  # talk credited to nobody as a conversation in the background (Pipeline.background_s)

    @property
    def real_time_factor(self) -> float:
        """Wall time / audio time: 0.05 means 20x faster than real time."""
        return self.elapsed_s / self.duration_s if self.duration_s else 0.0


def analyze(path: str | Path, pipeline: Pipeline, *, mode: str = "final", realtime: bool = False,
            engine: DiarizationEngine | None = None, call: str | Path | None = None,
            block_samples: int | None = None) -> Analysis:
    """Run a file through the same runner the microphone uses.

    ``mode="live"`` returns exactly the labels the live pipeline emitted, without hindsight;
    ``mode="final"`` runs the post-meeting pass over the kept windows (``tracker.stages.reclustering``:
    by default the live labels with the moves hindsight clearly supports), or, given an ``engine``,
    runs it on the decoded recording and maps its speakers onto the live ids by overlap.

    ``call`` is a recording of the call's audio beside the room's (a hybrid meeting): the room
    file and it are read side by side (``tracker.sources.paired.PairedSource``); ``pipeline`` must then be
    one around a ``tracker.pipeline.hybrid.HybridEngine``.

    ``block_samples``: the blocks the file is read in (default: 2 s, or the microphone's 0.1 s when
    ``realtime``). The engine decides once per block, so the live labels' cuts follow the blocks,
    and a frame decided later has heard a little more: read in the microphone's blocks, the live
    labels are exactly the ones a live meeting of the same audio gets.
    """
    if mode not in MODES:
        raise ValueError(f"mode expected one of {MODES}, got {mode!r}")
    source: Source = FileSource(path, realtime=realtime, block_samples=block_samples)
    if call is not None:
        from tracker.pipeline.hybrid import HybridEngine
        from tracker.sources.paired import PairedSource

        hybrid = pipeline.engine
        echo = hybrid.echo.config if isinstance(hybrid, HybridEngine) else None  # the gate's settings
        source = PairedSource(source, FileSource(call, realtime=realtime), echo=echo)
    pipeline.reset()
    t0 = time.perf_counter()
    Runner(source, pipeline).run()
    if mode == "final":
        if engine is not None:
            turns = [SpeakerSegment(t.speaker, t.start_sample, t.end_sample) for t in engine.diarize(read_audio(path))]
            segments = relabel_by_overlap(turns, pipeline.segments)
        else:
            segments = pipeline.final_segments()
        # NB: a pyannote engine sees overlap; talktime's own final pass sees it as its engine does.
        acc = Accountant(pipeline.config.accounting,
                         overlap_measured=engine is not None or pipeline.accountant.overlap_measured)
        acc.begin(0)
        acc.add(sorted(segments, key=lambda s: s.start_sample))
        acc.advance(pipeline.accountant.clock_samples)
        summary = acc.summary()
    else:
        segments = sorted(pipeline.segments, key=lambda s: (s.start_sample, s.speaker))
        summary = pipeline.accountant.summary()
    elapsed = time.perf_counter() - t0
    duration = pipeline.accountant.clock_samples / SAMPLE_RATE
    background = pipeline.background_s if engine is None else 0.0
    return Analysis(Path(path), mode, segments, summary, duration, elapsed, list(source.stats.notices), background)
