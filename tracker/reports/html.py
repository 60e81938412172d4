"""The report as one self-contained HTML page: inline CSS, charts as inline SVG, no script, no fetch.

Figures appear in tables whose cells carry their exact value in ``data-value``; the whole report
data (``report_dict``) is embedded as ``<script type="application/json" id="talktime-report">``,
which browsers never run, for tools that read the page.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

import matplotlib as mpl
from matplotlib.figure import Figure

from tracker.reports import charts
from tracker.reports.figures import Report, report_dict
from tracker.reports.text import clock, count, overlap, pct, score, score_rows, when

CSS = """
:root { --ink: #1d2630; --muted: #5b6673; --line: #e3e7ec; --soft: #f5f7fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       background: #fff; overflow-wrap: break-word; }
main { max-width: 60rem; margin: 0 auto; padding: 2rem 1.5rem 3rem; }
.kicker { color: var(--muted); font-size: .85rem; letter-spacing: .04em; text-transform: uppercase; margin: 0; }
h1 { font-size: 1.9rem; margin: .2rem 0 .3rem; line-height: 1.2; }
h2 { font-size: 1.15rem; margin: 2.2rem 0 .6rem; padding-bottom: .3rem; border-bottom: 1px solid var(--line); }
.meta { color: var(--muted); margin: 0 0 1.5rem; }
.score { display: flex; gap: 1.6rem; align-items: flex-start; background: var(--soft); border-radius: 10px;
         padding: 1.1rem 1.3rem; }
.balance { text-align: center; min-width: 7rem; }
.balance b { display: block; font-size: 3.2rem; line-height: 1; }
.balance small { color: var(--muted); }
.good b { color: #1f8a4c; } .fair b { color: #8a6d00; } .uneven b { color: #b35c00; } .bad b { color: #b3261e; }
.reading { margin: 0; padding-left: 1.1rem; }
.notes { color: var(--muted); font-size: .92rem; }
figure { margin: .4rem 0 .8rem; overflow-x: auto; }
figure svg { width: 100%; min-width: 43rem; height: auto; display: block; }
.wide { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; font-size: .93rem; }
td:first-child { min-width: 8rem; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: .85rem; }
td.num, th.num { text-align: right; }
.swatch { display: inline-block; width: .8em; height: .8em; border-radius: 2px; margin-right: .45em;
          vertical-align: -0.05em; }
.muted { color: var(--muted); }
footer { margin-top: 3rem; color: var(--muted); font-size: .85rem; border-top: 1px solid var(--line); padding-top: 1rem; }
@media (max-width: 32rem) {
  main { padding: 1.2rem 1rem 2rem; } h1 { font-size: 1.5rem; }
  .score { flex-direction: column; gap: .6rem; } .balance { text-align: left; }
}
@media print {
  body { font-size: 11pt; } main { max-width: none; padding: 0; }
  figure { overflow: visible; } figure svg { min-width: 0; }
  section { break-inside: avoid; } h2 { break-after: avoid; }
}
"""


def svg(fig: Figure) -> str:
    """A figure as inline SVG markup (text kept as text, so it is small, sharp and searchable)."""
    out = io.StringIO()
    with mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": "talktime", "font.family": "sans-serif"}):
        fig.savefig(out, format="svg", metadata={"Date": None, "Creator": None})
    text = out.getvalue()
    return text[text.index("<svg"):]


def _figure(fig: Figure | None, alt: str) -> str:
    if fig is None:
        return ""
    return f'<figure role="img" aria-label="{escape(alt)}">{svg(fig)}</figure>'


def _td(text: str, value: Any = None, *, num: bool = False) -> str:
    data = "" if value is None else f' data-value="{escape(str(value))}"'
    return f'<td{" class=num" if num else ""}{data}>{escape(text)}</td>'


def _table(table_id: str, header: Sequence[str], rows: Iterable[str], *, num: Sequence[int] = ()) -> str:
    head = "".join(f'<th{" class=num" if k in num else ""}>{escape(h)}</th>' for k, h in enumerate(header))
    return (f'<div class="wide"><table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
            "</table></div>")


def _people(report: Report) -> str:
    col = charts.colors(report)
    rows = []
    for p in report.people:
        ratio = "–" if p.of_equal_share is None else f"{p.of_equal_share:.2f}"
        name = f'<span class="swatch" style="background:{col[p.id]}"></span>{escape(p.name)}'
        rows.append(
            f'<tr data-id="{p.id}"><td data-value="{escape(p.name)}">{name}'
            f'{" <span class=muted>(on the roster, did not speak)</span>" if not p.spoke else ""}'
            f'{" <span class=muted>(remote)</span>" if p.remote else ""}</td>'
            + _td(clock(p.talk_time_s), p.talk_time_s, num=True) + _td(f"{report.percent_of(p.id)}%", p.share, num=True)
            + _td(ratio, p.of_equal_share, num=True) + _td(str(p.turns), p.turns, num=True)
            + _td(p.longest_turn, p.longest_turn_s, num=True)
            + _td(overlap(p.overlap_s), p.overlap_s, num=True)
            + _td(count(p.interruptions_made), p.interruptions_made, num=True)
            + _td(count(p.interruptions_suffered), p.interruptions_suffered, num=True) + "</tr>"
        )
    return _table("people", ["person", "talk time", "share", "× equal share", "turns", "longest turn", "overlap",
                             "interrupts", "interrupted"], rows, num=range(1, 9))


def _monologues(report: Report) -> str:
    rows = [f'<tr data-id="{m.id}">' + _td(m.name) + _td(clock(m.start_s), m.start_s, num=True)
            + _td(clock(m.end_s), m.end_s, num=True) + _td(clock(m.duration_s), m.duration_s, num=True) + "</tr>"
            for m in report.monologues]
    return _table("monologues", ["person", "from", "to", "length"], rows, num=(1, 2, 3))


def _phases(report: Report) -> str:
    if not report.phases:
        return ""
    names = {p.id: p.name for p in report.people}
    rows = []
    for ph in report.phases:
        top = max(ph.speakers, key=lambda s: s.share, default=None)
        lead = "–" if top is None or top.talk_time_s <= 0 else f"{names.get(top.id, top.id)} ({pct(top.share)})"
        rows.append("<tr>" + _td(ph.name) + _td(clock(ph.duration_s), ph.duration_s, num=True)
                    + _td(score(ph.balance), ph.balance, num=True) + _td(lead) + _td(ph.reading) + "</tr>")
    table = _table("phases", ["phase", "length", "balance", "talked most", "reading"], rows, num=(1, 2))
    return (f"<section><h2>Time by agenda phase</h2>{_figure(charts.phases_figure(report), 'talk time per phase')}"
            f"{table}</section>")


def _scores(report: Report) -> str:
    g = report.group
    raw = [g.balance, g.gini, g.evenness, g.effective_speakers, g.top_share, g.dominance, g.turn_cv,
           g.speech_s, g.silence_s, g.overlap_s if g.overlap_measured else None]
    rows = [f'<tr data-metric="{k}">' + _td(label) + _td(value, v, num=True) + f'<td class="muted">{escape(meaning)}</td></tr>'
            for (label, value, meaning), v, k in zip(score_rows(report), raw, (
                "balance", "gini", "evenness", "effective_speakers", "top_share", "dominance", "turn_cv",
                "speech_s", "silence_s", "overlap_s"), strict=True)]
    return _table("scores", ["measure", "value", "what it means"], rows, num=(1,))


def _history(report: Report) -> str:
    if not report.history:
        return ""
    rows = ["<tr data-id=\"" + escape(p.meeting_id) + "\">" + _td(when(p.started_at)) + _td(p.title)
            + _td(clock(p.duration_s), p.duration_s, num=True) + _td(str(p.people), p.people, num=True)
            + _td(score(p.balance), p.balance, num=True) + _td(pct(p.top_share), p.top_share, num=True) + "</tr>"
            for p in reversed(report.history)]
    return (f"<section><h2>Trend of this recurring meeting</h2><p>{escape(report.trend or '')}</p>"
            f"{_figure(charts.trend_figure(report), 'balance and shares across meetings')}"
            f"{_table('history', ['meeting', 'title', 'length', 'people', 'balance', 'top share'], rows, num=range(2, 6))}"
            "</section>")


def _confidence(report: Report) -> str:
    lines = "".join(f"<p>{escape(s)}</p>" for s in report.confidence.lines())
    return f'<section id="confidence" class="notes"><h2>How sure these figures are</h2>{lines}</section>'


def _embedded(report: Report) -> str:
    # NB: "<" escaped so no name can close the script element early.
    data = json.dumps(report_dict(report), ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    return f'<script type="application/json" id="talktime-report">{data}</script>'


def render_html(report: Report) -> str:
    """The report page (UTF-8 text)."""
    info, g = report.meeting, report.group
    meta = [when(info.started_at), f"{clock(report.duration_s)} long"] + ([info.room] if info.room else [])
    meta += [f"{g.people} people", info.source]
    silent = (f"<section><h2>Did not speak</h2><p>On the roster but never heard: {escape(', '.join(report.silent))}."
              "</p></section>") if report.silent else ""
    brief = ""
    if report.brief_voices:
        items = ", ".join(f"{p.name} ({p.talk_time_s:.1f} s)" for p in report.brief_voices)
        brief = f'<p class="notes">Brief voices, not counted: {escape(items)}.</p>'
    notes = "".join(f'<p class="notes">{escape(n)}</p>' for n in report.notes)
    balance_value = "" if g.balance is None else g.balance
    body = f"""<main>
<header><p class="kicker">talktime · meeting report</p><h1>{escape(info.title)}</h1>
<p class="meta">{escape(" · ".join(meta))}</p></header>
<section class="score"><div class="balance {g.band or ""}"><b id="balance" data-value="{balance_value}">{score(g.balance)}</b>
<small>balance out of 100</small></div>
<ul class="reading">{"".join(f"<li>{escape(s)}</li>" for s in report.reading)}</ul></section>
{notes}
{_confidence(report)}
<section><h2>Who spoke how much</h2>{_figure(charts.shares_figure(report), "each person's share against the equal share")}
{_people(report)}{brief}</section>
{silent}
<section><h2>Who spoke when</h2>{_figure(charts.timeline_figure(report), "timeline of who spoke when")}</section>
<section><h2>Longest monologues</h2>{_monologues(report)}</section>
{_phases(report)}
<section><h2>Balance scores</h2>{_scores(report)}</section>
{_history(report)}
<footer>What talktime keeps of a meeting is who spoke when, people's names and the agenda phases:
never audio, never words. Meeting {escape(info.id)}; times are of the meeting's own clock, pauses excluded.</footer>
</main>"""
    title = escape(f"{info.title} · talktime report")
    css = re.sub(r"\s+", " ", CSS)
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>'
            '<link rel="icon" href="data:,">'  # no /favicon.ico request (a 404 in the console)
            f"<style>{css}</style></head><body>{body}{_embedded(report)}</body></html>\n")
