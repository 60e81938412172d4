"""scripts/talk_metrics.py on hand-made annotations whose answers are worked out by hand (no audio)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from talk_metrics import TalkScore, pool, score_talk, shared_time, union  # noqa: E402

REF = [("A", 0.0, 10.0), ("B", 10.0, 16.0), ("C", 16.0, 20.0)]  # shares 50 / 30 / 20 %


def test_perfect_is_zero_whatever_the_labels() -> None:
    s = score_talk(REF, [("x", 0.0, 10.0), ("y", 10.0, 16.0), ("z", 16.0, 20.0)])
    assert s.tvd == pytest.approx(0.0)
    assert (s.people, s.voices, s.phantom) == (3, 3, 0.0)
    assert s.mapping == {"x": "A", "y": "B", "z": "C"}


def test_swapped_labels_are_mapped_back() -> None:
    s = score_talk(REF, [("B", 0.0, 10.0), ("A", 10.0, 16.0), ("C", 16.0, 20.0)])
    assert s.tvd == pytest.approx(0.0)
    assert s.mapping == {"B": "A", "A": "B", "C": "C"}


def test_phantom_voice() -> None:
    # A 50 %, B 50 %; found x 50 %, y 35 %, z 15 % (z is B's last 3 s): |0|+|50-35|+|0-15| = 30 -> 15 pp
    s = score_talk([("A", 0.0, 10.0), ("B", 10.0, 20.0)], [("x", 0.0, 10.0), ("y", 10.0, 17.0), ("z", 17.0, 20.0)])
    assert s.tvd == pytest.approx(15.0) and s.tvd_shown == pytest.approx(15.0)
    assert (s.people, s.voices) == (2, 3)
    assert s.phantom == pytest.approx(15.0)
    assert "z" not in s.mapping


def test_merged_pair() -> None:
    # A and B found as one voice (80 %), C right (20 %): |50-80| + |30-0| + 0 = 60 -> 30 pp
    s = score_talk(REF, [("x", 0.0, 16.0), ("y", 16.0, 20.0)])
    assert s.tvd == pytest.approx(30.0)
    assert (s.people, s.voices, s.phantom) == (3, 2, 0.0)


def test_a_voice_under_the_minimum_is_not_counted_but_its_talk_is_misplaced() -> None:
    # w (1.5 s of 21.5 found) maps to nobody: every mapped share shrinks, TVD = w's share; the
    # shares shown (counted voices only) are right
    s = score_talk(REF, [("x", 0.0, 10.0), ("y", 10.0, 16.0), ("z", 16.0, 20.0), ("w", 20.0, 21.5)])
    assert s.voices == 3
    assert s.tvd == pytest.approx(100 * 1.5 / 21.5) and s.phantom == pytest.approx(100 * 1.5 / 21.5)
    assert s.tvd_shown == pytest.approx(0.0)


def test_overlap_counts_for_both_people() -> None:
    # A talks 0-10, B 5-10 over A: shares 2/3 and 1/3; one voice found for all of it -> B missed, 1/3
    s = score_talk([("A", 0.0, 10.0), ("B", 5.0, 10.0)], [("x", 0.0, 10.0)])
    assert s.ref_talk_s == pytest.approx(15.0)
    assert s.tvd == pytest.approx(100 / 3)


def test_region_crops_both_sides() -> None:
    s = score_talk([("A", 0.0, 10.0), ("B", 10.0, 20.0)], [("x", 0.0, 20.0)], region=(0.0, 10.0))
    assert s.people == 1 and s.tvd == pytest.approx(0.0)


def test_nothing_found() -> None:
    s = score_talk(REF, [])
    assert s.voices == 0 and s.tvd == pytest.approx(50.0)


def test_interval_helpers() -> None:
    assert union([(5, 6), (0, 2), (1, 3), (4, 4)]) == [(0, 3), (5, 6)]
    assert shared_time([(0, 3), (5, 6)], [(2, 5.5)]) == pytest.approx(1.5)


def test_pool_weights_by_reference_talk() -> None:
    a = TalkScore(tvd=10.0, tvd_shown=8.0, people=3, voices=3, phantom=0.0, ref_talk_s=300.0)
    b = TalkScore(tvd=40.0, tvd_shown=40.0, people=4, voices=6, phantom=5.0, ref_talk_s=100.0)
    p = pool([a, b])
    assert p["tvd_weighted"] == pytest.approx(17.5)
    assert p["tvd_mean"] == pytest.approx(25.0) and p["tvd_shown_weighted"] == pytest.approx(16.0)
    assert (p["count_exact"], p["count_within_one"], p["phantom_max"]) == (1, 1, 5.0)
