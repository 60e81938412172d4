"""The report as JSON, CSV and PDF (the HTML page is in ``tracker.reports.html``), and writing it safely.

JSON and CSV carry the same figures: the CSV is the JSON flattened into one long table
(``section, item, person_id, person, metric, value``) that a spreadsheet can filter and pivot.
Files are written to a temporary file beside the target and renamed, so a failed write never
leaves half a report.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import textwrap
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure, SubFigure
from matplotlib.font_manager import FontProperties
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.table import Cell
from matplotlib.textpath import TextToPath

from tracker.reports import charts
from tracker.reports.figures import Report
from tracker.reports.sinks import rounded

SCHEMA = "talktime.report/1"
FORMATS = ("html", "pdf", "csv", "json")
CSV_COLUMNS = ("section", "item", "person_id", "person", "metric", "value")
A4_IN = (8.27, 11.69)  # inches, portrait
MARGIN_IN = 15 / 25.4  # every page keeps 15 mm clear on each side: printers clip the outer few millimetres
TABLE_FONT = 8.5  # points


class ReportError(Exception):
    """A report that cannot be made or written; the message says what was expected."""


def report_dict(report: Report) -> dict[str, Any]:
    """The report's figures as JSON-ready data (the fields are documented in the README)."""
    info = report.meeting
    meeting = {k: getattr(info, k) for k in ("id", "title", "series", "room", "source", "started_at", "ended_at",
                                             "end_reason", "sample_rate", "dropped_blocks", "removed_people")}
    names = {p.id: p.name for p in report.people + report.brief_voices}
    data = {
        "schema": SCHEMA,
        "meeting": {**meeting, "duration_s": report.duration_s},
        "group": {**asdict(report.group), "equal_share": report.equal_share},
        "people": [asdict(p) for p in report.people],
        "silent": list(report.silent),
        "brief_voices": [asdict(p) for p in report.brief_voices],
        "phases": [
            {**{k: v for k, v in asdict(ph).items() if k != "speakers"},
             "speakers": [{**asdict(s), "name": names.get(s.id, "")} for s in ph.speakers]}
            for ph in report.phases
        ],
        "monologues": [asdict(m) for m in report.monologues],
        "segments": [{"id": i, "name": report.name_of(i), "start_s": a, "end_s": b} for i, a, b in report.segments],
        "reading": list(report.reading),
        "history": [asdict(p) for p in report.history],
        "trend": report.trend,
        "notes": list(report.notes),
    }
    return dict(rounded(data))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def csv_rows(data: dict[str, Any]) -> Iterator[tuple[str, str, str, str, str, str]]:
    """The rows of the long table, from ``report_dict``'s data."""

    def rows(section: str, item: Any, obj: dict[str, Any], *, skip: tuple[str, ...] = ()) -> Iterator[Any]:
        pid, person = obj.get("id", ""), obj.get("name", "")
        for k, v in obj.items():
            if k not in skip and k not in ("id", "name") and not isinstance(v, list | dict):
                yield section, _cell(item), _cell(pid), _cell(person), k, _cell(v)

    for k, v in data["meeting"].items():
        yield "meeting", "", "", "", k, _cell(v)
    for k, v in data["group"].items():
        yield "group", "", "", "", k, _cell(v)
    for section in ("people", "brief_voices"):
        for p in data[section]:
            yield from rows(section, "", p)
    for n, ph in enumerate(data["phases"], 1):
        yield "phases", str(n), "", "", "name", ph["name"]
        yield from rows("phases", n, {k: v for k, v in ph.items() if k != "name"})
        for s in ph["speakers"]:
            yield from rows("phase_speakers", n, s)
    for n, m in enumerate(data["monologues"], 1):
        yield from rows("monologues", n, m)
    for n, s in enumerate(data["segments"], 1):
        yield from rows("segments", n, s)
    for h in data["history"]:
        yield from rows("history", h["meeting_id"], {k: v for k, v in h.items() if k != "meeting_id"})
        for name, share in h["shares"].items():
            yield "history_shares", h["meeting_id"], "", name, "share", _cell(share)
    for section in ("silent", "reading", "notes"):
        for n, text in enumerate(data[section], 1):
            yield section, str(n), "", "", "text", text
    if data["trend"] is not None:
        yield "trend", "", "", "", "text", data["trend"]


def render_csv(report: Report) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    w.writerows(csv_rows(report_dict(report)))
    return out.getvalue()


# ----------------------------------------------------------------------------- PDF


