"""The report says how sure it is (the engine, its measured accuracy, the facilitator's names and
merges), and its PDF lays out every line where it can be read: text measured into its box, time
ticks at round times, share labels clear of the equal-share line, times with their zone."""

from __future__ import annotations

import html as html_lib
import json
import re
import shutil
import sqlite3
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.lines import Line2D
from matplotlib.text import Text

from api_fixtures import scripted_session, wait_for
from store_helpers import meeting
from tracker.audio import to_samples
from tracker.meeting.recorder import MeetingRecorder, engine_name
from tracker.reports import charts
from tracker.reports.accuracy import MEASURED, accuracy_sentence
from tracker.reports.figures import Report, build_report, report_dict
from tracker.reports.pdf import summary_lines
from tracker.reports.render import render
from tracker.reports.text import when
from tracker.segments import Correction, SpeakerSegment
from tracker.store import records
from tracker.store.records import MeetingRecord
from tracker.store.storage import MeetingStore

README = Path(__file__).resolve().parents[1] / "README.md"
CORRECTIONS = [Correction("name", 0, "Alex"), Correction("merge", 0, "Sam", 3), Correction("name", -1, "Dana")]


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with MeetingStore.in_folder(tmp_path / "data") as s:
        yield s


def busy(engine: str | None = "neural", **info: Any) -> MeetingRecord:
    """A meeting with every note at once (brief voices last) and three corrections by hand."""
    rec = meeting(seed=7, people=6)
    brief = [SpeakerSegment(40, to_samples(30.0), to_samples(30.8))]  # a brief voice: "... are not counted."
    fields = dict(end_reason="interrupted", dropped_blocks=12, removed_people=1, overlap_measured=False, engine=engine)
    return replace(rec, info=replace(rec.info, **{**fields, **info}), segments=rec.segments + brief,
                   corrections=list(CORRECTIONS))


# ----------------------------------------------------------------------------- the accuracy figures


def _readme_tvd() -> dict[tuple[str, str], float]:
    """The README accuracy table's pooled TVD of the dev set, by (engine, mode)."""
    out = {}
    for engine, mode, tvd in re.findall(r"^\| dev \| (\w+) \| (live|final) \|(?:[^|]*\|){5} \*\*([\d.]+)\*\* \|",
                                        README.read_text(), re.M):
        out[(engine, mode)] = float(tvd)
    return out


def test_the_measured_accuracy_is_the_readme_table() -> None:
    table = _readme_tvd()
    assert set(table) == {(e, m) for e in MEASURED for m in ("live", "final")}
    for engine, measured in MEASURED.items():
        assert (measured.live_pp, measured.final_pp) == (table[(engine, "live")], table[(engine, "final")]), engine
    which = re.search(r"^\| dev \(real AMI meetings\), talk given to the wrong person \| (.+?) \| (.+?) \|$",
                      README.read_text(), re.M)
    assert which is not None
    assert which.group(1) == f"{MEASURED['neural'].live_pp:.1f} pp live, {MEASURED['neural'].final_pp:.1f} pp in the report"
    assert which.group(2) == f"{MEASURED['lite'].live_pp:.1f} pp"


def test_each_engine_gets_its_sentence() -> None:
    assert accuracy_sentence("neural") == (
        "Figures made by the neural engine; on recorded real meetings about 11 % of talk time went to the wrong "
        "person after the post-meeting pass, about 13 % live.")
    assert accuracy_sentence("lite") == ("Figures made by the lite engine; on recorded real meetings about 17 % of "
                                         "talk time went to the wrong person.")
    assert "not measured here" in accuracy_sentence("pyannote")
    assert accuracy_sentence("hybrid:neural+neural").startswith("Figures made in the room by the neural engine; ")
    assert accuracy_sentence("hybrid:neural+lite").endswith("on the call by the lite engine.")
    assert "not recorded" in accuracy_sentence(None)
    assert "accuracy was not measured" in accuracy_sentence("scripted")


# ----------------------------------------------------------------------------- what the store keeps


def test_the_store_keeps_the_engine_and_the_corrections(store: MeetingStore) -> None:
    rec = busy()
    store.save(rec)
    back = store.load(rec.info.id)
    assert back.info.engine == "neural" and back.corrections == CORRECTIONS
    store.forget_person("sam")  # a name only a correction still holds goes too
    assert store.load(rec.info.id).corrections == [CORRECTIONS[0], CORRECTIONS[2]]
    store.forget_person("Alex")  # voice 0: their naming and the merge into them
    assert store.load(rec.info.id).corrections == [CORRECTIONS[2]]


