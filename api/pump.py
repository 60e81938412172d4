"""The bridge from the meeting's threads to asyncio: a thread that builds and encodes snapshots.

It wakes when the session reports a change, or every ``interval_s`` seconds otherwise, builds the
snapshot and its JSON off the event loop, and hands the text over with
``loop.call_soon_threadsafe`` (the only way results cross into asyncio).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Protocol

from api.events import encode, state_event
from tracker.meeting.session import MeetingSnapshot

log = logging.getLogger("talktime.api")


class Watched(Protocol):
    """What the pump follows: a ``MeetingSession``, or a ``Room`` (whichever meeting is current)."""

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]: ...

    def snapshot(self) -> MeetingSnapshot: ...


class SnapshotPump:
    """Publishes the meeting's state to ``deliver`` (run in ``loop``) on change and on a heartbeat.

    Parameters
    ----------
    session : the meeting, or the room (its state is the current meeting's, so viewers follow
        the room from one meeting to the next).
    deliver : called in the event loop with each encoded ``state`` event.
    interval_s : seconds between heartbeats when nothing changes.
    """

    def __init__(self, session: Watched, deliver: Callable[[str], None], *, interval_s: float = 0.4) -> None:
        if interval_s <= 0:
            raise ValueError(f"SnapshotPump expected interval_s > 0 seconds, got {interval_s!r}")
        self.session = session
        self.deliver = deliver
        self.interval_s = interval_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._unsubscribe = self.session.subscribe(self._wake.set)
        self.publish_now()
        self._thread = threading.Thread(target=self._run, name="talktime-snapshots", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def publish_now(self) -> None:
        """Build, encode and hand over one snapshot (from any thread)."""
        assert self._loop is not None, "start() the pump first"
        text = encode(state_event(self.session.snapshot()))
        try:
            self._loop.call_soon_threadsafe(self.deliver, text)
        except RuntimeError:  # the loop closed during shutdown
            self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.publish_now()
            except Exception:  # noqa: BLE001 - a bad snapshot must not stop the dashboard for good
                log.exception("could not publish the meeting's state")
                self._stop.wait(self.interval_s)
