"""The room: one meeting after another in one process, each recorded, with automatic start and end.

``Room`` holds the current ``MeetingSession``. ``new_meeting()`` (the facilitator's "New meeting")
ends the current one if needed, keeps its record, and opens the next on the same input and models
(``MeetingSession.successor``). A thread of the room's own (never the pipeline's or the event
loop's) watches the current meeting about once a second:

- it starts the meeting's ``MeetingRecorder`` when the meeting first runs, so a room that waits
  for days stores nothing;
- with ``auto_end_after_s``, it ends a running meeting after that much counted time without
  speech (``end_reason`` ``"silence"``; its clock stops at the last speech);
- when it opens the next meeting, it reloads the voice profiles from the store (same roster), so
  profiles deleted, kept or enrolled meanwhile, by this process or the CLI, count from then on;
- once a meeting has ended, it writes its last seconds, keeps its record in memory (the report
  link keeps working) and, with talk-started meetings, opens the next one, which waits for talk;
- while the ended meeting is still the current one, corrections made to it (rename, merge, the
  roster) are written to the store and to the kept record within a tick, and at once when the
  next meeting opens or the room closes.

A meeting that ends for silence without a single word counted is removed from the store: nothing
happened.

When the room opens after a crash (its latest stored meeting was interrupted), it continues that
meeting or starts a new one that follows it, as ``tracker.meeting.restart`` decides; the meeting's
``restart`` says which, for the page. Listeners (``subscribe``) hear every change of the current meeting and every switch.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

from tracker.meeting import restart
from tracker.meeting.enrollment import reload_profiles
from tracker.store.records import Gap, MeetingInfo, MeetingRecord, clean_title, iso_now
from tracker.meeting.recorder import MeetingRecorder, live_info, session_record
from tracker.meeting.session import MeetingSession, MeetingSnapshot
from tracker.store.storage import MeetingStore, StoreError, UnknownMeetingError

log = logging.getLogger("talktime")

TICK_S = 1.0  # seconds between the room's checks when nothing wakes it
KEEP_PAST = 20  # ended meetings whose records stay in memory (for their report without a store)


def _nothing_to_keep(record: MeetingRecord, clock_s: float, roster: Sequence[str] = ()) -> str | None:
    """Why an ended meeting is not worth keeping, or None to keep it: nobody spoke before it ended
    for silence, or it counted no audio at all (no microphone, say) and nobody named, listed or
    marked anything in it (the ``roster`` the room was started with is not something entered). A
    meeting with counted audio but no speech is kept: it tells the room that the microphone heard
    nothing."""
    if record.segments:
        return None
    if record.info.end_reason == "silence":
        return "had no speech before it ended for silence"
    entered = set(record.expected) - set(roster)
    if clock_s < 1.0 and not record.names and not entered and not record.phases:
        return "counted no audio and nobody entered anything in it"
    return None


class Room:
    """The meetings of one room, one at a time.

    Parameters
    ----------
    first : the room's first meeting (not opened yet).
    store : where meetings are recorded; None: nowhere (reports are served from memory).
    title, series, room : how meetings are listed (see ``tracker.meeting.recorder.live_info``).
    auto_end_after_s : end a running meeting after this many seconds without speech; None: never.
    tick_s : seconds between the room's checks.
    resume_within_s : after a crash, continue the interrupted meeting if it stopped at most this many
        seconds ago (``tracker.meeting.restart``); 0: always start a new one.
    """

    def __init__(
        self,
        first: MeetingSession,
        *,
        store: MeetingStore | None = None,
        title: str | None = None,
        series: str | None = None,
        room: str | None = None,
        auto_end_after_s: float | None = None,
        tick_s: float = TICK_S,
        resume_within_s: float = restart.RESUME_WITHIN_S,
    ) -> None:
        if auto_end_after_s is not None and auto_end_after_s <= 0:
            raise ValueError(f"Room expected auto_end_after_s > 0 seconds or None, got {auto_end_after_s!r}")
        if tick_s <= 0:
            raise ValueError(f"Room expected tick_s > 0 seconds, got {tick_s!r}")
        if resume_within_s < 0:
            raise ValueError(f"Room expected resume_within_s >= 0 seconds, got {resume_within_s!r}")
        self.resume_within_s = resume_within_s
        self._follows: str | None = None  # the interrupted meeting the first one was started after
        self.store = store
        self.labels = {"title": title, "series": series, "room": room}
        self.auto_end_after_s = auto_end_after_s
        self.tick_s = tick_s
        self.hosted: set[str] = set()  # ids of every meeting this room has held
        self.error: str | None = None  # the last recording failure, None once one starts
        self._current = first
        self._info: MeetingInfo | None = None
        self._recorder: MeetingRecorder | None = None
        self._finished = False  # the current meeting has ended and its record is kept
        self._kept_version = -1  # the ended meeting's snapshot version its kept record reflects
        self._past: OrderedDict[str, MeetingRecord] = OrderedDict()
        self._stored: set[str] = set()  # ids of the meetings this room recorded in the store
        self._listeners: list[Callable[[], None]] = []
        self._unsubscribe: Callable[[], None] = _nothing
        # NB: _switch serialises the room's changes (API threads and the room's thread); _lock
        # guards the listener list and is never held while calling out.
        self._switch = threading.RLock()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._opened = False

    # -- the current meeting

    @property
    def current(self) -> MeetingSession:
        return self._current

    @property
    def recorder(self) -> MeetingRecorder | None:
        """The current meeting's recorder (None before it first runs, or without a store)."""
        return self._recorder

    def snapshot(self) -> MeetingSnapshot:
        with self._switch:
            return self._current.snapshot()

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener()`` (in the changing thread; it must not block) on every change."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def _changed(self) -> None:
        self._wake.set()
        with self._lock:
            listeners = list(self._listeners)
        for fn in listeners:
            fn()

    # -- lifecycle

    def open(self) -> None:
        """Open the first meeting and start watching it; a store that cannot record it raises here."""
        with self._switch:
            if self._opened:
                return
            self._opened = True
            continuing = self._after_crash()
            self._adopt(self._current)
            self._current.open()
            try:
                if continuing is not None:
                    continuing.start()
                    self._info, self._recorder = continuing.info, continuing
                    self._stored.add(continuing.info.id)
                self._record_if_running(raise_errors=True)
            except BaseException:
                self._current.close()
                raise
        self._thread = threading.Thread(target=self._run, name="talktime-room", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """End the current meeting (server shutdown) and write its last seconds."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(10.0)
        with self._switch:
            if not self._opened:
                return
            self._current.close()
            self._finish()
            self._unsubscribe()

    def new_meeting(self) -> MeetingSession:
        """End the current meeting if it is still going, keep its record, and open the next one
        (in a talk-started room, the next talk starts it at once)."""
        with self._switch:
            if not self._opened:
                raise RuntimeError("open() the room before starting another meeting")
            self._current.end(why="new meeting")
            # NB: the facilitator asked for it: the next talk starts it at once (no quiet period first)
            self._next(already_quiet=True)
        self._changed()
        return self._current

    def record_of(self, meeting_id: str) -> MeetingRecord | None:
        """The record of a meeting this room held (the current one as it stands), or None. An ended
        meeting that was stored is read from the store, so one deleted meanwhile is None."""
        with self._switch:
            if meeting_id == self._current.id:
                return self._current_record()
            kept = self._past.get(meeting_id)
            stored = meeting_id in self._stored
        if self.store is None or not (stored or (kept is None and meeting_id in self.hosted)):
            return kept  # never stored: memory is all there is
        try:  # NB: the store first: `talktime delete` or `forget-person` may have changed it meanwhile
            return self.store.load(meeting_id)
        except UnknownMeetingError:
            return None
        except StoreError as exc:
            if kept is None:
                raise
            log.warning("meeting %s is served from memory: the store cannot be read (%s)", meeting_id, exc)
            return kept

    # -- internals

    def _after_crash(self) -> MeetingRecorder | None:
        """Before the first meeting opens: if the room's latest stored meeting was interrupted,
        continue it (returns its claimed recorder, to start once the meeting is open) or make the
        first meeting follow it (see ``tracker.meeting.restart``)."""
        if self.store is None:
            return None
        session = self._current
        try:
            found = self.store.meetings(limit=1)
        except StoreError as exc:
            log.error("could not look for an interrupted meeting to continue: %s", exc)
            return None
        latest = found[0] if found else None
        room = self.labels["room"]
        now = iso_now()
        go_on = restart.plan(latest, source=session.input.label or "microphone",
                             room=clean_title(room, what="room") if room else None, within_s=self.resume_within_s,
                             now=now)
        if go_on is None or latest is None:
            return None
        if go_on:
            gap = Gap(latest.clock_samples, latest.ended_at or now, now)
            recorder = MeetingRecorder(self.store, session, info=latest, continues=True)
            try:
                record = recorder.claim(gap)
                stored_voices = self.store.live_voices(latest.id)
            except (StoreError, ValueError) as exc:
                log.warning("meeting %s cannot be continued (%s): a new meeting starts", latest.id, exc)
            else:
                usable, why_not = restart.usable_voices(stored_voices, session.pipeline.embedding_model)
                kept = session.continue_from(record, usable)
                session.restart = restart.continued(record, gap, restart.voice_words(kept, len(stored_voices), why_not))
                log.warning("meeting %s continued: %s", latest.id, session.restart.message)
                return recorder
        session.previous_id = self._follows = latest.id
        self.hosted.add(latest.id)  # NB: its report is served from the store, like a meeting this room held
        session.restart = restart.replaced(latest, now)
        try:
            self.store.drop_voices(latest.id)  # NB: it will not be continued: its voices are not kept
        except StoreError as exc:
            log.error("the voices of meeting %s could not be forgotten: %s", latest.id, exc)
        log.warning("meeting %s follows interrupted meeting %s: %s", session.id, latest.id, session.restart.message)
        return None

    def _adopt(self, session: MeetingSession) -> None:
        self._unsubscribe()
        self._current, self._info, self._recorder, self._finished = session, None, None, False
        self.hosted.add(session.id)
        self._unsubscribe = session.subscribe(self._changed)

    def _current_record(self) -> MeetingRecord:
        if self._recorder is not None:
            return self._recorder.record()
        if self._info is None:
            self._info = live_info(self._current, **self.labels)
        return session_record(self._current, self._info)

    def _record_if_running(self, *, raise_errors: bool = False) -> None:
        """Start recording the current meeting once it has run (hold ``_switch``)."""
        if self.store is None or self._recorder is not None or self._current.status == "ready":
            return
        follows = self._follows if self._current.previous_id == self._follows else None
        info = live_info(self._current, **self.labels, follows=follows)
        recorder = MeetingRecorder(self.store, self._current, info=info)
        try:
            recorder.start()
        except StoreError as exc:
            if raise_errors:
                raise
            if self.error is None:
                log.error("meeting %s is not being stored: %s", self._current.id, exc)
            self.error = str(exc)
            return
        self._info, self._recorder, self.error = info, recorder, None
        self._stored.add(self._current.id)
        log.info("meeting %s is stored in %s", self._current.id, self.store.path)

    def _finish(self) -> None:
        """Write the ended meeting's last seconds and keep its record; once kept, write the
        corrections made to it since (hold ``_switch``)."""
        if self._finished:
            self._keep_corrections()
            return
        session = self._current
        if self._recorder is not None:
            self._recorder.stop()
        version = session.snapshot().version  # NB: read before the record: a later change is kept next time
        record = self._current_record()
        self._finished, self._kept_version = True, version
        self._past[session.id] = record
        while len(self._past) > KEEP_PAST:
            self._past.popitem(last=False)
        known = session.pipeline.known
        why = _nothing_to_keep(record, session.snapshot().clock_s, known.roster if known is not None else ())
        if why is not None and self._recorder is not None:
            try:
                self._recorder.store.delete(session.id)
            except StoreError as exc:  # NB: the room goes on (a talk-started room readies the next meeting)
                log.error("meeting %s %s, but it stays in the store, empty: %s", session.id, why, exc)
                return
            self.hosted.discard(session.id)
            self._stored.discard(session.id)
            self._past.pop(session.id, None)
            log.info("meeting %s %s: not kept", session.id, why)

    def _keep_corrections(self) -> None:
        """The ended current meeting changed (a name fixed for the report): store it and keep it."""
        session = self._current
        kept = self._past.get(session.id)
        version = session.snapshot().version
        if kept is None or version == self._kept_version:
            return  # not kept (nobody spoke), or nothing changed
        if self._recorder is not None:
            try:
                self._recorder.flush()  # NB: stopped, so this thread writes; the diff covers names and merges
            except StoreError as exc:
                log.error("a correction to meeting %s could not be stored (will retry): %s", session.id, exc)
                return
            record = self._recorder.record()
        else:
            record = session_record(session, kept.info, ended_at=kept.info.ended_at)
        self._past[session.id] = record
        self._kept_version = version

    def _next(self, *, already_quiet: bool) -> None:
        """Finish the ended meeting and open its successor (hold ``_switch``)."""
        self._finish()
        nxt = self._current.successor(already_quiet=already_quiet)
        reload_profiles(nxt, self.store)  # NB: profiles deleted, kept or enrolled since, by any process
        self._adopt(nxt)
        nxt.open()
        self._record_if_running()
        log.info("meeting %s follows meeting %s", nxt.id, nxt.previous_id)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.tick_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._tick()
            except Exception:  # noqa: BLE001 - the room must keep going; the log says what failed
                log.exception("the room's check failed")

    def _tick(self) -> None:
        switched = False
        with self._switch:
            if self._stop.is_set():
                return
            session = self._current
            status = session.status
            if status in ("running", "paused"):
                self._record_if_running()
            if (
                status == "running"
                and self.auto_end_after_s is not None
                and session.silence_s() >= self.auto_end_after_s
            ):
                session.end("silence")
                status = "ended"
            if status == "ended":
                first = not self._finished
                self._finish()
                if first and session.onset is not None:  # talk started it: talk starts the next one
                    self._next(already_quiet=session.snapshot().end_reason == "silence")
                    switched = True
        if switched:
            self._changed()


def _nothing() -> None:
    pass
