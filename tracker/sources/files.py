"""Audio files as a source: decoded in blocks (soundfile, or ffmpeg for MP3/M4A), resampled to
``SAMPLE_RATE`` mono, read as fast as the pipeline takes them or in real time like a microphone."""

from __future__ import annotations

import shutil
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

from tracker.audio import SAMPLE_RATE, AudioChunk, Samples
from tracker.sources.base import BLOCK_SAMPLES, AudioInputError, EndOfStream, SourceStats, _Resampler, _sanitize

FAST_BLOCK_SAMPLES = 32_000  # 2 s: larger blocks let the embedding model batch when reading a file fast
SOUNDFILE_EXTENSIONS = {".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".au", ".opus"}


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
