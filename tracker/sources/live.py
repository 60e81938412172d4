"""Live capture for a meeting: a source that survives a missing microphone and can be paused.

``LiveInput`` is a ``Source`` for the ``Runner``. It wraps whichever real source can be opened
now (a microphone, or a recording replayed in real time), retries every ``retry_s`` seconds when
none can, and re-stamps chunks so the pipeline sees one continuous stream: audio captured while
the meeting is paused, and time without a device, are not part of the meeting's sample clock.

Pause and resume take effect where the device was when they were pressed (its capture position),
not when the pipeline reads the audio: a lagging pipeline reads blocks seconds after they were
captured, and those blocks belong to the state the meeting was in when they were captured
(``tracker.sources.switches`` keeps the pending switches and joins the counted parts of a block).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tracker.audio import AudioChunk, seconds
from tracker.sources.marks import Marks
from tracker.stages.onset import SpeechOnset
from tracker.sources.files import FileSource
from tracker.sources.microphone import MicrophoneSource
from tracker.sources.base import (
    AudioInputError,
    DcBlocker,
    EndOfStream,
    FromDevice,
    Positioned,
    Source,
    SourceStats,
)
from tracker.sources.switches import Pieces, Switches

log = logging.getLogger("talktime")

Opener = Callable[[], Source]

STATUS_STARTING = "starting"
STATUS_OK = "ok"
STATUS_ENDED = "end of input"
NO_MICROPHONE = "no microphone"
COUNTER_LOG_S = 60.0  # seconds; new dropped, overflowed or damaged blocks are logged at most this often


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


def capture_position(source: Source) -> int | None:
    """Where "now" is in ``source``'s stream (its ``captured_to()``), or None if it cannot say."""
    if not isinstance(source, Positioned):
        return None
    at = source.captured_to()
    return None if at is None else int(at)


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
    captured while not counting, and dropped.

    Setting ``counting`` (pause: False, resume: True) takes effect at the open source's capture
    position (``captured_to()``, see ``capture_position``): audio captured before it keeps the
    state it was captured in, even if it is read later. A source without a capture position
    switches at the end of what was read; with no source open the switch is immediate.

    Every chunk has its DC offset removed (``DcBlocker``) before the pipeline sees it. Damaged
    audio is counted, over every device opened, and never ends the input: ``nonfinite_blocks``
    (NaN or infinite samples, replaced by silence), ``clipped_blocks`` (at full scale; kept),
    ``offset_blocks`` (a large DC offset; removed), plus ``overflows`` and ``dropped_blocks``.

    A chunk's ``realigned`` mark (the call was lined up again from its first sample) is carried to
    the first chunk emitted from there on, also when that sample was captured while paused. Talk
    found by ``onset`` may start before the mark: the mark then holds from inside the chunk
    (``AudioChunk.realigned_at``). ``tracker.sources.marks.Marks`` holds the mark meanwhile.

    While ``onset`` is set (a room waiting for talk) and not counting, audio goes to it; when it
    finds talk, counting starts at the talk's onset and ``on_onset(buffered_samples)`` is called.
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
        self._switches = Switches()  # its lock also guards the choice of _inner
        self.delivered_samples = 0
        self.paused_samples = 0
        self._inner: Source | None = None
        self._lost_overflows = 0
        self._lost_dropped = 0
        self._inner_end: int | None = None  # end sample of the inner source's last chunk
        self._marks = Marks()  # a ``realigned`` mark not yet passed on (see ``tracker.sources.marks``)
        self._next_try = 0.0  # time.monotonic() of the next attempt to open
        self._stop = threading.Event()
        self._dc = DcBlocker()
        self._lost_damage = SourceStats()
        self._was_lost = False
        self._logged = (0, 0, 0, 0, 0)  # counters as of the last log line
        self._next_log = 0.0  # time.monotonic() before which counters are not logged again
        self.onset: SpeechOnset | None = None
        self.on_onset: Callable[[int], None] | None = None  # called (in the reading thread) when talk starts

    def renewed(self) -> LiveInput:
        """A new input on the same device (or recording) with the same settings, not started."""
        return LiveInput(self._open, retry_s=self.retry_s, retry=self.retry, label=self.label)

    @property
    def status(self) -> str:
        return self._status

    @status.setter
    def status(self, value: str) -> None:
        changed, self._status = value != self._status, value
        if changed and self.on_status is not None:
            self.on_status()

    @property
    def counting(self) -> bool:
        """Whether the meeting counts, as last set (pending switches included)."""
        return self._switches.wanted

    @counting.setter
    def counting(self, value: bool) -> None:
        with self._switches.lock:
            if value == self._switches.wanted:
                return
            inner = self._inner
            at = None if inner is None else capture_position(inner)
            if at is None and inner is not None:
                at = self._inner_end  # no capture position: switch after what was read
            self._switches.set(value, at)

    @property
    def source(self) -> Source | None:
        """The source open now (None while there is none)."""
        return self._inner

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
        if chunk is None:
            return None
        self._marks.note(chunk.realigned, chunk.start_sample)
        # NB: clipped again: the high-pass of a clipped block may overshoot full scale.
        samples = np.clip(self._dc(chunk.samples), -1.0, 1.0)
        chunk = AudioChunk(samples, chunk.start_sample, chunk.sample_rate, chunk.reference)
        self._log_counters()
        self._marks.new_block()
        out = self._restamp(chunk)
        return None if out is None else self._marks.apply(out)

    # -- internals

    def _restamp(self, chunk: AudioChunk) -> AudioChunk | None:
        """Map the inner source's samples onto the meeting stream, dropping those captured while paused.

        The span from the end of the last chunk (a gap: blocks the device dropped) to the end of
        this one is cut at the pending switches that fall in it; what is counted is one chunk.
        """
        a, b = chunk.start_sample, chunk.end_sample
        pos = a if self._inner_end is None else min(a, self._inner_end)
        self._inner_end = b
        out = Pieces()
        while True:
            counting, switch_at = self._switches.state_at(pos)
            stop = b if switch_at is None else min(switch_at, b)
            if stop > pos:
                self._span(chunk, pos, stop, counting, out)
                pos = stop
            if pos >= b:
                return out.chunk(chunk.sample_rate)

    def _span(self, chunk: AudioChunk, lo: int, hi: int, counting: bool, out: Pieces) -> None:
        """Inner samples [lo, hi): part of the gap before ``chunk`` and/or of the chunk itself."""
        a = chunk.start_sample
        gap = max(0, min(hi, a) - lo)  # a gap is audio the device dropped: it took time
        i, j = max(lo, a) - a, max(hi, a) - a  # NB: a switch inside the gap leaves none of the chunk here
        lo = a + i
        samples = chunk.samples[i:j]
        reference = None if chunk.reference is None else chunk.reference[i:j]
        if counting:
            self.delivered_samples += gap
            out.add(samples, reference, self.delivered_samples)
            self.delivered_samples += len(samples)
            return
        self.paused_samples += gap + len(samples)
        if len(samples):
            talk = self._watch(AudioChunk(samples, lo, chunk.sample_rate, reference))
            if talk is not None:
                out.add(talk.samples, talk.reference, talk.start_sample)

    def _watch(self, chunk: AudioChunk) -> AudioChunk | None:
        """Waiting audio goes to ``onset``; from the talk it finds, the meeting's stream begins."""
        onset = self.onset
        if onset is None:
            return None
        self._marks.watched(chunk)  # the waiting audio from a held mark's sample on
        talk = onset(chunk)
        if talk is None:
            return None
        self.onset = None
        self._marks.talk_found(self.delivered_samples, len(talk.samples))
        self._switches.start_now()  # talk starts the meeting here and now, whatever was pending
        n = len(talk.samples)
        self.paused_samples = max(0, self.paused_samples - n)
        out = AudioChunk(talk.samples, self.delivered_samples, talk.sample_rate, talk.reference)
        self.delivered_samples += n
        if self.on_onset is not None:
            self.on_onset(n)
        return out

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
            status, before = f"{NO_MICROPHONE}: {exc}", self.status
            self.status = status
            if status != before and not self._was_lost:
                log.warning("no audio input: %s; retrying every %g s", exc, self.retry_s)
            self._next_try = time.monotonic() + self.retry_s
            return None
        with self._switches.lock:
            self._inner, self._inner_end = src, None
            self._marks.clear()  # a mark of the source that has gone
            self._switches.settle()  # stamps of a source that has gone mean nothing in this one
        self._dc.reset()
        self.stats.notices.extend(src.stats.notices)
        self.device_name = src.device_name if isinstance(src, FromDevice) else None
        what = "returned" if self._was_lost else "found" if self.status.startswith(NO_MICROPHONE) else "opened"
        device = f" ({self.device_name or 'default device'})" if isinstance(src, FromDevice) else ""  # a file has none
        log.log(logging.WARNING if what == "returned" else logging.INFO, "audio input %s: %s%s", what,
                self.label or "input", device)
        self._was_lost = False
        self.status = STATUS_OK
        return src

    def _lost(self, reason: str) -> None:
        log.warning("audio input lost: %s; retrying every %g s", reason, self.retry_s)
        self._was_lost = True
        self._close_inner()
        self.status = f"{NO_MICROPHONE}: {reason}"
        self._next_try = time.monotonic() + self.retry_s

    def _close_inner(self) -> None:
        with self._switches.lock:
            inner, self._inner = self._inner, None
            self._switches.settle()
        if inner is not None:
            inner.stop()
            self._lost_overflows += inner.stats.overflows
            self._lost_dropped += inner.stats.dropped_blocks
            self._lost_damage.nonfinite_blocks += inner.stats.nonfinite_blocks
            self._lost_damage.clipped_blocks += inner.stats.clipped_blocks

    def _counters(self) -> tuple[int, int, int, int, int]:
        return (self.dropped_blocks, self.overflows, self.nonfinite_blocks, self.clipped_blocks, self.offset_blocks)

    def _log_counters(self) -> None:
        """One warning when blocks were dropped or damaged since the last (at most every COUNTER_LOG_S)."""
        now = time.monotonic()
        if now < self._next_log:
            return
        counters = self._counters()
        new = [b - a for a, b in zip(self._logged, counters, strict=True)]
        if not any(new):
            return
        self._logged, self._next_log = counters, now + COUNTER_LOG_S
        names = ("dropped (the pipeline fell behind)", "device overflows", "with NaN/inf samples (silenced)",
                 "clipped", "with a DC offset (removed)")
        what = ", ".join(f"{n} {name}" for n, name in zip(new, names, strict=True) if n)
        log.warning("audio blocks since the last report: %s; %.0f s of audio so far", what,
                    seconds(self.delivered_samples + self.paused_samples))

    @property
    def overflows(self) -> int:
        """Times a device said it had to drop input, over every device opened."""
        return self._lost_overflows + (self._inner.stats.overflows if self._inner else 0)

    @property
    def dropped_blocks(self) -> int:
        """Blocks dropped because the pipeline fell behind, over every device opened."""
        return self._lost_dropped + (self._inner.stats.dropped_blocks if self._inner else 0)

    @property
    def nonfinite_blocks(self) -> int:
        """Blocks with NaN or infinite samples (replaced by silence), over every device opened."""
        inner = self._inner
        return self._lost_damage.nonfinite_blocks + (inner.stats.nonfinite_blocks if inner else 0)

    @property
    def clipped_blocks(self) -> int:
        """Blocks at full scale (clipped; still counted as audio), over every device opened."""
        inner = self._inner
        return self._lost_damage.clipped_blocks + (inner.stats.clipped_blocks if inner else 0)

    @property
    def offset_blocks(self) -> int:
        """Blocks with a large DC offset (removed before the speech detector)."""
        return self._dc.offset_blocks

