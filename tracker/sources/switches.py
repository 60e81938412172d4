"""Pause and Start for a live input, placed where the device was when they were pressed.

Data flow::

    Pause/Start (any thread) ─ Switches.set(value, capture position) ─┐
    block read (the reading thread) ─ cut at Switches.state_at(...) ──┴─ counted parts ─ Pieces ─ one chunk

A lagging pipeline reads blocks seconds after they were captured; each switch is kept with the
capture position it was pressed at, so every block keeps the state the meeting was in when it was
captured. ``tracker.sources.live.LiveInput`` does the cutting and the stamping; this module holds the
pending switches and joins what is counted.
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np

from tracker.audio import AudioChunk, Samples


class Switches:
    """Pending pause (False) and start (True) switches, in the order pressed, each at a sample
    position of the open source.

    Every method takes ``lock`` (re-entrant); a caller also holds it while it reads the source's
    position for ``set`` or changes the source, so a switch is never stamped in one source's
    positions and applied in another's.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._wanted = True  # counting, as last set
        self._counting = True  # counting, at the position the reader has reached
        self._pending: deque[tuple[int, bool]] = deque()  # (source position, counting from there), in order

    @property
    def wanted(self) -> bool:
        """Whether the meeting counts, as last set (pending switches included)."""
        return self._wanted

    def set(self, value: bool, at: int | None) -> None:
        """Count (True) or not from source position ``at``; ``at=None``: from now, at once."""
        with self.lock:
            self._wanted = value
            if at is None:
                self._pending.clear()
                self._counting = value
            else:
                self._pending.append((at, value))

    def settle(self) -> None:
        """Apply every pending switch now (their source has gone: its positions mean nothing)."""
        with self.lock:
            self._pending.clear()
            self._counting = self._wanted

    def start_now(self) -> None:
        """Count from now, whatever was pending (talk started the meeting)."""
        with self.lock:
            self._wanted = True
            self.settle()

    def state_at(self, pos: int) -> tuple[bool, int | None]:
        """Apply the switches at or before source position ``pos``; return whether audio at ``pos``
        counts and the position of the next pending switch (None if there is none)."""
        with self.lock:
            while self._pending and self._pending[0][0] <= pos:
                self._counting = self._pending.popleft()[1]
            return self._counting, (self._pending[0][0] if self._pending else None)


class Pieces:
    """The counted parts of one block, joined into one meeting chunk. They are contiguous in the
    meeting's stream: only uncounted audio lies between them. A part without call audio beside it
    gets silence there if another part has some."""

    def __init__(self) -> None:
        self.start: int | None = None  # meeting sample of the first part
        self.samples: list[Samples] = []
        self.references: list[Samples | None] = []

    def add(self, samples: Samples, reference: Samples | None, start: int) -> None:
        """Append a part that starts at meeting sample ``start`` (empty parts are ignored)."""
        if len(samples) == 0:
            return
        if self.start is None:
            self.start = start
        self.samples.append(samples)
        self.references.append(reference)

    def chunk(self, sample_rate: int) -> AudioChunk | None:
        """The parts as one chunk, or None if nothing was counted."""
        if self.start is None:
            return None
        if len(self.samples) == 1:
            return AudioChunk(self.samples[0], self.start, sample_rate, self.references[0])
        reference = None
        if any(r is not None for r in self.references):
            reference = np.concatenate([r if r is not None else np.zeros_like(s)
                                        for s, r in zip(self.samples, self.references, strict=True)])
        return AudioChunk(np.concatenate(self.samples), self.start, sample_rate, reference)
