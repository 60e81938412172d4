"""The report's charts, drawn with matplotlib (object API, no pyplot: safe in the server's threads).

Each function returns a ``matplotlib.figure.Figure`` (or None when there is nothing to draw) that
``tracker.reports.render`` saves as SVG for the HTML page or as a page of the PDF.
"""

from __future__ import annotations

from datetime import datetime

from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure
from matplotlib.ticker import FuncFormatter, MultipleLocator, PercentFormatter

from tracker.audio import SAMPLE_RATE, to_samples
from tracker.reports.figures import PersonFigures, Report
from tracker.segments import SpeakerSegment, merge_segments
from tracker.stages.display import clock

# The dashboard's colours (api/static/app.js), so a person looks the same on the page and on paper.
PALETTE = ["#4e9cff", "#ff9f43", "#2ed573", "#ff6b9a", "#b197fc", "#ffd32a", "#1dd1c1", "#ff7f50",
           "#74c0fc", "#d3f261", "#e599f7", "#63e6be"]
SILENT = "#b8c0c8"
INK, MUTED, GRID = "#1d2630", "#5b6673", "#e3e7ec"
TIMELINE_BLOCKS = 1500  # the timeline joins one person's runs closer than length/this: about a printed point
WIDTH_IN = 7.2  # inches: the text width of an A4 page with margins
# Steps of a time axis, seconds: round times people read at a glance (0:30, 1:00, 5:00, 15:00, 1:00:00).
TIME_STEPS_S = (10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400)
MAX_TIME_TICKS = 8  # intervals on a time axis at most: an A4 chart's labels stay apart
LABEL_PAD_PT = 4  # points between a bar (or the equal-share line) and its label


def colors(report: Report) -> dict[int, str]:
    """A colour per counted voice, in voice-id order as on the dashboard; the roster's silent people grey."""
    ids = sorted(p.id for p in report.people if p.id >= 0)
    out = {i: PALETTE[k % len(PALETTE)] for k, i in enumerate(ids)}
    for p in report.people + report.brief_voices:
        out.setdefault(p.id, SILENT)
    return out


def _style(ax: Axes) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.spines[["left", "bottom"]].set_color(MUTED)
    ax.tick_params(colors=MUTED, labelsize=8.5)
    ax.set_axisbelow(True)


def _minutes(x: float, _pos: object = None) -> str:
    return clock(x)  # the axis formatter's signature around the one clock rule


def time_step(length_s: float) -> int:
    """The tick step (seconds) of a time axis ``length_s`` long: the smallest of ``TIME_STEPS_S`` that
    gives at most ``MAX_TIME_TICKS`` intervals (whole minutes from 4 minutes on)."""
    return next((s for s in TIME_STEPS_S if length_s / s <= MAX_TIME_TICKS), TIME_STEPS_S[-1])


def _time_axis(ax: Axes, length_s: float) -> None:
    ax.xaxis.set_major_locator(MultipleLocator(time_step(length_s)))
    ax.xaxis.set_major_formatter(FuncFormatter(_minutes))


def _figure(height_in: float) -> Figure:
    fig = Figure(figsize=(WIDTH_IN, height_in), layout="constrained")
    fig.patch.set_facecolor("white")
    return fig


def _short(name: str) -> str:
    """A name for a chart's axis or legend: at most 24 characters, so long names leave room for the chart."""
    return name if len(name) <= 24 else name[:23] + "…"


def _label(p: PersonFigures) -> str:
    return _short(p.name)


Target = Figure | SubFigure


def shares_figure(report: Report) -> Figure:
    """Each person's share of the talk as a bar, against a dashed line at the equal share."""
    fig = _figure(0.45 + 0.36 * max(len(report.people), 1))
    draw_shares(report, fig)
    return fig


def draw_shares(report: Report, target: Target) -> None:
    people = report.people
    ax = target.add_subplot()
    _style(ax)
    col = colors(report)
    ys = range(len(people))
    ax.barh(list(ys), [p.share for p in people], color=[col[p.id] for p in people], height=0.62)
    top = max([p.share for p in people] + [report.equal_share or 0, 0.05])
    equal = report.equal_share
    for y, p in zip(ys, people, strict=True):
        # NB: a label that would start left of the equal-share line is put after it, so the dashed
        # line never runs through its text; a label offset in points keeps the same gap at any size.
        x = p.share if equal is None or p.share >= equal else equal
        ax.annotate(f"{report.percent_of(p.id)}%  ({_minutes(p.talk_time_s)})" if p.spoke else "did not speak",
                    (x, y), xytext=(LABEL_PAD_PT, 0), textcoords="offset points", va="center", fontsize=8.5,
                    color=INK if p.spoke else MUTED)
    if equal is not None:
        ax.axvline(equal, color=INK, linestyle=(0, (4, 3)), linewidth=1.1)
        ax.annotate(f"equal share {100 * equal:.0f}%", (equal, -0.75), xytext=(LABEL_PAD_PT, 0),
                    textcoords="offset points", fontsize=8, color=INK, va="bottom", ha="left")
    ax.set_yticks(list(ys), [_label(p) for p in people], fontsize=9, color=INK)
    ax.set_ylim(len(people) - 0.5, -1.0)
    ax.set_xlim(0, top * 1.32)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.grid(axis="x", color=GRID, linewidth=0.8)


