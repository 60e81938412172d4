"""The engine seam: what a diarization engine is to the rest of talktime.

An engine turns a stream of audio chunks into speaker segments. The pipeline is *given* an engine
(it never builds one) and only ever talks to it through ``StreamingEngine``; the lite engine (VAD
+ window embeddings) and the neural engine (segmentation + CAM++ voices) are two implementations.
Time is counted in samples at ``tracker.audio.SAMPLE_RATE``.

Contract
--------
``engine(chunk)`` takes the next chunk (any length, contiguous with the previous one) and returns
a ``Decision``:

- ``final``: segments decided for good because of this chunk. They may overlap each other (two
  people talking at once each get the time) and are never revised by the engine afterwards,
  except through ``merge``.
- ``provisional``: the engine's best guess for speech heard but not yet decided. It *replaces*
  the previous decision's provisional list (it is not added to it).
- ``final_to``: every sample before it is decided; nothing final will start before it again.

``flush()`` decides everything still pending at the end of the stream; ``reset()`` forgets the
stream (a new meeting) but keeps what was seeded; ``merge(keep, gone)`` folds voice ``gone`` into
``keep`` (the facilitator said they are one person) for everything decided from now on.

Optional capabilities are declared protocols, checked with ``isinstance`` at the edge, never
probed attribute by attribute: ``VoiceMemory`` (known voices, enrollment and the final pass).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from tracker.audio import AudioChunk
from tracker.segments import SpeakerSegment

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Decision:
    """What one call of an engine decided (see the module's contract)."""

    final: list[SpeakerSegment] = field(default_factory=list)
    provisional: list[SpeakerSegment] = field(default_factory=list)
    final_to: int = 0


@runtime_checkable
class StreamingEngine(Protocol):
    """A streaming diarization engine (see the module's contract)."""

    name: str  # "lite", "neural", ...: reported with the figures it made
    latency_samples: int  # how far behind the audio a decision comes, at most (typical worst case)

    def __call__(self, chunk: AudioChunk) -> Decision: ...

    def flush(self) -> Decision: ...

    def reset(self) -> None: ...

    def merge(self, keep: int, gone: int) -> None: ...


def sees_overlap(engine: StreamingEngine) -> bool:
    """Whether ``engine``'s final segments of two people can overlap: only then are overlap and
    interruptions measured (``Accountant.overlap_measured``). An engine that gives one voice per
    moment (the lite engine) says ``sees_overlap = False``; one that does not say is taken to see it."""
    return bool(getattr(engine, "sees_overlap", True))


@dataclass(frozen=True)
class EmbeddingRecord:
    """One voice embedding kept for the post-meeting pass (never audio).

    ``start``/``end`` are the samples it describes, ``speech`` how many of them were this voice's
    clean speech, ``label`` the live voice it was given (None: not attributed), ``level_db`` the
    loudness of that clean speech in dB of full scale (None: not measured), which tells a voice in
    the meeting from a conversation in the background.
    """

    start: int
    end: int
    embedding: Vector
    speech: int
    label: int | None
    level_db: float | None = None


@runtime_checkable
class SetsAsideBackground(Protocol):
    """Optional capability: an engine whose post-meeting pass credits nobody with speech it judged to
    be a conversation in the background (``tracker.stages.voice_pass.background_voices``).
    ``background_samples``: how much talk its last ``final_segments`` set aside."""

    background_samples: int


@runtime_checkable
class VoiceMemory(Protocol):
    """Optional capability: an engine that keeps voices as centroids in an embedding space."""

    embedding_model: str  # which encoder made the centroids ("campplus", "resemblyzer"): profiles say theirs

    def seed(self, speaker: int, centroid: Vector, *, weight: int, claim_threshold: float | None = None) -> None:
        """Make ``speaker`` a known voice before it speaks (an enrolled person)."""
        ...

    def centroids(self) -> Mapping[int, tuple[Vector, int]]:
        """Each voice's unit centroid and how much evidence (embeddings) it holds."""
        ...

    def records(self) -> Sequence[EmbeddingRecord]:
        """The embeddings kept for the final pass (bounded by the engine)."""
        ...


@runtime_checkable
class KeepsHistory(Protocol):
    """Optional capability: an engine that keeps what a post-meeting pass needs (its decisions and
    embeddings, never audio) only while ``keep_records`` is on. ``analyze`` keeps them; a live
    meeting, whose report is built from the store, turns it off so 8 hours stay small."""

    keep_records: bool