def when(iso: str | None) -> str:
    """A stored UTC time as people read it, in this machine's time zone: ``Tue 5 May 2026, 09:30``."""
    if not iso:
        return "–"
    t = datetime.fromisoformat(iso).astimezone()
    return f"{t:%a} {t.day} {t:%b %Y, %H:%M}"


def clock(s: float) -> str:
    return charts._minutes(s)  # noqa: SLF001 - one formatter for charts and text


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def score(x: float | None) -> str:
    return "–" if x is None else str(round(100 * x))


def _split(target: Figure | SubFigure, ratios: list[float], *, across: bool = False) -> list[SubFigure]:
    """``target`` cut into subfigures, top to bottom (or left to right)."""
    n = len(ratios)
    parts: Any = (target.subfigures(1, n, width_ratios=ratios) if across
                  else target.subfigures(n, 1, height_ratios=ratios))
    return list(parts)


def _save(pdf: PdfPages, fig: Figure) -> None:
    pdf.savefig(fig)  # type: ignore[no-untyped-call]


def _page() -> Figure:
    """An A4 page whose content stays ``MARGIN_IN`` inside every edge."""
    w, h = A4_IN
    rect = (MARGIN_IN / w, MARGIN_IN / h, 1 - 2 * MARGIN_IN / w, 1 - 2 * MARGIN_IN / h)
    fig = Figure(figsize=A4_IN)
    fig.set_layout_engine(ConstrainedLayoutEngine(rect=rect))
    return fig


_TEXT = TextToPath()


def fit(text: str, width_pt: float, fontsize: float = TABLE_FONT) -> str:
    """``text`` cut short with "…" so it is at most ``width_pt`` points wide in the report's font."""
    prop = FontProperties(size=fontsize)

    def width(s: str) -> float:
        return float(_TEXT.get_text_width_height_descent(s, prop, ismath=False)[0])

    if width(text) <= width_pt:
        return text
    lo, hi = 0, len(text)  # the longest prefix that fits with the ellipsis
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if width(text[:mid].rstrip() + "…") <= width_pt:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + "…"


def _table(target: Figure | SubFigure, header: list[str], rows: list[list[str]], *, widths: list[float],
           span: float = 1.0) -> None:
    """A table of ``rows``; ``widths`` are fractions of its width, ``span`` the page's text width it takes.

    A cell too long for its column is cut short with "…" (matplotlib's cells never wrap)."""
    ax = target.add_subplot()
    ax.axis("off")
    if not rows:
        return
    text_pt = (A4_IN[0] - 2 * MARGIN_IN) * 72 * span
    room = [w * text_pt * (1 - 2 * Cell.PAD) for w in widths]
    rows = [[fit(cell, room[k]) for k, cell in enumerate(row)] for row in rows]
    t = ax.table(cellText=rows, colLabels=header, colWidths=widths, loc="upper center", cellLoc="left")
    t.auto_set_font_size(False)
    t.set_fontsize(TABLE_FONT)
    t.scale(1, 1.35)
    for (r, _c), cell in t.get_celld().items():
        cell.set_edgecolor(charts.GRID)
        if r == 0:
            cell.set_text_props(weight="bold", color=charts.INK)
            cell.set_facecolor("#f1f4f8")


def _page_one(pdf: PdfPages, report: Report) -> None:
    fig = _page()
    head, chart, table = _split(fig, [2.3, 3.0, 3.4])
    info, g = report.meeting, report.group
    head.text(0.02, 0.94, "talktime · meeting report", fontsize=9, color=charts.MUTED, va="top")
    head.text(0.02, 0.83, textwrap.shorten(info.title, 70), fontsize=17, weight="bold", color=charts.INK, va="top")
    meta = [when(info.started_at), clock(report.duration_s)] + ([info.room] if info.room else []) + [f"{g.people} people"]
    head.text(0.02, 0.66, " · ".join(meta), fontsize=9.5, color=charts.MUTED, va="top")
    head.text(0.02, 0.52, score(g.balance), fontsize=30, weight="bold", color=charts.INK, va="top")
    head.text(0.14, 0.50, "balance\nout of 100", fontsize=8, color=charts.MUTED, va="top")
    lines = [ln for s in report.reading + report.notes for ln in textwrap.wrap(s, 78)][:9]
    head.text(0.28, 0.52, "\n".join(lines), fontsize=8.5, color=charts.INK, va="top", linespacing=1.45)
    chart.suptitle("Who spoke how much", x=0.02, ha="left", fontsize=11, weight="bold", color=charts.INK)
    charts.draw_shares(report, chart)
    rows = [[p.name + (" (remote)" if p.remote else ""), clock(p.talk_time_s), f"{report.percent_of(p.id)}%", "–" if p.of_equal_share is None else f"{p.of_equal_share:.2f}",
             str(p.turns), f"{p.longest_turn_s:.0f} s"] for p in report.people[:18]]
    _table(table, ["person", "talk", "share", "× equal", "turns", "longest"], rows, widths=[0.34, 0.12, 0.1, 0.1, 0.1, 0.12])
    _save(pdf, fig)


