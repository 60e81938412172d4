"""The lite engine: speech detection (``stages.vad``) then the window diarizer (``stages.diarization``).

The first implementation of the seam (``engine.StreamingEngine``): what it decides is exactly what
the VAD + ``StreamingDiarizer`` pair decided before the seam existed. It keeps its voices as
centroids of 1.6 s window embeddings (``engine.VoiceMemory``), keeps the windows themselves while
asked to (``WindowMemory``: enrollment and the post-meeting pass read them) and revisits its labels
with hindsight after the meeting (``FinalPass``, ``stages.reclustering``). It is handed its models.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from models.embedding import SpeakerEncoder
from models.vad import FrameVadModel
from tracker.audio import AudioChunk
from tracker.pipeline.engine import Decision, EmbeddingRecord, Vector
from tracker.pipeline.profiles import model_id
from tracker.segments import SpeakerSegment
from tracker.stages.diarization import DiarizationConfig, StreamingDiarizer, WindowRecord, unit
from tracker.stages.reclustering import ReclusteringConfig, recluster
from tracker.stages.vad import VadConfig, VoiceActivityDetector


@runtime_checkable
class WindowMemory(Protocol):
    """Optional capability: an engine that decides window by window and can keep the windows.

    ``windows`` is the list of kept windows (appended to while ``keep_windows``); each labels
    ``step_s`` seconds. A live meeting keeps none (8 hours would be ~125 MB); enrollment turns
    keeping on for the few seconds it listens.
    """

    keep_windows: bool
    step_s: float

    @property
    def windows(self) -> list[WindowRecord]: ...


@runtime_checkable
class FinalPass(Protocol):
    """Optional capability: an engine that can revisit what it decided, with hindsight, at the end."""

    def final_segments(self, *, protected: Collection[int] = ()) -> list[SpeakerSegment]:
        """Every segment of the stream, relabelled (live speaker ids, before any merge).

        ``protected``: voices the facilitator named; an engine never makes two of them one."""
        ...


class LiteEngine:
    """VAD + window diarizer behind the seam (see the module docstring).

    Parameters
    ----------
    vad, diarization, reclustering : the stages' settings.
    vad_model : a frame VAD model (``models.vad``).
    encoder : a speaker encoder (``models.embedding``; Resemblyzer by default).

    ``latency_samples`` is the worst case of a known voice: the VAD's smoothing delay, then a
    window's lead past the span it labels, then the wait of an unmatched window.
    """

    name = "lite"
    sees_overlap = False  # one voice per moment: overlap and interruptions are not measured
    stands_in_for: str | None = None  # the engine asked for, when this one runs because it could not load

    def __init__(self, *, vad: VadConfig, diarization: DiarizationConfig, reclustering: ReclusteringConfig,
                 vad_model: FrameVadModel, encoder: SpeakerEncoder) -> None:
        self.vad = VoiceActivityDetector(vad, model=vad_model)
        self.diarizer = StreamingDiarizer(diarization, encoder=encoder)
        self.reclustering = reclustering
        self.embedding_model = model_id(encoder)
        self.step_s = diarization.step_s
        self.latency_samples = (self.vad.delay_frames * self.vad.frame_samples + self.diarizer.window
                                + self.diarizer.timeout)

    # ------------------------------------------------------------------ the seam

    def __call__(self, chunk: AudioChunk) -> Decision:
        final = self.diarizer(chunk, self.vad(chunk))
        return Decision(final, self.diarizer.undecided(self.vad.tentative()), self.diarizer.decided_to())

    def flush(self) -> Decision:
        final = self.diarizer.flush(self.vad.flush())
        return Decision(final, [], self.diarizer.decided_to())

    def reset(self) -> None:
        self.vad.reset()
        self.diarizer.reset()

    def merge(self, keep: int, gone: int) -> None:
        self.diarizer.merge(keep, gone)

    # ------------------------------------------------------------------ VoiceMemory

    def seed(self, speaker: int, centroid: Vector, *, weight: int, claim_threshold: float | None = None) -> None:
        self.diarizer.seed(speaker, centroid, windows=weight, claim_threshold=claim_threshold)

    def centroids(self) -> Mapping[int, tuple[Vector, int]]:
        return {sid: (unit(v.total).astype(np.float32), v.count) for sid, v in self.diarizer.clustering.voices.items()}

    def records(self) -> Sequence[EmbeddingRecord]:
        return [EmbeddingRecord(r.span_start, r.span_end, r.embedding, r.speech_samples, r.label)
                for r in self.diarizer.records if r.embedding is not None]

    # ------------------------------------------------------------------ WindowMemory, FinalPass

    @property
    def keep_windows(self) -> bool:
        return self.diarizer.keep_records

    @keep_windows.setter
    def keep_windows(self, keep: bool) -> None:
        self.diarizer.keep_records = keep

    @property
    def windows(self) -> list[WindowRecord]:
        return self.diarizer.records

    def final_segments(self, *, protected: Collection[int] = ()) -> list[SpeakerSegment]:
        return recluster(self.diarizer.records, self.reclustering)  # relabels windows; merges no named voices
