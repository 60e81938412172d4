"""Fake models with the real call signatures, and helpers to make audio whose truth is known.

A fake *voice* is a pure tone at one of ``VOICE_HZ``. ``FakeEncoder`` (a ``SpeakerEncoder``) hears
which tones a window holds and returns the matching fixed voice vectors, blended by energy, plus
a small jitter seeded by the window's own samples: the same audio always gives the same vector,
however it was batched. ``EnergyVad`` and ``ScriptedVad`` are ``FrameVadModel``s.
"""

from __future__ import annotations

import zlib
from typing import Any
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tracker.audio import SAMPLE_RATE, AudioChunk, Samples, to_samples
from tracker.pipeline.pipeline import Pipeline, PipelineConfig
from tracker.sources.base import AudioInputError, EndOfStream, SourceStats
from tracker.segments import SpeakerSegment
from tracker.stages.vad import VadConfig

VOICE_HZ = (220.0, 530.0, 1170.0)  # Hz; far apart so a window's spectrum tells the voices apart
TONE_AMPLITUDE = 0.3  # peak of a fake voice (-10 dBFS)
# VAD smoothing pinned for tests over fakes (the defaults are tuned for silero and may move):
# pauses under 0.3 s are bridged, bursts under 0.15 s dropped.
FAKE_VAD = VadConfig(threshold=0.5, min_silence_s=0.3, min_speech_s=0.15)
FAKE_CONFIG = PipelineConfig(vad=FAKE_VAD)

Turns = Sequence[tuple[int, float, float]]  # (voice, start_s, end_s)


def render(turns: Turns, duration_s: float, *, amplitude: float = TONE_AMPLITUDE) -> Samples:
    """A stream of ``duration_s`` seconds where voice ``v`` sounds over [start_s, end_s) of each turn."""
    out = np.zeros(to_samples(duration_s), dtype=np.float32)
    t = np.arange(len(out)) / SAMPLE_RATE
    for voice, start_s, end_s in turns:
        a, b = to_samples(start_s), to_samples(end_s)
        out[a:b] += (amplitude * np.sin(2 * np.pi * VOICE_HZ[voice] * t[a:b])).astype(np.float32)
    return out


def truth_segments(turns: Turns) -> list[SpeakerSegment]:
    """The turns as sample-exact segments (speaker = voice index)."""
    return [SpeakerSegment(v, to_samples(a), to_samples(b)) for v, a, b in turns]


def step(pipeline: Pipeline, chunk: AudioChunk) -> list[SpeakerSegment]:
    """One chunk through ``pipeline`` as the runner takes it (models, then figures); the segments decided."""
    return pipeline.account(pipeline.decide(chunk), start=chunk.start_sample, end=chunk.end_sample)


def chunks(samples: Samples, size: int, *, start: int = 0) -> list[AudioChunk]:
    """Cut a stream into consecutive chunks of ``size`` samples (the last may be shorter)."""
    return [AudioChunk(samples[i : i + size], start + i) for i in range(0, len(samples), size)]


def write_wav(path: Path, samples: Samples, rate: int = SAMPLE_RATE) -> Path:
    import soundfile as sf

    sf.write(str(path), samples, rate, subtype="PCM_16")
    return path


def load_rttm(path: Path) -> list[tuple[str, float, float]]:
    """(speaker, start_s, end_s) of every SPEAKER line."""
    out = []
    for line in path.read_text().splitlines():
        f = line.split()
        if f and f[0] == "SPEAKER":
            out.append((f[7], float(f[3]), float(f[3]) + float(f[4])))
    return out


def rttm_shares(path: Path) -> dict[str, float]:
    """Each speaker's fraction of the reference talk time."""
    talk: dict[str, float] = {}
    for spk, a, b in load_rttm(path):
        talk[spk] = talk.get(spk, 0.0) + b - a
    total = sum(talk.values())
    return {k: v / total for k, v in talk.items()}


def rttm_mask(path: Path, n_samples: int) -> npt.NDArray[np.bool_]:
    """Per-sample reference speech (any speaker) over ``n_samples``."""
    mask = np.zeros(n_samples, dtype=bool)
    for _, a, b in load_rttm(path):
        mask[to_samples(a) : to_samples(b)] = True
    return mask


