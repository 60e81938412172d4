"""Equity maths: how evenly talk time is shared (shares, Gini, evenness, effective talkers).

Plain functions of a list of talk times (any unit); no state, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def shares(times: Sequence[float]) -> list[float]:
    """Each value's fraction of the total (all zeros when nobody spoke)."""
    total = sum(times)
    return [t / total if total > 0 else 0.0 for t in times]


def gini(times: Sequence[float]) -> float | None:
    """Gini coefficient scaled by N/(N-1), so one talker among N gives 1 and equal talk 0."""
    n, total = len(times), sum(times)
    if n < 2 or total <= 0:
        return None
    diff = sum(abs(a - b) for a in times for b in times)
    return min(1.0, diff / (2 * n * total) * n / (n - 1))


def evenness(times: Sequence[float]) -> float | None:
    """Pielou's normalised entropy: 1 when everyone talks equally, 0 when one person talks."""
    n = len(times)
    if n < 2 or sum(times) <= 0:
        return None
    h = -sum(s * math.log(s) for s in shares(times) if s > 0)
    return h / math.log(n)


def effective_speakers(times: Sequence[float]) -> float | None:
    """Inverse Simpson index 1 / sum(s_i^2): how many equal talkers the talk is worth."""
    if sum(times) <= 0:
        return None
    return 1.0 / sum(s * s for s in shares(times))
