"""The post-meeting report: the HTML page parsed and checked against the stored segments, the PDF
rendered to an image, CSV and JSON round-tripped, the trend of a series, and the API's endpoint."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from api_fixtures import scripted_session, wait_for
from store_helpers import meeting, series_of
from tracker.store.records import MeetingRecord
from tracker.reports.figures import Report, build_report, report_dict
from tracker.reports.render import render
from tracker.stages.equity import gini
from tracker.store.storage import MeetingStore

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MeetingStore]:
    with MeetingStore.in_folder(tmp_path / "data") as s:
        yield s


@pytest.fixture
def stored(store: MeetingStore) -> tuple[MeetingStore, MeetingRecord, Report]:
    """A series of three weekly meetings in the store, and the report of the last one."""
    for rec in series_of(3):
        store.save(rec)
    record = store.load(None)
    return store, record, build_report(record, series=store.series("weekly sync"))


def stored_talk(store: MeetingStore, meeting_id: str) -> dict[int, float]:
    """Seconds of talk per voice, summed by SQLite from the stored rows (independent of the report)."""
    def query(c: Any) -> dict[int, float]:
        rows = c.execute("SELECT speaker, sum(end_sample - start_sample) FROM segments WHERE meeting_id = ? "
                         "GROUP BY speaker", (meeting_id,))
        return {int(s): n / 16_000 for s, n in rows}
    return store.read(query)


class Tables(HTMLParser):
    """Every table's rows as lists of (text, data-value) cells; elements by id; scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[tuple[str, str | None]]]] = {}
        self.ids: dict[str, dict[str, str | None]] = {}
        self.scripts: list[dict[str, str | None]] = []
        self._table: str | None = None
        self._cell: list[Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids[str(a["id"])] = a
        if tag == "script":
            self.scripts.append(a)
        if tag == "table":
            self._table = str(a.get("id"))
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag == "td" and self._table:
            self._cell = ["", a.get("data-value")]

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None and self._table:
            self.tables[self._table][-1].append((self._cell[0].strip(), self._cell[1]))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell[0] += data


def parse(html: str) -> Tables:
    p = Tables()
    p.feed(html)
    return p


def test_the_html_page_shows_the_stored_figures(stored: tuple[MeetingStore, MeetingRecord, Report]) -> None:
    store, record, report = stored
    html = render(report, "html").decode()
    page = parse(html)
    talk = stored_talk(store, record.info.id)
    total = sum(talk.values())
    rows = [r for r in page.tables["people"] if r]
    names = {**record.names, **{i: f"Guest {i + 1}" for i in talk if i not in record.names}}
    shown = {cells[0][1]: (float(cells[1][1] or 0), float(cells[2][1] or 0), int(cells[4][1] or 0)) for cells in rows}
    for voice, seconds in talk.items():
        t, share, turns = shown[names[voice]]
        assert t == pytest.approx(seconds) and share == pytest.approx(seconds / total) and turns >= 1
    for silent in record.expected:
        assert shown[silent][:2] == (0.0, 0.0)
    times = list(talk.values()) + [0.0] * len(record.expected)
    assert float(page.ids["balance"]["data-value"] or "nan") == pytest.approx(1 - (gini(times) or 0))
    assert "Dana, Eli" in html and "did not speak" in html
    assert [c[0] for c in page.tables["phases"][1]][0] == "identify problems"
    assert len([r for r in page.tables["history"] if r]) == 3
    assert page.tables["monologues"][1][3][1] == str(max(t.duration_s for t in report.monologues))
    # self-contained, escaped, and no code runs
    assert "Casey &lt;b&gt;&amp;&lt;/b&gt;" in html and "Casey <b>" not in html
    assert [s.get("type") for s in page.scripts] == ["application/json"]
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html) and html.count("<svg") == 4
    embedded = re.search(r'<script type="application/json" id="talktime-report">(.*?)</script>', html, re.S)
    assert embedded and json.loads(embedded.group(1)) == report_dict(report)


