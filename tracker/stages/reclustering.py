"""Post-meeting pass: re-cluster every window of the meeting with hindsight (no audio needed).

The live diarizer had to decide each window with only the past; here all window embeddings are
clustered together (agglomerative, average linkage on cosine distance), voices too small to be a
person are folded into the closest one, and each span is relabelled from its neighbourhood.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.cluster.hierarchy import fcluster, linkage

from tracker.audio import to_samples
from tracker.stages.diarization import SpeakerSegment, WindowRecord


@dataclass(frozen=True)
class ReclusteringConfig:
    """Settings of the post-meeting pass."""

    threshold: float = 0.78  # cosine similarity at which two groups of windows are one voice
    min_speaker_s: float = 2.0  # seconds of speech below which a cluster is folded into its closest voice
    context_windows: int = 1  # neighbours on each side whose embeddings help label a span

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 1:
            raise ValueError(f"ReclusteringConfig.threshold expected in (0, 1), got {self.threshold!r}")


def _unit(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return x / (np.linalg.norm(x, axis=-1, keepdims=True) + 1e-12)


def cluster_windows(embs: npt.NDArray[np.float32], threshold: float) -> npt.NDArray[np.int64]:
    """Agglomerative clustering (average linkage, cosine) cut at similarity ``threshold``."""
    if len(embs) == 1:
        return np.zeros(1, dtype=np.int64)
    z = linkage(embs.astype(np.float64), method="average", metric="cosine")
    return fcluster(z, t=1.0 - threshold, criterion="distance").astype(np.int64) - 1


def recluster(records: list[WindowRecord], config: ReclusteringConfig) -> list[SpeakerSegment]:
    """Relabel every window's speech with the whole meeting in view.

    Speaker ids follow the live ids where they agree (each final voice takes the live id that
    most of its speech had), so a name given during the meeting stays with its person.
    """
    strong = [r for r in records if r.strong and r.embedding is not None]
    if not strong:
        return [SpeakerSegment(r.label, s, e) for r in records if r.label is not None for s, e in r.speech]
    embs = np.stack([r.embedding for r in strong]).astype(np.float32)  # type: ignore[misc]
    labels = cluster_windows(embs, config.threshold)
    weights = np.array([max(r.speech_samples, 1) for r in strong], dtype=np.float64)
    ids = np.unique(labels)
    mass = np.array([weights[labels == c].sum() for c in ids])
    big = ids[mass >= to_samples(config.min_speaker_s)]
    if len(big) == 0:
        big = ids[[int(np.argmax(mass))]]
    centroids = np.stack([_unit(embs[labels == c].sum(axis=0).astype(np.float64)) for c in big])

    # Label each window from its own and its neighbours' embeddings (hindsight on both sides).
    all_embs = [r.embedding for r in records]
    out_label: list[int | None] = [None] * len(records)
    for i, r in enumerate(records):
        lo, hi = max(0, i - config.context_windows), min(len(records), i + config.context_windows + 1)
        ctx = [(all_embs[j], records[j].speech_fraction * (2.0 if j == i else 1.0)) for j in range(lo, hi)]
        ctx = [(e, w) for e, w in ctx if e is not None]
        if ctx:
            v = _unit(sum(w * e.astype(np.float64) for e, w in ctx))
            out_label[i] = int(np.argmax(centroids @ v))
    for i in range(len(records)):  # windows with too little speech take the nearest labelled neighbour
        if out_label[i] is None:
            near = sorted((abs(j - i), j) for j in range(len(records)) if out_label[j] is not None)
            out_label[i] = out_label[near[0][1]] if near else 0
    return _segments_with_live_ids(records, out_label)


def _segments_with_live_ids(records: list[WindowRecord], final: list[int | None]) -> list[SpeakerSegment]:
    votes: dict[int, dict[int, int]] = {}
    for r, f in zip(records, final, strict=True):
        if f is not None and r.label is not None:
            votes.setdefault(f, {}).setdefault(r.label, 0)
            votes[f][r.label] += r.speech_samples
    mapping: dict[int, int] = {}
    taken: set[int] = set()
    pairs = sorted(((n, f, live) for f, d in votes.items() for live, n in d.items()), reverse=True)
    for _, f, live in pairs:
        if f not in mapping and live not in taken:
            mapping[f] = live
            taken.add(live)
    next_id = max([r.label for r in records if r.label is not None] + [-1]) + 1
    for f in sorted({f for f in final if f is not None}):
        if f not in mapping:
            mapping[f] = next_id
            next_id += 1
    return [SpeakerSegment(mapping[f], s, e) for r, f in zip(records, final, strict=True) if f is not None for s, e in r.speech]
