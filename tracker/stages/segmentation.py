"""Local speaker activity: one segmentation chunk's frames, stitched onto the meeting's time line.

A segmentation model looks at a few seconds of audio and says, for every frame, which of up to
three *local* speakers is active (two at once when people overlap). Its local speakers are
numbered afresh in every chunk, so this stage only deals with frames and samples:

- ``ChunkActivity``: one chunk's binarised activity and where its frames lie, in samples;
- ``continuity``: which local speaker of a chunk continues which of the previous chunk's, from the
  frames both chunks saw (the same audio, so the same person);
- ``FrameVotes``: per-frame votes of every voice over overlapping chunks (each chunk votes for the
  voices its local speakers were given); a frame is a voice's when at least half the chunks that
  saw it say so, so two people talking at once both get the frame.

No I/O, no models: arrays in, arrays out. Time in samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class ChunkActivity:
    """Binarised local activity of one chunk.

    ``active`` has shape (frames, local_speakers); frame ``i`` is centred on sample
    ``start + centre0 + i * step`` of the stream. ``valid_from``: frames before it lie before the
    stream began (the chunk was padded) and are never active.
    """

    start: int
    step: int
    centre0: int
    active: Bools

    @property
    def frames(self) -> int:
        return int(self.active.shape[0])

    def clean(self) -> Bools:
        """Frames where exactly this local speaker is active (nobody else talks over them)."""
        alone: Bools = self.active & (self.active.sum(axis=1) == 1)[:, None]
        return alone

    def global_frames(self) -> npt.NDArray[np.int64]:
        """The meeting-grid frame (``sample // step``) each of this chunk's frames falls in."""
        centres = self.start + self.centre0 + np.arange(self.frames, dtype=np.int64) * self.step
        out: npt.NDArray[np.int64] = centres // self.step
        return out


def binarize(probs: npt.NDArray[np.float32], onset: float = 0.5) -> Bools:
    """Per-frame, per-local-speaker activity from the model's probabilities."""
    out: Bools = probs >= onset
    return out


def continuity(prev: ChunkActivity, cur: ChunkActivity, *, min_frames: int = 6, min_agreement: float = 0.5) -> dict[int, int]:
    """Which local speaker of ``cur`` continues which of ``prev`` (one-to-one).

    Both chunks saw the frames they share, so a local speaker of ``cur`` whose active frames there
    are mostly ``prev``'s speaker k's (at least ``min_agreement`` of the smaller of the two, and at
    least ``min_frames``) is the same person as k.
    """
    g_prev, g_cur = prev.global_frames(), cur.global_frames()
    lo, hi = max(g_prev[0], g_cur[0]), min(g_prev[-1], g_cur[-1])
    if hi < lo:
        return {}
    a = prev.active[(g_prev >= lo) & (g_prev <= hi)]
    b = cur.active[(g_cur >= lo) & (g_cur <= hi)]
    n = min(len(a), len(b))
    a, b = a[:n].astype(np.float32), b[:n].astype(np.float32)
    both = b.T @ a  # (cur speakers, prev speakers): frames both active
    size_b, size_a = b.sum(axis=0), a.sum(axis=0)
    out: dict[int, int] = {}
    taken: set[int] = set()
    for idx in np.argsort(-both, axis=None):
        s, k = divmod(int(idx), both.shape[1])
        if s in out or k in taken or both[s, k] < min_frames:
            continue
        if both[s, k] >= min_agreement * max(1.0, float(min(size_b[s], size_a[k]))):
            out[s] = k
            taken.add(k)
    return out


class FrameVotes:
    """Votes of overlapping chunks for each voice, frame by frame, until the frames are decided.

    Frames are ``step`` samples on the meeting's grid (frame ``g`` is samples ``[g*step,
    (g+1)*step)``). A *track* is a voice id, or a candidate's id while a new voice is not yet
    established (negative). ``decide(upto)`` pops frames ``[base, upto)`` (see ``held`` for who holds
    a frame).
    """

    def __init__(self, step: int, *, onset: float = 0.5, max_overlap: int = 2) -> None:
        self.step = step
        self.onset = onset
        self.max_overlap = max_overlap
        self.base = 0  # first frame not yet decided
        self._cover = np.zeros(0, np.float32)
        self._votes: dict[int, npt.NDArray[np.float32]] = {}

    def _grow(self, end: int) -> None:
        n = end - self.base
        if n > len(self._cover):
            extra = n - len(self._cover)
            self._cover = np.concatenate([self._cover, np.zeros(extra, np.float32)])
            for t, v in self._votes.items():
                self._votes[t] = np.concatenate([v, np.zeros(extra, np.float32)])

    @property
    def end(self) -> int:
        """One past the last frame any chunk has covered."""
        return self.base + len(self._cover)

    def add(self, frames: npt.NDArray[np.int64], tracks: dict[int, Bools]) -> None:
        """One chunk's vote: it covered ``frames`` (meeting-grid indices, increasing) and heard
        each track on the frames where its array is True."""
        keep = frames >= self.base
        frames = frames[keep]
        if not len(frames):
            return
        self._grow(int(frames[-1]) + 1)
        idx = frames - self.base
        np.add.at(self._cover, idx, 1.0)
        for t, active in tracks.items():
            v = self._votes.get(t)
            if v is None:
                v = self._votes[t] = np.zeros(len(self._cover), np.float32)
            np.add.at(v, idx, active[keep].astype(np.float32))

    def relabel(self, old: int, new: int) -> None:
        """Track ``old``'s votes count for ``new`` from now on (a candidate became a voice, or two
        voices were merged)."""
        v = self._votes.pop(old, None)
        if v is None or old == new:
            if v is not None:
                self._votes[old] = v
            return
        if new in self._votes:
            self._votes[new] = np.maximum(self._votes[new], v)  # one chunk never votes twice for one person
        else:
            self._votes[new] = v

    def tracks(self) -> list[int]:
        return list(self._votes)

    def first_frame(self, track: int) -> int | None:
        """The first undecided frame on which ``track`` has a vote."""
        v = self._votes.get(track)
        if v is None:
            return None
        nz = np.flatnonzero(v > 0)
        return None if not len(nz) else self.base + int(nz[0])

    def held(self, lo: int, hi: int) -> dict[int, Bools]:
        """Each track's frames in ``[lo, hi)`` as things stand (without deciding them).

        How many people talk on a frame is the average number the chunks that saw it heard
        (rounded: ``onset`` 0.5); that many tracks hold it, those with the most votes. So speech the
        chunks agree on is never lost because they disagree on whose it is.
        """
        lo, hi = max(lo, self.base), min(hi, self.end)
        if hi <= lo or not self._votes:
            return {}
        cover = self._cover[lo - self.base : hi - self.base]
        ids = list(self._votes)
        votes = np.stack([self._votes[t][lo - self.base : hi - self.base] for t in ids])
        count = np.floor(votes.sum(axis=0) / np.maximum(cover, 1.0) + (1.0 - self.onset)).astype(np.int64)
        count = np.minimum(count, self.max_overlap)
        rank = np.argsort(np.argsort(-votes, axis=0, kind="stable"), axis=0, kind="stable")
        out: dict[int, Bools] = {}
        for i, t in enumerate(ids):
            held = (cover > 0) & (rank[i] < count) & (votes[i] > 0)
            if held.any():
                out[t] = held
        return out

    def decide(self, upto: int) -> tuple[int, dict[int, Bools]]:
        """Pop frames ``[base, upto)``; return their first frame and each track's frames."""
        upto = max(self.base, min(upto, self.end))
        lo = self.base
        out = self.held(lo, upto)
        n = upto - lo
        self._cover = self._cover[n:]
        for t in list(self._votes):
            rest = self._votes[t][n:]
            if rest.any():
                self._votes[t] = rest
            else:
                del self._votes[t]
        self.base = upto
        return lo, out


def runs(mask: Bools) -> list[tuple[int, int]]:
    """Runs of True in ``mask`` as (start, end) index pairs."""
    if not mask.any():
        return []
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return [(int(s), int(e)) for s, e in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1), strict=True)]
