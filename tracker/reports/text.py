"""The report's figures as short text: times, percents, scores and the balance-score table."""

from __future__ import annotations

from datetime import datetime

from tracker.reports.figures import Report
from tracker.stages.display import clock, percent, score, shown_silence

__all__ = ["clock", "count", "overlap", "pct", "score", "score_rows", "when"]  # clock and score: tracker.stages.display


def when(iso: str | None) -> str:
    """A stored UTC time as people read it, in this machine's time zone, which it names:
    ``Tue 5 May 2026, 09:30 CEST`` (``UTC+05:30`` for a zone without an abbreviation)."""
    if not iso:
        return "–"
    t = datetime.fromisoformat(iso).astimezone()
    return f"{t:%a} {t.day} {t:%b %Y, %H:%M} {zone(t)}"


def zone(t: datetime) -> str:
    """``t``'s time zone as printed: its abbreviation (``CEST``, ``UTC``), else its offset (``UTC+05:30``)."""
    name = t.tzname() or ""
    if name[:1].isalpha():
        return name
    offset = f"{t:%z}"  # +0530
    return f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"


def pct(x: float | None) -> str:
    return percent(x)


def overlap(x: float | None) -> str:
    """A person's or the group's overlap: "not measured" when the engine could not see it (None)."""
    return "not measured" if x is None else f"{x:.0f} s"


def count(n: int | None) -> str:
    return "–" if n is None else str(n)


def score_rows(report: Report) -> list[tuple[str, str, str]]:
    """(measure, value, what it means) for the balance-score table."""
    g = report.group

    def ratio(x: float | None) -> str:
        return "–" if x is None else f"{x:.2f}"

    silence = shown_silence(report.duration_s, g.speech_s, g.silence_s)  # shown so that speech + silence = length

    return [
        ("balance", score(g.balance), "100 × (1 − Gini): 100 when everyone talks equally, 0 when one person talks"),
        ("Gini", ratio(g.gini), "inequality of talk time between the people counted (0 = equal)"),
        ("evenness", ratio(g.evenness), "Pielou's evenness of the shares: 1 when the talk is spread evenly"),
        ("effective voices", ratio(g.effective_speakers), f"how many equal talkers the talk was worth, of {g.people}"),
        ("top share", pct(g.top_share), f"the biggest talker's share (equal: {pct(report.equal_share)})"),
        ("dominance", ratio(g.dominance), "people × top share: 1 means the top talker had only an equal share"),
        ("turn spread", ratio(g.turn_cv), "variation of the number of turns per person (0 = everyone as many)"),
        ("speech", clock(g.speech_s), "time anyone was speaking"),
        ("silence", silence, "time nobody was speaking"),
        ("overlap", overlap(g.overlap_s if g.overlap_measured else None), "time two or more people spoke at once"),
    ]
