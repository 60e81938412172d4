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
   someone in the room talking over the call (louder than the echo by the margin) still counts;
4. the delay is only searched from 0 to ``max_delay_s``, with the call first. ``CallAligner``
   also looks the other way, and further: if the call reaches the pairing after its own echo, or
   far too early, the pairing (``tracker.sources.paired.PairedSource``) reads it from elsewhere and marks
   the first chunk so lined up (``AudioChunk.realigned``: the echo's new delay). The gate takes
   that delay from the mark and measures the echo's level again (a call lined up afresh,
   ``REALIGNED_UNKNOWN``: it searches for the delay again). One decision, made where the
   call is moved: the gate runs no aligner of its own.

Plain classes with no I/O: they see each room chunk with the call audio of the same span.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from tracker.audio import REALIGNED_UNKNOWN, SAMPLE_RATE, AudioChunk

log = logging.getLogger("talktime")


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
    # Lining the call up again (``CallAligner``, applied by ``tracker.sources.paired.PairedSource``):
    max_shift_s: float = 2.0  # longest misalignment of the call, either way, learned from its echo and corrected
    shift_target_s: float = 0.1  # after a correction the call leads its echo by this much (inside 0..max_delay_s)
    shift_min_speech_s: float = 1.5  # seconds of call speech an estimate compares at least, at every lag
    shift_min_correlation: float = 0.6  # correlation (while the call speaks) a misalignment must reach
    shift_margin: float = 0.3  # ... and by how much it must beat every lag more than shift_peak_s away
    shift_peak_s: float = 0.2  # half the width of a correlation peak
    shift_agree: int = 3  # estimates in a row (shift_update_s apart) that must agree within 2 frames
    shift_update_s: float = 0.5  # seconds between estimates of the call's place
    shift_max_gain_db: float = 6.0  # at the peak, room minus call (dB) above this is the room's own voice sent back

    def __post_init__(self) -> None:
        if self.frame_s <= 0 or self.max_delay_s < 0 or self.tail_s < 0 or self.history_s <= self.max_delay_s:
            raise ValueError(
                "EchoConfig expected frame_s > 0, max_delay_s >= 0, tail_s >= 0 and history_s > max_delay_s, "
                f"got {self.frame_s}, {self.max_delay_s}, {self.tail_s}, {self.history_s}"
            )
        if self.max_shift_s < 0 or not 0 <= self.shift_target_s <= self.max_delay_s or self.shift_agree < 1:
            raise ValueError(
                "EchoConfig expected max_shift_s >= 0, 0 <= shift_target_s <= max_delay_s and shift_agree >= 1, "
                f"got {self.max_shift_s}, {self.shift_target_s}, {self.shift_agree}"
            )


@dataclass
class EchoStats:
    """What the gate did so far."""

    frames: int = 0  # room frames seen
    echo_frames: int = 0  # room frames silenced as the call's echo
    delay_s: float | None = None  # current estimate of the call-to-microphone delay
    gain_db: float | None = None  # current estimate of the echo's level relative to the call
    realignments: int = 0  # chunks marked ``realigned``: times the pairing lined the call up again


