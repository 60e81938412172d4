"""The report as CSV: ``figures.report_dict``'s data flattened into one long table
(``section, item, person_id, person, metric, value``) that a spreadsheet can filter and pivot."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from tracker.reports.figures import Report, report_dict

CSV_COLUMNS = ("section", "item", "person_id", "person", "metric", "value")


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
    confidence = data["confidence"]
    for k, v in confidence.items():
        if not isinstance(v, list):
            yield "confidence", "", "", "", k, _cell(v)
    for n, text in enumerate(confidence["corrections"], 1):
        yield "corrections", str(n), "", "", "text", text


def render_csv(report: Report) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    w.writerows(csv_rows(report_dict(report)))
    return out.getvalue()
