"""Talk-time accounting: equity measures, turns, the facilitator's corrections, phantoms."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from tracker.audio import SAMPLE_RATE, to_samples
from tracker.segments import merge_segments
from tracker.stages.accounting import (
    AccountingConfig,
    Accountant,
    SpeakerStats,
    Summary,
    balance_reading,
)
from tracker.stages.equity import effective_speakers, evenness, gini, shares
from tracker.segments import SpeakerSegment

CONFIG = AccountingConfig(turn_gap_s=1.5, recent_s=600.0, min_presence_s=2.0)


def seg(speaker: int, start_s: float, end_s: float) -> SpeakerSegment:
    return SpeakerSegment(speaker, to_samples(start_s), to_samples(end_s))


def by_id(summary: Summary) -> dict[int, SpeakerStats]:
    return {s.id: s for s in summary.speakers}


def accountant(*segments: SpeakerSegment, config: AccountingConfig = CONFIG) -> Accountant:
    acc = Accountant(config)
    acc.advance(0)
    acc.add(sorted(segments, key=lambda s: s.start_sample))
    return acc


# --------------------------------------------------------------------------- equity measures


@pytest.mark.parametrize("n", [2, 3, 7])
def test_equal_talk(n: int) -> None:
    times = [42.0] * n
    assert gini(times) == pytest.approx(0.0)
    assert evenness(times) == pytest.approx(1.0)
    assert effective_speakers(times) == pytest.approx(n)


@pytest.mark.parametrize("n", [2, 3, 7])
def test_one_talker(n: int) -> None:
    times = [60.0] + [0.0] * (n - 1)
    assert gini(times) == pytest.approx(1.0)
    assert evenness(times) == pytest.approx(0.0)
    assert effective_speakers(times) == pytest.approx(1.0)


def test_known_unequal_vector() -> None:
    times = [30.0, 10.0]  # shares 3/4 and 1/4
    assert shares(times) == pytest.approx([0.75, 0.25])
    assert gini(times) == pytest.approx(0.5)
    assert evenness(times) == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)) / math.log(2))
    assert effective_speakers(times) == pytest.approx(1 / (0.75**2 + 0.25**2))
    # Equity does not depend on units or on who is who.
    assert gini([3.0, 1.0]) == pytest.approx(gini([1.0, 3.0])) == pytest.approx(gini(times))


def test_undefined_equity() -> None:
    assert gini([5.0]) is None and evenness([5.0]) is None
    assert gini([0.0, 0.0]) is None and evenness([0.0, 0.0]) is None and effective_speakers([0.0, 0.0]) is None
    assert effective_speakers([5.0]) == pytest.approx(1.0)
    assert shares([0.0, 0.0]) == [0.0, 0.0]


def test_balance_reading_words() -> None:
    assert balance_reading(None) == "not enough speech yet"
    readings = [balance_reading(b) for b in (1.0, 0.7, 0.5, 0.1)]
    assert len(set(readings)) == 4
    assert readings[0].startswith("balanced") and readings[-1].startswith("dominated")


# --------------------------------------------------------------------------- accountant


def test_talk_time_is_sample_exact_and_sorted() -> None:
    acc = accountant(SpeakerSegment(0, 0, 16_001), SpeakerSegment(1, 20_000, 100_000), SpeakerSegment(0, 120_000, 120_003))
    s = acc.summary()
    assert [x.id for x in s.speakers] == [1, 0]
    assert by_id(s)[0].talk_time_s == 16_004 / 16_000
    assert by_id(s)[1].talk_time_s == 80_000 / 16_000
    assert sum(x.share for x in s.speakers) == pytest.approx(1.0)


def test_overlapping_segments_of_one_speaker_count_once() -> None:
    acc = accountant(seg(0, 0.0, 2.0), seg(0, 1.0, 3.0), seg(0, 3.0, 4.0))
    assert by_id(acc.summary())[0].talk_time_s == pytest.approx(4.0)


def test_turns_follow_the_floor() -> None:
    acc = accountant(
        seg(0, 0.0, 1.0), seg(0, 1.5, 2.5),  # a 0.5 s pause does not end a turn
        seg(1, 0.2, 0.6),  # a remark inside another's turn does not take the floor
        seg(0, 5.0, 6.0),  # after a 2.5 s pause, a new turn
        seg(1, 6.2, 7.0), seg(0, 7.2, 8.0),  # a change of speaker ends a turn, however short the pause
    )
    s = by_id(acc.summary())
    assert s[0].turns == 3 and s[1].turns == 1
    assert s[0].longest_turn_s == pytest.approx(2.5)
    assert s[1].talk_time_s == pytest.approx(0.4 + 0.8)


def test_turn_gap_is_configurable() -> None:
    segments = (seg(0, 0.0, 1.0), seg(0, 2.0, 3.0))
    assert by_id(accountant(*segments).summary())[0].turns == 1
    assert by_id(accountant(*segments, config=AccountingConfig(turn_gap_s=0.5)).summary())[0].turns == 2


def test_group_time_speech_silence_overlap() -> None:
    acc = accountant(seg(0, 1.0, 5.0), seg(1, 4.0, 6.0), seg(2, 8.0, 11.0))
    acc.advance(to_samples(20.0))
    g = acc.summary().group
    assert g.duration_s == pytest.approx(20.0)
    assert g.speech_s == pytest.approx(8.0)
    assert g.overlap_s == pytest.approx(1.0)
    assert g.silence_s == pytest.approx(12.0)
    assert g.people == 3


def test_expected_attendees_count_at_zero() -> None:
    acc = accountant(seg(0, 0.0, 10.0), seg(1, 11.0, 21.0))
    before = acc.summary().group
    acc.expect("Dana")
    acc.expect("Dana")  # once only
    s = acc.summary()
    dana = [x for x in s.speakers if x.name == "Dana"]
    assert len(dana) == 1 and dana[0].expected and dana[0].present and dana[0].talk_time_s == 0.0
    assert s.group.people == 3
    assert before.gini == pytest.approx(0.0)
    assert s.group.gini == pytest.approx(gini([10.0, 10.0, 0.0]))
    assert s.group.effective_speakers == pytest.approx(2.0)
    # Naming a voice after her takes her off the roster of silent people.
    acc.rename(1, "Dana")
    s = acc.summary()
    assert [x.name for x in s.speakers if x.expected] == []
    assert by_id(s)[1].name == "Dana" and s.group.people == 2


def test_merge_credits_the_time_to_the_kept_voice() -> None:
    acc = accountant(seg(0, 0.0, 4.0), seg(2, 3.0, 6.0), seg(1, 7.0, 9.0), seg(2, 10.0, 12.0))
    acc.rename(2, "split voice")
    acc.merge(0, 2)
    s = by_id(acc.summary())
    assert set(s) == {0, 1}
    assert s[0].talk_time_s == pytest.approx(6.0 + 2.0)  # the overlap of the two halves counts once
    assert s[0].name == "Guest 1"
    assert acc.summary().group.people == 2


def test_rename_and_default_names() -> None:
    acc = accountant(seg(0, 0.0, 3.0), seg(4, 4.0, 7.0))
    assert {x.name for x in acc.summary().speakers} == {"Guest 1", "Guest 5"}
    acc.rename(4, "Kim")
    assert by_id(acc.summary())[4].name == "Kim"


def test_phantom_voices_are_left_out_of_equity() -> None:
    acc = accountant(seg(0, 0.0, 10.0), seg(1, 11.0, 21.0), seg(2, 22.0, 23.0))  # 1 s < min_presence_s
    s = acc.summary()
    phantom = by_id(s)[2]
    assert not phantom.present and phantom.share == 0.0 and phantom.talk_time_s == pytest.approx(1.0)
    assert s.group.people == 2 and s.group.gini == pytest.approx(0.0)
    assert sum(x.share for x in s.speakers) == pytest.approx(1.0)
    assert s.group.speech_s == pytest.approx(21.0)  # still heard, just not a person
    acc.rename(2, "Lee")  # the facilitator says it is a person after all
    assert by_id(acc.summary())[2].present


def test_recent_window_and_time_since_last_spoke() -> None:
    acc = accountant(seg(0, 0.0, 30.0), seg(1, 30.0, 40.0), config=AccountingConfig(recent_s=15.0))
    acc.advance(to_samples(45.0))
    s = by_id(acc.summary())
    assert s[0].recent_talk_time_s == pytest.approx(0.0)
    assert s[1].recent_talk_time_s == pytest.approx(10.0) and s[1].recent_share == pytest.approx(1.0)
    assert s[0].last_spoke_s == pytest.approx(30.0) and s[0].since_last_spoke_s == pytest.approx(15.0)
    assert s[1].since_last_spoke_s == pytest.approx(5.0)


def test_a_stream_that_starts_late_counts_from_its_start() -> None:
    acc = Accountant(CONFIG)
    origin = to_samples(3_600.0)
    acc.advance(origin)
    acc.add([SpeakerSegment(0, origin + to_samples(1.0), origin + to_samples(3.0))])
    acc.advance(origin + to_samples(10.0))
    s = acc.summary()
    assert s.group.duration_s == pytest.approx(10.0)
    assert s.speakers[0].last_spoke_s == pytest.approx(3.0)


def test_empty_and_reset() -> None:
    acc = Accountant(CONFIG)
    s = acc.summary()
    assert s.speakers == [] and s.group.gini is None and s.group.reading == "not enough speech yet"
    acc = accountant(seg(0, 0.0, 3.0))
    acc.reset()
    assert acc.summary().speakers == [] and acc.clock_samples == 0


def test_empty_segments_are_ignored() -> None:
    acc = accountant(SpeakerSegment(0, 100, 100), seg(1, 0.0, 3.0))
    assert [x.id for x in acc.summary().speakers] == [1]


@pytest.mark.parametrize("name", ["turn_gap_s", "recent_s", "min_presence_s"])
def test_config_rejects_negative_durations(name: str) -> None:
    with pytest.raises(ValueError, match=f"{name} expected >= 0 seconds"):
        AccountingConfig(**{name: -1.0})


def test_segments_a_little_out_of_order_keep_every_sample() -> None:
    """A new voice's first words are released after later words of known voices: the timeline
    must still hold exactly the union of each voice's speech, sorted, with no double counting."""
    import random

    import numpy as np

    from tracker.segments import SpeakerSegment as Seg

    rng = random.Random(1)
    for _ in range(200):
        segs, t = [], 0
        for _ in range(40):
            t += rng.randint(0, 3000)
            segs.append(Seg(rng.randint(0, 2), t, t + rng.randint(100, 8000)))
        truth: dict[int, np.ndarray] = {}
        for s in segs:
            truth.setdefault(s.speaker, np.zeros(t + 9000, bool))[s.start_sample : s.end_sample] = True
        for i in range(len(segs) - 1):
            if rng.random() < 0.3:
                segs[i], segs[i + 1] = segs[i + 1], segs[i]
        acc = Accountant()
        acc.add(segs)
        got: dict[int, np.ndarray] = {}
        for s in acc.timeline:
            m = got.setdefault(s.speaker, np.zeros(t + 9000, bool))
            assert not m[s.start_sample : s.end_sample].any(), "a voice's runs overlap"
            m[s.start_sample : s.end_sample] = True
        assert all((truth[k] == got[k]).all() for k in truth)
        starts = [s.start_sample for s in acc.timeline]
        assert starts == sorted(starts)