def test_a_schema_3_store_is_migrated_and_its_meetings_read_as_not_recorded(tmp_path: Path) -> None:
    from tracker.store.storage import MIGRATIONS

    path = tmp_path / "meetings.sqlite"
    old = meeting()
    with sqlite3.connect(path, isolation_level=None) as db:
        db.execute("BEGIN")
        for version in (1, 2, 3):
            for statement in MIGRATIONS[version].split(";\n"):
                if statement.strip():
                    db.execute(statement)
        records.insert_record(db, old)
        db.execute("PRAGMA user_version = 3")
        db.execute("COMMIT")
    db.close()
    with MeetingStore(path) as store:
        back = store.load(old.info.id)
        assert back.info.engine is None and back.corrections == []
        report = build_report(back)
        assert report.confidence.engine is None and "not recorded" in report.confidence.accuracy
        store.save(busy())  # and the new columns take new meetings
        assert store.load(busy().info.id).corrections == CORRECTIONS


def test_a_live_meeting_stores_its_engine_and_the_facilitators_corrections(store: MeetingStore) -> None:
    session, source = scripted_session()
    recorder = MeetingRecorder(store, session, interval_s=3600.0)  # flushed by hand
    recorder.start()
    session.open()
    try:
        source.feed(16.0)  # all three voices have spoken (api_fixtures.THREE_PEOPLE)
        wait_for(lambda: session.snapshot().clock_s >= 16.0 - 1e-6, what="the meeting to hear the feed")
        session.rename(0, "Alex")
        recorder.flush()
        session.rename(2, "Sam")
        session.merge(1, 2)
        session.expect("Dana")
        session.rename(-1, "Dana K")
        recorder.flush()
        recorder.flush()  # nothing new: nothing stored twice
    finally:
        recorder.stop()
        session.close()
    stored = store.load(session.id)
    assert stored.info.engine == engine_name(session.pipeline.engine) == "scripted"
    assert stored.corrections == [Correction("name", 0, "Alex"), Correction("name", 2, "Sam"),
                                  Correction("merge", 1, "Sam", 2), Correction("name", -1, "Dana K")]
    confidence = build_report(stored).confidence
    assert (confidence.names_by_hand, confidence.merges_by_hand) == (3, 1)
    assert confidence.corrections == ["Guest 1 named Alex", "Guest 3 named Sam", "Sam merged into Sam",
                                      "a roster name corrected to Dana K"]


# ----------------------------------------------------------------------------- every format says it


def test_every_format_says_how_sure_it_is(tmp_path: Path) -> None:
    report = build_report(busy())
    lines = report.confidence.lines()
    assert lines[0].startswith("Figures made by the neural engine; on recorded real meetings about 11 %")
    assert lines[1] == ("Corrected by hand: 2 names and 1 merge (Guest 1 named Alex; Sam merged into Alex; a roster "
                        "name corrected to Dana).")
    data = json.loads(render(report, "json"))
    assert data["confidence"] == {"engine": "neural", "accuracy": lines[0], "names_by_hand": 2, "merges_by_hand": 1,
                                  "corrections": ["Guest 1 named Alex", "Sam merged into Alex",
                                                  "a roster name corrected to Dana"]}
    page = render(report, "html").decode()
    section = re.search(r'<section id="confidence".*?</section>', page, re.S)
    assert section and all(html_lib.escape(ln) in section.group(0) for ln in lines)
    csv_text = render(report, "csv").decode()
    assert "confidence,,,,engine,neural" in csv_text and "corrections,2,,,text,Sam merged into Alex" in csv_text
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(render(report, "pdf"))
    text = "".join(subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(pdf), "-"], capture_output=True, text=True,
                                  check=True).stdout.split())
    assert all("".join(ln.split()) in text for ln in lines)  # NB: lines wrap, and ligatures split words
    assert "No names were given and no voices merged by hand." in build_report(meeting()).confidence.lines()


# ----------------------------------------------------------------------------- the PDF's layout


