"""The neural engine behind the seam, on scripted models (fast) and on the real ones (real voices).

The scripted segmentation model reads who talks from a script of the stream (a sample -> people
map), so each test states a meeting and checks what the engine decides: overlap credited to both,
a new voice only on sustained evidence, one-to-one inside a chunk, merges, resets, a stream shorter
than one window, silence.
"""

from __future__ import annotations

import numpy as np
import pytest

from tracker.audio import SAMPLE_RATE, AudioChunk
from tracker.pipeline.engine import StreamingEngine, VoiceMemory
from tracker.pipeline.neural import NeuralConfig, NeuralEngine
from tracker.segments import SpeakerSegment

SR = SAMPLE_RATE
STEP = 270
FIELD = 991


class ScriptedSegmentation:
    """Says who talks from a script of the stream (``who``), finding each window's place in the
    stream from its audio: every sample of the test stream holds its own index (``stream_of``)."""

    sample_rate = SR
    frame_step_samples = STEP
    receptive_field_samples = FIELD

    def __init__(self, who: np.ndarray) -> None:
        self.who = who  # (n_samples, people) bool: the script of the whole stream

    def __call__(self, chunks: np.ndarray) -> np.ndarray:
        out = []
        for x in chunks:
            start = window_start(x)
            frames = 1 + (len(x) - FIELD) // STEP
            centres = start + FIELD // 2 + np.arange(frames) * STEP
            act = np.zeros((frames, 3), np.float32)
            ok = (centres >= 0) & (centres < len(self.who))
            people = self.who[np.clip(centres, 0, len(self.who) - 1)] & ok[:, None]
            # local speakers in order of first appearance in this window (permutation per window)
            order = [int(p) for p in np.flatnonzero(people.any(axis=0))][:3]
            for local, p in enumerate(reversed(order)):  # reversed: local ids differ from global ones
                act[:, local] = people[:, p]
            out.append(act)
        return np.stack(out)


class ScriptedEncoder:
    """An embedding per person: one-hot directions, noised, of the frames weighted most."""

    sample_rate = SR
    name = "scripted"
    dim = 16

    def __init__(self, seg: ScriptedSegmentation) -> None:
        self.seg = seg
        self.rng = np.random.default_rng(0)

    def embed_speakers(self, waveform: np.ndarray, weights: np.ndarray) -> np.ndarray:
        start = window_start(waveform)
        frames = weights.shape[1]
        centres = start + FIELD // 2 + np.arange(frames) * STEP
        people = self.seg.who[np.clip(centres, 0, len(self.seg.who) - 1)]
        out = []
        for w in weights:
            counts = (people * (w[:, None] > 0)).sum(axis=0)
            v = np.zeros(self.dim)
            v[int(np.argmax(counts))] = 1.0
            v += self.rng.normal(0, 0.05, self.dim)
            out.append(v / np.linalg.norm(v))
        return np.array(out, np.float32)


def stream_of(who: np.ndarray) -> np.ndarray:
    """Audio whose every sample names its own index (the scripted models read a window's start)."""
    return ((np.arange(len(who), dtype=np.float64) + 1) / 1e6).astype(np.float32)


def window_start(x: np.ndarray) -> int:
    """Where a window of ``stream_of`` audio starts in the stream (negative: padded before it)."""
    j = int(np.argmax(x > 0))
    return int(round(float(x[j]) * 1e6)) - 1 - j


def script(seconds: float, turns: list[tuple[int, float, float]], people: int) -> np.ndarray:
    who = np.zeros((int(seconds * SR), people), bool)
    for p, a, b in turns:
        who[int(a * SR) : int(b * SR), p] = True
    return who