def level_db(frames: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """Mean power of each row in dBFS (floor -100 dB)."""
    power = np.mean(frames.astype(np.float64) ** 2, axis=-1)
    out: npt.NDArray[np.float64] = 10.0 * np.log10(power + 1e-10)
    return out


def lag_correlations(room: npt.NDArray[np.float64], call: npt.NDArray[np.float64], lo: int, hi: int,
                     *, common: bool = True, call_active_db: float | None = None, min_frames: int = 2,
                     ) -> npt.NDArray[np.float64]:
    """Correlation of the room's level envelope with the call's at each lag ``lo..hi`` (frames).

    Lag ``L`` pairs room frame ``i`` with call frame ``i - L``: positive when the call comes first
    (the echo follows it), negative when the call lags its own echo. Only history is used.

    - ``common``: every lag compares the same room frames, ``room[max(hi, 0) : n + min(lo, 0)]``;
      otherwise each lag uses every frame pair it has, so the newest room frames count for the
      lags that can reach them.
    - ``call_active_db``: only pairs whose call frame is at least this loud count. Then the
      correlation follows the syllables while the call speaks, not the stretches where both
      sides happen to be quiet, and its peak is sharp (about 0.2 s wide).

    A lag with fewer than ``min_frames`` pairs or a flat envelope gets -inf.
    """
    n = len(room)
    out = np.full(hi - lo + 1, -np.inf)
    for k, lag in enumerate(range(lo, hi + 1)):
        a, b = (max(hi, 0), n + min(lo, 0)) if common else (max(lag, 0), n + min(lag, 0))
        if b - a < 2:
            continue
        r, c = room[a:b], call[a - lag : b - lag]
        if call_active_db is not None:
            on = c >= call_active_db
            r, c = r[on], c[on]
        if len(r) < max(2, min_frames) or r.std() < 1e-6 or c.std() < 1e-6:
            continue
        out[k] = float(np.corrcoef(r, c)[0, 1])
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
        """Forget the stream and the counts (a new meeting)."""
        self.stats = EchoStats()
        self._restart()

    def _restart(self) -> None:
        """Forget the stream (delay and gain are learned again) but keep the meeting's counts in
        ``stats``: a gap in the stamps (blocks the device dropped) is not a new meeting."""
        self._room_rest = np.zeros(0, np.float32)
        self._call_rest = np.zeros(0, np.float32)
        self._next: int | None = None  # sample the next chunk must start at
        self._relearn()

    def _relearn(self, delay: int | None = None) -> None:
        """Forget the levels and the gain; the delay becomes ``delay`` (frames; None: unknown)."""
        self._room_db = np.zeros(0)  # levels of the last `history` frames
        self._call_db = np.zeros(0)
        self._since_update = 0
        self._delay: int | None = delay  # frames
        self._gain = 0.0  # dB
        self._gain_known = False  # whether _gain was measured (at _delay)
        self.stats.delay_s = None if delay is None else delay * self.config.frame_s
        self.stats.gain_db = None

    # ------------------------------------------------------------------ estimation

    def _estimate(self) -> None:
        room, call = self._room_db, self._call_db
        n = len(room)
        if n <= self.max_lag + 10:
            return
        active = call >= self.config.call_active_db
        if active[: n - 1].mean() < 0.1:
            return  # the call has hardly spoken lately: keep what we had
        rs = lag_correlations(room, call, 0, self.max_lag)
        best_lag = int(np.argmax(rs))
        if not rs[best_lag] > self.config.min_correlation:
            if self._delay is not None and not self._gain_known:
                self._measure_gain(self._delay)  # the delay a realignment set, not yet searched
            return
        self._measure_gain(best_lag)

    def _measure_gain(self, lag: int) -> None:
        """Take ``lag`` as the delay and measure the echo's gain there (if the call spoke enough)."""
        room, call = self._room_db, self._call_db
        n = len(room)
        r_room = room[self.max_lag :]
        c = call[self.max_lag - lag : n - lag]
        on = c >= self.config.call_active_db
        if on.sum() < 10:
            return
        self._delay = lag
        self._gain = float(np.percentile(r_room[on] - c[on], self.config.gain_percentile))
        self._gain_known = True
        self.stats.delay_s = lag * self.config.frame_s
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
        if chunk.realigned_at:  # the mark holds from inside the chunk: gate its two parts in turn
            cut, at = chunk.realigned_at, chunk.start_sample
            head = self(AudioChunk(chunk.samples[:cut], at, chunk.sample_rate, chunk.reference[:cut]))
            tail = self(AudioChunk(chunk.samples[cut:], at + cut, chunk.sample_rate, chunk.reference[cut:], chunk.realigned))
            return replace(chunk, samples=np.concatenate([head.samples, tail.samples]))
        if self._next is not None and chunk.start_sample != self._next:
            self._restart()
        self._next = chunk.end_sample
        if chunk.realigned == REALIGNED_UNKNOWN:
            self._relearn()  # the pairing lined the call up afresh: the delay is searched again
        elif chunk.realigned is not None:
            # The pairing lined the call up again from this chunk's first sample, with its echo
            # chunk.realigned samples after it: start from that delay, and measure the gain again.
            self.stats.realignments += 1
            self._relearn(int(round(chunk.realigned / self.frame)))
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
        if self._since_update >= self.update_every or self._delay is None or not self._gain_known:
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
        return AudioChunk(out, chunk.start_sample, chunk.sample_rate, reference=chunk.reference, realigned=chunk.realigned)



class CallAligner:
    """Learns from the echo how far the call's audio is off, in either direction (no I/O).

    ``EchoGate`` can only find an echo that follows the call by 0 to ``max_delay_s``: it looks at
    the call's past, never its future, so that the room is not held back. If the call reaches the
    pairing late (two devices that start at different speeds), its echo comes first and the gate
    finds nothing. The aligner sees the same room chunks and call audio as the gate and compares
    their level envelopes over lags of ``-max_shift_s`` to ``+max_shift_s``, from its history
    only, counting only frames where the call speaks. When the best lag lies outside
    ``0..max_delay_s``, with a clear peak (at least ``shift_min_correlation``, and ``shift_margin``
    above every lag more than ``shift_peak_s`` away) in ``shift_agree`` estimates in a row
    (``shift_update_s`` apart), it returns the shift that puts the echo
    ``shift_target_s`` after the call. ``tracker.sources.paired.PairedSource`` applies it to the call only:
    the room's samples, which are the meeting's clock, are never moved.

    A call that carries the room's own voice back (a remote participant without echo
    cancellation) also gives a clear peak, with the call after the room. It is told apart by
    level: at the peak, an echo is about as loud as the call or quieter, while the room's own voice
    is much louder than what the call sends back. A peak where the room is more than
    ``shift_max_gain_db`` louder than the call (the ``gain_percentile`` of room minus call while
    the call speaks) is not acted on.
    """

    def __init__(self, config: EchoConfig | None = None) -> None:
        self.config = config or EchoConfig()
        cfg = self.config
        self.frame = max(1, int(round(cfg.frame_s * SAMPLE_RATE)))
        self.max_lag = int(round(cfg.max_delay_s / cfg.frame_s))
        self.max_shift = int(round(cfg.max_shift_s / cfg.frame_s))
        self.target = int(round(cfg.shift_target_s / cfg.frame_s))
        self.min_speech = int(round(cfg.shift_min_speech_s / cfg.frame_s))
        self.peak = int(round(cfg.shift_peak_s / cfg.frame_s))
        self.keep = int(round(cfg.history_s / cfg.frame_s)) + 2 * self.max_shift
        self.update_every = max(1, int(round(cfg.shift_update_s / cfg.frame_s)))
        # (lag s, correlation, room minus call dB at that lag) of the last estimates, for diagnosis
        self.estimates: deque[tuple[float, float, float]] = deque(maxlen=1000)
        self.refused_loud = False  # whether a peak was refused for the room's level (logged once)
        self.reset()

    def reset(self) -> None:
        """Forget the levels (after a correction, or when the streams were lined up afresh)."""
        self._room_rest = np.zeros(0, np.float32)
        self._call_rest = np.zeros(0, np.float32)
        self._room_db = np.zeros(0)
        self._call_db = np.zeros(0)
        self._since_update = 0
        self._outside: list[int] = []  # confident lags outside 0..max_lag, in a row

    def __call__(self, room: npt.NDArray[np.float32], call: npt.NDArray[np.float32]) -> int:
        """Take the next room samples and the call audio beside them (same length); return how many
        samples further on in its own stream the call should be read from (0: leave it; > 0: the
        call lands after its echo; < 0: it lands too early)."""
        if len(room) != len(call):
            raise ValueError(f"CallAligner expected room and call spans of the same length, got {len(room)} and {len(call)}")
        if self.max_shift == 0:
            return 0
        r = np.concatenate([self._room_rest, room])
        c = np.concatenate([self._call_rest, call])
        n = len(r) // self.frame
        self._room_rest, self._call_rest = r[n * self.frame :], c[n * self.frame :]
        if n == 0:
            return 0
        r_db = level_db(r[: n * self.frame].reshape(n, self.frame))
        c_db = level_db(c[: n * self.frame].reshape(n, self.frame))
        i = 0
        while i < n:  # one estimate every update_every frames, however long the chunk (a file's are 2 s)
            step = min(n - i, self.update_every - self._since_update)
            self._room_db = np.concatenate([self._room_db, r_db[i : i + step]])[-self.keep :]
            self._call_db = np.concatenate([self._call_db, c_db[i : i + step]])[-self.keep :]
            self._since_update += step
            i += step
            if self._since_update >= self.update_every:
                self._since_update = 0
                shift = self._decide()
                if shift:
                    return shift  # NB: the rest of the chunk is not looked at: the call moves after it
        return 0

    def _decide(self) -> int:
        """One estimate; the shift (samples) once enough estimates agree, else 0."""
        lag = self._estimate()
        if lag is None:
            self._outside = []
            return 0
        self._outside.append(lag)
        last = self._outside[-self.config.shift_agree :]
        if len(last) < self.config.shift_agree or max(last) - min(last) > 2:
            return 0
        shift = (self.target - int(np.median(last))) * self.frame
        self.reset()
        return shift

    def _estimate(self) -> int | None:
        """The lag (frames) if a clear envelope peak lies outside 0..max_lag, else None."""
        cfg = self.config
        room, call = self._room_db, self._call_db
        rs = lag_correlations(room, call, -self.max_shift, self.max_shift, common=False,
                              call_active_db=cfg.call_active_db, min_frames=self.min_speech)
        if not np.isfinite(rs).all():
            return None  # the call has not spoken long enough yet at every lag
        k = int(np.argmax(rs))
        best, lag = float(rs[k]), k - self.max_shift
        gain = self._gain_at(lag)
        self.estimates.append((lag * cfg.frame_s, best, gain))
        lags = np.arange(len(rs)) - self.max_shift
        others = rs[np.abs(lags - lag) > self.peak]
        if 0 <= lag <= self.max_lag or best < cfg.shift_min_correlation or best - float(np.max(others)) < cfg.shift_margin:
            return None
        if gain > cfg.shift_max_gain_db:
            if not self.refused_loud:  # the room is much louder than the call: its own voice sent back
                self.refused_loud = True
                log.warning(
                    "the call's audio matches the room's %.2f s %s it, but there the room is %.1f dB louder "
                    "than the call; an echo was expected at most %.1f dB louder (shift_max_gain_db), so this is "
                    "taken as the room's own voice sent back by the call and the call is not lined up from it "
                    "(logged once)",
                    abs(lag) * cfg.frame_s, "after" if lag < 0 else "before", gain, cfg.shift_max_gain_db)
            return None
        return lag

    def _gain_at(self, lag: int) -> float:
        """Room minus call level (dB, the ``gain_percentile``) at ``lag`` while the call speaks."""
        room, call = self._room_db, self._call_db
        n = len(room)
        a, b = max(lag, 0), n + min(lag, 0)
        r, c = room[a:b], call[a - lag : b - lag]
        on = c >= self.config.call_active_db
        return float(np.percentile(r[on] - c[on], self.config.gain_percentile)) if on.any() else 0.0
