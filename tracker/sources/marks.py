"""Carry a hybrid pairing's ``realigned`` mark from the block it came on to the chunk emitted.

Data flow (inside ``tracker.sources.live.LiveInput``, the reading thread only)::

    inner block (marked) ─ Marks.note ─┐
    waiting audio given to onset ──────┼─ Marks.watched / talk_found ─┐
    chunk emitted (re-stamped) ────────┴──────────────────────────────┴─ Marks.apply ─ marked chunk

A pairing marks the block from which the call was lined up again (``AudioChunk.realigned``).
``LiveInput`` drops audio captured while paused and re-stamps the rest, so the marked block may be
cut, dropped or emitted much later. The mark holds from its block's first sample: it goes on the
first chunk emitted from there on. Talk found by ``onset`` (a room waiting for talk) starts up to
seconds before the mark; the mark then holds from inside that chunk (``AudioChunk.realigned_at``).
"""

from __future__ import annotations

from dataclasses import replace

from tracker.audio import AudioChunk


class Marks:
    """The ``realigned`` mark a ``LiveInput`` holds until it can pass it on. No I/O, no threads.

    Per block read: ``note`` (the block's own mark), ``new_block``, then, while waiting for talk,
    ``watched`` for each waiting part and ``talk_found`` when talk is found; last ``apply`` on the
    chunk emitted (if any). ``clear`` forgets everything (the source has gone).
    """

    def __init__(self) -> None:
        self._held: tuple[int, int] | None = None  # a mark not yet passed on, and its inner sample
        self._watched: int | None = None  # waiting samples given to ``onset`` from the held mark on
        self._from: int | None = None  # meeting sample the held mark holds from, inside talk just emitted

    @property
    def held(self) -> int | None:
        """The mark not yet passed on (None: none)."""
        return None if self._held is None else self._held[0]

    def clear(self) -> None:
        """Forget the held mark: it belonged to a source that has gone."""
        self._held = self._watched = self._from = None

    def note(self, mark: int | None, at: int) -> None:
        """A block read from the inner source, starting at inner sample ``at``, carried ``mark``.
        The newest mark wins: it holds from its own block on."""
        if mark is not None:
            self._held, self._watched = (mark, at), None

    def new_block(self) -> None:
        """A new block is about to be re-stamped: no talk found in it yet."""
        self._from = None

    def watched(self, chunk: AudioChunk) -> None:
        """``chunk`` (inner samples) was given to ``onset``: count the part from the held mark on."""
        if self._held is not None:
            from_mark = max(0, chunk.end_sample - max(chunk.start_sample, self._held[1]))
            self._watched = from_mark + (self._watched or 0)

    def talk_found(self, start: int, length: int) -> None:
        """``onset`` found talk of ``length`` samples, emitted from meeting sample ``start``; it
        ends with the audio last watched, so a mark met while waiting is that far back in it."""
        if self._watched is not None:
            self._from = start + max(0, length - self._watched)

    def apply(self, out: AudioChunk) -> AudioChunk:
        """``out`` (the chunk emitted) with the held mark on it, if the mark holds inside it;
        otherwise ``out`` unchanged and the mark still held."""
        if self._held is None:
            return out
        # The mark holds from its block's first sample; the chunk emitted starts there or after it,
        # except talk found by ``onset``, which starts up to seconds before: the mark goes inside.
        at = 0 if self._from is None else max(0, self._from - out.start_sample)
        if at >= len(out.samples):
            return out  # NB: not expected (talk ends with the chunk read); kept for the next chunk
        mark = self._held[0]
        self._held = self._watched = None
        return replace(out, realigned=mark, realigned_at=at)