# ----------------------------------------------------------------------------- running totals


def _reference(timeline: list[SpeakerSegment], provisional: list[SpeakerSegment], now: int, cfg: AccountingConfig) -> dict[str, object]:
    """The figures computed from scratch over every segment (what the running totals must equal)."""
    segs = sorted([*timeline, *provisional], key=lambda s: s.start_sample)
    gap, recent_from = to_samples(cfg.turn_gap_s), now - to_samples(cfg.recent_s)
    talk: dict[int, int] = {}
    recent: dict[int, int] = {}
    for s in segs:
        talk[s.speaker] = talk.get(s.speaker, 0) + s.duration_samples
        recent[s.speaker] = recent.get(s.speaker, 0) + max(0, s.end_sample - max(s.start_sample, recent_from))
    turns: list[list[int]] = []
    for s in segs:
        cur = turns[-1] if turns else None
        if cur is not None and cur[0] == s.speaker and s.start_sample - cur[2] <= gap:
            cur[2] = max(cur[2], s.end_sample)
        elif cur is not None and s.end_sample <= cur[2] and cur[0] != s.speaker:
            continue
        else:
            turns.append([s.speaker, s.start_sample, s.end_sample])
    n_turns: dict[int, int] = {}
    longest: dict[int, int] = {}
    for who, a, b in turns:
        n_turns[who] = n_turns.get(who, 0) + 1
        longest[who] = max(longest.get(who, 0), b - a)
    depth = np.zeros(max([now, *(s.end_sample for s in segs)]) + 1, dtype=np.int32)
    for s in segs:
        depth[s.start_sample : s.end_sample] += 1
    return {"talk": talk, "recent": recent, "turns": n_turns, "longest": longest,
            "speech": int((depth >= 1).sum()), "overlap": int((depth >= 2).sum())}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_running_totals_equal_a_recount_from_scratch(seed: int) -> None:
    """A long, randomly interrupted meeting (late segments, merges, provisional speech): every
    summary along the way equals a recount over all segments; phase talk and the drawn timeline too."""
    rng = np.random.default_rng(seed)
    cfg = AccountingConfig(turn_gap_s=1.5, recent_s=60.0, min_presence_s=2.0)
    rate = SAMPLE_RATE // 8  # samples per 'second' of this fake stream: the recount's sample array stays small
    acc = Accountant(cfg)
    acc.advance(0)
    t = 0
    for step in range(600):
        batch = []
        for _ in range(int(rng.integers(0, 4))):
            start = max(0, t - int(rng.integers(0, 5 * rate)))  # up to 5 s late
            batch.append(SpeakerSegment(int(rng.integers(0, 4)), start, start + int(rng.integers(1, 4 * rate))))
        acc.add(batch)
        t = max(t, acc.clock_samples) + int(rng.integers(0, 2 * rate))
        acc.advance(t)
        acc.set_provisional([SpeakerSegment(int(rng.integers(0, 5)), t, t + int(rng.integers(0, rate)))])
        if step == 350:
            acc.merge(0, 3)
        if step % 7 == 0 or step == 599:
            now = acc.clock_samples
            ref = _reference(acc.timeline, acc.provisional, now, cfg)
            s = by_id(acc.summary())
            assert {i: round(x.talk_time_s * SAMPLE_RATE) for i, x in s.items() if i >= 0} == ref["talk"]
            assert {i: round(x.recent_talk_time_s * SAMPLE_RATE) for i, x in s.items()} == {
                i: ref["recent"].get(i, 0) for i in s}  # type: ignore[attr-defined]
            assert {i: x.turns for i, x in s.items()} == ref["turns"]
            assert {i: round(x.longest_turn_s * SAMPLE_RATE) for i, x in s.items()} == ref["longest"]
            g = acc.summary().group
            assert (round(g.speech_s * SAMPLE_RATE), round(g.overlap_s * SAMPLE_RATE)) == (ref["speech"], ref["overlap"])
            a, b = now // 3, 2 * now // 3
            brute = {}
            for x in [*acc.timeline, *acc.provisional]:
                n = min(x.end_sample, b) - max(x.start_sample, a)
                if n > 0:
                    brute[x.speaker] = brute.get(x.speaker, 0) + n
            assert acc.talk_between(a, b) == brute
            for gap in (0, 3 * rate):
                assert acc.view_timeline(gap) == merge_segments([*acc.timeline, *acc.provisional], gap_samples=gap)
    assert acc._settled > 0  # the sweep did settle most of the meeting (the test covers that path)


def test_summary_cost_does_not_grow_with_the_meeting() -> None:
    """The figures of an 8-hour meeting cost about what an hour's do (running totals, not a recount)."""
    def built(hours: float) -> Accountant:
        acc = Accountant(CONFIG)
        acc.advance(0)
        t = 0.0
        while t < hours * 3600:
            acc.add([seg(int(t) % 5, t, t + 1.5)])
            t += 2.0
            acc.advance(to_samples(t))
        return acc

    def cost(acc: Accountant) -> float:
        acc.summary()
        acc.view_timeline(to_samples(30.0))
        t0 = time.perf_counter()
        for _ in range(20):
            acc.summary()
            acc.talk_between(0, acc.clock_samples // 2)
            acc.view_timeline(to_samples(30.0))
        return (time.perf_counter() - t0) / 20

    short, long = built(1.0), built(8.0)
    assert len(long.timeline) >= 7 * len(short.timeline)
    assert cost(long) < 3 * cost(short) + 0.002
