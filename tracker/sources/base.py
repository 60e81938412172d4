"""What every audio source is: the ``Source`` protocol, its optional capabilities, its counters,
and the clean-up every source applies (resampling, non-finite and clipped blocks, DC).

Every source delivers mono float32 ``AudioChunk`` blocks at ``SAMPLE_RATE`` through the same
``read(timeout)`` call, so a file replayed in real time (``files``) goes through exactly the path
the microphone (``microphone``) uses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import soxr
from scipy.signal import lfilter

from tracker.audio import SAMPLE_RATE, AudioChunk, Samples

BLOCK_SAMPLES = 1_600  # 0.1 s at 16 kHz: the live block size


class AudioInputError(Exception):
    """An audio file or device could not be used; the message says what was expected."""


class EndOfStream(Exception):
    """The source has no more audio."""


@dataclass
class SourceStats:
    """Counters a source keeps for the dashboard and the report."""

    overflows: int = 0  # times the device said it had to drop input (status.input_overflow)
    dropped_blocks: int = 0  # blocks we dropped because the pipeline fell behind
    nonfinite_blocks: int = 0  # blocks with NaN or infinite samples (replaced by silence)
    clipped_blocks: int = 0  # blocks at full scale (clipped by the device or beyond [-1, 1]); kept, clipped
    notices: list[str] = field(default_factory=list)  # conversions applied, e.g. resampling


class Source(Protocol):
    """What the runner reads from."""

    stats: SourceStats

    def start(self) -> None: ...

    def read(self, timeout: float) -> AudioChunk | None:
        """Next chunk, or None after ``timeout`` seconds; raises EndOfStream when done."""
        ...

    def stop(self) -> None: ...


# Optional capabilities of a source, declared once and checked with ``isinstance`` where they are
# used (never probed attribute by attribute).


@runtime_checkable
class Positioned(Protocol):
    """A source that knows where "now" is in its stream: its capture position (samples)."""

    def captured_to(self) -> int | None: ...


@runtime_checkable
class FromDevice(Protocol):
    """A source that captures from a device: its name (None: the system's default device)."""

    @property
    def device_name(self) -> str | None: ...


@runtime_checkable
class Reporting(Protocol):
    """A source that says how it is: "ok", "starting", or why it delivers nothing."""

    @property
    def status(self) -> str: ...


class _Resampler:
    """Downmix to mono and stream-resample to SAMPLE_RATE (soxr keeps state across blocks)."""

    def __init__(self, in_rate: int) -> None:
        self.in_rate = in_rate
        self._stream = None if in_rate == SAMPLE_RATE else soxr.ResampleStream(in_rate, SAMPLE_RATE, 1, dtype="float32")

    def __call__(self, block: np.ndarray, *, last: bool = False) -> Samples:
        mono = block.mean(axis=1) if block.ndim == 2 else block
        mono = np.ascontiguousarray(mono, dtype=np.float32)
        if self._stream is None:
            return mono
        return np.asarray(self._stream.resample_chunk(mono, last=last), dtype=np.float32)


FULL_SCALE = 0.999  # |sample| at or above this is full scale (int16 devices peak at 32767/32768 = 0.99997)
CLIPPED_SAMPLES = 3  # a block with this many full-scale samples is clipped (one touching peak is not)


def _sanitize(samples: np.ndarray, stats: SourceStats | None = None) -> np.ndarray:
    """Replace NaN/inf (a broken driver or file) by silence and clip to [-1, 1], counting both in ``stats``.

    Works on blocks of any shape (samples,) or (samples, channels), before resampling: one NaN
    fed to the resampler would spread through its filter state into every later block.
    """
    if not np.isfinite(samples).all():
        samples = np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0)
        if stats is not None:
            stats.nonfinite_blocks += 1
    if stats is not None and np.count_nonzero(np.abs(samples) >= FULL_SCALE) >= CLIPPED_SAMPLES:
        stats.clipped_blocks += 1
    clipped: np.ndarray = np.clip(samples, -1.0, 1.0)
    return clipped


class DcBlocker:
    """Removes a constant offset (a faulty device's DC) with a one-pole high-pass, block by block.

    y[n] = x[n] - x[n-1] + r * y[n-1]; with r = ``DC_POLE`` the cut-off is about 13 Hz at 16 kHz
    (far below speech) and an offset decays with a time constant of 1 / (1 - r) = 200 samples
    (12.5 ms). ``offset_blocks`` counts blocks whose mean was above ``OFFSET_LEVEL``. No I/O.
    """

    DC_POLE = 0.995
    OFFSET_LEVEL = 0.05  # |mean| of a 0.1 s block above this (-26 dBFS) is an offset, not speech

    def __init__(self) -> None:
        self.offset_blocks = 0
        self.reset()

    def reset(self) -> None:
        """Forget the filter's state (a new device starts its own stream)."""
        self._zi = np.zeros(1, dtype=np.float64)
        self._last = 0.0
        self._primed = False

    def __call__(self, samples: Samples) -> Samples:
        if len(samples) == 0:
            return samples
        x = samples.astype(np.float64)
        if abs(float(x.mean())) > self.OFFSET_LEVEL:
            self.offset_blocks += 1
        if not self._primed:
            # Start as if the signal had always been at its first value: no step at the start.
            self._last, self._primed = float(x[0]), True
        prev = np.concatenate(([self._last], x[:-1]))
        y, self._zi = lfilter([1.0], [1.0, -self.DC_POLE], x - prev, zi=self._zi)
        self._last = float(x[-1])
        return np.asarray(y, dtype=np.float32)


# --------------------------------------------------------------------------- files
