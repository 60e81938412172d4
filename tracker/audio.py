"""Audio chunks and the time base of the whole pipeline.

Every stage counts time in samples at ``SAMPLE_RATE``; seconds are derived only for display.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16_000  # Hz; what webrtcvad, silero-vad and Resemblyzer all take

Samples = npt.NDArray[np.float32]

REALIGNED_UNKNOWN = -1  # an ``AudioChunk.realigned`` mark: the call was lined up afresh, its echo's delay is unknown


@dataclass(frozen=True)
class AudioChunk:
    """A block of mono audio at a known position in the stream.

    Parameters
    ----------
    samples : np.ndarray
        float32 samples in [-1, 1], shape (n_samples,).
    start_sample : int
        Index of ``samples[0]`` since the start of the stream.
    sample_rate : int
        Hz; always ``SAMPLE_RATE`` once a source has converted it.
    reference : np.ndarray or None
        In a hybrid meeting, the call's audio over the same span (same shape as ``samples``): what
        the room's loudspeakers played, so the call's echo can be told from room speech.
    realigned : int or None
        In a hybrid meeting, set when the call was lined up again with the room from this chunk's
        first sample on (``tracker.sources.paired.PairedSource``): the delay, in samples, at which the
        call's echo is now expected in the room. The echo gate starts from it.
        ``REALIGNED_UNKNOWN`` (-1): the call was lined up afresh (its device came back, or its
        clock ran away) and the gate must find the delay again. A source that cuts or re-stamps
        chunks carries it to the next chunk it emits; a newer mark replaces an older one.
    realigned_at : int
        Where in the chunk the ``realigned`` mark holds from (an offset in samples, 0: its first
        sample): a room waiting for talk emits audio from up to seconds before the mark.
    """

    samples: Samples
    start_sample: int
    sample_rate: int = SAMPLE_RATE
    reference: Samples | None = None
    realigned: int | None = None
    realigned_at: int = 0

    def __post_init__(self) -> None:
        if self.samples.ndim != 1:
            raise ValueError(f"AudioChunk expected mono samples of shape (n,), got {self.samples.shape}")
        if self.reference is not None and self.reference.shape != self.samples.shape:
            raise ValueError(f"AudioChunk expected a reference of shape {self.samples.shape}, got {self.reference.shape}")
        if self.start_sample < 0:
            raise ValueError(f"AudioChunk expected start_sample >= 0, got {self.start_sample}")
        if self.realigned is not None and self.realigned < REALIGNED_UNKNOWN:
            raise ValueError(f"AudioChunk expected realigned >= 0 samples, REALIGNED_UNKNOWN (-1) or None, got {self.realigned}")
        if self.realigned_at != 0 and (self.realigned is None or not 0 < self.realigned_at < len(self.samples)):
            raise ValueError("AudioChunk expected realigned_at inside the chunk (0 < realigned_at < "
                             f"{len(self.samples)}) and a realigned mark, got {self.realigned_at} with {self.realigned}")

    @property
    def end_sample(self) -> int:
        """Index one past the last sample."""
        return self.start_sample + len(self.samples)


def seconds(n_samples: int, sample_rate: int = SAMPLE_RATE) -> float:
    """Convert a sample count to seconds."""
    return n_samples / sample_rate


def to_samples(secs: float, sample_rate: int = SAMPLE_RATE) -> int:
    """Convert seconds to the nearest whole sample count."""
    return int(round(secs * sample_rate))