def _words(pdf: Path, page: int) -> tuple[tuple[float, float], list[tuple[str, float, float, float, float]]]:
    """The page's size and its words with their boxes (points from the top left), from pdftotext."""
    out = subprocess.run(["pdftotext", "-bbox", "-f", str(page), "-l", str(page), str(pdf), "-"],
                         capture_output=True, text=True, check=True).stdout
    size = re.search(r'<page width="([\d.]+)" height="([\d.]+)"', out)
    assert size is not None
    words = [(html_lib.unescape(w), float(a), float(b), float(c), float(d)) for a, b, c, d, w in
             re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>', out)]
    return (float(size.group(1)), float(size.group(2))), words


@pytest.mark.parametrize("people", [4, 6, 12])
def test_the_first_page_summary_is_whole_and_above_the_chart(tmp_path: Path, people: int) -> None:
    for tool in ("pdftoppm", "pdftotext"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (Debian package poppler-utils)")
    rec = busy()
    rec = replace(rec, info=replace(rec.info, id=f"{rec.info.id[:-2]}{people:02d}"),
                  segments=meeting(seed=7, people=people).segments + rec.segments[-1:])
    report = build_report(rec)
    lines = summary_lines(report)
    assert lines[-1].endswith("Dana).") and "are not counted." in " ".join(lines)
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(render(report, "pdf"))
    (width, height), words = _words(pdf, 1)
    margin = 12 / 25.4 * 72  # 15 mm kept clear; pdftotext's boxes are a little loose
    for word, x0, y0, x1, y1 in words:
        assert margin <= x0 and x1 <= width - margin and margin <= y0 and y1 <= height - margin, word
    heading = min(y0 for w, _, y0, _, _ in words if w == "Who")  # "Who spoke how much"
    summary_words = [w for ln in lines for w in ln.split()]
    last = [(w, y1) for w, _, _, _, y1 in words if y1 < heading + 40]
    found = "".join(w for w, _ in last)  # NB: pdftotext splits a word at a ligature ("fi gures"): compare without spaces
    assert "".join(summary_words) in found  # every line there, in order, none hidden
    summary_bottom = max(y1 for w, y1 in last if w in ("counted.", "Dana)."))
    assert summary_bottom < heading  # above the chart's heading, not under it
    subprocess.run(["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "p")], check=True)
    assert next(tmp_path.glob("p*.png")).stat().st_size > 10_000


def _ticks(fig: Any) -> list[float]:
    FigureCanvasAgg(fig).draw()
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    return [t for t in ax.get_xticks() if lo - 1e-9 <= t <= hi + 1e-9]


@pytest.mark.parametrize("length_s, step_s", [(50, 10), (150, 30), (270, 60), (500, 120), (1500, 300),
                                              (2820, 600), (6000, 900), (4 * 3600, 1800), (8 * 3600, 3600)])
def test_timeline_ticks_fall_on_round_times(length_s: float, step_s: int) -> None:
    rec = meeting(minutes=length_s / 60, phases=False)
    ticks = _ticks(charts.timeline_figure(build_report(rec)))
    assert [round(t) for t in ticks] == list(range(0, int(length_s) + 1, step_s)), ticks
    assert 2 <= len(ticks) <= charts.MAX_TIME_TICKS + 1
    if length_s >= 240:
        assert all(round(t) % 60 == 0 for t in ticks)  # whole minutes: never 0:50, 1:40, 2:30


def test_phase_chart_ticks_fall_on_round_times() -> None:
    ticks = _ticks(charts.phases_figure(build_report(meeting(minutes=25))))
    step = ticks[1] - ticks[0]
    assert step in charts.TIME_STEPS_S and all(round(t) % step == 0 for t in ticks)


def _boxes(report: Report) -> tuple[float, list[tuple[str, float, float]]]:
    fig = charts.shares_figure(report)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    ax = fig.axes[0]
    dashed = [ln for ln in ax.get_lines() if isinstance(ln, Line2D) and ln.get_linestyle() == "--"]
    assert len(dashed) == 1
    x = float(ax.transData.transform((dashed[0].get_xdata()[0], 0))[0])
    texts = [t for t in ax.texts if isinstance(t, Text) and t.get_text()]
    return x, [(t.get_text(), t.get_window_extent(renderer).x0, t.get_window_extent(renderer).x1) for t in texts]


@pytest.mark.parametrize("seed, people", [(7, 6), (3, 8), (11, 12), (0, 3)])
def test_share_labels_keep_clear_of_the_equal_share_line(seed: int, people: int) -> None:
    report = build_report(meeting(seed=seed, people=people, roster=[]))
    line_x, boxes = _boxes(report)
    assert len(boxes) == len(report.people) + 1  # a label per person and the line's own
    for text, x0, x1 in boxes:
        assert not x0 - 1 <= line_x <= x1 + 1, f"the equal-share line runs through {text!r}"
    below = [p for p in report.people if report.equal_share and p.share < report.equal_share]
    assert below, "the case that used to collide: a share label starting left of the line"


def test_times_name_their_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    for tz, expected in (("UTC", "Mon 4 May 2026, 09:00 UTC"), ("Europe/Berlin", "Mon 4 May 2026, 11:00 CEST"),
                         ("America/Sao_Paulo", "Mon 4 May 2026, 06:00 UTC-03:00"),
                         ("Asia/Kolkata", "Mon 4 May 2026, 14:30 IST")):
        monkeypatch.setenv("TZ", tz)
        time.tzset()
        assert when("2026-05-04T09:00:00+00:00") == expected
        assert f"{expected} · 6:00 long" in render(build_report(meeting()), "html").decode()
    monkeypatch.undo()
    time.tzset()


def test_the_report_data_is_unchanged_by_the_confidence_block() -> None:
    data = report_dict(build_report(busy()))
    assert {k for k in data} >= {"confidence", "notes", "reading"} and data["schema"] == "talktime.report/5"
