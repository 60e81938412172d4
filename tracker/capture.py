"""Live capture for a meeting: a source that survives a missing microphone and can be paused.

``LiveInput`` is a ``Source`` for the ``Runner``. It wraps whichever real source can be opened
now (a microphone, or a recording replayed in real time), retries every ``retry_s`` seconds when
none can, and re-stamps chunks so the pipeline sees one continuous stream: audio read while the
meeting is paused, and time without a device, are not part of the meeting's sample clock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tracker.audio import AudioChunk
from tracker.sources import AudioInputError, EndOfStream, FileSource, MicrophoneSource, Source, SourceStats

log = logging.getLogger("talktime")

Opener = Callable[[], Source]

STATUS_STARTING = "starting"
STATUS_OK = "ok"
STATUS_ENDED = "end of input"
NO_MICROPHONE = "no microphone"


def microphone_opener(device: str | int | None = None) -> Opener:
    """An opener of the named (or default) capture device; it rescans devices before a retry."""
    attempts = 0

    def open_microphone() -> Source:
        nonlocal attempts
        if attempts:
            _rescan_devices()
        attempts += 1
        return MicrophoneSource(device)

    return open_microphone


def file_opener(path: str | Path) -> Opener:
    """An opener of a recording replayed in real time, exactly as a microphone would deliver it."""
    return lambda: FileSource(path, realtime=True)


def _rescan_devices() -> None:
    # NB: PortAudio lists devices once, when it is initialised; re-initialising it is the only way
    # to see a microphone plugged in later. Safe here because no stream of ours is open.
    try:
        import sounddevice as sd

        sd._terminate()  # noqa: SLF001 - sounddevice has no public rescan
        sd._initialize()  # noqa: SLF001
    except Exception as exc:  # noqa: BLE001 - PortAudio missing: the open that follows says why
        log.debug("device rescan failed: %s", exc)


class LiveInput:
    """A retrying, pausable source.

    Parameters
    ----------
    open_source : callable returning a new, unstarted ``Source``; it may raise ``AudioInputError``.
    retry_s : seconds between attempts to open a source after a failure.
    retry : False for a recording: a failure to open, or its end, is final.
    label : what the input is, for people ("microphone", "file meeting.wav").

    ``status`` is ``"ok"``, ``"starting"``, ``"no microphone: <reason>"`` or ``"end of input"``.
    ``delivered_samples`` is the length of the meeting's stream; ``paused_samples`` the audio
    read and dropped while not counting.
    """

    def __init__(self, open_source: Opener, *, retry_s: float = 2.0, retry: bool = True, label: str = "") -> None:
        if retry_s <= 0:
            raise ValueError(f"LiveInput expected retry_s > 0 seconds, got {retry_s!r}")
        self._open = open_source
        self.retry_s = retry_s
        self.retry = retry
        self.label = label
        self.stats = SourceStats()
        self.on_status: Callable[[], None] | None = None  # called (in the reading thread) when status changes
        self._status = STATUS_STARTING
        self.device_name: str | None = None
        # NB: read and written from several threads; plain attribute writes are atomic in CPython.
        self.counting = True
        self.delivered_samples = 0
        self.paused_samples = 0
        self._inner: Source | None = None
        self._lost_overflows = 0
        self._lost_dropped = 0
        self._inner_end: int | None = None  # end sample of the inner source's last chunk
        self._next_try = 0.0  # time.monotonic() of the next attempt to open
        self._stop = threading.Event()

    @property
    def status(self) -> str:
        return self._status

    @status.setter
    def status(self, value: str) -> None:
        changed, self._status = value != self._status, value
        if changed and self.on_status is not None:
            self.on_status()

    # -- Source protocol

    def start(self) -> None:
        self._try_open()

    def stop(self) -> None:
        self._stop.set()
        self._close_inner()

    def read(self, timeout: float) -> AudioChunk | None:
        if self._stop.is_set():
            raise EndOfStream
        inner = self._inner or self._wait_and_open(timeout)
        if inner is None:
            return None
        try:
            chunk = inner.read(timeout)
        except EndOfStream:
            if not self.retry:
                self.status = STATUS_ENDED
                raise
            self._lost("the input stopped")
            return None
        except AudioInputError as exc:
            if not self.retry:
                self.status = f"input failed: {exc}"
                raise EndOfStream from exc
            self._lost(str(exc))
            return None
        return None if chunk is None else self._restamp(chunk)

    # -- internals

    def _restamp(self, chunk: AudioChunk) -> AudioChunk | None:
        """Map the inner source's samples onto the meeting stream, or drop them while paused."""
        gap = 0 if self._inner_end is None else max(0, chunk.start_sample - self._inner_end)
        self._inner_end = chunk.end_sample
        if not self.counting:
            self.paused_samples += gap + len(chunk.samples)
            return None
        start = self.delivered_samples + gap  # a gap is audio the device dropped: it took time
        self.delivered_samples = start + len(chunk.samples)
        return AudioChunk(chunk.samples, start, chunk.sample_rate)

    def _wait_and_open(self, timeout: float) -> Source | None:
        delay = self._next_try - time.monotonic()
        if delay > 0:
            self._stop.wait(min(timeout, delay))
            return None
        return self._try_open()

    def _try_open(self) -> Source | None:
        if self._stop.is_set():
            return None
        try:
            src = self._open()
            src.start()
        except AudioInputError as exc:
            if not self.retry:
                self.status = f"input failed: {exc}"
                self._stop.set()  # the next read ends the stream
                return None
            self.status = f"{NO_MICROPHONE}: {exc}"
            self._next_try = time.monotonic() + self.retry_s
            return None
        self._inner, self._inner_end = src, None
        self.stats.notices.extend(src.stats.notices)
        self.device_name = getattr(src, "device_name", None)
        self.status = STATUS_OK
        return src

    def _lost(self, reason: str) -> None:
        log.warning("audio input lost: %s; retrying every %.0f s", reason, self.retry_s)
        self._close_inner()
        self.status = f"{NO_MICROPHONE}: {reason}"
        self._next_try = time.monotonic() + self.retry_s

    def _close_inner(self) -> None:
        inner, self._inner = self._inner, None
        if inner is not None:
            inner.stop()
            self._lost_overflows += inner.stats.overflows
            self._lost_dropped += inner.stats.dropped_blocks

    @property
    def overflows(self) -> int:
        """Times a device said it had to drop input, over every device opened."""
        return self._lost_overflows + (self._inner.stats.overflows if self._inner else 0)

    @property
    def dropped_blocks(self) -> int:
        """Blocks dropped because the pipeline fell behind, over every device opened."""
        return self._lost_dropped + (self._inner.stats.dropped_blocks if self._inner else 0)