def _timeline_people(report: Report) -> list[PersonFigures]:
    return report.people + [p for p in report.brief_voices if p.spoke]


def timeline_figure(report: Report) -> Figure:
    """Who spoke when: one row per person, agenda phases shaded behind."""
    fig = _figure(0.75 + 0.3 * max(len(_timeline_people(report)), 1))
    draw_timeline(report, fig)
    return fig


def draw_timeline(report: Report, target: Target) -> None:
    people = _timeline_people(report)
    ax = target.add_subplot()
    _style(ax)
    col = colors(report)
    row = {p.id: k for k, p in enumerate(people)}
    length = max(report.duration_s, 1.0)
    segs = [SpeakerSegment(i, to_samples(a), to_samples(b)) for i, a, b in report.segments if i in row]
    gap = to_samples(length) // TIMELINE_BLOCKS
    by_person: dict[int, list[tuple[float, float]]] = {}
    for s in merge_segments(segs, gap_samples=gap):
        by_person.setdefault(s.speaker, []).append((s.start_sample / SAMPLE_RATE, s.duration_samples / SAMPLE_RATE))
    for i, spans in by_person.items():
        ax.broken_barh(spans, (row[i] - 0.34, 0.68), facecolors=col[i], linewidth=0)
    for k, ph in enumerate(report.phases):
        end = length if ph.end_s is None else ph.end_s
        if k % 2 == 0:
            ax.axvspan(ph.start_s, end, color="#f1f4f8", zorder=0, linewidth=0)
        ax.text((ph.start_s + end) / 2, -0.62, ph.name, ha="center", va="bottom", fontsize=7.5, color=MUTED, clip_on=True)
    ax.set_yticks(list(range(len(people))), [_label(p) for p in people], fontsize=8.5, color=INK)
    ax.set_ylim(len(people) - 0.5, -0.5 - (0.55 if report.phases else 0))
    ax.set_xlim(0, length)
    _time_axis(ax, length)
    ax.grid(axis="x", color=GRID, linewidth=0.8)
    ax.set_xlabel("meeting time (pauses excluded)", fontsize=8, color=MUTED)


def phases_figure(report: Report) -> Figure | None:
    """Talk time in each agenda phase, stacked by person; None without phases."""
    if not report.phases:
        return None
    fig = _figure(0.7 + 0.42 * len(report.phases))
    draw_phases(report, fig)
    return fig


def draw_phases(report: Report, target: Target) -> None:
    ax = target.add_subplot()
    _style(ax)
    col = colors(report)
    for y, ph in enumerate(report.phases):
        left = 0.0
        for sh in ph.speakers:
            if sh.talk_time_s > 0:
                ax.barh(y, sh.talk_time_s, left=left, color=col.get(sh.id, SILENT), height=0.6)
                left += sh.talk_time_s
        bal = "–" if ph.balance is None else str(round(100 * ph.balance))
        ax.text(left, y, f"  balance {bal}", va="center", fontsize=8, color=INK)
    ax.set_yticks(list(range(len(report.phases))), [p.name for p in report.phases], fontsize=8.5, color=INK)
    ax.invert_yaxis()
    longest = max([sum(s.talk_time_s for s in p.speakers) for p in report.phases] + [1.0]) * 1.25
    ax.set_xlim(0, longest)
    _time_axis(ax, longest)
    ax.grid(axis="x", color=GRID, linewidth=0.8)
    ax.set_xlabel("talk time in the phase", fontsize=8, color=MUTED)


def trend_figure(report: Report) -> Figure | None:
    """Balance, and each named person's share, across the meetings of the series; None for one meeting."""
    if len(report.history) < 2:
        return None
    fig = _figure(3.6)
    draw_trend(report, fig)
    return fig


def draw_trend(report: Report, target: Target) -> None:
    points = report.history
    top, bottom = target.subplots(2, 1, sharex=True, height_ratios=[1, 1.3])
    xs = list(range(len(points)))
    labels = [datetime.fromisoformat(p.started_at).astimezone().strftime("%d %b") for p in points]
    for ax in (top, bottom):
        _style(ax)
        ax.grid(axis="y", color=GRID, linewidth=0.8)
    top.plot(xs, [None if p.balance is None else 100 * p.balance for p in points], marker="o", color=INK, linewidth=1.6)
    top.set_ylim(0, 100)
    top.set_ylabel("balance", fontsize=8, color=MUTED)
    names = sorted({n for p in points for n in p.shares}, key=lambda n: -sum(p.shares.get(n, 0) for p in points))
    by_name = {p.name: p.id for p in report.people}
    col = colors(report)
    for k, name in enumerate(names[:12]):
        color = col.get(by_name.get(name, -999), PALETTE[k % len(PALETTE)])
        bottom.plot(xs, [p.shares.get(name) for p in points], marker="o", markersize=3.5, linewidth=1.3,
                    color=color, label=_short(name))
    bottom.step(xs, [1 / p.people if p.people else None for p in points], where="mid", color=INK,
                linestyle=(0, (4, 3)), linewidth=1, label="equal share")
    bottom.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    bottom.set_ylabel("share", fontsize=8, color=MUTED)
    bottom.set_xticks(xs, labels, fontsize=8)
    bottom.legend(fontsize=7.5, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
