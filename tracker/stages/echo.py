"""Echo gate: silence the room microphone where it only hears the call through the loudspeakers.

In a hybrid meeting the room microphone picks up the remote people from the loudspeakers, a
little later and a little quieter than the call audio itself. Counted as it is, every remote
voice would appear twice: once from the call, once as a "room" speaker. The gate compares the
two streams frame by frame (20 ms):

1. it follows the delay from the call to the microphone (the lag at which the room's level
   envelope best follows the call's, searched every second over the last few seconds), and the
   echo's level relative to the call (a low percentile of room minus call level while the call
   speaks, so that talk in the room does not inflate it);
2. a room frame is echo when the call was speaking at that lag (or just before it: the room's
   reverberation tail) and the room is no louder than the predicted echo plus a margin;
3. echo frames are set to silence before speech detection; everything else passes unchanged, so
   someone in the room talking over the call (louder than the echo by the margin) still counts.

A plain class with no I/O: it sees each room chunk with the call audio of the same span.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tracker.audio import SAMPLE_RATE, AudioChunk


@dataclass(frozen=True)
class EchoConfig:
    """Settings of the echo gate."""

    frame_s: float = 0.02  # seconds per decision frame
    max_delay_s: float = 0.6  # longest call-to-microphone delay searched (playback buffers + distance)
    tail_s: float = 0.2  # reverberation: the room may still hear the call this long after it stops
    margin_db: float = 6.0  # how much louder than the predicted echo a frame must be to be room speech
    call_active_db: float = -50.0  # call frame level (dBFS) above which the call is speaking
    history_s: float = 8.0  # seconds of levels the delay and gain are estimated from
    update_s: float = 1.0  # seconds between estimates
    min_correlation: float = 0.3  # envelope correlation needed to trust a delay estimate
    gain_percentile: float = 30.0  # of room-minus-call level while the call speaks: the echo's gain

    def __post_init__(self) -> None:
        if self.frame_s <= 0 or self.max_delay_s < 0 or self.tail_s < 0 or self.history_s <= self.max_delay_s:
            raise ValueError(
                "EchoConfig expected frame_s > 0, max_delay_s >= 0, tail_s >= 0 and history_s > max_delay_s, "
                f"got {self.frame_s}, {self.max_delay_s}, {self.tail_s}, {self.history_s}"
            )


@dataclass
class EchoStats:
    """What the gate did so far."""

    frames: int = 0  # room frames seen
    echo_frames: int = 0  # room frames silenced as the call's echo
    delay_s: float | None = None  # current estimate of the call-to-microphone delay
    gain_db: float | None = None  # current estimate of the echo's level relative to the call


def level_db(frames: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """Mean power of each row in dBFS (floor -100 dB)."""
    power = np.mean(frames.astype(np.float64) ** 2, axis=-1)
    out: npt.NDArray[np.float64] = 10.0 * np.log10(power + 1e-10)
    return out


class EchoGate:
    """Streaming echo gate for the room channel of a hybrid meeting (see the module docstring).

    Calling it with a room chunk that carries the call audio of the same span (``chunk.reference``)
    returns the room chunk with the echo-only frames silenced. Without a reference the chunk passes
    unchanged. Time is counted in samples; chunks must follow each other without gaps (a gap
    resets the gate's history).
    """

    def __init__(self, config: EchoConfig | None = None) -> None:
        self.config = config or EchoConfig()
        self.frame = max(1, int(round(self.config.frame_s * SAMPLE_RATE)))
        self.max_lag = int(round(self.config.max_delay_s / self.config.frame_s))
        self.tail = int(round(self.config.tail_s / self.config.frame_s))
        self.history = int(round(self.config.history_s / self.config.frame_s))
        self.update_every = max(1, int(round(self.config.update_s / self.config.frame_s)))
        self.reset()

    def reset(self) -> None:
        """Forget the stream (delay and gain are learned again)."""
        self.stats = EchoStats()
        self._room_rest = np.zeros(0, np.float32)
        self._call_rest = np.zeros(0, np.float32)
        self._room_db = np.zeros(0)  # levels of the last `history` frames
        self._call_db = np.zeros(0)
        self._since_update = 0
        self._delay: int | None = None  # frames
        self._gain = 0.0  # dB
        self._next: int | None = None  # sample the next chunk must start at

    # ------------------------------------------------------------------ estimation

    def _estimate(self) -> None:
        room, call = self._room_db, self._call_db
        n = len(room)
        if n <= self.max_lag + 10:
            return
        active = call >= self.config.call_active_db
        if active[: n - 1].mean() < 0.1:
            return  # the call has hardly spoken lately: keep what we had
        best_lag, best_r = None, self.config.min_correlation
        r_room = room[self.max_lag :]
        for lag in range(self.max_lag + 1):
            c = call[self.max_lag - lag : n - lag]
            if c.std() < 1e-6 or r_room.std() < 1e-6:
                continue
            r = float(np.corrcoef(r_room, c)[0, 1])
            if r > best_r:
                best_lag, best_r = lag, r
        if best_lag is None:
            return
        c = call[self.max_lag - best_lag : n - best_lag]
        on = c >= self.config.call_active_db
        if on.sum() < 10:
            return
        self._delay = best_lag
        self._gain = float(np.percentile(r_room[on] - c[on], self.config.gain_percentile))
        self.stats.delay_s = best_lag * self.config.frame_s
        self.stats.gain_db = self._gain

    # ------------------------------------------------------------------ gating

    def _echo_mask(self, first: int, count: int) -> npt.NDArray[np.bool_]:
        """Echo decision for the ``count`` room frames starting at history index ``first``."""
        cfg = self.config
        room, call = self._room_db, self._call_db
        lags = range(self._delay, self._delay + self.tail + 1) if self._delay is not None else range(0, self.max_lag + self.tail + 1)
        out = np.zeros(count, dtype=bool)
        for k in range(count):
            i = first + k
            past = [call[i - lag] for lag in lags if i - lag >= 0]
            if not past:
                continue
            loudest = max(past)
            if loudest < cfg.call_active_db:
                continue
            out[k] = room[i] < loudest + self._gain + cfg.margin_db
        return out

    def __call__(self, chunk: AudioChunk) -> AudioChunk:
        """Silence the echo-only frames of a room chunk (``chunk.reference`` is the call)."""
        if chunk.reference is None:
            return chunk
        if self._next is not None and chunk.start_sample != self._next:
            self.reset()
        if self._next is None:
            self._next = chunk.start_sample
        self._next = chunk.end_sample
        room = np.concatenate([self._room_rest, chunk.samples])
        call = np.concatenate([self._call_rest, chunk.reference])
        n = len(room) // self.frame
        offset = len(self._room_rest)  # room samples before this chunk's first sample
        self._room_rest, self._call_rest = room[n * self.frame :], call[n * self.frame :]
        if n == 0:
            return chunk
        r_db = level_db(room[: n * self.frame].reshape(n, self.frame))
        c_db = level_db(call[: n * self.frame].reshape(n, self.frame))
        self._room_db = np.concatenate([self._room_db, r_db])
        self._call_db = np.concatenate([self._call_db, c_db])
        self._since_update += n
        if self._since_update >= self.update_every or self._delay is None:
            self._since_update = 0
            self._estimate()
        first = len(self._room_db) - n
        echo = self._echo_mask(first, n)
        keep = self.history + self.max_lag + self.tail
        if len(self._room_db) > keep:
            self._room_db = self._room_db[-keep:]
            self._call_db = self._call_db[-keep:]
        self.stats.frames += n
        self.stats.echo_frames += int(echo.sum())
        if not echo.any():
            return chunk
        out = chunk.samples.copy()
        # Frame k covers room[k*frame:(k+1)*frame]; in this chunk's samples that is shifted by offset.
        for k in np.flatnonzero(echo):
            a = max(0, k * self.frame - offset)
            b = max(0, (k + 1) * self.frame - offset)
            out[a:b] = 0.0
        return AudioChunk(out, chunk.start_sample, chunk.sample_rate, reference=chunk.reference)

