"""Overlap and interruptions per person in the report: JSON, CSV, HTML, text, and what is stored."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from pathlib import Path

import pytest

from tracker.audio import SAMPLE_RATE, to_samples
from tracker.reports.figures import NOT_MEASURED, build_report, overlap_measured, report_dict
from tracker.reports.render import render
from tracker.segments import SpeakerSegment
from tracker.store.records import MeetingInfo, MeetingRecord
from tracker.store.storage import MeetingStore


def seg(speaker: int, start_s: float, end_s: float) -> SpeakerSegment:
    return SpeakerSegment(speaker, to_samples(start_s), to_samples(end_s))


def record(measured: bool | None, segments: list[SpeakerSegment] | None = None) -> MeetingRecord:
    # Ann talks 0-20; Ben says "mm-hm" at 5 (a back-channel), then cuts in at 19 and Ann stops at 20;
    # Ben talks to 40, Ann cuts in at 39.5 and Ben stops at 40.5; Ann talks to 60.
    segs = segments or [seg(0, 0, 20), seg(1, 5, 5.5), seg(1, 19, 40.5), seg(0, 39.5, 60)]
    info = MeetingInfo(id="0f0e0d0c-0b0a-4908-8706-050403020100", title="Sync", series=None, room=None,
                       source="microphone", started_at="2026-05-04T09:00:00+00:00",
                       ended_at="2026-05-04T09:01:00+00:00", end_reason="ended", sample_rate=SAMPLE_RATE,
                       clock_samples=to_samples(60), overlap_measured=measured)
    return MeetingRecord(info, segs, {0: "Ann", 1: "Ben"})


def csv_people(text: str) -> dict[tuple[str, str], str]:
    rows = list(csv.DictReader(io.StringIO(text)))
    return {(r["person"], r["metric"]): r["value"] for r in rows if r["section"] == "people"} | {
        ("group", r["metric"]): r["value"] for r in rows if r["section"] == "group"}


def test_json_and_csv_carry_overlap_and_interruptions_per_person() -> None:
    report = build_report(record(True))
    data = json.loads(render(report, "json"))
    assert data == report_dict(report) and data["schema"] == "talktime.report/5"
    assert data["group"]["overlap_measured"] is True
    people = {p["name"]: p for p in data["people"]}
    assert people["Ann"]["overlap_s"] == pytest.approx(0.5 + 1.0 + 1.0)  # the mm-hm, 19-20, 39.5-40.5
    assert people["Ben"]["overlap_s"] == pytest.approx(2.5)
    assert (people["Ben"]["interruptions_made"], people["Ben"]["interruptions_suffered"]) == (1, 1)
    assert (people["Ann"]["interruptions_made"], people["Ann"]["interruptions_suffered"]) == (1, 1)

    cells = csv_people(render(report, "csv").decode())
    assert cells[("Ann", "overlap_s")] == "2.5" and cells[("Ben", "interruptions_made")] == "1"
    assert cells[("Ann", "interruptions_suffered")] == "1" and cells[("group", "overlap_measured")] == "true"
    assert NOT_MEASURED not in data["notes"]
    assert any("interrupted most (1 time)" in s for s in data["reading"])


def test_html_and_text_show_the_columns() -> None:
    page = render(build_report(record(True)), "html").decode()
    head = re.search(r'<table id="people"><thead><tr>(.*?)</tr>', page)
    assert head is not None
    assert [h for h in re.findall(r">([^<]+)</th>", head.group(1))][-3:] == ["overlap", "interrupts", "interrupted"]
    assert 'data-value="2.5">2 s</td>' in page  # Ann's overlap, rounded as every duration is


def test_not_measured_is_said_never_zero() -> None:
    """A lite-engine meeting: overlap and interruptions are null, the report says "not measured"."""
    report = build_report(record(False, [seg(0, 0, 20), seg(1, 20, 40), seg(0, 40, 60)]))
    data = report_dict(report)
    assert data["group"]["overlap_measured"] is False
    for p in data["people"]:
        assert p["overlap_s"] is None and p["interruptions_made"] is None and p["interruptions_suffered"] is None
    assert NOT_MEASURED in data["notes"]
    cells = csv_people(render(report, "csv").decode())
    assert cells[("Ann", "overlap_s")] == "" and cells[("group", "overlap_measured")] == "false"
    page = render(report, "html").decode()
    assert "not measured" in page and '<tr data-metric="overlap_s"><td>overlap</td><td class=num>not measured</td>' in page
    assert b"%PDF" in render(report, "pdf")[:8]  # the PDF's cells read "–", its notes say why


def test_the_flag_is_stored_and_older_meetings_are_judged_by_their_segments(tmp_path: Path) -> None:
    with MeetingStore.in_folder(tmp_path / "data") as store:
        for measured in (True, False):
            rec = dataclasses.replace(record(measured), info=dataclasses.replace(
                record(measured).info, id=f"0f0e0d0c-0b0a-4908-8706-05040302010{int(measured)}"))
            store.save(rec)
            assert store.load(rec.info.id).info.overlap_measured is measured
    assert overlap_measured(record(None)) is True  # two people overlap: an engine that sees overlap made it
    assert overlap_measured(record(None, [seg(0, 0, 5), seg(1, 5, 9), seg(0, 9, 12)])) is False
