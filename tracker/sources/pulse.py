"""Call audio on Linux: a PulseAudio (or PipeWire) source, such as the monitor of the speakers.

The meeting app plays the remote people to an output device; its *monitor* source carries exactly
that audio. PortAudio (sounddevice) only sees the ALSA devices, not PulseAudio's sources, so the
call side is read with ``parec`` (Debian package pulseaudio-utils, which PipeWire's pulse server
answers too) as raw 16 kHz mono float32. A reader thread only copies its output into a bounded
queue, exactly like the microphone's callback.

``DEFAULT_CALL_SOURCE`` (``@DEFAULT_MONITOR@``) is the monitor of whatever output is the default
one: what the meeting app plays to unless it was told otherwise.
"""

from __future__ import annotations

import logging
import queue
import shutil
import subprocess
import threading

import numpy as np

from tracker.audio import SAMPLE_RATE, AudioChunk
from tracker.sources.base import AudioInputError, SourceStats

log = logging.getLogger("talktime")

DEFAULT_CALL_SOURCE = "@DEFAULT_MONITOR@"
BLOCK_SAMPLES = 1600  # 0.1 s, as the microphone
QUEUE_BLOCKS = 50  # 5 s of audio; older blocks are dropped (and counted) if the pipeline falls behind


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise AudioInputError(f"{name} is not installed; expected the Debian package pulseaudio-utils for call audio")
    return path


def list_pulse_sources() -> list[dict[str, str]]:
    """The PulseAudio/PipeWire sources (name and description), monitors included; [] without a server."""
    try:
        proc = subprocess.run([_tool("pactl"), "list", "short", "sources"], capture_output=True, text=True, timeout=5)
    except (AudioInputError, OSError, subprocess.TimeoutExpired):
        return []
    if proc.returncode != 0:
        return []
    out = []
    for line in proc.stdout.splitlines():
        f = line.split("\t")
        if len(f) >= 2:
            out.append({"name": f[1], "kind": "monitor (what an output plays)" if f[1].endswith(".monitor") else "input"})
    return out


class PulseSource:
    """A ``Source`` over a PulseAudio source, read by ``parec`` at 16 kHz mono.

    Raises ``AudioInputError`` (from ``read``) when parec ends, with its message: a missing
    source ("No such entity"), no server, or the device gone. Wrap it in a ``LiveInput`` to have
    it retried.
    """

    def __init__(self, name: str = DEFAULT_CALL_SOURCE, *, block_samples: int = BLOCK_SAMPLES, queue_blocks: int = QUEUE_BLOCKS) -> None:
        self.name = name
        self.block_samples = block_samples
        self.stats = SourceStats()
        self._queue: queue.Queue[tuple[int, np.ndarray]] = queue.Queue(maxsize=queue_blocks)
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._ended = threading.Event()
        self._error = ""
        self._captured = 0  # samples parec has delivered, queued or dropped; NB: written by the pump thread only
        self._exe = _tool("parec")

    def start(self) -> None:
        cmd = [self._exe, "-d", self.name, "--format=float32le", f"--rate={SAMPLE_RATE}", "--channels=1", "--raw",
               "--latency-msec=50", "--client-name=talktime"]
        try:
            self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as exc:
            raise AudioInputError(f"cannot start parec for {self.name}: {exc}") from exc
        self._thread = threading.Thread(target=self._pump, name="talktime-call", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        size = self.block_samples * 4
        position = 0  # every block takes its time, dropped or not
        while True:
            data = proc.stdout.read(size)
            if not data:
                break
            block = np.frombuffer(data[: len(data) - len(data) % 4], dtype="<f4").astype(np.float32)
            self._captured = position + len(block)  # NB: before the block can be read: never behind it
            try:
                self._queue.put_nowait((position, block))
            except queue.Full:
                self.stats.dropped_blocks += 1
            position += len(block)
        proc.wait()
        err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
        self._error = err.splitlines()[-1] if err else f"parec exited with {proc.returncode}"
        self._ended.set()

    def captured_to(self) -> int:
        """The stamp just past the last sample captured, read or still queued (any thread may ask)."""
        return self._captured

    def read(self, timeout: float) -> AudioChunk | None:
        try:
            start, block = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            if self._ended.is_set() and self._queue.empty():
                raise AudioInputError(f"call audio {self.name!r}: {self._error}; expected a PulseAudio source "
                                      "(see `talktime devices`)") from None
            return None
        return AudioChunk(np.clip(np.nan_to_num(block), -1.0, 1.0), start)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._proc.kill()
