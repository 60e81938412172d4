"""Voice activity detection stage: audio chunks in, smoothed speech frames out.

Raw per-frame decisions are smoothed by a morphological closing (fills pauses shorter than
``min_silence_s``) and opening (drops blips shorter than ``min_speech_s``). Both are local
operations, so a frame is final once ``delay_frames`` later frames are known.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.ndimage import maximum_filter1d, minimum_filter1d

from models.vad import FrameVadModel
from tracker.audio import SAMPLE_RATE, AudioChunk, Samples


@dataclass(frozen=True)
class VadConfig:
    """Settings of the speech detector."""

    model: str = "silero"  # "silero" or "webrtc0".."webrtc3"
    threshold: float = 0.1  # silero speech probability above which a frame is speech (low: quiet talkers count)
    min_silence_s: float = 0.5  # seconds; shorter pauses inside speech are bridged
    min_speech_s: float = 0.15  # seconds; shorter bursts are dropped (clicks, coughs)

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"VadConfig.threshold expected in (0, 1), got {self.threshold!r}")
        if self.min_silence_s < 0 or self.min_speech_s < 0:
            raise ValueError(
                f"VadConfig durations expected >= 0 s, got min_silence_s={self.min_silence_s!r}, "
                f"min_speech_s={self.min_speech_s!r}"
            )


@dataclass(frozen=True)
class SpeechFrames:
    """Final speech decisions for consecutive frames.

    ``speech[i]`` covers samples [start_sample + i * frame_samples, start_sample + (i+1) * frame_samples).
    """

    start_sample: int
    frame_samples: int
    speech: npt.NDArray[np.bool_]

    @property
    def end_sample(self) -> int:
        return self.start_sample + len(self.speech) * self.frame_samples


def _odd(n: int) -> int:
    return n if n % 2 == 1 else n + 1


def smooth(raw: npt.NDArray[np.bool_], close_frames: int, open_frames: int) -> npt.NDArray[np.bool_]:
    """Closing then opening with flat structuring elements (edges extend the nearest value)."""
    x = raw.astype(np.uint8)
    if close_frames > 1:
        x = minimum_filter1d(maximum_filter1d(x, close_frames, mode="nearest"), close_frames, mode="nearest")
    if open_frames > 1:
        x = maximum_filter1d(minimum_filter1d(x, open_frames, mode="nearest"), open_frames, mode="nearest")
    return x.astype(bool)


class VoiceActivityDetector:
    """Streaming VAD with smoothing.

    Parameters
    ----------
    config : VadConfig
    model : a frame model (see ``models.vad``).

    Calling it with a chunk returns the frames that became final; ``flush()`` returns the rest at the
    end of a stream. Frames are aligned to sample 0 of the stream.
    """

    def __init__(self, config: VadConfig, *, model: FrameVadModel) -> None:
        self.config = config
        self.model = model
        self.frame_samples = model.frame_samples
        frame_s = self.frame_samples / SAMPLE_RATE
        self.close_frames = _odd(max(1, int(round(config.min_silence_s / frame_s))))
        self.open_frames = _odd(max(1, int(round(config.min_speech_s / frame_s))))
        # A smoothed frame depends on raw frames up to this many frames away.
        self.delay_frames = self.close_frames + self.open_frames
        self.reset()

    def reset(self) -> None:
        """Forget all audio and state; the next chunk starts a new stream at its own start_sample."""
        self.model.reset()
        self._pending = np.zeros(0, dtype=np.float32)
        self._next_frame_sample: int | None = None
        self._raw = np.zeros(0, dtype=bool)  # raw decisions of frames from _raw_first on
        self._raw_first = 0  # frame index (stream-relative) of _raw[0]
        self._emitted = 0  # frames emitted so far
        self._origin = 0

    def _classify(self, chunk: AudioChunk) -> None:
        if self._next_frame_sample is None:
            self._next_frame_sample = self._origin = chunk.start_sample
        expected = self._next_frame_sample + len(self._pending)
        if chunk.start_sample > expected:
            # A gap in the stream (dropped blocks): treat the missing audio as silence.
            self._pending = np.concatenate([self._pending, np.zeros(chunk.start_sample - expected, np.float32)])
        buf = np.concatenate([self._pending, chunk.samples])
        n = len(buf) // self.frame_samples
        probs = np.fromiter(
            (self.model(buf[i * self.frame_samples : (i + 1) * self.frame_samples]) for i in range(n)),
            dtype=np.float32,
            count=n,
        )
        self._pending = buf[n * self.frame_samples :]
        self._next_frame_sample += n * self.frame_samples
        self._raw = np.concatenate([self._raw, probs >= self.config.threshold])

    def _emit(self, upto: int) -> SpeechFrames:
        smoothed = smooth(self._raw, self.close_frames, self.open_frames)
        first = self._emitted - self._raw_first
        out = smoothed[first : upto - self._raw_first]
        frames = SpeechFrames(self._origin + self._emitted * self.frame_samples, self.frame_samples, out)
        self._emitted = upto
        # Keep enough left context for the filters around the next frames to emit.
        keep_from = max(self._raw_first, self._emitted - 2 * self.delay_frames)
        self._raw = self._raw[keep_from - self._raw_first :]
        self._raw_first = keep_from
        return frames

    def __call__(self, chunk: AudioChunk) -> SpeechFrames:
        """Classify a chunk; return the frames that became final (possibly none)."""
        self._classify(chunk)
        total = self._raw_first + len(self._raw)
        upto = max(self._emitted, total - self.delay_frames)
        return self._emit(upto)

    def tentative(self) -> SpeechFrames:
        """The raw decisions of the frames classified but not yet final (the last ``delay_frames``
        at most): what is being said right now, before smoothing can bridge or drop it."""
        first = self._emitted - self._raw_first
        return SpeechFrames(self._origin + self._emitted * self.frame_samples, self.frame_samples, self._raw[first:].copy())

    def flush(self) -> SpeechFrames:
        """End of stream: finalize every remaining whole frame."""
        return self._emit(self._raw_first + len(self._raw))


def speech_mask_samples(frames: SpeechFrames) -> Samples:
    """Expand frame decisions to a per-sample float mask (1.0 speech, 0.0 not)."""
    return np.repeat(frames.speech.astype(np.float32), frames.frame_samples)
