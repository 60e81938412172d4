"""Talk-time figures of a diarization against a reference: pure functions, no audio, no models.

A segment is ``(speaker, start_s, end_s)``. A speaker's talk time is the length of the union of its
segments (a voice's own segments may overlap; overlap between *different* speakers counts for both).

- ``score_talk(ref, hyp)`` maps found voices to people one-to-one (Hungarian, maximising the time
  they share; a pair that shares no time is no mapping) and returns a ``TalkScore``:
  - ``tvd``: the talk-time total variation distance, in percentage points: half the sum over people
    and unmapped voices of |reference share - found share|, an unmapped voice counting with a
    reference share of 0 and an unmapped person with a found share of 0, over every voice found.
    It is the part of the talk time given to the wrong person: 0 when every share is right, at
    most 100 (a recording where nothing is found scores 50: every person is missed, no talk is
    misplaced).
  - ``tvd_shown``: the same with found shares among the counted voices only (below), as the
    product shows them (it lists voices under 2 s apart, with no share).
  - ``voices``: found voices with at least ``min_talk_s`` of talk (the product counts those as
    people), against ``people`` (reference speakers present, whatever their talk time).
  - ``phantom``: the share (pp, of everything found) of the largest voice that maps to nobody.
- ``pool(scores)``: figures over many files. A TVD is a property of one meeting (the shares of
  different meetings do not add up), so the pooled TVD is the mean of the per-file TVDs, once
  weighted by each file's reference talk time and once plain.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

Seg = tuple[Hashable, float, float]
MIN_TALK_S = 2.0  # seconds: a found voice with less talk is not counted as a person (AccountingConfig.min_presence_s)


def union(intervals: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Sorted, disjoint intervals covering the same time (empty ones dropped)."""
    out: list[tuple[float, float]] = []
    for s, e in sorted((s, e) for s, e in intervals if e > s):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def by_speaker(segments: Iterable[Seg], region: tuple[float, float] | None = None) -> dict[Hashable, list[tuple[float, float]]]:
    """Each speaker's union of segments, cropped to ``region`` (start_s, end_s) when given."""
    raw: dict[Hashable, list[tuple[float, float]]] = {}
    for spk, s, e in segments:
        if region is not None:
            s, e = max(s, region[0]), min(e, region[1])
        raw.setdefault(spk, []).append((s, e))
    merged = {spk: union(iv) for spk, iv in raw.items()}
    return {spk: iv for spk, iv in merged.items() if iv}


def duration(intervals: Sequence[tuple[float, float]]) -> float:
    return float(sum(e - s for s, e in intervals))


def shared_time(a: Sequence[tuple[float, float]], b: Sequence[tuple[float, float]]) -> float:
    """Length of the intersection of two sorted disjoint interval lists."""
    i = j = 0
    total = 0.0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if hi > lo:
            total += hi - lo
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total


def map_voices(ref: dict[Hashable, list[tuple[float, float]]], hyp: dict[Hashable, list[tuple[float, float]]]) -> dict[Hashable, Hashable]:
    """found voice -> person, one-to-one, maximising the total time they share (pairs sharing none are dropped)."""
    rl, hl = sorted(ref, key=str), sorted(hyp, key=str)
    if not rl or not hl:
        return {}
    m = np.array([[shared_time(ref[r], hyp[h]) for h in hl] for r in rl])
    rows, cols = linear_sum_assignment(-m)
    return {hl[j]: rl[i] for i, j in zip(rows, cols, strict=True) if m[i, j] > 0}


@dataclass
class TalkScore:
    tvd: float  # pp, shares of every voice found
    tvd_shown: float  # pp, shares among the counted voices (>= min_talk_s), as the product shows them
    people: int  # reference speakers present
    voices: int  # found voices with >= min_talk_s of talk
    phantom: float  # pp: share of the largest found voice mapped to nobody (0 if none)
    ref_talk_s: float  # total reference talk time (sum over people)
    ref_share: dict[str, float] = field(default_factory=dict)  # person -> pp
    found_share: dict[str, float] = field(default_factory=dict)  # every found voice -> pp
    mapping: dict[str, str] = field(default_factory=dict)  # found voice -> person

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _shares(talk: dict[Hashable, list[tuple[float, float]]]) -> dict[Hashable, float]:
    t = {k: duration(v) for k, v in talk.items()}
    total = sum(t.values())
    return {k: 100 * v / total if total else 0.0 for k, v in t.items()}


def _tvd(rs: dict[Hashable, float], hs: dict[Hashable, float], mapping: dict[Hashable, Hashable]) -> float:
    mapped_to = {p: v for v, p in mapping.items()}
    diff = sum(abs(rs[p] - (hs[mapped_to[p]] if p in mapped_to else 0.0)) for p in rs)
    return (diff + sum(hs[v] for v in hs if v not in mapping)) / 2


def score_talk(ref: Iterable[Seg], hyp: Iterable[Seg], *, min_talk_s: float = MIN_TALK_S,
               region: tuple[float, float] | None = None) -> TalkScore:
    """Talk-time TVD, counts and phantom share of ``hyp`` against ``ref`` (see the module docstring)."""
    r = by_speaker(ref, region)
    h = by_speaker(hyp, region)
    counted = {k: v for k, v in h.items() if duration(v) >= min_talk_s}
    rs, hs = _shares(r), _shares(h)
    mapping = map_voices(r, h)
    counted_mapping = map_voices(r, counted)
    return TalkScore(
        tvd=_tvd(rs, hs, mapping),
        tvd_shown=_tvd(rs, _shares(counted), counted_mapping),
        people=len(r),
        voices=len(counted),
        phantom=max([hs[v] for v in hs if v not in mapping], default=0.0),
        ref_talk_s=sum(duration(v) for v in r.values()),
        ref_share={str(k): v for k, v in rs.items()},
        found_share={str(k): v for k, v in hs.items()},
        mapping={str(v): str(p) for v, p in mapping.items()},
    )


def pool(scores: Sequence[TalkScore]) -> dict[str, Any]:
    """Figures over many files (see the module docstring)."""
    if not scores:
        return {"files": 0}
    w = np.array([s.ref_talk_s for s in scores])
    tvd = np.array([s.tvd for s in scores])
    shown = np.array([s.tvd_shown for s in scores])
    weighted = (lambda x: float((x * w).sum() / w.sum())) if w.sum() > 0 else (lambda x: float(x.mean()))
    return {
        "files": len(scores),
        "tvd_weighted": weighted(tvd),
        "tvd_mean": float(tvd.mean()),
        "tvd_max": float(tvd.max()),
        "tvd_shown_weighted": weighted(shown),
        "people": int(sum(s.people for s in scores)),
        "voices": int(sum(s.voices for s in scores)),
        "count_exact": int(sum(s.voices == s.people for s in scores)),
        "count_within_one": int(sum(abs(s.voices - s.people) <= 1 for s in scores)),
        "phantom_max": float(max(s.phantom for s in scores)),
    }
