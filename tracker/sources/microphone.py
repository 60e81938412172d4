"""A microphone as a source (sounddevice): the callback only copies into a bounded queue, ``read``
cleans, resamples and stamps each block by its capture position."""

from __future__ import annotations

import queue
import threading
import time
import warnings
from typing import Any

import numpy as np

from tracker.audio import SAMPLE_RATE, AudioChunk
from tracker.sources.base import BLOCK_SAMPLES, AudioInputError, EndOfStream, SourceStats, _Resampler, _sanitize


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
