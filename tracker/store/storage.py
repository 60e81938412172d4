"""The meeting store: an SQLite file with exactly one writer thread.

``MeetingStore`` owns a write thread fed by a queue (datasette's ``_execute_writes`` pattern). Each
write is a short ``BEGIN IMMEDIATE`` transaction and its result comes back through a future;
reads open their own read-only connection. The file is in WAL mode with ``synchronous=FULL``,
so every committed write survives a killed process or a power cut.

What is kept is who spoke when (sample-exact segments), people's names, the roster and agenda
phases: never audio, never words. The SQL lives in ``tracker.store.records``.
"""

from __future__ import annotations

import logging
import os
import queue
import sqlite3
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import quote

from tracker.store import records
from tracker.segments import Profile
from tracker.store.records import MeetingInfo, MeetingRecord

log = logging.getLogger("talktime")

T = TypeVar("T")
STORE_FILE = "meetings.sqlite"
SCHEMA_VERSION = 5  # PRAGMA user_version of the schema below (1: meetings only; 2: + voice profiles;
# 3: + whether the meeting's engine could see overlap; 4: + the engine's name, the facilitator's corrections,
# and restarts: gaps, the meeting a new one follows, live voices; 5: + talk set aside as background)
BUSY_TIMEOUT_S = 5.0  # seconds a write waits for another program's lock before giving up
Reason = Literal["locked", "corrupt", "full", "unwritable", "version", "other"]

SCHEMA_V1 = """
CREATE TABLE meetings (
    id TEXT PRIMARY KEY,                -- uuid4
    title TEXT NOT NULL,
    series TEXT,                        -- recurring-meeting key (folded title), NULL for none
    room TEXT,
    source TEXT NOT NULL,               -- "microphone", "file meeting.wav", ...
    started_at TEXT NOT NULL,           -- ISO 8601 UTC
    ended_at TEXT,                      -- NULL while live (or interrupted, until recovered)
    end_reason TEXT,                    -- "ended", "interrupted", "analysed"
    sample_rate INTEGER NOT NULL,       -- Hz of every sample count of this meeting
    clock_samples INTEGER NOT NULL DEFAULT 0,  -- counted length of the meeting (pauses excluded)
    heartbeat_at TEXT,                  -- ISO 8601 UTC of the last flush of a live meeting
    dropped_blocks INTEGER NOT NULL DEFAULT 0,
    removed_people INTEGER NOT NULL DEFAULT 0  -- people deleted on request since
) STRICT;
CREATE INDEX meetings_by_start ON meetings (started_at);
CREATE INDEX meetings_by_series ON meetings (series, started_at);
CREATE TABLE people (
    meeting_id TEXT NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    speaker INTEGER NOT NULL,           -- voice id (>= 0), or roster place (-1 - k) of an attendee with no voice
    name TEXT NOT NULL,
    PRIMARY KEY (meeting_id, speaker)
) STRICT, WITHOUT ROWID;
CREATE TABLE segments (
    meeting_id TEXT NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    speaker INTEGER NOT NULL,           -- voice id
    start_sample INTEGER NOT NULL,      -- samples since the start of the meeting's stream
    end_sample INTEGER NOT NULL CHECK (end_sample > start_sample)
) STRICT;
CREATE INDEX segments_by_meeting ON segments (meeting_id, start_sample);
CREATE TABLE phases (
    meeting_id TEXT NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    start_sample INTEGER NOT NULL,
    end_sample INTEGER,                 -- NULL: the phase was still open
    PRIMARY KEY (meeting_id, position)
) STRICT;
"""