def _page_two(pdf: PdfPages, report: Report) -> None:
    fig = _page()
    rows = len(report.people) + len([p for p in report.brief_voices if p.spoke])
    parts = _split(fig, [min(4.5, 1.0 + 0.32 * rows), 0.8 + 0.4 * len(report.phases) if report.phases else 0.2, 3.4])
    parts[0].suptitle("Who spoke when", x=0.02, ha="left", fontsize=11, weight="bold", color=charts.INK)
    charts.draw_timeline(report, parts[0])
    if report.phases:
        parts[1].suptitle("Agenda phases", x=0.02, ha="left", fontsize=11, weight="bold", color=charts.INK)
        charts.draw_phases(report, parts[1])
    low = _split(parts[2], [1.1, 1], across=True)
    low[0].suptitle("Longest monologues", x=0.04, ha="left", fontsize=11, weight="bold", color=charts.INK)
    _table(low[0], ["person", "from", "length"],
           [[m.name, clock(m.start_s), clock(m.duration_s)] for m in report.monologues], widths=[0.5, 0.22, 0.22],
           span=1.1 / 2.1)
    low[1].suptitle("Balance scores", x=0.04, ha="left", fontsize=11, weight="bold", color=charts.INK)
    _table(low[1], ["measure", "value"], [[label, value] for label, value, _ in score_rows(report)], widths=[0.62, 0.3],
           span=1 / 2.1)
    _save(pdf, fig)


def _page_three(pdf: PdfPages, report: Report) -> None:
    fig = _page()
    top, middle, bottom = _split(fig, [4.2, 0.5, 5])
    top.suptitle("Trend of this recurring meeting", x=0.02, ha="left", fontsize=11, weight="bold", color=charts.INK)
    charts.draw_trend(report, top)
    rows = [[when(p.started_at), clock(p.duration_s), str(p.people), score(p.balance), pct(p.top_share)]
            for p in report.history[-20:]]
    middle.text(0.02, 0.5, "\n".join(textwrap.wrap(report.trend or "", 100)), fontsize=9, color=charts.INK, va="center")
    _table(bottom, ["meeting", "length", "people", "balance", "top share"], rows, widths=[0.36, 0.14, 0.12, 0.14, 0.14])
    _save(pdf, fig)


def render_pdf(report: Report) -> bytes:
    """A printable A4 PDF: the figures and shares, the timeline and phases, and the trend."""
    out = io.BytesIO()
    meta = {"Title": f"talktime report: {report.meeting.title}", "Creator": "talktime", "CreationDate": None}
    with PdfPages(out, metadata=meta) as pdf:
        _page_one(pdf, report)
        _page_two(pdf, report)
        if report.history:
            _page_three(pdf, report)
    return out.getvalue()


def score_rows(report: Report) -> list[tuple[str, str, str]]:
    """(measure, value, what it means) for the balance-score table."""
    g = report.group

    def ratio(x: float | None) -> str:
        return "–" if x is None else f"{x:.2f}"

    silence = clock(g.silence_s)
    if abs(g.speech_s + g.silence_s - report.duration_s) < 0.01:  # shown so that speech + silence = length
        silence = clock(max(0, round(report.duration_s) - round(g.speech_s)))

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
        ("overlap", f"{g.overlap_s:.0f} s", "time two or more people spoke at once"),
    ]


# ----------------------------------------------------------------------------- writing


def render(report: Report, fmt: str) -> bytes:
    """The report in ``fmt`` (html, pdf, csv or json) as bytes."""
    import json

    from tracker.reports.html import render_html

    if fmt == "html":
        return render_html(report).encode()
    if fmt == "pdf":
        return render_pdf(report)
    if fmt == "csv":
        return render_csv(report).encode()
    if fmt == "json":
        return (json.dumps(report_dict(report), indent=2, ensure_ascii=False) + "\n").encode()
    raise ValueError(f"report format expected one of {', '.join(FORMATS)}, got {fmt!r}")


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename; ``ReportError`` on failure."""
    path = Path(path)
    if path.is_dir():
        raise ReportError(f"cannot write the report to {path}: it is a folder; expected a file name (-o FILE)")
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise ReportError(f"cannot write the report to {path} ({exc.strerror or exc}); expected a writable "
                          "file in an existing folder (-o FILE)") from exc
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
