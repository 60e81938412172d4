"""Streaming diarization over fake tone voices: speaker creation, stable labels, exact coverage, chunking."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest

from fakes import FAKE_VAD, EnergyVad, FakeEncoder, Turns, chunks, render
from tracker.audio import SAMPLE_RATE, to_samples
from tracker.segments import SpeakerSegment
from tracker.stages.diarization import DiarizationConfig, StreamingDiarizer, WindowRecord, speech_intervals
from tracker.stages.vad import VoiceActivityDetector, speech_mask_samples

VAD = FAKE_VAD

TWO_PEOPLE: Turns = [(0, 0.5, 5.5), (1, 6.0, 10.0), (0, 10.5, 14.0), (1, 14.5, 19.0), (0, 19.5, 23.0)]


@dataclass
class Run:
    batches: list[list[SpeakerSegment]]  # what each call released, in call order
    speech: npt.NDArray[np.bool_]  # the VAD's final per-sample decisions
    diarizer: StreamingDiarizer

    @property
    def segments(self) -> list[SpeakerSegment]:
        return [s for b in self.batches for s in b]

    def talk(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for s in self.segments:
            out[s.speaker] = out.get(s.speaker, 0) + s.duration_samples
        return out


def diarize(
    audio: np.ndarray, *, block: int = 1_600, start: int = 0, config: DiarizationConfig | None = None,
    encoder: FakeEncoder | None = None,
) -> Run:
    """VAD (energy) then the streaming diarizer, fed like the runner feeds them."""
    vad = VoiceActivityDetector(VAD, model=EnergyVad())
    diarizer = StreamingDiarizer(config or DiarizationConfig(), encoder=encoder or FakeEncoder())
    batches, frames = [], []
    for c in chunks(audio, block, start=start):
        f = vad(c)
        frames.append(f)
        batches.append(diarizer(c, f))
    last = vad.flush()
    frames.append(last)
    batches.append(diarizer.flush(last))
    speech = np.concatenate([speech_mask_samples(f) for f in frames]) > 0
    return Run(batches, speech, diarizer)


def purity(run: Run, turns: Turns, duration_s: float, *, start: int = 0) -> dict[int, tuple[int, float]]:
    """For each label: its majority voice and the share of its samples that voice spoke."""
    voice_at = np.full(to_samples(duration_s), -1)
    for v, a, b in turns:
        voice_at[to_samples(a) : to_samples(b)] = v
    out = {}
    for label in run.talk():
        hist = np.zeros(4, dtype=np.int64)
        for s in run.segments:
            if s.speaker == label:
                np.add.at(hist, voice_at[s.start_sample - start : s.end_sample - start] + 1, 1)
        out[label] = (int(np.argmax(hist[1:])), float(hist[1:].max() / hist.sum()))
    return out


def test_two_alternating_voices_give_two_speakers() -> None:
    run = diarize(render(TWO_PEOPLE, 24.0))
    labels = purity(run, TWO_PEOPLE, 24.0)
    assert sorted(labels) == [0, 1]
    assert sorted(v for v, _ in labels.values()) == [0, 1]
    assert all(p > 0.9 for _, p in labels.values())
    talk = run.talk()
    truth = {0: 5.0 + 3.5 + 3.5, 1: 4.0 + 4.5}
    for label, (voice, _) in labels.items():
        assert talk[label] / SAMPLE_RATE == pytest.approx(truth[voice], abs=0.6)


def test_a_short_burst_of_another_voice_is_not_a_person() -> None:
    turns = [(0, 0.5, 6.0), (2, 6.8, 7.3), (1, 8.0, 13.0), (0, 13.5, 18.0)]  # a 0.5 s cough in between
    run = diarize(render(turns, 19.0))
    assert sorted(run.talk()) == [0, 1]
    assert len(run.diarizer.clustering.voices) == 2
    # ...while the same voice talking for a while does become a third person.
    turns = [(0, 0.5, 6.0), (2, 6.8, 10.8), (1, 11.5, 16.0), (0, 16.5, 20.0)]
    run = diarize(render(turns, 21.0))
    labels = purity(run, turns, 21.0)
    assert sorted(v for v, _ in labels.values()) == [0, 1, 2]


def test_labels_never_change_meaning() -> None:
    turns = [*TWO_PEOPLE, (2, 23.5, 28.0), (1, 28.5, 31.0), (0, 31.5, 34.0), (2, 34.5, 37.0)]
    run = diarize(render(turns, 38.0))
    voice_at = np.full(to_samples(38.0), -1)
    for v, a, b in turns:
        voice_at[to_samples(a) : to_samples(b)] = v
    meaning: dict[int, int] = {}
    order: list[int] = []
    for batch in run.batches:
        for s in batch:
            spoken = voice_at[s.start_sample : s.end_sample]
            if (spoken == spoken[0]).all() and spoken[0] >= 0:  # a span inside one person's turn
                assert meaning.setdefault(s.speaker, int(spoken[0])) == spoken[0], "a label changed meaning"
            if s.speaker not in order:
                order.append(s.speaker)
    assert sorted(meaning.values()) == [0, 1, 2]
    assert order == sorted(order)  # new people get new, increasing ids


def test_segments_are_released_in_time_order_and_cover_exactly_the_speech() -> None:
    turns = [(0, 0.3, 2.0), (0, 2.2, 4.0), (1, 4.9, 5.3), (1, 5.9, 9.7), (0, 12.0, 12.4), (1, 12.9, 16.1)]
    run = diarize(render(turns, 17.05))
    segs = run.segments
    assert segs, "expected speech"
    for a, b in zip(segs, segs[1:], strict=False):
        assert b.start_sample >= a.end_sample, f"{b} released after {a}"
    covered = np.zeros(len(run.speech), dtype=bool)
    for s in segs:
        assert not covered[s.start_sample : s.end_sample].any()
        covered[s.start_sample : s.end_sample] = True
    assert sum(s.duration_samples for s in segs) == int(run.speech.sum())
    assert np.array_equal(covered, run.speech)


@pytest.mark.parametrize("block", [32_000, 1_000, 16_001])
def test_small_chunks_give_the_same_result_as_large_ones(block: int) -> None:
    audio = render([*TWO_PEOPLE, (2, 23.5, 27.0)], 28.0)
    reference = diarize(audio, block=1_600)
    other = diarize(audio, block=block)
    assert other.segments == reference.segments
    assert [r.label for r in other.diarizer.records] == [r.label for r in reference.diarizer.records]


def test_large_chunks_let_the_encoder_batch() -> None:
    enc = FakeEncoder()
    diarize(render(TWO_PEOPLE, 24.0), block=32_000, encoder=enc)
    assert max(enc.batches) > 1




def test_silence_gives_nothing() -> None:
    run = diarize(np.zeros(10 * SAMPLE_RATE, np.float32))
    assert run.segments == []
    assert run.diarizer.clustering.voices == {}


def test_leading_silence_does_not_create_a_voice() -> None:
    turns = [(v, a + 3.0, b + 3.0) for v, a, b in TWO_PEOPLE]  # the room is quiet for 3 s first
    run = diarize(render(turns, 27.0))
    assert sorted(run.talk()) == [0, 1]  # the first person to speak is speaker 0
    assert len(run.diarizer.clustering.voices) == 2


def test_a_stream_that_starts_late_keeps_its_sample_positions() -> None:
    start = 7 * SAMPLE_RATE + 123
    early = diarize(render(TWO_PEOPLE, 24.0))
    late = diarize(render(TWO_PEOPLE, 24.0), start=start)
    assert [(s.speaker, s.start_sample + start, s.end_sample + start) for s in early.segments] == [
        (s.speaker, s.start_sample, s.end_sample) for s in late.segments
    ]


def test_dropped_audio_is_not_speech() -> None:
    audio = render(TWO_PEOPLE, 24.0)
    vad = VoiceActivityDetector(VAD, model=EnergyVad())
    diarizer = StreamingDiarizer(DiarizationConfig(), encoder=FakeEncoder())
    segs: list[SpeakerSegment] = []
    gap = (to_samples(2.0), to_samples(3.0))  # this second of blocks never reached the pipeline
    for c in chunks(audio, 1_600):
        if gap[0] <= c.start_sample < gap[1]:
            continue
        segs += diarizer(c, vad(c))
    segs += diarizer.flush(vad.flush())
    assert segs
    inside = (gap[0] + 512, gap[1] - 512)  # a VAD frame straddling an edge holds some real audio
    assert not any(s.start_sample < inside[1] and s.end_sample > inside[0] for s in segs)
    assert max(s.end_sample for s in segs) > to_samples(22.0)


def test_merge_relabels_the_records() -> None:
    run = diarize(render(TWO_PEOPLE, 24.0))
    d = run.diarizer
    d.merge(0, 1)
    assert set(d.clustering.voices) == {0}
    assert {r.label for r in d.records if r.label is not None} == {0}


def test_speech_intervals() -> None:
    mask = np.array([0, 1, 1, 0, 0, 1, 0, 1], dtype=bool)
    assert speech_intervals(mask, 100) == [(101, 103), (105, 106), (107, 108)]
    assert speech_intervals(np.zeros(5, dtype=bool), 0) == []


@pytest.mark.parametrize(
    "kwargs",
    [{"step_s": 2.0, "window_s": 1.6}, {"step_s": 0.0}, {"assign_threshold": 1.0}, {"new_speaker_windows": 0}],
)
def test_config_rejects_bad_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="expected"):
        DiarizationConfig(**kwargs)


def test_embedding_failure_is_not_swallowed() -> None:
    class Broken(FakeEncoder):
        def embed(self, waveforms: list[np.ndarray]) -> np.ndarray:
            raise RuntimeError("model exploded")

    diarizer = StreamingDiarizer(DiarizationConfig(), encoder=Broken())
    audio = render([(0, 0.0, 3.0)], 3.0)
    vad = VoiceActivityDetector(VAD, model=EnergyVad())
    with pytest.raises(RuntimeError, match="model exploded"):
        for c in chunks(audio, 1_600):
            diarizer(c, vad(c))
        diarizer.flush(vad.flush())


@pytest.mark.parametrize("other", [
    DiarizationConfig(),
    DiarizationConfig(assign_threshold=0.95, new_speaker_windows=2),
    DiarizationConfig(new_speaker_windows=12, pending_timeout_s=0.8),
])
def test_replaying_the_records_gives_what_a_live_run_with_those_settings_gives(other: DiarizationConfig) -> None:
    """The windows' embeddings do not depend on the assignment settings, so deciding the recorded
    windows again must give exactly what feeding the audio with those settings gives."""
    audio = render([*TWO_PEOPLE, (2, 23.5, 27.0), (1, 27.5, 30.0)], 31.0)
    recorded = diarize(audio)
    fresh = diarize(audio, config=other)
    replayed = StreamingDiarizer(other, encoder=FakeEncoder()).replay(recorded.diarizer.records)
    assert replayed == fresh.segments
    if other == DiarizationConfig():
        assert replayed == recorded.segments
    assert [r.label for r in recorded.diarizer.records] == [r.label for r in diarize(audio).diarizer.records]  # copied


def test_replay_needs_a_fresh_diarizer() -> None:
    run = diarize(render(TWO_PEOPLE, 24.0))
    with pytest.raises(RuntimeError, match="expected a fresh diarizer"):
        run.diarizer.replay(run.diarizer.records)
    replayer = StreamingDiarizer(DiarizationConfig(), encoder=FakeEncoder())
    replayer.replay(run.diarizer.records)
    with pytest.raises(RuntimeError, match="expected a fresh diarizer"):
        replayer.replay(run.diarizer.records)  # a second replay would mix two meetings' voices


def _opening_remark(similarity: float, shared: float, *, agree: bool = True) -> tuple[np.ndarray, list[WindowRecord]]:
    """A seed and a 3-window opening remark (too short for a new voice), then 3 s of silence so
    that it times out. Each window lies at ``similarity`` to the seed (under its claim threshold,
    so no window claims it alone); the rest of each window is a direction ``shared`` by the three
    (the more shared, the closer their mean stays to ``similarity``) plus its own. With ``agree``
    False the middle window's shared part points the other way."""
    vecs = np.linalg.qr(np.random.default_rng(1).standard_normal((16, 5)))[0].T
    seed, common, own = vecs[0], vecs[1], vecs[2:]
    rest = np.sqrt(1 - similarity**2)
    step = to_samples(0.4)
    records = []
    for k in range(3):
        sign = -1.0 if not agree and k == 1 else 1.0
        emb = similarity * seed + rest * (sign * shared * common + np.sqrt(1 - shared**2) * own[k])
        records.append(WindowRecord(k, k * step, (k + 1) * step, [(k * step, (k + 1) * step)], 1.0,
                                    emb.astype(np.float32), strong=True))
    records += [WindowRecord(k, k * step, (k + 1) * step, [], 0.0) for k in range(3, 11)]
    return seed.astype(np.float32), records