SCHEMA_V2 = """
CREATE TABLE profiles (
    id TEXT PRIMARY KEY,                -- uuid4
    name TEXT NOT NULL,
    model TEXT NOT NULL,                -- embedding model id (tracker.pipeline.profiles.model_id): name/dimension
    embedding BLOB NOT NULL,            -- unit vector, little-endian float32 (4 x dimension bytes); never audio
    windows INTEGER NOT NULL CHECK (windows > 0),  -- 1.6 s windows it is the average of
    speech_s REAL NOT NULL,             -- seconds of speech they held
    consent INTEGER NOT NULL,           -- 1: the person agreed to keep it
    created_at TEXT NOT NULL,           -- ISO 8601 UTC
    updated_at TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX profiles_by_name ON profiles (name COLLATE NOCASE, model);
"""
# overlap_measured: 1 when the meeting's engine could see two people at once, 0 when it could not,
# NULL for meetings stored before it was recorded. NB: no SQL comment in it: SQLite splices the
# column's text into the table's CREATE statement, where a comment would swallow the closing bracket.
SCHEMA_V3 = """
ALTER TABLE meetings ADD COLUMN overlap_measured INTEGER
"""
# follows: the id of the interrupted meeting a meeting was started after (too late to continue it).
# live_voices: a live meeting's voices as its engine holds them, so a restart can continue the meeting
# with the same people; deleted when the meeting ends (never kept like a profile, which needs consent).
# engine: the name of the engine that made the meeting's figures ("neural", "lite", "pyannote",
# "hybrid:neural+neural"), NULL for meetings stored before it was recorded.
SCHEMA_V4 = """
ALTER TABLE meetings ADD COLUMN engine TEXT;
CREATE TABLE corrections (
    meeting_id TEXT NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,          -- in the order they were made
    kind TEXT NOT NULL CHECK (kind IN ('name', 'merge')),
    speaker INTEGER NOT NULL,           -- the voice named (roster place if < 0), or the voice kept by a merge
    name TEXT,                          -- the name given; for a merge, what the merged voice was called
    other INTEGER,                      -- the voice merged into speaker (merge only)
    PRIMARY KEY (meeting_id, position)
) STRICT;
ALTER TABLE meetings ADD COLUMN follows TEXT;
CREATE TABLE gaps (
    meeting_id TEXT NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    at_sample INTEGER NOT NULL,         -- the meeting's clock where it was cut off (the clock stops over a gap)
    stopped_at TEXT NOT NULL,           -- ISO 8601 UTC of the last save before the tracker stopped
    resumed_at TEXT NOT NULL            -- ISO 8601 UTC of the restart that continued it
) STRICT;
CREATE INDEX gaps_by_meeting ON gaps (meeting_id);
CREATE TABLE live_voices (
    meeting_id TEXT NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    speaker INTEGER NOT NULL,           -- voice id in the meeting
    model TEXT NOT NULL,                -- the engine's embedding model
    embedding BLOB NOT NULL,            -- unit centroid, little-endian float32; never audio
    weight INTEGER NOT NULL CHECK (weight > 0),  -- embeddings it is the mean of
    PRIMARY KEY (meeting_id, speaker)
) STRICT, WITHOUT ROWID;
"""
# background_samples: talk the engine's post-meeting pass credited to nobody as a quieter conversation
# in the background (tracker.stages.voice_pass.BackgroundRule), in samples; NULL when not recorded
# (meetings stored before it was, or an engine that never sets any aside).
SCHEMA_V5 = """
ALTER TABLE meetings ADD COLUMN background_samples INTEGER
"""
MIGRATIONS = {1: SCHEMA_V1, 2: SCHEMA_V2, 3: SCHEMA_V3, 4: SCHEMA_V4, 5: SCHEMA_V5}  # schema version -> what takes the previous version to it


class StoreError(Exception):
    """The store cannot be read or written; ``reason`` says why. Nothing stored was changed."""

    def __init__(self, message: str, *, reason: Reason = "other") -> None:
        super().__init__(message)
        self.reason = reason


class UnknownMeetingError(StoreError, LookupError):
    """No meeting has this id (or id prefix)."""


def default_data_dir() -> Path:
    """The platform's folder for a user's application data, plus ``talktime``.

    Linux ``$XDG_DATA_HOME/talktime`` (default ``~/.local/share/talktime``), macOS
    ``~/Library/Application Support/talktime``, Windows ``%LOCALAPPDATA%\\talktime``. Read when
    called (at the edge), never at import.
    """
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "talktime"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "talktime"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "talktime"


