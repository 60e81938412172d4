"""Post-meeting pass: look at every window of the meeting again, with hindsight (no audio needed).

The live diarizer had to decide each window with only the past. Here all window embeddings are
clustered together (agglomerative, average linkage on cosine distance), voices too small to be a
person are folded into the closest one, and each span is relabelled from its neighbourhood: the
*whole-meeting* proposal.

By default (``method="anchored"``) that proposal is not taken as it is. The pass starts from the
live labels and moves a window to another voice only when the proposal says so *and* the window's
own evidence agrees clearly: the window, with its neighbours, is closer to that voice's centroid
than to its live voice's by more than ``switch_margin``, and that voice is an established live
voice (``min_speaker_s`` of talk). The live voices are neither merged nor split. On recorded
meetings the kept embeddings could not tell a right merge or split from a wrong one (README,
"Where the accuracy stands"), and a wrong one moves a whole person's share, so the report would
be worse than the dashboard. ``method="whole"`` keeps the whole-meeting proposal as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.cluster.hierarchy import fcluster, linkage

from tracker.audio import to_samples
from tracker.segments import SpeakerSegment
from tracker.stages.diarization import WindowRecord, unit as _unit


METHODS = ("anchored", "whole")


@dataclass(frozen=True)
class ReclusteringConfig:
    """Settings of the post-meeting pass."""

    method: str = "anchored"  # "anchored": the live voices, with clearly supported moves only; "whole": the proposal as it is
    threshold: float = 0.68  # cosine similarity at which two groups of windows are one voice
    min_speaker_s: float = 2.0  # seconds of speech below which a cluster is folded into its closest voice
    context_windows: int = 1  # neighbours on each side whose embeddings help label a span
    region_gap_s: float = 0.5  # seconds of pause that end a stretch of speech
    region_windows: int = 0  # windows per stretch at most; 0 = as few as keep the clustering under max_items
    max_items: int = 2000  # stretches clustered at most (memory grows with its square)
    switch_margin: float = 0.1  # how much closer (cosine) a window must be to another voice to leave its stretch's or live voice

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"ReclusteringConfig.method expected one of {METHODS}, got {self.method!r}")
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
    """The post-meeting answer: who spoke when, with the whole meeting in view.

    ``config.method`` picks the live-anchored pass (the default) or the whole-meeting proposal
    as it is (see the module docstring). Every speech sample of ``records`` is labelled at most
    once; speaker ids are the live ids wherever a voice is a live one.
    """
    if not any(r.strong and r.embedding is not None for r in records):
        return _segments(records, [r.label for r in records])
    proposal = whole_meeting(records, config)
    labels = proposal if config.method == "whole" else anchored(records, proposal, config)
    return _segments(records, labels)


def whole_meeting(records: list[WindowRecord], config: ReclusteringConfig) -> list[int | None]:
    """Relabel every window with the whole meeting in view; one label per record (None: no speech
    to label), as live ids where a final voice matches a live one.

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
            sims = centroids @ _context(records, i, config.context_windows)
            best = int(np.argmax(sims))
            cur = out_label[i]
            if cur is None or sims[best] - sims[cur] > config.switch_margin:
                out_label[i] = best
    return _live_ids(records, _fill_nearest(out_label))


def anchored(records: list[WindowRecord], proposal: list[int | None], config: ReclusteringConfig) -> list[int | None]:
    """The live labels, with a window moved to the voice ``proposal`` gives it only when that is an
    established live voice (``min_speaker_s`` of talk) and the window, with its neighbours, is
    closer to its centroid than to its live voice's by more than ``switch_margin``."""
    live = [r.label for r in records]
    talk: dict[int, int] = {}
    for r in records:
        if r.label is not None:
            talk[r.label] = talk.get(r.label, 0) + r.speech_samples
    centroids = voice_centroids(records)
    established = {v for v in centroids if talk.get(v, 0) >= to_samples(config.min_speaker_s)}
    out = list(live)
    for i, (r, p, v) in enumerate(zip(records, proposal, live, strict=True)):
        if p is None or v is None or p == v or r.embedding is None or p not in established or v not in centroids:
            continue
        ctx = _context(records, i, max(0, config.context_windows))
        if float(ctx @ centroids[p]) - float(ctx @ centroids[v]) > config.switch_margin:
            out[i] = p
    return out


def voice_centroids(records: list[WindowRecord]) -> dict[int, npt.NDArray[np.float64]]:
    """Each live voice's centroid: the unit mean of its strong windows' embeddings, weighted by
    their speech fraction (voices with no strong window have none)."""
    sums: dict[int, npt.NDArray[np.float64]] = {}
    for r in records:
        if r.label is not None and r.strong and r.embedding is not None:
            e = r.embedding.astype(np.float64) * r.speech_fraction
            sums[r.label] = sums[r.label] + e if r.label in sums else e
    return {v: _unit(t) for v, t in sums.items()}


def _context(records: list[WindowRecord], i: int, width: int) -> npt.NDArray[np.float64]:
    """Window ``i``'s embedding (counted twice) plus its ``width`` neighbours' on each side, each
    weighted by its speech fraction, as a unit vector; ``records[i]`` must have an embedding."""
    lo, hi = max(0, i - width), min(len(records), i + width + 1)
    ctx = [records[j].embedding.astype(np.float64) * records[j].speech_fraction * (2.0 if j == i else 1.0)  # type: ignore[union-attr]
           for j in range(lo, hi) if records[j].embedding is not None]
    return _unit(np.sum(ctx, axis=0))


def _fill_nearest(labels: list[int | None]) -> list[int | None]:
    """Windows too short to embed carry on the voice before them (the first ones take the first
    voice found); one sweep, so a long meeting costs no more than a short one."""
    first = next((x for x in labels if x is not None), 0)
    out: list[int | None] = []
    for x in labels:
        out.append(x if x is not None else (out[-1] if out else first))
    return out


def _segments(records: list[WindowRecord], labels: list[int | None]) -> list[SpeakerSegment]:
    return [SpeakerSegment(v, s, e) for r, v in zip(records, labels, strict=True) if v is not None for s, e in r.speech]


def _live_ids(records: list[WindowRecord], final: list[int | None]) -> list[int | None]:
    """Final voice numbers as live ids: each takes the live id most of its speech had (one-to-one,
    largest first); the others get new ids."""
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
    return [None if f is None else mapping[f] for f in final]