def test_the_pdf_renders_to_a_page_with_charts(stored: tuple[MeetingStore, MeetingRecord, Report], tmp_path: Path) -> None:
    from PIL import Image

    _, record, report = stored
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(render(report, "pdf"))
    for tool in ("pdftoppm", "pdftotext"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (Debian package poppler-utils); run `make test`")
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")], check=True)
    image = Image.open(next(tmp_path.glob("page*.png"))).convert("RGB")
    assert image.width < image.height  # A4 portrait
    pixels = list(image.getdata())
    ink = sum(1 for p in pixels if sum(p) < 700) / len(pixels)
    blue = sum(1 for r, g, b in pixels if abs(r - 0x4E) < 30 and abs(g - 0x9C) < 30 and b > 200)  # first voice's bar
    assert 0.02 < ink < 0.5 and blue > 100
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert record.info.title in text and "Who spoke how much" in text and "Who spoke when" in text
    assert all(n in text for n in ("Alex", "Blair", "Dana")) and "Trend of this recurring meeting" in text
    assert text.count("\f") == 3  # figures, timeline and phases, trend


def test_csv_and_json_round_trip_to_the_same_figures(stored: tuple[MeetingStore, MeetingRecord, Report]) -> None:
    _, _, report = stored
    data = json.loads(render(report, "json"))
    assert data == report_dict(report) and data["schema"] == "talktime.report/5"
    rows = list(csv.DictReader(io.StringIO(render(report, "csv").decode())))
    by: dict[tuple[str, str, str], dict[str, str]] = {}
    for r in rows:
        by.setdefault((r["section"], r["item"], r["person_id"]), {})[r["metric"]] = r["value"]

    def same(csv_value: str, json_value: Any) -> bool:
        if json_value is None:
            return csv_value == ""
        if isinstance(json_value, bool):
            return csv_value == str(json_value).lower()
        if isinstance(json_value, int | float):
            return float(csv_value) == json_value
        return csv_value == json_value

    def check(section: str, item: str, pid: str, obj: dict[str, Any], *, keys: tuple[str, ...] = ("id", "name")) -> None:
        got = by[(section, item, pid)]
        scalars = {k: v for k, v in obj.items() if k not in keys and not isinstance(v, list | dict)}
        assert set(got) == set(scalars), section
        assert all(same(got[k], v) for k, v in scalars.items()), (section, got, scalars)

    check("meeting", "", "", data["meeting"], keys=())
    check("group", "", "", data["group"])
    for p in data["people"]:
        check("people", "", str(p["id"]), p)
    for n, ph in enumerate(data["phases"], 1):
        check("phases", str(n), "", ph, keys=())
        for s in ph["speakers"]:
            check("phase_speakers", str(n), str(s["id"]), s)
    for n, m in enumerate(data["monologues"], 1):
        check("monologues", str(n), str(m["id"]), m)
    for n, s in enumerate(data["segments"], 1):
        check("segments", str(n), str(s["id"]), s)
    for h in data["history"]:
        check("history", h["meeting_id"], "", {k: v for k, v in h.items() if k != "meeting_id"})
    shares = [(r["item"], r["person"], float(r["value"])) for r in rows if r["section"] == "history_shares"]
    assert shares == [(h["meeting_id"], n, s) for h in data["history"] for n, s in h["shares"].items()]
    for section in ("reading", "notes", "silent"):
        assert [r["value"] for r in rows if r["section"] == section] == data[section]


def _readme_section() -> str:
    text = README.read_text()
    start = text.index("## Meeting record and reports")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def test_every_json_field_is_documented(stored: tuple[MeetingStore, MeetingRecord, Report]) -> None:
    data = report_dict(stored[2])
    doc = _readme_section()
    keys = set(data) | set(data["meeting"]) | set(data["group"]) | set(data["people"][0]) | set(data["phases"][0])
    keys |= set(data["monologues"][0]) | set(data["segments"][0]) | set(data["history"][0])
    missing = sorted(k for k in keys if f"`{k}`" not in doc)
    assert not missing, f"README's 'Meeting record and reports' does not document {missing}"
    for env in ("TALKTIME_DATA_DIR", "TALKTIME_RETENTION_DAYS"):
        assert env in doc
    for command in ("talktime meetings", "talktime report", "talktime history", "talktime prune", "forget-person"):
        assert command in doc


def test_a_series_shows_its_trend() -> None:
    records = series_of(4)
    report = build_report(records[2], series=records)  # a later meeting is not part of this one's trend
    assert [p.meeting_id for p in report.history] == [r.info.id for r in records[:3]]
    assert report.trend is not None and "the 2 earlier meetings of this series" in report.trend
    assert set(report.history[0].shares) <= {"Alex", "Blair", "Casey <b>&</b>", "Dana", "Eli"}  # named people only
    alone = build_report(meeting(series=None))
    assert alone.history == [] and alone.trend is None


def test_a_long_meeting_renders_in_seconds() -> None:
    rec = meeting(minutes=120, people=8, seed=7, max_turn_s=2.0, max_gap_s=1.2)  # fragmented, as diarization is
    t0 = time.perf_counter()
    report = build_report(rec, series=[meeting(seed=k, minutes=120, people=8) for k in range(8, 12)] + [rec])
    sizes = {fmt: len(render(report, fmt)) for fmt in ("html", "pdf", "csv", "json")}
    elapsed = time.perf_counter() - t0
    assert len(rec.segments) > 3000 and elapsed < 20, f"{len(rec.segments)} segments took {elapsed:.1f} s"
    assert sizes["html"] < 2_000_000, sizes


# ----------------------------------------------------------------------------- the API


CODE, TOKEN = "viewer-code-1", "facilitator-token-1"


def test_the_api_serves_the_report_of_the_meeting(store: MeetingStore) -> None:
    for rec in series_of(2, title="Stand-up"):
        store.save(rec)
    session, source = scripted_session()
    app = create_app(Settings(code=CODE, token=TOKEN, title="Stand-up"), session=session, store=store)
    view = {"Authorization": f"Bearer {CODE}"}
    with TestClient(app) as client:
        source.feed(20.0)
        wait_for(lambda: session.snapshot().clock_s >= 20.0 - 1e-6, what="the meeting to run")
        client.post(f"/api/meetings/{session.id}/end", headers={"Authorization": f"Bearer {TOKEN}"})
        url = f"/api/meetings/{session.id}/report"
        got = {fmt: client.get(url, params={"format": fmt}, headers=view) for fmt in ("html", "pdf", "csv", "json")}
        assert all(r.status_code == 200 for r in got.values()), {k: r.text[:200] for k, r in got.items()}
        assert got["pdf"].content.startswith(b"%PDF") and got["pdf"].headers["content-type"] == "application/pdf"
        assert "attachment" in got["pdf"].headers["content-disposition"]
        assert got["html"].headers["content-type"].startswith("text/html") and "Stand-up" in got["html"].text
        data = got["json"].json()
        state = client.get("/api/state", headers=view).json()
        assert {p["id"]: p["talk_time_s"] for p in data["people"]} == {
            p["id"]: p["talk_time_s"] for p in state["speakers"] if p["present"]}
        assert len(data["history"]) == 3 and data["meeting"]["end_reason"] == "ended"
        assert client.get(url, headers=view).status_code == 200  # html by default
        assert client.get(url).status_code == 401
        assert client.get("/api/meetings/nope/report", headers=view).status_code == 404
        assert client.get(url, params={"format": "docx"}, headers=view).status_code == 422
    stored = store.load(session.id)
    assert stored.info.end_reason == "ended" and stored.info.title == "Stand-up"


def test_without_a_store_the_report_comes_from_the_session() -> None:
    session, source = scripted_session()
    app = create_app(Settings(code=CODE, token=TOKEN, save=False), session=session)
    with TestClient(app) as client:
        source.feed(10.0)
        wait_for(lambda: session.snapshot().clock_s >= 10.0 - 1e-6, what="the meeting to run")
        r = client.get(f"/api/meetings/{session.id}/report", params={"format": "json"},
                       headers={"Authorization": f"Bearer {CODE}"})
        assert r.status_code == 200, r.text
        data = r.json()
        assert data["meeting"]["end_reason"] is None and data["meeting"]["title"].startswith("Meeting of ")
        assert "still going" in " ".join(data["notes"]) and data["group"]["people"] == 2