def translate(exc: BaseException, path: Path, doing: str) -> BaseException:
    """A ``StoreError`` that says what went wrong and what was expected (other exceptions pass)."""
    if isinstance(exc, StoreError) or not isinstance(exc, sqlite3.Error):
        return exc
    text = str(exc)
    low = text.lower()
    if "locked" in low or "busy" in low:
        return StoreError(
            f"{path} is locked by another program ({text}) while {doing}; expected talktime to be its only "
            "writer: stop the other program or `talktime` command using this data folder and try again. "
            "Nothing was changed.", reason="locked")
    if "not a database" in low or "malformed" in low or "corrupt" in low:
        return StoreError(
            f"{path} is not a readable talktime store ({text}); expected an SQLite file written by talktime. "
            "It was left untouched: move it aside, or point TALKTIME_DATA_DIR at another folder.", reason="corrupt")
    if "full" in low:
        return StoreError(
            f"the disk holding {path} is full ({text}) while {doing}; expected free space. What was stored "
            "before is intact: free some space (or `talktime prune`) and try again.", reason="full")
    if "unable to open" in low or "readonly" in low or "read-only" in low:
        return StoreError(
            f"cannot open {path} for writing ({text}); expected a writable data folder "
            "(set TALKTIME_DATA_DIR or --data-dir)", reason="unwritable")
    return StoreError(f"{doing} failed on {path}: {text}")


_SHUTDOWN = object()