def run(who: np.ndarray, *, config: NeuralConfig | None = None, block: int = 1600,
        engine: NeuralEngine | None = None) -> tuple[NeuralEngine, list[SpeakerSegment], list[int]]:
    """Feed the scripted stream in ``block``-sample chunks, then flush: the engine, its final
    segments and each decision's ``final_to``."""
    seg = ScriptedSegmentation(who)
    eng = engine or NeuralEngine(config or NeuralConfig(), segmentation=seg, encoder=ScriptedEncoder(seg))
    audio = stream_of(who)
    final: list[SpeakerSegment] = []
    final_to: list[int] = []
    for i in range(0, len(audio), block):
        d = eng(AudioChunk(audio[i : i + block], i))
        final += d.final
        final_to.append(d.final_to)
    d = eng.flush()
    final += d.final
    final_to.append(d.final_to)
    return eng, final, final_to


def talk(segs: list[SpeakerSegment]) -> dict[int, float]:
    out: dict[int, float] = {}
    for s in segs:
        out[s.speaker] = out.get(s.speaker, 0.0) + s.duration_samples / SR
    return out


def test_the_neural_engine_is_a_streaming_engine_with_a_voice_memory() -> None:
    who = script(2, [], 1)
    seg = ScriptedSegmentation(who)
    eng = NeuralEngine(NeuralConfig(), segmentation=seg, encoder=ScriptedEncoder(seg))
    assert isinstance(eng, StreamingEngine)
    assert isinstance(eng, VoiceMemory)
    assert eng.embedding_model == "scripted"


def test_two_people_in_turns_are_two_voices_with_their_talk() -> None:
    who = script(40, [(0, 0.5, 9.5), (1, 10.0, 19.5), (0, 20.0, 29.5), (1, 30.0, 39.5)], 2)
    _, final, final_to = run(who)
    t = talk(final)
    assert len(t) == 2
    assert sorted(round(v) for v in t.values()) == [18, 19]
    assert final_to == sorted(final_to)  # final_to never goes back
    assert final_to[-1] == len(who)


def test_people_talking_at_once_both_get_the_time() -> None:
    who = script(30, [(0, 0.5, 12.0), (1, 9.0, 20.0), (0, 19.0, 29.0)], 2)
    _, final, _ = run(who)
    t = talk(final)
    assert len(t) == 2
    a, b = sorted(t.values())
    assert a == pytest.approx(11.0, abs=0.6) and b == pytest.approx(21.5, abs=0.6)  # 4 s of overlap counted twice


def test_a_short_burst_never_becomes_a_person() -> None:
    who = script(30, [(0, 0.5, 29.5), (1, 12.0, 12.3)], 2)
    _, final, _ = run(who)
    assert set(talk(final)) == {0}


def test_final_segments_come_at_most_latency_plus_wait_behind() -> None:
    cfg = NeuralConfig()
    who = script(20, [(0, 0.5, 19.5)], 1)
    seg = ScriptedSegmentation(who)
    eng = NeuralEngine(cfg, segmentation=seg, encoder=ScriptedEncoder(seg))
    audio = stream_of(who)
    lags = []
    for i in range(0, len(audio), 1600):
        d = eng(AudioChunk(audio[i : i + 1600], i))
        if i > 8 * SR:
            lags.append((i + 1600 - d.final_to) / SR)
    assert max(lags) <= cfg.latency_s + cfg.step_s + 0.1


def test_merge_folds_a_voice_into_another_from_then_on() -> None:
    who = script(40, [(0, 0.5, 9.5), (1, 10.0, 19.5), (1, 20.0, 39.5)], 2)
    seg = ScriptedSegmentation(who)
    eng = NeuralEngine(NeuralConfig(), segmentation=seg, encoder=ScriptedEncoder(seg))
    audio = stream_of(who)
    final: list[SpeakerSegment] = []
    for i in range(0, len(audio), 1600):
        if i == 25 * SR:
            eng.merge(0, 1)
        final += eng(AudioChunk(audio[i : i + 1600], i)).final
    final += eng.flush().final
    late = [s for s in final if s.start_sample >= 27 * SR]
    assert late and {s.speaker for s in late} == {0}


