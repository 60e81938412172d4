"""Per-person overlap and interruptions in the accountant, on hand-made segment lists."""

from __future__ import annotations

import random

import pytest

from tracker.audio import SAMPLE_RATE, to_samples
from tracker.segments import SpeakerSegment
from tracker.stages.accounting import SETTLE_S, AccountingConfig, Accountant, SpeakerStats

CONFIG = AccountingConfig(turn_gap_s=1.5, interrupt_window_s=2.0)


def seg(speaker: int, start_s: float, end_s: float) -> SpeakerSegment:
    return SpeakerSegment(speaker, to_samples(start_s), to_samples(end_s))


def figures(*segments: SpeakerSegment, clock_s: float | None = None, measured: bool = True,
            in_order: bool = True) -> dict[int, SpeakerStats]:
    acc = Accountant(CONFIG, overlap_measured=measured)
    acc.advance(0)
    segs = sorted(segments, key=lambda s: s.start_sample) if in_order else list(segments)
    acc.add(segs)
    if clock_s is not None:
        acc.advance(to_samples(clock_s))
    return {s.id: s for s in acc.summary().speakers}


def brute_overlap(segments: list[SpeakerSegment]) -> dict[int, float]:
    """Per speaker, 10 ms ticks where they and someone else talk (the reference)."""
    step = SAMPLE_RATE // 100
    end = max(s.end_sample for s in segments)
    out: dict[int, int] = {}
    for t in range(0, end, step):
        who = {s.speaker for s in segments if s.start_sample <= t < s.end_sample}
        if len(who) >= 2:
            for w in who:
                out[w] = out.get(w, 0) + 1
    return {w: n / 100 for w, n in out.items()}


def test_overlap_per_person_counts_each_side() -> None:
    # A talks 0-10; B overlaps 8-12; C talks 9-9.5 inside both.
    f = figures(seg(0, 0, 10), seg(1, 8, 12), seg(2, 9, 9.5), clock_s=20)
    assert f[0].overlap_s == pytest.approx(2.0)  # 8-10 with B (and C inside it)
    assert f[1].overlap_s == pytest.approx(2.0)  # 8-10 with A
    assert f[2].overlap_s == pytest.approx(0.5)  # all of C
    # the group figure is the time two or more talk at once
    acc = Accountant(CONFIG)
    acc.add([seg(0, 0, 10), seg(1, 8, 12), seg(2, 9, 9.5)])
    assert acc.summary().group.overlap_s == pytest.approx(2.0)


def test_no_overlap_is_zero_when_measured() -> None:
    f = figures(seg(0, 0, 5), seg(1, 5, 9), seg(0, 10, 14), clock_s=30)
    assert all(s.overlap_s == 0.0 and s.interruptions_made == 0 and s.interruptions_suffered == 0 for s in f.values())


def test_overlap_matches_a_brute_force_count_on_random_meetings() -> None:
    rng = random.Random(7)
    for _ in range(5):
        segs = []
        t = 0.0
        for _ in range(60):
            who = rng.randrange(4)
            start = max(0.0, t - rng.uniform(0, 2))
            end = start + rng.uniform(0.2, 6)
            segs.append(seg(who, round(start, 2), round(end, 2)))
            t = end + rng.uniform(-1, 2)
        acc = Accountant(CONFIG)
        acc.add(sorted(segs, key=lambda s: s.start_sample))
        want = brute_overlap(acc.timeline)
        for s in acc.summary().speakers:
            assert s.overlap_s == pytest.approx(want.get(s.id, 0.0), abs=0.05)


def test_an_interruption_is_counted_for_both_sides() -> None:
    # A holds the floor 0-10; B starts at 9 and A stops at 10 (1 s later); B goes on to 15.
    f = figures(seg(0, 0, 10), seg(1, 9, 15), clock_s=30)
    assert (f[1].interruptions_made, f[1].interruptions_suffered) == (1, 0)
    assert (f[0].interruptions_made, f[0].interruptions_suffered) == (0, 1)


def test_a_back_channel_is_not_an_interruption() -> None:
    # B says "mm-hm" for 0.5 s at 4 while A keeps talking to 10.
    f = figures(seg(0, 0, 10), seg(1, 4, 4.5), clock_s=30)
    assert f[1].interruptions_made == 0 and f[0].interruptions_suffered == 0
    assert f[1].overlap_s == pytest.approx(0.5) and f[0].overlap_s == pytest.approx(0.5)


