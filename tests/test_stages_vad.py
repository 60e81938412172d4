"""Voice activity detection: smoothing, streaming equals batch, stream gaps, and silero on a meeting."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from fakes import EnergyVad, ScriptedVad, chunks, render, rttm_mask
from models.vad import SileroVadModel, WebRtcVadModel, load_vad_model
from tracker.audio import SAMPLE_RATE, AudioChunk
from tracker.sources.files import read_audio
from tracker.stages.vad import SpeechFrames, VadConfig, VoiceActivityDetector, smooth, speech_mask_samples

from conftest import DATA, SHARED_EVAL

FRAME = 512
# Explicit settings: these tests check the mechanism, not the tuned defaults.
CONFIG = VadConfig(threshold=0.5, min_silence_s=0.3, min_speech_s=0.15)  # 9-frame closing, 5-frame opening


def _run(vad: VoiceActivityDetector, parts: list[AudioChunk]) -> list[SpeechFrames]:
    out = [vad(c) for c in parts]
    return [*out, vad.flush()]


def _joined(frames: list[SpeechFrames]) -> npt.NDArray[np.bool_]:
    for a, b in zip(frames, frames[1:], strict=False):
        assert b.start_sample == a.end_sample, "frames must be emitted contiguously"
    return np.concatenate([f.speech for f in frames])


def _runs(n: int, seed: int) -> list[float]:
    """Random speech/non-speech runs of 1-25 frames with noisy probabilities."""
    rng = np.random.default_rng(seed)
    probs: list[float] = []
    speech = False
    while len(probs) < n:
        length = int(rng.integers(1, 26))
        lo, hi = (0.55, 1.0) if speech else (0.0, 0.45)
        probs += list(rng.uniform(lo, hi, length))
        speech = not speech
    return probs[:n]


def test_smoothing_bridges_short_pauses_and_drops_blips() -> None:
    probs = [0.0] * 20 + [0.9] * 40 + [0.1] * 3 + [0.9] * 40 + [0.0] * 30 + [0.8] * 2 + [0.0] * 30 + [0.7] * 40 + [0.0] * 20
    vad = VoiceActivityDetector(CONFIG, model=ScriptedVad(probs))
    speech = _joined(_run(vad, [AudioChunk(np.zeros(len(probs) * FRAME, np.float32), 0)]))
    expected = np.zeros(len(probs), dtype=bool)
    expected[20:103] = True  # the 96 ms pause is bridged
    expected[165:205] = True  # the 64 ms blip (frames 133-134) between the long pauses is gone
    assert np.array_equal(speech, expected)


def test_threshold_decides_raw_frames() -> None:
    probs = [0.49] * 20 + [0.51] * 20 + [0.49] * 20
    vad = VoiceActivityDetector(CONFIG, model=ScriptedVad(probs))
    speech = _joined(_run(vad, [AudioChunk(np.zeros(len(probs) * FRAME, np.float32), 0)]))
    assert speech[20:40].all() and not speech[:20].any() and not speech[40:].any()


@pytest.mark.parametrize("chunking", ["live blocks", "random sizes", "single samples at the edges"])
def test_streaming_equals_batch(chunking: str) -> None:
    probs = _runs(1_500, seed=7)
    audio = np.zeros(len(probs) * FRAME + 300, np.float32)  # a partial frame at the end is never classified
    batch = _joined(_run(VoiceActivityDetector(CONFIG, model=ScriptedVad(probs)), [AudioChunk(audio, 0)]))
    if chunking == "live blocks":
        parts = chunks(audio, 1_600)
    elif chunking == "random sizes":
        cuts = np.cumsum(np.random.default_rng(1).integers(1, 5_000, 1_000))
        cuts = [0, *[int(c) for c in cuts if c < len(audio)], len(audio)]
        parts = [AudioChunk(audio[a:b], a) for a, b in zip(cuts, cuts[1:], strict=False)]
    else:
        parts = [AudioChunk(audio[i : i + 1], i) for i in range(3)] + [AudioChunk(audio[3:], 3)]
    vad = VoiceActivityDetector(CONFIG, model=ScriptedVad(probs))
    streamed = _run(vad, parts)
    assert np.array_equal(_joined(streamed), batch)
    assert np.array_equal(batch, smooth(np.array(probs) >= 0.5, vad.close_frames, vad.open_frames))


def test_frames_become_final_within_the_stated_delay() -> None:
    probs = _runs(600, seed=3)
    vad = VoiceActivityDetector(CONFIG, model=ScriptedVad(probs))
    emitted_end = 0
    for c in chunks(np.zeros(len(probs) * FRAME, np.float32), 1_600):
        f = vad(c)
        if len(f.speech):
            emitted_end = f.end_sample
        assert emitted_end >= c.end_sample - (vad.delay_frames + 1) * FRAME


def test_a_gap_in_the_stream_is_silence_and_frames_stay_aligned() -> None:
    tone = render([(0, 0.0, 1.0)], 1.0)
    vad = VoiceActivityDetector(CONFIG, model=EnergyVad())
    frames = _run(vad, [AudioChunk(tone, 0), AudioChunk(tone, 2 * SAMPLE_RATE)])  # 1 s of blocks dropped
    speech = _joined(frames)
    assert frames[0].start_sample == 0
    assert frames[-1].end_sample == (3 * SAMPLE_RATE // FRAME) * FRAME
    t = (np.arange(len(speech)) + 0.5) * FRAME / SAMPLE_RATE  # frame centres, seconds
    assert speech[(t > 0.05) & (t < 0.95)].all()
    assert not speech[(t > 1.05) & (t < 1.95)].any()
    assert speech[(t > 2.05) & (t < 2.95)].all()


def test_reset_starts_a_new_stream_at_the_next_chunk() -> None:
    vad = VoiceActivityDetector(CONFIG, model=EnergyVad())
    _run(vad, chunks(render([(0, 0.2, 0.8)], 1.0), 1_600))
    vad.reset()
    first = vad(AudioChunk(np.zeros(4_000, np.float32), 160_000))
    rest = vad.flush()
    assert first.start_sample == 160_000
    assert rest.end_sample == 160_000 + (4_000 // FRAME) * FRAME


def test_speech_mask_samples_expands_frames() -> None:
    mask = speech_mask_samples(SpeechFrames(0, 4, np.array([True, False, True])))
    assert mask.tolist() == [1.0] * 4 + [0.0] * 4 + [1.0] * 4


@pytest.mark.parametrize(
    "kwargs", [{"threshold": 0.0}, {"threshold": 1.0}, {"min_silence_s": -0.1}, {"min_speech_s": -1.0}]
)
def test_config_rejects_bad_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="expected"):
        VadConfig(**kwargs)


def test_load_vad_model_names() -> None:
    assert isinstance(load_vad_model("webrtc3"), WebRtcVadModel)
    with pytest.raises(ValueError, match="expected 'silero' or 'webrtc0'..'webrtc3'"):
        load_vad_model("webrtc9")


# --------------------------------------------------------------------------- real models


def _detect(model_name: str) -> tuple[float, float]:
    """Share of the reference speech of meeting3 found, and false alarm as a share of it."""
    audio = read_audio(DATA / "meeting3.wav")
    vad = VoiceActivityDetector(VadConfig(model=model_name), model=load_vad_model(model_name))
    speech = speech_mask_samples(SpeechFrames(0, vad.frame_samples, _joined(_run(vad, chunks(audio, 1_600)))))
    found = np.zeros(len(audio), dtype=bool)
    found[: len(speech)] = speech > 0
    ref = rttm_mask(DATA / "meeting3.rttm", len(audio))
    return float((found & ref).sum() / ref.sum()), float((found & ~ref).sum() / ref.sum())


@pytest.mark.models
def test_silero_finds_the_speech_of_a_meeting() -> None:
    detected, false_alarm = _detect("silero")
    assert detected > 0.8
    assert false_alarm < 0.10


@pytest.mark.models
def test_silero_model_state_and_frame_size() -> None:
    model = SileroVadModel()
    with pytest.raises(ValueError, match="expected frames of 512 samples"):
        model(np.zeros(480, np.float32))
    speech = read_audio(DATA / "meeting2.wav")[SAMPLE_RATE : SAMPLE_RATE + 20 * FRAME]
    first = [model(speech[i * FRAME : (i + 1) * FRAME]) for i in range(20)]
    model.reset()
    again = [model(speech[i * FRAME : (i + 1) * FRAME]) for i in range(20)]
    assert first == pytest.approx(again)
    assert max(first) > 0.5 and model(np.zeros(FRAME, np.float32)) < 0.5


@pytest.mark.shared
@pytest.mark.models
def test_silero_on_the_shared_dev_set() -> None:
    """Real meetings (AMI headset mixes and a phone call): most reference speech is found, little else."""
    dev = SHARED_EVAL / "dev"
    ref_total = hit = false_alarm = 0
    for wav in sorted((dev / "wav").glob("*.wav")):
        audio = read_audio(wav)
        vad = VoiceActivityDetector(VadConfig(), model=load_vad_model("silero"))
        frames = _joined(_run(vad, [AudioChunk(audio, 0)]))
        found = np.zeros(len(audio), dtype=bool)
        found[: len(frames) * vad.frame_samples] = np.repeat(frames, vad.frame_samples)
        ref = rttm_mask(dev / "rttm" / f"{wav.stem}.rttm", len(audio))
        ref_total += int(ref.sum())
        hit += int((found & ref).sum())
        false_alarm += int((found & ~ref).sum())
    assert ref_total > 0
    assert hit / ref_total > 0.85
    assert false_alarm / ref_total < 0.15