def seeded(who: np.ndarray) -> NeuralEngine:
    """An engine that knows person 0 as the enrolled voice 1000 before anyone speaks."""
    seg = ScriptedSegmentation(who)
    eng = NeuralEngine(NeuralConfig(), segmentation=seg, encoder=ScriptedEncoder(seg))
    v = np.zeros(16, np.float32)
    v[0] = 1.0
    eng.seed(1000, v, weight=5)
    return eng


def test_reset_forgets_the_meeting_but_keeps_seeded_voices() -> None:
    who = script(12, [(0, 0.5, 11.5)], 1)
    eng, _, _ = run(who, engine=seeded(who))
    assert 1000 in eng.centroids()
    eng.reset()
    assert set(eng.centroids()) == {1000}


def test_a_seeded_voice_is_recognised_at_once() -> None:
    who = script(12, [(0, 0.5, 11.5)], 1)
    _, final, _ = run(who, engine=seeded(who))
    assert set(talk(final)) == {1000}


def test_a_stream_shorter_than_one_window_and_silence() -> None:
    who = script(1.2, [(0, 0.1, 1.1)], 1)
    _, final, _ = run(who)
    assert sum(talk(final).values()) == pytest.approx(1.0, abs=0.1)
    _, final, _ = run(script(8, [], 1))
    assert final == []


def test_chunks_must_be_contiguous() -> None:
    who = script(3, [], 1)
    seg = ScriptedSegmentation(who)
    eng = NeuralEngine(NeuralConfig(), segmentation=seg, encoder=ScriptedEncoder(seg))
    eng(AudioChunk(np.zeros(1600, np.float32), 0))
    with pytest.raises(ValueError, match="contiguous"):
        eng(AudioChunk(np.zeros(1600, np.float32), 4800))


def test_twelve_people_in_turns_are_twelve_voices() -> None:
    turns = [(k % 12, 0.5 + 5 * k, 5 * k + 5.0) for k in range(24)]
    _, final, _ = run(script(121, turns, 12))
    assert len([v for v in talk(final).values() if v >= 2]) == 12


def test_the_final_pass_keeps_two_distinct_people_and_their_live_ids() -> None:
    who = script(40, [(0, 0.5, 19.5), (1, 20.0, 39.5)], 2)
    eng, final, _ = run(who)
    assert talk(eng.final_segments()) == pytest.approx(talk(final))  # nothing to merge, split or fold


def test_a_background_voice_is_never_decided_for_anyone_and_the_pass_says_how_much() -> None:
    """Once the clustering holds a voice as background (a quiet conversation talking over the
    meeting: tests/test_background_voices.py), its speech is neither decided for anyone nor shown as
    that voice, and ``background_samples`` counts it after the final pass."""
    who = script(40, [(0, 0.5, 5.0), (1, 5.5, 12.0), (0, 12.5, 19.5), (1, 20.0, 35.0), (0, 35.5, 39.5)], 2)
    seg = ScriptedSegmentation(who)
    eng = NeuralEngine(NeuralConfig(), segmentation=seg, encoder=ScriptedEncoder(seg))
    audio = stream_of(who)
    decided: list[SpeakerSegment] = []
    shown: set[int] = set()
    for i in range(0, len(audio), 1600):
        d = eng(AudioChunk(audio[i : i + 1600], i))
        decided += d.final
        if i == 15 * SR:  # voice 1 is established by now: hold it as background from here on
            assert set(eng.clustering.voices) == {0, 1}
            eng.clustering.voices[1].background = True
        if i > 15 * SR:
            shown |= {s.speaker for s in d.final + d.provisional}
    decided += eng.flush().final
    assert 1 not in shown  # (its first words, before they are known to be it, may be shown provisionally)
    assert talk([s for s in decided if s.start_sample >= 16 * SR]).keys() == {0}
    assert {s.speaker for s in eng.final_segments()} == {0, 1}  # its talk decided before stays
    assert eng.background_samples / SR == pytest.approx(15.0, abs=1.0)
    assert 1 not in eng.centroids()
