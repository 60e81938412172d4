"""The post-meeting pass over fake window records: hindsight fixes live mistakes, ids stay stable."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from fakes import FakeEncoder
from tracker.audio import to_samples
from tracker.stages.diarization import SpeakerSegment, WindowRecord
from tracker.stages.reclustering import ReclusteringConfig, recluster

STEP = to_samples(0.4)  # samples each window labels, as the live diarizer's default step
VOICES = FakeEncoder().voices  # unit vectors, one per fake voice


def records(
    voices: Sequence[int | None], live: Sequence[int | None], *, seed: int = 0, jitter: float = 0.03,
    fraction: float = 1.0,
) -> list[WindowRecord]:
    """Consecutive windows; ``voices[k]`` spoke over window k's span (None: silence), ``live[k]`` is its live label."""
    rng = np.random.default_rng(seed)
    out = []
    for k, (v, label) in enumerate(zip(voices, live, strict=True)):
        span = (k * STEP, (k + 1) * STEP)
        emb = None
        if v is not None:
            e = VOICES[v] + jitter * rng.standard_normal(VOICES.shape[1])
            emb = (e / np.linalg.norm(e)).astype(np.float32)
        out.append(
            WindowRecord(
                index=k, span_start=span[0], span_end=span[1], speech=[span] if v is not None else [],
                speech_fraction=fraction if v is not None else 0.0, embedding=emb, strong=v is not None,
                label=label,
            )
        )
    return out


def talk_by_voice(segs: list[SpeakerSegment], voices: Sequence[int | None]) -> dict[int, dict[int, int]]:
    """For each final label: samples of each true voice it was given."""
    out: dict[int, dict[int, int]] = {}
    for s in segs:
        v = voices[s.start_sample // STEP]
        assert v is not None, "silence was labelled as speech"
        out.setdefault(s.speaker, {}).setdefault(v, 0)
        out[s.speaker][v] += s.duration_samples
    return out


def meeting(pattern: Sequence[tuple[int | None, int]]) -> list[int | None]:
    """Expand (voice, windows) runs into one voice per window."""
    return [v for v, n in pattern for _ in range(n)]


def test_hindsight_joins_a_voice_the_live_pass_split() -> None:
    voices = meeting([(0, 20), (None, 2), (1, 15), (None, 2), (0, 10), (None, 2), (1, 10)])
    live = [None if v is None else v for v in voices]
    live[39:49] = [2] * 10  # the live pass thought voice 0's second turn was someone new
    segs = recluster(records(voices, live), ReclusteringConfig())
    assert talk_by_voice(segs, voices) == {0: {0: 30 * STEP}, 1: {1: 25 * STEP}}


def test_hindsight_splits_voices_the_live_pass_merged() -> None:
    voices = meeting([(0, 15), (None, 2), (1, 15), (None, 2), (0, 10)])
    live = [None if v is None else 0 for v in voices]  # all given to one person live
    segs = recluster(records(voices, live), ReclusteringConfig())
    by_label = talk_by_voice(segs, voices)
    assert by_label == {0: {0: 25 * STEP}, 1: {1: 15 * STEP}}  # the new voice takes a fresh id


def test_final_ids_follow_the_live_ids() -> None:
    voices = meeting([(1, 12), (None, 2), (0, 12), (None, 2), (1, 12)])
    live = [None if v is None else {0: 7, 1: 3}[v] for v in voices]
    segs = recluster(records(voices, live), ReclusteringConfig())
    assert talk_by_voice(segs, voices) == {3: {1: 24 * STEP}, 7: {0: 12 * STEP}}


def test_a_voice_with_too_little_speech_is_folded_into_another() -> None:
    voices = meeting([(0, 15), (None, 2), (2, 3), (None, 2), (1, 15), (None, 2), (0, 10)])  # 1.2 s of voice 2
    live = [None if v is None else v for v in voices]
    segs = recluster(records(voices, live), ReclusteringConfig(min_speaker_s=2.0))
    assert set(talk_by_voice(segs, voices)) <= {0, 1}
    assert sum(s.duration_samples for s in segs) == 43 * STEP


def test_every_speech_sample_is_kept_once() -> None:
    voices = meeting([(0, 8), (None, 3), (1, 9), (0, 4), (None, 1), (2, 12), (1, 6)])
    live = [None if v is None else v for v in voices]
    recs = records(voices, live, fraction=0.7, seed=3)
    recs[5].embedding, recs[5].strong = None, False  # too little speech live to embed
    recs[5].label = 0
    segs = recluster(recs, ReclusteringConfig())
    mask = np.zeros(len(voices) * STEP, dtype=np.int64)
    for s in segs:
        mask[s.start_sample : s.end_sample] += 1
    assert mask.max() == 1
    assert int(mask.sum()) == sum(r.speech_samples for r in recs)


def test_without_strong_windows_the_live_labels_stand() -> None:
    voices = meeting([(0, 4), (1, 4)])
    recs = records(voices, [0] * 4 + [1] * 4)
    for r in recs:
        r.strong = False
        r.embedding = None
    segs = recluster(recs, ReclusteringConfig())
    assert [(s.speaker, s.start_sample, s.end_sample) for s in segs] == [
        (r.label, r.span_start, r.span_end) for r in recs
    ]


def test_no_records_and_one_record() -> None:
    assert recluster([], ReclusteringConfig()) == []
    one = records([0], [4])
    assert recluster(one, ReclusteringConfig()) == [SpeakerSegment(4, 0, STEP)]


def test_config_rejects_bad_threshold() -> None:
    with pytest.raises(ValueError, match="threshold expected in"):
        ReclusteringConfig(threshold=1.5)
