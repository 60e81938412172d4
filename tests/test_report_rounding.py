"""The report's rounded figures add up: shares shown as whole percents make 100, and speech plus
silence make the meeting's length as shown (QA: 0:44 + 0:06 for a 0:49 meeting, shares 99 %)."""

from __future__ import annotations

import random
import re
from dataclasses import replace

from store_helpers import meeting
from tracker.reports.figures import build_report, whole_percents
from tracker.reports.text import score_rows
from tracker.reports.render import render


def test_whole_percents_add_up_to_100_and_stay_within_a_point() -> None:
    assert whole_percents([0.246, 0.246, 0.246, 0.262]) == [25, 25, 24, 26]
    assert whole_percents([0.5, 0.5]) == [50, 50] and whole_percents([1.0, 0.0]) == [100, 0]
    assert whole_percents([0.2, 0.3]) == [20, 30]  # not a whole: each rounded
    assert whole_percents([]) == []
    rng = random.Random(3)
    for _ in range(300):
        weights = [rng.random() ** 3 for _ in range(rng.randint(1, 12))]
        shares = [w / sum(weights) for w in weights]
        shown = whole_percents(shares)
        assert sum(shown) == 100
        assert all(abs(p - 100 * s) < 1 for p, s in zip(shown, shares, strict=True))


def test_the_report_shows_shares_that_add_up_and_speech_plus_silence_equal_to_the_length() -> None:
    for seed in range(6):
        report = build_report(meeting(seed=seed, people=7, minutes=3.3))
        html = render(report, "html").decode()
        people = re.search(r'<table id="people">(.*?)</table>', html, re.S)
        assert people
        cells = re.findall(r'<tr data-id="-?\d+">(?:<td.*?</td>){2}<td class=num data-value="[^"]*">(\d+)%</td>',
                           people.group(1))
        assert len(cells) == len(report.people) and sum(map(int, cells)) == 100, cells
        rows = {label: value for label, value, _ in score_rows(report)}
        def secs(clock: str) -> int:
            m, s = clock.split(":")
            return 60 * int(m) + int(s)
        assert secs(rows["speech"]) + secs(rows["silence"]) == round(report.duration_s)


def test_the_qa_meeting_reads_0_44_speech_and_0_05_silence_for_0_49() -> None:
    report = build_report(meeting(seed=1, people=3, minutes=1.0))
    qa = replace(report, duration_s=49.188, group=replace(report.group, speech_s=43.648, silence_s=5.54))
    rows = {label: value for label, value, _ in score_rows(qa)}
    assert (rows["speech"], rows["silence"]) == ("0:44", "0:05")  # was 0:44 and 0:06: 0:50 for a 0:49 meeting
    assert "0:49 long" in render(qa, "html").decode()
