"""Keeping a live meeting in the store: a flush every ``interval_s`` and recovery after a crash.

``MeetingRecorder`` follows a ``MeetingSession``: every ``interval_s`` seconds (and at once when the
meeting ends) it writes what changed (segments added or corrected, names, roster, phases) and a
heartbeat in one short transaction. A killed process therefore loses at most the last interval.
A flush costs the segments changed since the last one (``Accountant.take_changes``), not the
meeting's length, so the pipeline's lock is held as briefly after 8 hours as after a minute.

While it records, the recorder holds an OS lock on ``<data folder>/live/<meeting id>.lock``; the
kernel drops it when the process dies, even by ``kill -9``. ``recover`` ends every unfinished
meeting whose lock is free at its last heartbeat (``records.close_interrupted``). A restart soon
after may then continue it (``tracker.meeting.restart``): ``claim`` takes its lock and reopens it,
and the recorder goes on writing the same meeting. For that, each flush also keeps the engine's
voices (``records.LiveVoice``) while the meeting is live; they are deleted when it ends.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import IO

from tracker.store import records
from tracker.audio import SAMPLE_RATE, to_samples
from tracker.segments import Phase
from tracker.store.records import (
    Gap,
    LiveChange,
    LiveVoice,
    MeetingInfo,
    MeetingRecord,
    clean_title,
    iso_now,
    series_key,
)
from tracker.meeting.session import MeetingSession, MeetingSnapshot
from tracker.pipeline.engine import StreamingEngine
from tracker.pipeline.hybrid import HybridEngine
from tracker.segments import SpeakerSegment
from tracker.store.storage import MeetingStore, StoreError

log = logging.getLogger("talktime")

FLUSH_INTERVAL_S = 2.0  # seconds between flushes of a live meeting: the most a crash can lose


def _lock_path(store: MeetingStore, meeting_id: str) -> Path:
    return store.path.parent / "live" / f"{meeting_id}.lock"


class LiveLock:
    """An exclusive ``flock`` that marks a meeting as live in this process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None

    def acquire(self) -> None:
        import fcntl

        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            f = open(self.path, "wb")  # noqa: SIM115 - held open for the whole meeting
        except OSError as exc:
            raise StoreError(f"cannot write {self.path} ({exc.strerror}); expected a writable data folder "
                             "(set TALKTIME_DATA_DIR)", reason="unwritable") from exc
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            f.close()
            raise StoreError(f"meeting {self.path.stem} is already being recorded by another process; expected "
                             "one recorder per meeting", reason="locked") from exc
        self._file = f

    def release(self) -> None:
        if self._file is not None:
            self.path.unlink(missing_ok=True)
            self._file.close()
            self._file = None

    @staticmethod
    def held(path: Path) -> bool:
        """True if a live process holds the lock at ``path``."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: treat unfinished meetings as interrupted
            return False
        try:
            with open(path, "rb") as f:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    return True
                fcntl.flock(f, fcntl.LOCK_UN)
        except FileNotFoundError:
            return False
        return False


def is_live(store: MeetingStore, meeting_id: str) -> bool:
    """True while some process is recording this meeting."""
    return LiveLock.held(_lock_path(store, meeting_id))


KEEP_VOICES_S = 86_400.0  # a day: a restart never continues a meeting of another day (tracker.meeting.restart)


def recover(store: MeetingStore, *, keep_voices_s: float = KEEP_VOICES_S) -> list[MeetingInfo]:
    """End every meeting that no process is recording any more (see the module's docstring), and
    forget the voices of interrupted meetings last saved more than ``keep_voices_s`` ago: too
    late for any restart to continue them. (A restart that starts a new meeting instead forgets
    the interrupted one's voices at once: ``Room``.)"""
    from datetime import UTC, datetime, timedelta

    out = []
    for info in store.unfinished():
        path = _lock_path(store, info.id)
        if LiveLock.held(path):
            continue
        closed = store.close_interrupted(info.id)
        path.unlink(missing_ok=True)
        if closed is not None:
            out.append(closed)
    store.drop_stale_voices((datetime.now(UTC) - timedelta(seconds=keep_voices_s)).isoformat(timespec="seconds"))
    return out


def _nothing() -> None:
    pass


def default_title(started_at: str) -> str:
    """"Meeting of 2026-05-01 09:30" in the machine's local time."""
    return "Meeting of " + datetime.fromisoformat(started_at).astimezone().strftime("%Y-%m-%d %H:%M")


def live_info(
    session: MeetingSession, *, title: str | None = None, series: str | None = None, room: str | None = None,
    follows: str | None = None,
) -> MeetingInfo:
    """How a live meeting is listed. ``series`` (default: the title, if one was given) ties a
    recurring meeting together for its trend; without a title it is "Meeting of <date>".
    ``follows``: the interrupted meeting it was started after (``tracker.meeting.restart``)."""
    started = iso_now()
    key = series or title
    return MeetingInfo(
        id=session.id,
        title=clean_title(title) if title else default_title(started),
        series=series_key(key) if key else None,
        room=clean_title(room, what="room") if room else None,
        source=session.input.label or "microphone",
        started_at=started,
        sample_rate=SAMPLE_RATE,
        heartbeat_at=started,
        overlap_measured=session.pipeline.accountant.overlap_measured,  # the engine's, fixed for the meeting
        engine=engine_name(session.pipeline.engine),
        follows=follows,
    )


def engine_name(engine: StreamingEngine) -> str:
    """The name stored with a meeting for the engine that made its figures: ``neural``, ``lite``,
    or ``hybrid:<room engine>+<call engine>``."""
    if isinstance(engine, HybridEngine):
        return f"{engine.name}:{engine.room_engine.name}+{engine.call_engine.name}"
    return engine.name


def session_record(session: MeetingSession, info: MeetingInfo, *, ended_at: str | None = None) -> MeetingRecord:
    """The live meeting as a record (exact segments from its accountant), without any store."""
    snap = session.snapshot()
    with session.figures() as acc:
        segments, names, expected = list(acc.timeline), dict(acc.names), list(acc.expected)
        clock = acc.clock_samples
        corrections = list(session.corrections)
    ended = snap.status == "ended"
    info = MeetingInfo(**{
        **info.__dict__, "started_at": snap.started_at or info.started_at, "clock_samples": clock,
        "ended_at": (ended_at or iso_now()) if ended else None, "end_reason": snap.end_reason if ended else None,
        "dropped_blocks": snap.input.dropped_blocks,
    })
    return MeetingRecord(info, sorted(segments, key=lambda s: (s.start_sample, s.speaker)), names, expected,
                         _phases(snap), corrections, list(session.gaps))


def _phases(snap: MeetingSnapshot) -> list[Phase]:
    # NB: PhaseView times are seconds(sample) of integer samples, so to_samples gives them back exactly.
    return [Phase(p.name, to_samples(p.start_s), None if p.end_s is None else to_samples(p.end_s)) for p in snap.phases]


class MeetingRecorder:
    """Writes a live meeting to ``store`` every ``interval_s`` seconds.

    Parameters
    ----------
    store : where to keep it.
    session : the live meeting.
    info : how the meeting is listed (default: ``live_info(session)``).
    interval_s : seconds between flushes; a crash loses at most this much.
    continues : ``info`` is an interrupted stored meeting the session is about to continue: ``claim``
        it, then ``session.continue_from`` the record it returns, then ``start``.
    """

    def __init__(
        self,
        store: MeetingStore,
        session: MeetingSession,
        *,
        info: MeetingInfo | None = None,
        interval_s: float = FLUSH_INTERVAL_S,
        continues: bool = False,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"MeetingRecorder expected interval_s > 0 seconds, got {interval_s!r}")
        if continues and info is None:
            raise ValueError("MeetingRecorder expected the info of the meeting it continues, got none")
        if info is not None and info.id != session.id and not continues:
            raise ValueError(f"MeetingRecorder expected the session's meeting {session.id}, got info of {info.id}")
        self.store = store
        self.session = session
        self.interval_s = interval_s
        self.info = info or live_info(session)
        self.error: str | None = None  # the last flush's failure, None once one succeeds
        self.examined = 0  # segments the last flush looked at (its cost; see _change)
        self._stored: Counter[SpeakerSegment] = Counter()  # the segments in the store
        self._pending: dict[SpeakerSegment, int] = {}  # changes taken from the accountant, not yet stored
        self._people: tuple[dict[int, str], list[str]] = ({}, [])
        self._phases: list[Phase] = []
        self._corrections = 0  # the session's corrections already stored
        self._started_at: str | None = None
        self._ended_at: str | None = None
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = LiveLock(_lock_path(store, self.info.id))
        self._claimed = False  # ``claim`` reopened a stored meeting: ``start`` inserts nothing
        self._voices: dict[int, int] = {}  # the voices' weights as last stored
        self._unsubscribe: Callable[[], None] = _nothing

    def claim(self, gap: Gap) -> MeetingRecord:
        """Before ``start``, and before the session continues it: take the interrupted meeting
        ``info.id`` (its lock), reopen it over ``gap`` and return it as stored. Raises
        ``StoreError`` if another process records it, or ``ValueError`` if it is not interrupted."""
        self._lock.acquire()
        try:
            record = self.store.reopen_interrupted(self.info.id, gap)
        except BaseException:
            self._lock.release()
            raise
        self._stored = Counter(record.segments)
        self._people, self._phases = (dict(record.names), list(record.expected)), list(record.phases)
        self._started_at, self._claimed = record.info.started_at, True
        return record

    def start(self) -> None:
        """Store the meeting now (a failing store raises here) and flush every ``interval_s``."""
        if self.session.id != self.info.id:
            raise ValueError(f"MeetingRecorder expected the session to be meeting {self.info.id}, got {self.session.id} "
                             "(continue_from the claimed record first)")
        if not self._claimed:
            self._lock.acquire()
            try:
                self.store.write(lambda c: records.insert_meeting(c, self.info), doing="starting the meeting's record")
            except BaseException:
                self._lock.release()
                raise
        self._unsubscribe = self.session.subscribe(self._on_change)
        self._thread = threading.Thread(target=self._run, name="talktime-recorder", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Flush one last time and release the meeting."""
        self._unsubscribe()
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        try:
            self.flush()
        except StoreError as exc:
            log.error("the meeting's last seconds could not be stored: %s", exc)
        finally:
            self._lock.release()

    def _on_change(self) -> None:
        # Runs in whichever thread changed the meeting; it must not block.
        if self._ended_at is None and self.session.status == "ended":
            self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.flush()
            except StoreError as exc:  # NB: the meeting goes on; the next flush writes what this one could not
                if self.error is None:
                    log.error("could not store the meeting (will retry): %s", exc)
                self.error = str(exc)

    def flush(self) -> None:
        """Write what changed since the last flush, and a heartbeat (blocks until committed)."""
        with self._flush_lock:
            change, state = self._change()
            self.store.write(lambda c: records.apply_live(c, self.info.id, change), doing="storing the meeting")
            for seg, n in self._pending.items():
                left = self._stored[seg] + n
                if left > 0:
                    self._stored[seg] = left
                else:
                    del self._stored[seg]
            self._pending = {}
            self._people, self._phases = state
            self._corrections += len(change.corrections)
            self._started_at = self._started_at or change.started_at
            self._ended_at = self._ended_at or change.ended_at
            if change.voices is not None:
                self._voices = {v.speaker: v.weight for v in change.voices}
            self.error = None

    def _change(self) -> tuple[LiveChange, tuple[tuple[dict[int, str], list[str]], list[Phase]]]:
        """What to write; the segments' changes are kept in ``_pending`` until a write succeeds."""
        snap = self.session.snapshot()
        with self.session.figures() as acc:
            delta = acc.take_changes()
            current = Counter(acc.timeline) if delta is None else None
            people = (dict(acc.names), list(acc.expected))
            clock = acc.clock_samples
            corrections = self.session.corrections[self._corrections:]
        if current is not None:  # the first flush, or the accountant was reset: compare it all, once
            self.examined = len(self._stored) + len(current)
            self._pending = {**{s: n for s, n in (current - self._stored).items()},
                             **{s: -n for s, n in (self._stored - current).items()}}
        else:
            self.examined = len(delta or ()) + len(self._pending)
            for seg, n in (delta or {}).items():
                v = self._pending.get(seg, 0) + n
                if v:
                    self._pending[seg] = v
                else:
                    del self._pending[seg]
        phases = _phases(snap)
        voices = self._engine_voices() if snap.status != "ended" else None
        change = LiveChange(
            clock_samples=clock,
            heartbeat_at=iso_now(),
            started_at=snap.started_at if self._started_at is None else None,
            ended_at=iso_now() if snap.status == "ended" and self._ended_at is None else None,
            dropped_blocks=snap.input.dropped_blocks,
            add=[seg for seg, n in self._pending.items() for _ in range(n)],
            remove=[seg for seg, n in self._pending.items() for _ in range(-n)],
            people=None if people == self._people else people,
            phases=None if phases == self._phases else phases,
            end_reason=snap.end_reason or "ended",
            corrections=corrections,
            voices=None if voices is None or {v.speaker: v.weight for v in voices} == self._voices else voices,
            background_samples=self.session.background_samples if snap.status == "ended" else None,
        )
        return change, (people, phases)

    def _engine_voices(self) -> list[LiveVoice] | None:
        """The engine's voices now (none without ``VoiceMemory``), so a restart can continue the meeting."""
        memory = self.session.pipeline.memory
        if memory is None:
            return []
        for _ in range(3):
            try:  # NB: the engine changes them in the pipeline's thread, outside any lock the recorder can take
                found = dict(memory.centroids())
                break
            except RuntimeError:  # a voice was added while they were read: read again
                continue
        else:
            return None  # kept as they were; the next flush tries again
        return [LiveVoice(i, memory.embedding_model, c, int(w)) for i, (c, w) in sorted(found.items()) if w > 0]

    def record(self) -> MeetingRecord:
        """The meeting as it stands, straight from the session (what the next flush will store)."""
        return session_record(self.session, self.info, ended_at=self._ended_at)
