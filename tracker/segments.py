"""Value types every layer shares: a speaker segment, an agenda phase, a voice profile, and merging
segments. Times are in samples (see ``tracker.audio``); imports nothing of talktime.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True)
class SpeakerSegment:
    """``speaker`` spoke over samples [start_sample, end_sample)."""

    speaker: int
    start_sample: int
    end_sample: int

    @property
    def duration_samples(self) -> int:
        return self.end_sample - self.start_sample


@dataclass(frozen=True)
class Phase:
    """An agenda phase over stream samples [start_sample, end_sample); open while end_sample is None."""

    name: str
    start_sample: int
    end_sample: int | None = None


@dataclass(frozen=True)
class Correction:
    """A change the facilitator made by hand during a meeting, kept with it for its report.

    ``kind`` "name": voice ``speaker`` (or the roster place ``speaker`` < 0) was called ``name``;
    "merge": everything voice ``other`` said was credited to voice ``speaker`` (one person split in
    two), ``name`` being what ``other`` was called then (None: unnamed).
    """

    kind: str  # "name" or "merge"
    speaker: int
    name: str | None = None
    other: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("name", "merge") or (self.kind == "merge") != (self.other is not None):
            raise ValueError(f"Correction expected kind 'name' (no other) or 'merge' (with other), got {self!r}")


def merge_segments(segments: Iterable[SpeakerSegment], *, gap_samples: int = 0) -> list[SpeakerSegment]:
    """Time-ordered segments with touching (or nearer than ``gap_samples``) runs of one speaker joined."""
    out: list[SpeakerSegment] = []
    last: dict[int, int] = {}
    for s in sorted(segments, key=lambda s: (s.start_sample, s.speaker)):
        i = last.get(s.speaker)
        if i is not None and s.start_sample - out[i].end_sample <= gap_samples:
            out[i] = SpeakerSegment(s.speaker, out[i].start_sample, max(out[i].end_sample, s.end_sample))
        else:
            last[s.speaker] = len(out)
            out.append(s)
    return out


@dataclass(frozen=True)
class Profile:
    """One person's voice for one embedding model.

    ``embedding`` has shape (dimension,), unit length, float32. ``windows`` is how many 1.6 s
    windows it was averaged from and ``speech_s`` the seconds of speech they held. ``consent``
    records that the person agreed to keep it.
    """

    name: str
    model: str
    embedding: Vector
    windows: int
    speech_s: float
    consent: bool
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: str = ""
    updated_at: str = ""

    def __post_init__(self) -> None:
        emb = np.asarray(self.embedding, dtype=np.float32)
        if emb.ndim != 1 or not len(emb) or not np.isfinite(emb).all():
            raise ValueError(f"profile {self.name!r} expected a finite 1-d embedding, got shape {emb.shape}")
        norm = float(np.linalg.norm(emb))
        if abs(norm - 1.0) > 1e-3:
            raise ValueError(f"profile {self.name!r} expected a unit-length embedding, got length {norm:.4f}")
        if self.windows < 1 or self.speech_s < 0:
            raise ValueError(f"profile {self.name!r} expected windows >= 1 and speech_s >= 0, "
                             f"got {self.windows} and {self.speech_s}")
        object.__setattr__(self, "embedding", emb)
