"""Starting a meeting on speech: watch the audio of a waiting room and find where talk begins.

``SpeechOnset`` is a plain class (no I/O, no threads): it is fed the audio a room captures while
its meeting is ``ready``, runs its own speech detector over it, and once sustained speech follows
a quiet period it returns the buffered audio from just before the first words, so that they count.
Its memory is bounded whatever it is fed (days of silence included).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from tracker.audio import SAMPLE_RATE, AudioChunk, to_samples
from tracker.stages.vad import VoiceActivityDetector

CONFIRM_S = 1.0  # seconds of speech within one run of talk before a meeting starts (a cough or a door is shorter)
RUN_GAP_S = 2.0  # seconds; longer pauses end a run of talk
PREROLL_S = 0.3  # seconds of audio kept before the first speech frame (the detector's frames are 32 ms)
BUFFER_S = 10.0  # seconds of waiting audio kept at most, so the onset of a slow-to-confirm run is still there


class SpeechOnset:
    """Finds the start of talk that follows at least ``quiet_s`` seconds without talk.

    Parameters
    ----------
    vad : a speech detector of its own (not the meeting pipeline's); reset here.
    quiet_s : seconds without sustained talk needed before talk starts a meeting (0: any talk).
    already_quiet : count the room as quiet from the start (after a restart, or after a meeting
        that ended because nobody spoke); otherwise the quiet period is counted from now.

    Calling it with a chunk of waiting audio returns None, or, when a meeting should start, the
    audio from ``PREROLL_S`` before the onset up to the end of this chunk as one chunk (stamped in
    the watcher's own stream, which starts at 0), with the call's audio beside it in a hybrid room.
    """

    def __init__(self, vad: VoiceActivityDetector, *, quiet_s: float, already_quiet: bool = True) -> None:
        if quiet_s < 0:
            raise ValueError(f"SpeechOnset expected quiet_s >= 0 seconds, got {quiet_s!r}")
        self.vad = vad
        self.vad.reset()
        self.quiet_samples = to_samples(quiet_s)
        self._confirm = to_samples(CONFIRM_S)
        self._run_gap = to_samples(RUN_GAP_S)
        self._buffer: deque[AudioChunk] = deque()
        self._buffered = 0
        self._position = 0  # the watcher's stream: samples fed so far
        # End of the last sustained talk (None: none yet); talk must start quiet_samples after it.
        self._busy_end: int | None = None if already_quiet else 0
        self._run_start: int | None = None
        self._run_end = 0
        self._run_speech = 0
        self.onset_sample: int | None = None  # where the talk that started the meeting began

    def __call__(self, chunk: AudioChunk) -> AudioChunk | None:
        stamped = AudioChunk(chunk.samples, self._position, chunk.sample_rate, chunk.reference)
        self._position = stamped.end_sample
        self._keep(stamped)
        frames = self.vad(stamped)
        for i in np.flatnonzero(frames.speech):
            start = frames.start_sample + int(i) * frames.frame_samples
            if self._speech(start, start + frames.frame_samples) and self.onset_sample is not None:
                return self._from(self.onset_sample)
        return None

    def _speech(self, start: int, end: int) -> bool:
        """One speech frame; True when it confirms a meeting's start."""
        if self._run_start is None or start - self._run_end > self._run_gap:
            self._run_start, self._run_speech = start, 0
        self._run_speech += end - start
        self._run_end = end
        if self._run_speech < self._confirm:
            return False
        if self._busy_end is None or self._run_start - self._busy_end >= self.quiet_samples:
            self.onset_sample = self._run_start
            return True
        self._busy_end = end  # talk too soon after the last: the room is still busy
        return False

    def _keep(self, chunk: AudioChunk) -> None:
        self._buffer.append(chunk)
        self._buffered += len(chunk.samples)
        limit = to_samples(BUFFER_S)
        while self._buffered - len(self._buffer[0].samples) >= limit:
            self._buffered -= len(self._buffer.popleft().samples)

    def _from(self, onset: int) -> AudioChunk:
        first = max(onset - to_samples(PREROLL_S), self._buffer[0].start_sample)
        audio = np.concatenate([c.samples for c in self._buffer])
        # A hybrid room's chunks carry the call's audio beside them: keep it (silence where missing).
        reference = None
        if any(c.reference is not None for c in self._buffer):
            reference = np.concatenate([c.reference if c.reference is not None else np.zeros_like(c.samples)
                                        for c in self._buffer])[first - self._buffer[0].start_sample :]
        start = self._buffer[0].start_sample
        self._buffer.clear()
        self._buffered = 0
        return AudioChunk(np.ascontiguousarray(audio[first - start :]), first, SAMPLE_RATE,
                          None if reference is None else np.ascontiguousarray(reference))