class FakeEncoder:
    """A ``SpeakerEncoder`` over fake tone voices (see the module docstring).

    Parameters
    ----------
    seed : seeds the voice vectors.
    jitter : standard deviation of the per-window noise added to each of ``dimension`` components.
    """

    name = "fake-tones"
    dimension = 32
    min_samples = 1_600  # 0.1 s

    def __init__(self, *, seed: int = 0, jitter: float = 0.03) -> None:
        rng = np.random.default_rng(seed)
        base = rng.standard_normal((len(VOICE_HZ), self.dimension))
        self.voices = base / np.linalg.norm(base, axis=1, keepdims=True)
        self.seed = seed
        self.jitter = jitter
        self.batches: list[int] = []  # size of every embed() call
        self.warmed = False

    def warmup(self) -> None:
        self.warmed = True

    def voice_weights(self, wav: Samples) -> npt.NDArray[np.float64]:
        """Share of each fake voice in the energy of ``wav``."""
        spec = np.abs(np.fft.rfft(wav.astype(np.float64))) ** 2
        freqs = np.fft.rfftfreq(len(wav), 1 / SAMPLE_RATE)
        energy = np.array([spec[np.abs(freqs - hz) < 0.1 * hz].sum() for hz in VOICE_HZ])
        total = energy.sum()
        return energy / total if total > 0 else np.full(len(VOICE_HZ), 1 / len(VOICE_HZ))

    def embed(self, waveforms: list[Samples]) -> npt.NDArray[np.float32]:
        self.batches.append(len(waveforms))
        out = np.zeros((len(waveforms), self.dimension), dtype=np.float32)
        for i, w in enumerate(waveforms):
            if len(w) < self.min_samples:
                raise ValueError(f"embedding expected at least {self.min_samples} samples, got {len(w)}")
            noise = np.random.default_rng([self.seed, zlib.crc32(w.tobytes())]).standard_normal(self.dimension)
            v = self.voice_weights(w) @ self.voices + self.jitter * noise
            out[i] = v / np.linalg.norm(v)
        return out


class EnergyVad:
    """A ``FrameVadModel``: a 32 ms frame is speech (1.0) when its RMS is above ``threshold``."""

    name = "energy"
    frame_samples = 512

    def __init__(self, *, threshold: float = 0.01) -> None:
        self.threshold = threshold
        self.calls = 0

    def __call__(self, frame: Samples) -> float:
        if len(frame) != self.frame_samples:
            raise ValueError(f"expected frames of {self.frame_samples} samples, got {len(frame)}")
        self.calls += 1
        return 1.0 if float(np.sqrt(np.mean(frame.astype(np.float64) ** 2))) > self.threshold else 0.0

    def reset(self) -> None:
        pass


class ScriptedVad:
    """A ``FrameVadModel`` that returns fixed probabilities, one per frame, in order (0 after the end)."""

    name = "scripted"

    def __init__(self, probs: Sequence[float], *, frame_samples: int = 512) -> None:
        self.probs = list(probs)
        self.frame_samples = frame_samples
        self._i = 0

    def __call__(self, frame: Samples) -> float:
        p = self.probs[self._i] if self._i < len(self.probs) else 0.0
        self._i += 1
        return p

    def reset(self) -> None:
        self._i = 0


class ListSource:
    """A ``Source`` over prepared chunks, then the end of the stream; after ``fail_after`` chunks
    it raises ``AudioInputError`` instead (a device unplugged)."""

    def __init__(self, items: list[AudioChunk], *, fail_after: int | None = None) -> None:
        self.items = list(items)
        self.stats = SourceStats()
        self.fail_after = fail_after
        self.n = 0

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def read(self, timeout: float) -> AudioChunk | None:
        if self.fail_after is not None and self.n >= self.fail_after:
            raise AudioInputError("device unplugged")
        if not self.items:
            raise EndOfStream
        self.n += 1
        return self.items.pop(0)


def read_to_end(source: Any, timeout: float = 0.1) -> list[AudioChunk]:
    """Every chunk ``source`` (a started ``Source``) gives until its end; reads that time out are skipped."""
    out: list[AudioChunk] = []
    while True:
        try:
            chunk = source.read(timeout)
        except EndOfStream:
            return out
        if chunk is not None:
            out.append(chunk)