@pytest.mark.parametrize(("similarity", "shared", "agree", "claimed"), [
    (0.81, 0.5, True, True),  # the enrolled person's remark: the windows' mean is 0.89 alike
    (0.80, 0.95, True, False),  # mean 0.81: above assign_threshold, under the claim threshold
    (0.81, 1.0, False, False),  # mean 0.97, but the windows do not agree with one another
])
def test_a_timed_out_opening_remark_goes_to_a_seed_only_at_its_claim_threshold(
        similarity: float, shared: float, agree: bool, claimed: bool) -> None:
    seed, records = _opening_remark(similarity, shared, agree=agree)
    diarizer = StreamingDiarizer(DiarizationConfig(), encoder=FakeEncoder())
    diarizer.seed(7, seed, windows=10, claim_threshold=0.825)
    segments = diarizer.replay(records)
    assert {s.speaker for s in segments} == ({7} if claimed else {0})
    assert (7 in diarizer.clustering.unheard) is not claimed


def test_a_lone_weak_window_never_claims_a_seed() -> None:
    """One window always agrees with itself: a weak one (little speech) close to a seed must still
    not mark it heard, or strangers' later windows would be given to an absent enrolled person."""
    seed, records = _opening_remark(0.83, 0.5)
    lone = dataclasses.replace(records[0], strong=False)
    diarizer = StreamingDiarizer(DiarizationConfig(), encoder=FakeEncoder())
    diarizer.seed(7, seed, windows=10, claim_threshold=0.825)
    segments = diarizer.replay([lone, *records[3:]])
    assert {s.speaker for s in segments} == {0} and 7 in diarizer.clustering.unheard