class MeetingStore:
    """The meeting store in one SQLite file.

    Parameters
    ----------
    path : the database file (created with owner-only permissions if absent).
    busy_timeout_s : seconds to wait for another program's lock before a ``StoreError``.

    Raises ``StoreError`` when the file cannot be opened, is not a talktime store, or was made by a
    newer talktime. ``close()`` (or ``with``) stops the writer thread.
    """

    def __init__(self, path: str | Path, *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        if busy_timeout_s < 0:
            raise ValueError(f"MeetingStore expected busy_timeout_s >= 0 seconds, got {busy_timeout_s!r}")
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self._queue: queue.Queue[Any] = queue.Queue()
        self._closed = False
        conn = self._open_writer()
        self._thread = threading.Thread(target=self._execute_writes, args=(conn,), name="talktime-store", daemon=True)
        self._thread.start()

    @classmethod
    def in_folder(cls, data_dir: str | Path, **kwargs: Any) -> MeetingStore:
        """The store ``meetings.sqlite`` in ``data_dir`` (made, owner-only, if absent)."""
        folder = Path(data_dir).expanduser()
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot make the data folder {folder} ({exc.strerror}); expected a writable "
                             "folder (set TALKTIME_DATA_DIR or --data-dir)", reason="unwritable") from exc
        return cls(folder / STORE_FILE, **kwargs)

    # -- connections

    def _open_writer(self) -> sqlite3.Connection:
        if self.path.is_dir():
            raise StoreError(f"{self.path} is a folder; expected an SQLite file", reason="unwritable")
        try:
            if not self.path.exists():
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))  # NB: who spoke when is personal
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open {self.path} ({exc}); expected a writable data folder "
                             "(set TALKTIME_DATA_DIR or --data-dir)", reason="unwritable") from exc
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")  # NB: in WAL mode, FULL makes each commit survive a power cut
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA secure_delete = ON")  # NB: deleted rows (voice profiles, people) are overwritten
            self._migrate(conn)
        except BaseException as exc:
            conn.close()
            err = translate(exc, self.path, "opening the store")
            if err is exc:
                raise
            raise err from exc
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path} was written by a newer talktime (schema {version}); expected schema "
                             f"{SCHEMA_VERSION} or older: upgrade talktime", reason="version")
        if version == SCHEMA_VERSION:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]  # another process may have just migrated
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[step].split(";\n"):  # NB: executescript would commit first
                    if statement.strip():
                        conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _reader(self) -> sqlite3.Connection:
        uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=self.busy_timeout_s, isolation_level=None)
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    # -- the write thread

    def _execute_writes(self, conn: sqlite3.Connection) -> None:
        while True:
            task = self._queue.get()
            if task is _SHUTDOWN:
                break
            fn, future, doing, in_transaction = task
            if not future.set_running_or_notify_cancel():
                continue
            try:
                if in_transaction:
                    conn.execute("BEGIN IMMEDIATE")
                result = fn(conn)
                if in_transaction:
                    conn.execute("COMMIT")
            except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:  # NB: SQLite may already have rolled back (e.g. disk full)
                        pass
                future.set_exception(translate(exc, self.path, doing))
            else:
                future.set_result(result)
        conn.close()

    def submit(self, fn: Callable[[sqlite3.Connection], T], *, doing: str = "writing",
               transaction: bool = True) -> Future[T]:
        """Queue ``fn(conn)`` to run inside one ``BEGIN IMMEDIATE`` transaction of the writer thread
        (``transaction=False``: outside any, e.g. a checkpoint)."""
        if self._closed:
            raise StoreError(f"the store {self.path} is closed; expected an open store")
        future: Future[T] = Future()
        self._queue.put((fn, future, doing, transaction))
        return future

    def write(self, fn: Callable[[sqlite3.Connection], T], *, doing: str = "writing", timeout: float | None = None) -> T:
        """Run ``fn(conn)`` in one write transaction and return its result (or raise ``StoreError``)."""
        return self.submit(fn, doing=doing).result(timeout)

    def read(self, fn: Callable[[sqlite3.Connection], T], *, doing: str = "reading") -> T:
        """Run ``fn(conn)`` on a fresh read-only connection, in one consistent read transaction."""
        try:
            conn = self._reader()
            try:
                conn.execute("BEGIN")
                return fn(conn)
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise translate(exc, self.path, doing) from exc

    def close(self, timeout: float = 10.0) -> None:
        """Finish queued writes and stop the writer thread."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_SHUTDOWN)
        self._thread.join(timeout)

    def __enter__(self) -> MeetingStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- meetings

    def save(self, record: MeetingRecord) -> str:
        """Store a whole meeting (e.g. an analysed recording); returns its id."""
        self.write(lambda c: records.insert_record(c, record), doing=f"saving meeting {record.info.id}")
        return record.info.id

    def meetings(self, *, series: str | None = None, limit: int | None = None) -> list[MeetingInfo]:
        """Meetings, newest first."""
        return self.read(lambda c: records.list_meetings(c, series=series, limit=limit))

    def resolve(self, ref: str | None) -> str:
        """The id of the meeting ``ref`` names (full id or unique prefix); ``None``: the latest."""
        found = self.read(lambda c: records.resolve(c, ref))
        if isinstance(found, str):
            return found
        if ref is None:
            raise UnknownMeetingError(f"no meetings in {self.path} yet; expected one saved by `talktime run` or "
                                      "`talktime analyze AUDIO --save`")
        if found:
            raise UnknownMeetingError(f"meeting {ref!r} is ambiguous in {self.path} ({', '.join(found[:5])}); "
                                      "expected a longer id")
        raise UnknownMeetingError(f"no meeting {ref!r} in {self.path}; expected an id from `talktime meetings`")

    def load(self, ref: str | None) -> MeetingRecord:
        """The meeting ``ref`` names, with its segments, people and phases."""
        meeting_id = self.resolve(ref)
        record = self.read(lambda c: records.load_record(c, meeting_id))
        if record is None:
            raise UnknownMeetingError(f"meeting {meeting_id} was deleted; expected an id from `talktime meetings`")
        return record

    def series(self, series: str) -> list[MeetingRecord]:
        """Every meeting of a recurring series, oldest first."""
        return self.read(lambda c: records.load_series(c, series))

    def delete(self, meeting_id: str) -> bool:
        return self.write(lambda c: records.delete_meeting(c, meeting_id), doing=f"deleting meeting {meeting_id}")

    def prune(self, *, older_than_days: float, now: str | None = None) -> list[str]:
        """Delete meetings that started more than ``older_than_days`` ago; returns their ids."""
        if older_than_days < 0:
            raise ValueError(f"prune expected older_than_days >= 0, got {older_than_days!r}")
        return self.write(lambda c: records.prune(c, older_than_days, now=now), doing="deleting old meetings")

    def forget_person(self, name: str) -> list[tuple[str, float]]:
        """Delete a person (by name, any case) and their speech from every meeting.

        Returns (meeting id, seconds of their talk deleted) per meeting they were in.
        """
        found = self.write(lambda c: records.forget_person(c, name), doing=f"deleting {name!r}")
        self.scrub()
        return found

    def unfinished(self) -> list[MeetingInfo]:
        """Meetings with no end: live now, or interrupted (see ``tracker.meeting.recorder.recover``)."""
        return self.read(records.unfinished)

    def close_interrupted(self, meeting_id: str) -> MeetingInfo | None:
        """End an interrupted meeting at its last heartbeat (see ``records.close_interrupted``)."""
        return self.write(lambda c: records.close_interrupted(c, meeting_id), doing=f"recovering meeting {meeting_id}")

    def reopen_interrupted(self, meeting_id: str, gap: records.Gap) -> MeetingRecord:
        """Continue an interrupted meeting over ``gap`` (see ``records.reopen_interrupted``)."""
        return self.write(lambda c: records.reopen_interrupted(c, meeting_id, gap), doing=f"continuing meeting {meeting_id}")

    def live_voices(self, meeting_id: str) -> list[records.LiveVoice]:
        """The voices kept for continuing ``meeting_id`` after a restart."""
        return self.read(lambda c: records.live_voices(c, meeting_id), doing="reading a meeting's voices")

    def drop_voices(self, meeting_id: str) -> None:
        """Forget the voices kept for continuing ``meeting_id`` (it will not be continued)."""
        self.write(lambda c: records.drop_voices(c, meeting_id), doing=f"forgetting the voices of meeting {meeting_id}")

    def drop_stale_voices(self, before: str) -> int:
        """Forget the voices of ended meetings last saved before ``before`` (too old to continue)."""
        return self.write(lambda c: records.drop_stale_voices(c, before), doing="forgetting old meetings' voices")

    # -- voice profiles

    def profiles(self, *, model: str | None = None) -> list[Profile]:
        """Stored voice profiles by name (of every embedding model, or of ``model``)."""
        return self.read(lambda c: records.list_profiles(c, model=model), doing="reading voice profiles")

    def save_profile(self, profile: Profile, *, replace: bool = True) -> bool:
        """Keep ``profile`` (one per name and model; an older one is replaced unless ``replace`` is False)."""
        if not profile.consent:
            raise ValueError(f"a voice profile is kept only with the person's consent; expected consent for {profile.name!r}")
        return self.write(lambda c: records.put_profile(c, profile, replace=replace),
                          doing=f"saving the voice profile of {profile.name!r}")

    def rename_profile(self, old: str, new: str) -> int:
        """Rename the profiles of ``old`` (any case); returns how many were renamed."""
        return self.write(lambda c: records.rename_profiles(c, old, new), doing=f"renaming the profile of {old!r}")

    def delete_profile(self, name: str) -> int:
        """Delete the profiles of ``name`` (any case) for good: their bytes are overwritten
        (``secure_delete``) and the write-ahead log is emptied. Returns how many were deleted."""
        n = self.write(lambda c: records.delete_profiles(c, name), doing=f"deleting the profile of {name!r}")
        self.scrub()
        return n

    def scrub(self) -> None:
        """Copy the write-ahead log into the file and empty it, so deleted rows leave no copy there."""
        self.submit(lambda c: c.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone(),
                    doing="emptying the write-ahead log", transaction=False).result()
