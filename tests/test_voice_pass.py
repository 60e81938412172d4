"""The neural engine's post-meeting pass on hand-made embeddings: regrouping and merging voices."""

from __future__ import annotations

import numpy as np

from tracker.audio import SAMPLE_RATE
from tracker.stages.voice_pass import RegroupConfig, VoicePassConfig, final_pass, regroup, voice_mapping

SR = SAMPLE_RATE
rng = np.random.default_rng(1)


def voice(k: int) -> np.ndarray:
    v = np.zeros(8)
    v[k] = 1.0
    v += rng.normal(0, 0.1, 8)
    return (v / np.linalg.norm(v)).astype(np.float32)


def test_a_live_voice_that_was_two_people_is_split_and_keeps_its_id_for_the_bigger_one() -> None:
    # live voice 0 heard person A (0-20 s) then person B (20-30 s): the live engine chained them
    records = [(0, i * SR, (i + 2) * SR, voice(0 if i < 20 else 1), 2 * SR) for i in range(0, 30, 2)]
    segments = [(0, i * SR, (i + 2) * SR) for i in range(0, 30, 2)]
    out = regroup(records, segments, RegroupConfig())
    assert {s[0] for s in out if s[1] < 20 * SR} == {0}
    assert {s[0] for s in out if s[1] >= 20 * SR} == {1}


def test_two_live_voices_of_one_person_become_one_and_names_stay() -> None:
    records = [(0 if i < 10 else 3, i * SR, (i + 2) * SR, voice(0), 2 * SR) for i in range(0, 20, 2)]
    segments = [(0 if i < 10 else 3, i * SR, (i + 2) * SR) for i in range(0, 20, 2)]
    out = regroup(records, segments, RegroupConfig())
    assert {s[0] for s in out} in ({0}, {3})


def test_a_small_odd_group_stays_with_its_voice() -> None:
    records = [(0, i * SR, (i + 2) * SR, voice(0), 2 * SR) for i in range(0, 20, 2)]
    records.append((0, 20 * SR, 21 * SR, voice(5), SR))  # one second of something else
    segments = [(0, i * SR, (i + 2) * SR) for i in range(0, 22, 2)]
    assert {s[0] for s in regroup(records, segments, RegroupConfig())} == {0}


def test_without_embeddings_nothing_changes() -> None:
    segments = [(0, 0, SR), (1, SR, 2 * SR)]
    assert regroup([], segments, RegroupConfig()) == segments


def test_a_tiny_voice_is_folded_into_its_closest_and_a_named_pair_is_never_merged() -> None:
    recs = [(0, voice(0), 3 * SR), (1, voice(0), SR), (2, voice(2), 3 * SR)]
    talk = {0: 60 * SR, 1: SR, 2: 30 * SR}
    assert voice_mapping(recs, talk, VoicePassConfig()) == {1: 0}
    assert voice_mapping(recs, talk, VoicePassConfig(), protected=[0, 1]) == {}


def test_a_live_voice_that_borrowed_from_another_is_judged_on_what_is_left_of_it() -> None:
    """Live voice 1 held 20 s of A (live voice 0's person) and 12 s of B. The regrouping gives A's
    part to voice 0; the merge must then compare what voice 1 is now (B), not the mixture, whose
    profile is 0.86 alike to A's and would take B off the report."""
    a = [(0, i * SR, (i + 2) * SR, voice(0), 2 * SR) for i in range(0, 40, 2)]
    mixed = [(1, i * SR, (i + 2) * SR, voice(0 if i < 60 else 1), 2 * SR) for i in range(40, 72, 2)]
    records = a + mixed
    segments = [(r[0], r[1], r[2]) for r in records]
    out = final_pass(records, segments, RegroupConfig(), VoicePassConfig())
    talk = {sid: sum(e - s for k, s, e in out if k == sid) / SR for sid in {k for k, _, _ in out}}
    assert talk == {0: 60.0, 1: 12.0}
    assert {k for k, s, _ in out if s >= 60 * SR} == {1}


def test_a_quiet_voice_that_talks_over_the_meeting_is_background_and_credited_to_nobody() -> None:
    """Two people at -30 dB and -38 dB take turns; a conversation behind them at -52 dB, heard as a
    voice of its own, goes on while person 0 talks: the report gives it nothing. A person as quiet
    who waits for a pause stays, the quieter person stays, and a named voice is never set aside."""
    people = [(k, i * SR, (i + 2) * SR, voice(k), 2 * SR) for k in (0, 1) for i in range(20 * k, 20 * k + 20, 2)]
    behind = [(2, i * SR, (i + 2) * SR, voice(2), 2 * SR) for i in range(4, 10, 2)]  # under person 0
    alone = [(2, i * SR, (i + 2) * SR, voice(2), 2 * SR) for i in range(40, 46, 2)]  # after everyone
    level = {0: -30.0, 1: -38.0, 2: -52.0}

    def talk(records: list, **kw: object) -> dict[int, float]:
        segs = [(r[0], r[1], r[2]) for r in records]
        out = final_pass(records, segs, RegroupConfig(), kw.pop("config", VoicePassConfig()),  # type: ignore[arg-type]
                         levels=[level[r[0]] for r in records], **kw)  # type: ignore[arg-type]
        return {k: sum(e - s for j, s, e in out if j == k) / SR for k in {j for j, _, _ in out}}

    assert talk(people + behind) == {0: 20.0, 1: 20.0}
    assert talk(people + alone) == {0: 20.0, 1: 20.0, 2: 6.0}
    assert talk(people + behind, protected=[2]) == {0: 20.0, 1: 20.0, 2: 6.0}
    assert talk(people + behind, config=VoicePassConfig(background=None)) == {0: 20.0, 1: 20.0, 2: 6.0}
    segs = [(r[0], r[1], r[2]) for r in people + behind]
    unmeasured = final_pass(people + behind, segs, RegroupConfig(), VoicePassConfig(), levels=[None] * len(segs))
    assert {k for k, _, _ in unmeasured} == {0, 1, 2}


def test_the_engine_measures_the_level_of_each_kept_embedding() -> None:
    from tracker.pipeline.neural import frame_power

    audio = np.zeros(16000, np.float32)
    audio[8000:] = 0.1  # -20 dB of full scale in the second half
    p = frame_power(audio, 100, 200, 60)
    assert p[0] == 0.0 and abs(10 * np.log10(p[-1]) + 20.0) < 1e-6
