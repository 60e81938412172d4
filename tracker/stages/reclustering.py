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
from tracker.stages.diarization import SpeakerSegment, WindowRecord, unit as _unit


@dataclass(frozen=True)
class ReclusteringConfig:
    """Settings of the post-meeting pass."""

    threshold: float = 0.68  # cosine similarity at which two groups of windows are one voice
    min_speaker_s: float = 2.0  # seconds of speech below which a cluster is folded into its closest voice
    context_windows: int = 1  # neighbours on each side whose embeddings help label a span
    region_gap_s: float = 0.5  # seconds of pause that end a stretch of speech
    region_windows: int = 0  # windows per stretch at most; 0 = as few as keep the clustering under max_items
    max_items: int = 2000  # stretches clustered at most (memory grows with its square)
    switch_margin: float = 0.1  # how much closer a window must be to another voice to leave its stretch's

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 1:
            raise ValueError(f"ReclusteringConfig.threshold expected in (0, 1), got {self.threshold!r}")


def cluster_windows(embs: npt.NDArray[np.float64], threshold: float) -> npt.NDArray[np.int64]:
    """Agglomerative clustering (average linkage, cosine) cut at similarity ``threshold``."""
    if len(embs) == 1:
        return np.zeros(1, dtype=np.int64)
    z = linkage(embs, method="average", metric="cosine")
    labels: npt.NDArray[np.int64] = fcluster(z, t=1.0 - threshold, criterion="distance").astype(np.int64) - 1
    return labels


def regions(records: list[WindowRecord], *, max_gap: int, max_windows: int) -> list[list[int]]:
    """Group consecutive windows into stretches of speech unbroken by a pause longer than ``max_gap``
    samples (likely one voice), each at most ``max_windows`` long. Windows without speech are left out."""
    out: list[list[int]] = []
    last_end: int | None = None
    for i, r in enumerate(records):
        if not r.speech:
            continue
        start = r.speech[0][0]
        if last_end is None or start - last_end > max_gap or len(out[-1]) >= max_windows:
            out.append([])
        out[-1].append(i)
        last_end = r.speech[-1][1]
    return out


def _region_embedding(records: list[WindowRecord], idx: list[int], embs: dict[int, npt.NDArray[np.float64]]) -> npt.NDArray[np.float64] | None:
    strong = [embs[i] * records[i].speech_fraction for i in idx if i in embs and records[i].strong]
    use = strong or [embs[i] * records[i].speech_fraction for i in idx if i in embs]
    return _unit(np.sum(use, axis=0)) if use else None


def recluster(records: list[WindowRecord], config: ReclusteringConfig) -> list[SpeakerSegment]:
    """Relabel every window's speech with the whole meeting in view.

    1. Windows are grouped into stretches of unbroken speech (a pause splits them) and each
       stretch gets the mean of its windows' embeddings: longer speech, steadier voice vectors.
    2. Stretches are clustered (agglomerative, average linkage, cosine); voices with less than
       ``min_speaker_s`` of speech are folded into their closest voice.
    3. Each window then takes the voice closest to its own embedding smoothed with its
       neighbours', which catches a change of speaker inside a stretch.

    Speaker ids follow the live ids where they agree (each final voice takes the live id that
    most of its speech had), so a name given during the meeting stays with its person.
    """
    have = [i for i, r in enumerate(records) if r.embedding is not None]
    if not any(records[i].strong for i in have):
        return [SpeakerSegment(r.label, s, e) for r in records if r.label is not None for s, e in r.speech]
    embs = {i: records[i].embedding.astype(np.float64) for i in have}  # type: ignore[union-attr]
    per = config.region_windows or max(1, -(-len(have) // config.max_items))
    groups = regions(records, max_gap=to_samples(config.region_gap_s), max_windows=per)
    if len(groups) > config.max_items:  # many short stretches: group across pauses too (memory grows with the square)
        groups = regions(records, max_gap=len(records) * max(1, records[-1].span_end), max_windows=per)
    reps: list[tuple[list[int], npt.NDArray[np.float64]]] = []
    for g in groups:
        e = _region_embedding(records, g, embs)
        if e is not None:
            reps.append((g, e))
    labels = cluster_windows(np.stack([e for _, e in reps]), config.threshold)
    mass: dict[int, int] = {}
    for (g, _), c in zip(reps, labels, strict=True):
        mass[int(c)] = mass.get(int(c), 0) + sum(records[i].speech_samples for i in g)
    big = [c for c, m in mass.items() if m >= to_samples(config.min_speaker_s)] or [max(mass, key=mass.__getitem__)]
    centroids = np.stack([_unit(np.sum([e for (_, e), c in zip(reps, labels, strict=True) if c == k], axis=0)) for k in big])

    out_label: list[int | None] = [None] * len(records)
    for g, e in reps:  # the stretch's voice first
        k = int(np.argmax(centroids @ e))
        for i in g:
            out_label[i] = k
    if config.context_windows >= 0:  # then each window with its neighbours, for changes inside a stretch
        for i in have:
            lo, hi = max(0, i - config.context_windows), min(len(records), i + config.context_windows + 1)
            ctx = [embs[j] * records[j].speech_fraction * (2.0 if j == i else 1.0) for j in range(lo, hi) if j in embs]
            sims = centroids @ _unit(np.sum(ctx, axis=0))
            best = int(np.argmax(sims))
            cur = out_label[i]
            if cur is None or sims[best] - sims[cur] > config.switch_margin:
                out_label[i] = best
    return _segments_with_live_ids(records, _fill_nearest(out_label))


def _fill_nearest(labels: list[int | None]) -> list[int | None]:
    """Windows too short to embed carry on the voice before them (the first ones take the first
    voice found); one sweep, so a long meeting costs no more than a short one."""
    first = next((x for x in labels if x is not None), 0)
    out: list[int | None] = []
    for x in labels:
        out.append(x if x is not None else (out[-1] if out else first))
    return out


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
