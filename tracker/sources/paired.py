"""The paired source of a hybrid meeting: room chunks that carry the call's audio beside them.

``PairedSource`` reads the room source and the call source side by side and hands the runner room
chunks that carry the call audio of the same span as ``AudioChunk.reference``; the pipeline's
``tracker.pipeline.hybrid.HybridEngine`` then counts the room's and the call's people apart.
``hybrid_input`` opens the live input of such a meeting (devices or recordings).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tracker.audio import REALIGNED_UNKNOWN, AudioChunk, Samples, seconds, to_samples
from tracker.sources.base import (
    AudioInputError,
    EndOfStream,
    FromDevice,
    Positioned,
    Reporting,
    Source,
    SourceStats,
)
from tracker.sources.files import FileSource
from tracker.stages.echo import CallAligner, EchoConfig

if TYPE_CHECKING:
    from tracker.sources.live import LiveInput

log = logging.getLogger("talktime")


class PairedSource:
    """The room source with the call source alongside: room chunks carrying the call's audio.

    Parameters
    ----------
    room : the room microphone (or a recording of it); its chunks set the pace and the clock.
    call : the call's audio (the monitor of the output the meeting app plays to).
    wait_s : how long to wait for the call to catch up with a room chunk before going on without it.
    max_lead_s : call audio ahead of the room beyond this is dropped (two devices' clocks drift).
    echo : the echo settings; their ``max_shift_s`` and ``shift_*`` fields drive the realignment.

    The call is lined up with the room at the first call audio read. Devices that start at
    different speeds can leave it off by a second or more, so a ``CallAligner`` watches each room
    chunk with the call beside it and, when the call's echo is clearly in the wrong place, the call
    is read from further on in its stream (its skipped audio is counted in ``call_skipped_samples``)
    or is held back by inserting silence. Only the call moves: room chunks pass as read, so no room
    audio is lost or counted twice. ``call_shifts`` lists the corrections (samples, > 0: the call
    was late). The first chunk read after a correction carries ``realigned``, the delay at which
    the echo now follows the call, so the echo gate (built from the same ``echo`` settings) learns
    of the correction from this one decision. When the call is lined up afresh (the pairing's
    first chunk with call audio, its input came back after an outage, or it ran over ``max_lead_s``
    ahead) the mark is ``REALIGNED_UNKNOWN``: the gate must search for the delay again.

    The call side is best effort: if it fails or ends, room chunks go on without a reference
    (``call_status`` says why). Give a ``LiveInput`` as ``call`` to have a missing call device
    retried; while it delivers nothing the room does not wait for it.
    """

    def __init__(self, room: Source, call: Source, *, wait_s: float = 0.25, max_lead_s: float = 2.0,
                 echo: EchoConfig | None = None) -> None:
        self.room = room
        self.call = call
        self.wait_s = wait_s
        self.max_lead = to_samples(max_lead_s)
        self.stats: SourceStats = room.stats
        self.call_status = "ok"
        self.call_missing_samples = 0  # room samples that had no call audio beside them
        self._buf = np.zeros(0, dtype=np.float32)
        self._buf_start = 0  # room-stream sample of _buf[0]
        self._call_offset: int | None = None  # call stream sample - room stream sample
        self._stalled = 0  # room chunks in a row the call did not catch up with
        self.aligner = CallAligner(echo)
        self.call_shifts: list[int] = []  # corrections applied (samples the call was read further on)
        self.call_skipped_samples = 0  # call audio skipped by corrections (a late call's, never the room's)
        self._skip = 0  # call samples still to skip from the stream for the last correction
        # The mark for the next chunk with call audio. A new pairing lines the call up afresh: its
        # first says so, or a gate that outlived an earlier pairing (the room device was reopened)
        # would keep that pairing's delay.
        self._realigned: int | None = REALIGNED_UNKNOWN

    def start(self) -> None:
        self.room.start()
        try:
            self.call.start()
        except AudioInputError as exc:
            self._call_lost(str(exc))

    def stop(self) -> None:
        self.room.stop()
        self.call.stop()

    def captured_to(self) -> int | None:
        """The room's capture position (its stamps are this source's), None if it has none."""
        if not isinstance(self.room, Positioned):
            return None
        at = self.room.captured_to()
        return None if at is None else int(at)

    @property
    def device_name(self) -> str | None:
        """The room microphone's device name (None: the default device). A pairing is ``FromDevice``
        exactly when its room is: with a recording for a room there is no such attribute (the
        ``AttributeError`` makes ``isinstance(pairing, FromDevice)`` false, as for a recording)."""
        if not isinstance(self.room, FromDevice):
            raise AttributeError("device_name")
        name = self.room.device_name
        return None if name is None else str(name)

    def _call_lost(self, why: str) -> None:
        if self.call_status == "ok":
            log.warning("call audio lost: %s; the room goes on without it", why)
        self.call_status = f"no call audio: {why}"

    @property
    def call_state(self) -> str:
        """"ok", or why there is no call audio (the call input's own status when it has one)."""
        inner = self.call.status if isinstance(self.call, Reporting) else "ok"
        return self.call_status if self.call_status != "ok" else ("ok" if inner == "ok" else f"no call audio: {inner}")

    def _pull_call(self, until: int, timeout: float) -> None:
        """Read call chunks until the buffer reaches room sample ``until`` or ``timeout`` passes
        (no waiting while the call input reports no device, or has delivered nothing for a while)."""
        if self._stalled >= 20 or (isinstance(self.call, Reporting) and self.call.status not in ("ok", "starting")):
            timeout = 0.0
        deadline = time.monotonic() + timeout
        while self.call_status == "ok" and self._buf_start + len(self._buf) < until:
            left = deadline - time.monotonic()
            try:
                chunk = self.call.read(min(max(left, 0.0), 0.05))
            except EndOfStream:
                self._call_lost("the call input ended")
                return
            except AudioInputError as exc:
                self._call_lost(str(exc))
                return
            if chunk is None:
                if left <= 0:
                    break
                continue
            samples, at = chunk.samples, chunk.start_sample
            if self._skip:  # a correction reads the call from further on
                cut = min(self._skip, len(samples))
                self._skip -= cut
                samples, at = samples[cut:], at + cut
                if not len(samples):
                    continue
            end_now = self._buf_start + len(self._buf)
            ahead = at - self._call_offset - end_now if self._call_offset is not None else 0
            if ahead + len(samples) <= 0 or ahead > self.max_lead:
                # Nothing of it is still ahead of the room: the call came back after an outage (its
                # input restamps from where it stopped) or its clock jumped. Line it up with the room
                # again rather than trimming all its audio away from now on.
                log.info("call audio lines up with the room again (%.1f s off)", seconds(ahead))
                self._call_offset = None
                self._skip = 0
                self._realigned = REALIGNED_UNKNOWN  # an earlier mark's delay no longer holds
            if self._call_offset is None:
                self._call_offset = at - end_now
                self.aligner.reset()
            start = at - self._call_offset
            if start > end_now:  # the call device dropped audio: silence takes its place
                samples = np.concatenate([np.zeros(start - end_now, np.float32), samples])
            elif start < end_now:
                samples = samples[end_now - start :]
            self._buf = np.concatenate([self._buf, samples])
        self._stalled = 0 if self._buf_start + len(self._buf) >= until else self._stalled + 1

    def read(self, timeout: float) -> AudioChunk | None:
        chunk = self.room.read(timeout)
        if chunk is None:
            return None
        a, b = chunk.start_sample, chunk.end_sample
        if self._buf_start + len(self._buf) < a:  # the room skipped ahead (a gap): so does the call buffer
            self._buf, self._buf_start = np.zeros(0, np.float32), a
            self.aligner.reset()
        self._pull_call(b, self.wait_s)
        mark, self._realigned = self._realigned, None  # NB: taken first: _slice may set the next chunk's
        ref = self._slice(a, b)
        if ref is None:  # no call audio: the mark waits for the next chunk that has some
            self._realigned = self._realigned if self._realigned is not None else mark
            return chunk
        shift = self.aligner(chunk.samples, ref)
        if shift and self._shift_call(shift):
            self._realigned = to_samples(self.aligner.config.shift_target_s)
        return AudioChunk(chunk.samples, a, chunk.sample_rate, reference=ref, realigned=mark)

    def _shift_call(self, shift: int) -> bool:
        """Read the call ``shift`` samples further on from the next room chunk (< 0: hold it back
        with silence). The room is untouched. False if there is no call lined up to move."""
        if self._call_offset is None:
            return False
        log.info("the call's echo in the room says the call is %.2f s %s: it is lined up again",
                 abs(seconds(shift)), "late" if shift > 0 else "early")
        self._call_offset += shift
        self.call_shifts.append(shift)
        if shift > 0:
            drop = min(shift, len(self._buf))
            self._buf = self._buf[drop:]
            self._skip += shift - drop
            self.call_skipped_samples += shift
        else:
            self._buf = np.concatenate([np.zeros(-shift, np.float32), self._buf])
        return True

    def _slice(self, a: int, b: int) -> Samples | None:
        """The call audio beside room samples [a, b) (silence where it is missing), or None if
        there is none at all because the call is gone."""
        have_end = self._buf_start + len(self._buf)
        lo, hi = max(a, self._buf_start), min(b, have_end)
        got = max(0, hi - lo)
        self.call_missing_samples += (b - a) - got
        if got == 0 and self.call_status != "ok":
            self._advance(b)
            return None
        out = np.zeros(b - a, dtype=np.float32)
        if got:
            out[lo - a : hi - a] = self._buf[lo - self._buf_start : hi - self._buf_start]
        self._advance(b)
        return out

    def _advance(self, b: int) -> None:
        """Forget call audio before room sample ``b``."""
        drop = min(max(0, b - self._buf_start), len(self._buf))
        self._buf = self._buf[drop:]
        self._buf_start = max(b, self._buf_start + drop)
        if len(self._buf) > self.max_lead:  # the call's clock runs ahead of the room's: line them up again
            self._buf = np.zeros(0, dtype=np.float32)
            self._call_offset = None
            self._skip = 0
            self._realigned = REALIGNED_UNKNOWN  # for the next chunk: its call audio is lined up afresh
            self.aligner.reset()


def paired_opener(room: Callable[[], Source], call: Callable[[], Source], *, retry_s: float = 2.0,
                  retry: bool = True, echo: EchoConfig | None = None) -> Callable[[], Source]:
    """An opener (see ``tracker.sources.live``) of the room source paired with the call's, the call
    retried every ``retry_s`` seconds while its device is missing (``retry=False`` for a recording:
    its end is final). ``echo``: the settings of the pipeline's echo gate."""
    from tracker.sources.live import LiveInput

    return lambda: PairedSource(room(), LiveInput(call, retry_s=retry_s, retry=retry, label="call"), echo=echo)


def hybrid_input(
    *,
    device: str | None = None,
    input_path: str | Path | None = None,
    call_device: str | None = None,
    call_input: str | Path | None = None,
    retry_s: float = 2.0,
    echo: EchoConfig | None = None,
) -> tuple[LiveInput, bool]:
    """The live input of a meeting with call audio, and whether it has a room side.

    ``call_device`` is a PulseAudio source (``"default"``: the monitor of the default output);
    with ``device`` (a microphone) the meeting is hybrid, alone it is fully remote.
    ``call_input`` replays a recording of the call beside ``input_path`` (the room's), or alone.
    Devices and recordings are not mixed. A bad recording fails here. ``echo``: the settings of
    the pipeline's echo gate (the pairing lines the call up with them).
    """
    from tracker.sources.live import LiveInput, file_opener, microphone_opener
    from tracker.sources.pulse import DEFAULT_CALL_SOURCE, PulseSource

    if call_device is not None and call_input is not None:
        raise ValueError(f"expected a call device or a call recording, not both; got {call_device!r} and {str(call_input)!r}")
    if call_input is not None:
        if device is not None:
            raise ValueError("a call recording is replayed beside a room recording (--input), not a microphone; "
                             f"got --device {device!r}")
        FileSource(call_input)  # fail fast on a bad file
        call_label = f"call {Path(call_input).name}"
        if input_path is None:
            return LiveInput(file_opener(call_input), retry=False, retry_s=retry_s, label=call_label), False
        FileSource(input_path)
        room_open = file_opener(input_path)
        call_open = file_opener(call_input)
        label = f"file {Path(input_path).name} + {call_label}"
        return LiveInput(paired_opener(room_open, call_open, retry_s=retry_s, retry=False, echo=echo), retry=False, retry_s=retry_s,
                         label=label), True
    if call_device is None:
        raise ValueError("expected a call device or a call recording")
    if input_path is not None:
        raise ValueError("a call device is captured beside a room microphone (--device), not a recording; "
                         f"got --input {str(input_path)!r}")
    name = DEFAULT_CALL_SOURCE if call_device == "default" else call_device

    def open_call() -> Source:
        return PulseSource(name)

    if device is None:
        return LiveInput(open_call, retry_s=retry_s, label=f"call {name}"), False
    label = f"microphone + call {name}"
    return LiveInput(paired_opener(microphone_opener(device), open_call, retry_s=retry_s, echo=echo), retry_s=retry_s, label=label), True
