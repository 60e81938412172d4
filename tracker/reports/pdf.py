"""The report as a PDF of A4 pages (matplotlib)."""

from __future__ import annotations

import io
import textwrap
from typing import Any

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure, SubFigure
from matplotlib.font_manager import FontProperties
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.table import Cell
from matplotlib.textpath import TextToPath

from tracker.reports import charts
from tracker.reports.figures import Report
from tracker.reports.text import clock, count, overlap, pct, score, score_rows, when

A4_IN = (8.27, 11.69)  # inches, portrait
MARGIN_IN = 15 / 25.4  # every page keeps 15 mm clear on each side: printers clip the outer few millimetres
TABLE_FONT = 8.5  # points
BODY_FONT = 8.5  # points: the summary sentences beside the balance score
BODY_SPACING = 1.45  # matplotlib linespacing of the summary (times the font's line height)
LINE_IN = BODY_FONT * BODY_SPACING * 1.2 / 72  # inches per summary line (matplotlib's line height is ~1.2 x the size)
HEAD_TOP_IN = 1.34  # inches from the page's content top to the summary's first line (kicker, title, meta)
SUMMARY_X = 0.28  # the summary's left edge, as a fraction of the text width (the score sits left of it)


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


def text_width(text: str, fontsize: float) -> float:
    """Points ``text`` takes on one line in the report's font."""
    return float(_TEXT.get_text_width_height_descent(text, FontProperties(size=fontsize), ismath=False)[0])


def wrap(text: str, width_pt: float, fontsize: float = BODY_FONT) -> list[str]:
    """``text`` broken at spaces into lines each at most ``width_pt`` points wide, measured in the
    report's font (a single word wider than that is cut with "…")."""
    lines: list[str] = []
    for word in text.split():
        if lines and text_width(f"{lines[-1]} {word}", fontsize) <= width_pt:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(fit(word, width_pt, fontsize))
    return lines


def fit(text: str, width_pt: float, fontsize: float = TABLE_FONT) -> str:
    """``text`` cut short with "…" so it is at most ``width_pt`` points wide in the report's font."""

    def width(s: str) -> float:
        return text_width(s, fontsize)

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


def summary_lines(report: Report) -> list[str]:
    """The first page's sentences (reading, notes, how sure the figures are), wrapped to their column."""
    width_pt = (A4_IN[0] - 2 * MARGIN_IN) * 72 * (1 - SUMMARY_X - 0.02)
    return [ln for s in report.reading + report.notes + report.confidence.lines() for ln in wrap(s, width_pt)]


def _page_one(pdf: PdfPages, report: Report) -> None:
    fig = _page()
    lines = summary_lines(report)
    content_in = A4_IN[1] - 2 * MARGIN_IN
    # NB: the head is as tall as its measured text needs, so no line runs into the chart below;
    # the chart and the table share what is left in their usual proportion.
    head_in = HEAD_TOP_IN + max(0.75, len(lines) * LINE_IN) + 0.15
    rest = content_in - head_in
    head, chart, table = _split(fig, [head_in, rest * 3.0 / 6.4, rest * 3.4 / 6.4])
    info, g = report.meeting, report.group

    def top(inches: float) -> float:  # a y in the head, ``inches`` below its top
        return 1 - inches / head_in

    head.text(0.02, top(0.16), "talktime · meeting report", fontsize=9, color=charts.MUTED, va="top")
    head.text(0.02, top(0.40), textwrap.shorten(info.title, 70), fontsize=17, weight="bold", color=charts.INK, va="top")
    meta = [when(info.started_at), clock(report.duration_s)] + ([info.room] if info.room else []) + [f"{g.people} people"]
    head.text(0.02, top(0.88), " · ".join(meta), fontsize=9.5, color=charts.MUTED, va="top")
    head.text(0.02, top(HEAD_TOP_IN), score(g.balance), fontsize=30, weight="bold", color=charts.INK, va="top")
    head.text(0.14, top(HEAD_TOP_IN + 0.05), "balance\nout of 100", fontsize=8, color=charts.MUTED, va="top")
    head.text(SUMMARY_X, top(HEAD_TOP_IN), "\n".join(lines), fontsize=BODY_FONT, color=charts.INK, va="top",
              linespacing=BODY_SPACING)
    chart.suptitle("Who spoke how much", x=0.02, ha="left", fontsize=11, weight="bold", color=charts.INK)
    charts.draw_shares(report, chart)
    measured = g.overlap_measured  # not measured: "–" in the cells, and the notes above say why
    rows = [[p.name + (" (remote)" if p.remote else ""), clock(p.talk_time_s), f"{report.percent_of(p.id)}%", "–" if p.of_equal_share is None else f"{p.of_equal_share:.2f}",
             str(p.turns), f"{p.longest_turn_s:.0f} s", overlap(p.overlap_s) if measured else "–",
             count(p.interruptions_made), count(p.interruptions_suffered)] for p in report.people[:18]]
    _table(table, ["person", "talk", "share", "× equal", "turns", "longest", "overlap", "interrupts", "interrupted"],
           rows, widths=[0.31, 0.08, 0.07, 0.08, 0.06, 0.08, 0.09, 0.1, 0.11])
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
