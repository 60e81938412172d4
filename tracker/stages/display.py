"""How figures are put in front of people: whole percents, balance bands and their words, clocks.

The one home of these rules. The dashboard snapshot (``tracker.meeting.view``), the report
(``tracker.reports``) and the command line all format through here, and the page renders the
strings and numbers the snapshot carries, so a figure reads the same wherever it is shown.
Plain functions; no state, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# The balance score (1 - Gini) in bands: (lowest score of the band, band name, plain words).
BALANCE_BANDS: tuple[tuple[float, str, str], ...] = (
    (0.8, "good", "balanced: everyone is being heard"),
    (0.6, "fair", "fairly balanced, with some voices louder than others"),
    (0.4, "uneven", "uneven: a few people are doing most of the talking"),
    (0.0, "bad", "dominated by one or two people"),
)
NO_BALANCE = "not enough speech yet"


def balance_band(balance: float | None) -> str | None:
    """The band of a balance score: "good", "fair", "uneven" or "bad"; None without a score."""
    if balance is None:
        return None
    return next(name for low, name, _ in BALANCE_BANDS if balance >= low or low == 0.0)


def balance_reading(balance: float | None) -> str:
    """Plain words for the balance score (1 - Gini)."""
    if balance is None:
        return NO_BALANCE
    return next(words for low, _, words in BALANCE_BANDS if balance >= low or low == 0.0)


def score(balance: float | None) -> str:
    """A balance score out of 100 ("–" without one)."""
    return "–" if balance is None else str(round(100 * balance))


def whole_percents(shares: Sequence[float]) -> list[int]:
    """Shares in [0, 1] as whole percents that add up to 100 when the shares add up to 1.

    Each share is rounded down, and the points still missing go to the largest remainders
    (ties: the earlier share), so 24.6 / 24.6 / 24.6 / 26.2 reads 25 / 25 / 24 / 26, not 25 x 3 + 26
    = 101. Shares that do not add up to 1 are each rounded.
    """
    if not shares or abs(sum(shares) - 1.0) > 1e-6:
        return [round(100 * s) for s in shares]
    raw = [100 * s for s in shares]
    out = [math.floor(r + 1e-9) for r in raw]
    order = sorted(range(len(raw)), key=lambda k: (-(raw[k] - out[k]), k))
    for k in order[: max(0, 100 - sum(out))]:
        out[k] += 1
    return out


def percent(x: float | None) -> str:
    """A fraction as a whole percent ("–" for None); use ``whole_percents`` for parts of a whole."""
    return "–" if x is None else f"{round(100 * x)}%"


def equal_percent(people: int) -> int | None:
    """An equal share of ``people`` as a whole percent (25 for 4), None for nobody."""
    return round(100 / people) if people > 0 else None


def clock(s: float) -> str:
    """Seconds as a clock: ``0:44``, ``12:05``, ``1:02:03`` (rounded to the second as Python's round)."""
    m, sec = divmod(max(0, int(round(s))), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def duration(s: float) -> str:
    """A short length: ``12 s`` under a minute, else ``1:05`` (``m:ss``)."""
    n = max(0, int(round(s)))
    return f"{n} s" if n < 60 else f"{n // 60}:{n % 60:02d}"


def shown_silence(duration_s: float, speech_s: float, silence_s: float) -> str:
    """Silence as a clock. When speech and silence make up the whole length, the shown length minus
    the shown speech, so 0:44 of speech and 0:05 of silence read as the 0:49 they add up to."""
    if abs(speech_s + silence_s - duration_s) < 0.01:
        return clock(max(0, round(duration_s) - round(speech_s)))
    return clock(silence_s)


def minutes_words(s: float) -> str:
    """A span in words: "minute", "2 minutes", "90 s" (for "the last 10 minutes", "the first minute")."""
    if s == 60:
        return "minute"
    if s % 60 == 0:
        return f"{int(s // 60)} minutes"
    return duration(s)
