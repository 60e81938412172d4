"""Where audio comes from: a microphone (sounddevice) or an audio file.

Every source delivers mono float32 ``AudioChunk`` blocks at ``SAMPLE_RATE`` through the same
``read(timeout)`` call, so a file replayed in real time goes through exactly the path the
microphone uses.
"""

from __future__ import annotations

import queue
import shutil
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import soundfile as sf
import soxr
from scipy.signal import lfilter

from tracker.audio import SAMPLE_RATE, AudioChunk, Samples

BLOCK_SAMPLES = 1_600  # 0.1 s at 16 kHz: the live block size
FAST_BLOCK_SAMPLES = 32_000  # 2 s: larger blocks let the embedding model batch when reading a file fast
SOUNDFILE_EXTENSIONS = {".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".au", ".opus"}


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


def _decode_blocks_soundfile(path: Path, block: int) -> tuple[int, int, Iterator[np.ndarray]]:
    info = sf.info(str(path))
    if info.frames == 0:
        raise AudioInputError(f"{path} contains no audio samples; expected a recording with sound in it")

    def gen() -> Iterator[np.ndarray]:
        with sf.SoundFile(str(path)) as f:
            while True:
                data = f.read(block, dtype="float32", always_2d=True)
                if len(data) == 0:
                    return
                yield data

    return info.samplerate, info.channels, gen()


def _decode_blocks_ffmpeg(path: Path, block: int) -> tuple[int, int, Iterator[np.ndarray]]:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AudioInputError(
            f"cannot decode {path.name}: expected WAV, FLAC or OGG (MP3/M4A need ffmpeg, which is not installed)"
        )
    cmd = [ffmpeg, "-nostdin", "-v", "error", "-i", str(path), "-f", "f32le", "-ac", "1", "-ar", str(SAMPLE_RATE), "-"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.read(block * 4)
    if not first:
        err = proc.stderr.read().decode(errors="replace").strip().splitlines()
        proc.wait()
        reason = err[-1] if err else "no audio stream"
        raise AudioInputError(f"cannot decode {path}: expected an audio file (WAV, FLAC, OGG, MP3, M4A); ffmpeg says: {reason}")

    def gen() -> Iterator[np.ndarray]:
        try:
            data = first
            while data:
                usable = len(data) - len(data) % 4
                yield np.frombuffer(data[:usable], dtype=np.float32)
                data = proc.stdout.read(block * 4)  # type: ignore[union-attr]
        finally:
            proc.kill()
            proc.wait()

    return SAMPLE_RATE, 1, gen()


def open_audio_file(path: str | Path, block: int = FAST_BLOCK_SAMPLES) -> tuple[int, int, Iterator[np.ndarray]]:
    """Open an audio file for streaming decode.

    Returns
    -------
    (sample_rate, channels, blocks): blocks are float32 arrays, shape (n,) or (n, channels).

    Raises
    ------
    AudioInputError
        The path does not exist, is not a file, or holds no decodable audio.
    """
    p = Path(path)
    if not p.exists():
        raise AudioInputError(f"no such file: {p} (expected the path of an audio recording)")
    if not p.is_file():
        raise AudioInputError(f"{p} is not a file (expected the path of an audio recording)")
    if p.stat().st_size == 0:
        raise AudioInputError(f"{p} is empty (expected an audio recording)")
    try:
        return _decode_blocks_soundfile(p, block)
    except sf.LibsndfileError as exc:
        if p.suffix.lower() in SOUNDFILE_EXTENSIONS and shutil.which("ffmpeg") is None:
            raise AudioInputError(f"cannot decode {p}: {exc}; expected a valid {p.suffix.lstrip('.').upper()} file") from exc
        return _decode_blocks_ffmpeg(p, block)


class FileSource:
    """An audio file read as fast as possible or paced in real time like a microphone.

    Parameters
    ----------
    path : path to a WAV, FLAC, OGG (or MP3/M4A with ffmpeg) file.
    realtime : bool
        If True, deliver blocks no faster than the wall clock (a replayed microphone).
    block_samples : int
        Samples per chunk at SAMPLE_RATE.
    """

    def __init__(self, path: str | Path, *, realtime: bool = False, block_samples: int | None = None) -> None:
        self.path = Path(path)
        self.realtime = realtime
        self.block_samples = block_samples or (BLOCK_SAMPLES if realtime else FAST_BLOCK_SAMPLES)
        if self.block_samples <= 0:
            raise ValueError(f"block_samples expected > 0, got {self.block_samples}")
        self.stats = SourceStats()
        rate, channels, blocks = open_audio_file(self.path, self.block_samples)
        if rate != SAMPLE_RATE:
            note = f"{self.path.name}: resampling {rate} Hz to {SAMPLE_RATE} Hz"
            self.stats.notices.append(note)
            warnings.warn(note, stacklevel=2)
        if channels != 1:
            note = f"{self.path.name}: mixing {channels} channels down to mono"
            self.stats.notices.append(note)
            warnings.warn(note, stacklevel=2)
        self.input_rate = rate
        self._resample = _Resampler(rate)
        self._blocks = blocks
        self._pending = np.zeros(0, dtype=np.float32)
        self._position = 0
        self._t0: float | None = None
        self._exhausted = False

    def start(self) -> None:
        self._t0 = time.monotonic()

    def stop(self) -> None:
        self._exhausted = True

    def _fill(self) -> None:
        while len(self._pending) < self.block_samples and not self._exhausted:
            try:
                raw = _sanitize(next(self._blocks), self.stats)
                out = self._resample(raw)
            except StopIteration:
                self._exhausted = True
                out = self._resample(np.zeros(0, dtype=np.float32), last=True)
            except (sf.LibsndfileError, RuntimeError) as exc:
                raise AudioInputError(f"{self.path}: decoding failed mid-file ({exc}); expected an intact recording") from exc
            self._pending = np.concatenate([self._pending, out])

    def captured_to(self) -> int:
        """The stamp "now" has reached: in real time, the samples due by the wall clock since
        ``start()`` (what a microphone would have captured, read or not); otherwise those read."""
        if not self.realtime or self._t0 is None:
            return self._position
        return max(self._position, int((time.monotonic() - self._t0) * SAMPLE_RATE))

    def read(self, timeout: float) -> AudioChunk | None:
        self._fill()
        if len(self._pending) == 0:
            raise EndOfStream
        samples, self._pending = self._pending[: self.block_samples], self._pending[self.block_samples :]
        chunk = AudioChunk(np.clip(samples, -1.0, 1.0), self._position)
        self._position += len(samples)
        if self.realtime:
            if self._t0 is None:
                self._t0 = time.monotonic()
            due = self._t0 + chunk.end_sample / SAMPLE_RATE
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        return chunk


def read_audio(path: str | Path) -> Samples:
    """Decode a whole file to mono float32 at SAMPLE_RATE (for tools and tests, not the live path)."""
    src = FileSource(path)
    parts: list[Samples] = []
    while True:
        try:
            chunk = src.read(0)
        except EndOfStream:
            break
        if chunk is not None:
            parts.append(chunk.samples)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


# --------------------------------------------------------------------------- microphone


def _sounddevice() -> Any:
    try:
        import sounddevice as sd
    except OSError as exc:  # PortAudio missing
        raise AudioInputError(
            f"audio capture needs the PortAudio library ({exc}); expected it installed (Debian: apt-get install libportaudio2)"
        ) from exc
    return sd


def list_input_devices() -> list[dict[str, Any]]:
    """Capture devices as dicts: index, name, hostapi, channels, default_samplerate, default."""
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        default_in = sd.default.device[0]
        hostapis = sd.query_hostapis()
    except sd.PortAudioError as exc:
        raise AudioInputError(f"cannot list audio devices: {exc}") from exc
    out = []
    for d in devices:
        if d["max_input_channels"] > 0:
            out.append(
                {
                    "index": d["index"],
                    "name": d["name"],
                    "hostapi": hostapis[d["hostapi"]]["name"],
                    "channels": d["max_input_channels"],
                    "default_samplerate": d["default_samplerate"],
                    "default": d["index"] == default_in,
                }
            )
    return out


def resolve_device(device: str | int | None) -> int | None:
    """Turn a device index, exact name or unique name fragment into a PortAudio index.

    None means the system default input. Raises AudioInputError naming the choices.
    """
    inputs = list_input_devices()
    if not inputs:
        raise AudioInputError("no audio input device found; expected a microphone or a capture device to be connected")
    if device is None or device == "":
        return None
    names = ", ".join(f"{d['index']}: {d['name']}" for d in inputs)
    if isinstance(device, int) or str(device).isdigit():
        idx = int(device)
        if any(d["index"] == idx for d in inputs):
            return idx
        raise AudioInputError(f"unknown input device {device!r}; expected one of: {names}")
    exact = [d for d in inputs if d["name"] == device]
    matches = exact or [d for d in inputs if str(device).lower() in d["name"].lower()]
    if len(matches) == 1:
        return int(matches[0]["index"])
    if not matches:
        raise AudioInputError(f"unknown input device {device!r}; expected one of: {names}")
    raise AudioInputError(f"input device {device!r} is ambiguous; expected one of: {names}")


class MicrophoneSource:
    """Live capture through sounddevice.

    The PortAudio callback only copies each block, stamped with its position in the device's
    stream, into a bounded queue; when the queue is full the oldest block is dropped and counted.
    The reader places every block by its stamp, so audio after a drop keeps its exact time and the
    meeting clock stays true to the wall clock.

    Parameters
    ----------
    device : index, name or name fragment; None for the system default.
    block_samples : samples per block at SAMPLE_RATE.
    max_queue_blocks : bound of the queue (50 blocks of 0.1 s = 5 s of audio).
    """

    def __init__(
        self, device: str | int | None = None, *, block_samples: int = BLOCK_SAMPLES, max_queue_blocks: int = 50
    ) -> None:
        self.device = device
        self.block_samples = block_samples
        self.stats = SourceStats()
        self._queue: queue.Queue[tuple[int, np.ndarray]] = queue.Queue(maxsize=max_queue_blocks)
        self._stream: Any = None
        self._position = 0
        self._captured = 0  # device samples the callback has seen; NB: written by the callback thread only
        self._next_device = 0  # device sample the reader expects next
        self._lock = threading.Lock()
        self._resample: _Resampler | None = None
        self.rate = SAMPLE_RATE
        self.channels = 1
        self.device_error: str | None = None

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        if status and status.input_overflow:
            self.stats.overflows += 1
        item = (self._captured, indata.copy())
        self._captured += len(indata)
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            try:
                self._queue.get_nowait()
                self.stats.dropped_blocks += 1
            except queue.Empty:
                pass
            try:
                self._queue.put_nowait(item)
            except queue.Full:
                self.stats.dropped_blocks += 1

    def _finished(self) -> None:
        # PortAudio calls this when the stream stops, including when the device goes away.
        if self._stream is not None and not getattr(self, "_stopping", False):
            self.device_error = "the audio input device stopped delivering audio (unplugged?)"

    def start(self) -> None:
        sd = _sounddevice()
        index = resolve_device(self.device)
        try:
            info = sd.query_devices(index if index is not None else sd.default.device[0])
        except (sd.PortAudioError, ValueError) as exc:
            raise AudioInputError(f"cannot query input device {self.device!r}: {exc}; expected a connected microphone") from exc
        rate = SAMPLE_RATE
        try:
            sd.check_input_settings(device=index, samplerate=SAMPLE_RATE, channels=1, dtype="float32")
            channels = 1
        except sd.PortAudioError:
            rate = int(info["default_samplerate"])
            channels = min(2, int(info["max_input_channels"]))
            note = f"device {info['name']!r} does not capture at {SAMPLE_RATE} Hz mono; using {rate} Hz x{channels} and converting"
            self.stats.notices.append(note)
            warnings.warn(note, stacklevel=2)
        self.rate, self.channels = rate, channels
        self._resample = _Resampler(rate)
        self._stopping = False
        try:
            self._stream = sd.InputStream(
                device=index,
                samplerate=rate,
                channels=channels,
                dtype="float32",
                blocksize=int(self.block_samples * rate / SAMPLE_RATE),
                callback=self._callback,
                finished_callback=self._finished,
            )
            self._stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            raise AudioInputError(f"cannot open input device {info['name']!r}: {exc}") from exc
        self.device_name = str(info["name"])

    def stop(self) -> None:
        self._stopping = True
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.close()
            except Exception:  # noqa: BLE001 - closing a vanished device may fail; nothing to do
                pass
            self._stream = None

    def read(self, timeout: float) -> AudioChunk | None:
        if self._stream is None:
            raise EndOfStream
        try:
            start, block = self._queue.get(timeout=timeout)
        except queue.Empty:
            if self.device_error:
                raise AudioInputError(self.device_error) from None
            return None
        assert self._resample is not None
        # NB: sanitized before resampling (a NaN would poison the resampler's state), clipped after
        # (resampling may overshoot full scale a little).
        samples = np.clip(self._resample(_sanitize(block, self.stats)), -1.0, 1.0)
        with self._lock:  # captured_to() reads the two positions together
            if start != self._next_device:
                # Dropped blocks still took wall time: skip exactly their length (converted without drift).
                self._position += start * SAMPLE_RATE // self.rate - self._next_device * SAMPLE_RATE // self.rate
            self._next_device = start + len(block)
            chunk = AudioChunk(samples, self._position)
            self._position += len(samples)
        return chunk

    def captured_to(self) -> int:
        """The stamp just past the last sample the device has captured, read or still queued.

        This is where "now" is in this source's stream; any thread may ask. At a device rate other
        than ``SAMPLE_RATE`` it is exact to the resampler's delay (a few milliseconds).
        """
        with self._lock:
            position, expected = self._position, self._next_device
        captured = self._captured  # NB: written by the callback; an int read is atomic
        return position + captured * SAMPLE_RATE // self.rate - expected * SAMPLE_RATE // self.rate