def test_other_stopping_later_than_the_window_is_not_an_interruption() -> None:
    f = figures(seg(0, 0, 10), seg(1, 7, 15), clock_s=30)  # A goes on 3 s after B starts
    assert f[1].interruptions_made == 0 and f[0].interruptions_suffered == 0


def test_a_breath_is_not_a_stop() -> None:
    # B starts at 9, A's run ends at 10 but A goes on at 10.5 (a pause shorter than the turn gap).
    f = figures(seg(0, 0, 10), seg(1, 9, 11), seg(0, 10.5, 16), clock_s=30)
    assert f[1].interruptions_made == 0 and f[0].interruptions_suffered == 0


def test_starting_together_and_going_on_are_not_interruptions() -> None:
    # Both start at 0 (nobody was mid-turn); B's second run at 10.2 goes on from its own 9.5.
    f = figures(seg(0, 0, 3), seg(1, 0, 2), seg(1, 2.5, 9.5), seg(0, 9, 11), seg(1, 10.2, 14), clock_s=30)
    assert f[1].interruptions_made == 0
    # A started at 9 while B talked and B stopped at 9.5 for good? No: B went on at 10.2 (0.7 s later).
    assert f[0].interruptions_made == 0


def test_an_interruption_is_counted_once_the_other_has_been_silent_for_a_turn_gap() -> None:
    acc = Accountant(CONFIG)
    acc.advance(0)
    acc.add([seg(0, 0, 10), seg(1, 9, 11)])  # the clock is at 11: A stopped 1 s ago and may still go on
    assert {s.id: s.interruptions_suffered for s in acc.summary().speakers}[0] == 0
    acc.advance(to_samples(12))
    assert {s.id: s.interruptions_suffered for s in acc.summary().speakers}[0] == 1


def test_figures_are_the_same_settled_or_not() -> None:
    """The settled sweep and the tail fed at summary time give the same figures."""
    segs = [seg(0, 0, 10), seg(1, 9, 15), seg(2, 14.5, 15), seg(0, 16, 30), seg(1, 29, 31)]
    live = figures(*segs, clock_s=33)  # A stopped at 30, more than a turn gap ago
    late = figures(*segs, clock_s=31 + 2 * SETTLE_S)
    for i in live:
        assert (live[i].overlap_s, live[i].interruptions_made, live[i].interruptions_suffered) == (
            late[i].overlap_s, late[i].interruptions_made, late[i].interruptions_suffered)
    assert late[1].interruptions_made == 2 and late[0].interruptions_suffered == 2


def test_a_late_segment_and_a_merge_keep_the_figures_exact() -> None:
    acc = Accountant(CONFIG)
    acc.add([seg(0, 0, 10), seg(1, 9, 15)])
    acc.advance(to_samples(100))
    acc.add([seg(2, 5, 6)])  # decided late, before settled segments
    f = {s.id: s for s in acc.summary().speakers}
    assert f[2].overlap_s == pytest.approx(1.0) and f[0].overlap_s == pytest.approx(2.0)
    acc.merge(0, 2)
    f = {s.id: s for s in acc.summary().speakers}
    assert f[0].overlap_s == pytest.approx(1.0) and f[1].overlap_s == pytest.approx(1.0)
    assert f[1].interruptions_made == 1


def test_overlap_not_measured_is_none_not_zero() -> None:
    """A lite engine cannot see two people at once: its zero would not be a measurement."""
    acc = Accountant(CONFIG, overlap_measured=False)
    acc.add([seg(0, 0, 5), seg(1, 5, 9)])
    acc.expect("Ann")
    summary = acc.summary()
    assert summary.group.overlap_measured is False
    for s in summary.speakers:
        assert s.overlap_s is None and s.interruptions_made is None and s.interruptions_suffered is None


def test_state_stays_bounded_over_a_long_meeting() -> None:
    acc = Accountant(CONFIG)
    rng = random.Random(1)
    t = 0.0
    for k in range(20_000):
        who = rng.randrange(30)
        start = max(0.0, t - rng.uniform(0, 1))
        end = start + rng.uniform(0.3, 5)
        acc.add([seg(who, start, end)])
        t = end + rng.uniform(0, 1)
        if k % 500 == 0:
            acc.summary()
    sweep = acc._sweep
    assert len(sweep.run) <= 10 and len(sweep.overlap_to) <= 10 and len(sweep.pending) <= 10
