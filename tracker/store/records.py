"""What the meeting store keeps, and the SQL that keeps it (run by ``tracker.store.storage.MeetingStore``).

Every function takes an open ``sqlite3.Connection`` already inside a transaction. Times of the
meeting are sample counts at the meeting's ``sample_rate``; wall-clock times are ISO 8601 UTC.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from tracker.segments import Correction, Phase, Profile, SpeakerSegment

MAX_TITLE_CHARS = 120
END_REASONS = ("ended", "interrupted", "analysed", "silence")


def iso_now() -> str:
    """The current UTC time as stored: ``2026-05-01T09:30:00+00:00``."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def iso_time(value: str) -> str:
    """An ISO 8601 time in the stored form (UTC, seconds); a time without a zone is this machine's local time."""
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"expected an ISO 8601 time like 2026-05-01T09:30, got {value!r}") from exc
    if when.tzinfo is None:
        when = when.astimezone()  # NB: a naive datetime's astimezone() takes it as local time
    return when.astimezone(UTC).isoformat(timespec="seconds")


def clean_title(title: str, *, what: str = "title") -> str:
    """A meeting's title (or room, or series) with whitespace collapsed; ValueError when unusable."""
    text = " ".join(str(title).split())
    if not text or len(text) > MAX_TITLE_CHARS or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ValueError(f"{what} expected 1-{MAX_TITLE_CHARS} printable characters, got {title!r}")
    return text


def series_key(name: str) -> str:
    """The key that ties a recurring meeting together: its title or series, case and spacing folded."""
    return clean_title(name, what="series").casefold()


@dataclass(frozen=True)
class MeetingInfo:
    """One meeting's row (no segments). ``clock_samples`` is its counted length (pauses excluded)."""

    id: str  # uuid4
    title: str
    series: str | None  # recurring-meeting key, see ``series_key``; None: not part of a series
    room: str | None
    source: str  # "microphone", "file meeting.wav", ...
    started_at: str  # ISO 8601 UTC
    ended_at: str | None = None  # None: live, or interrupted and not yet recovered
    end_reason: str | None = None  # "ended", "interrupted" (recovered after a crash), "analysed", "silence"
    sample_rate: int = 16_000  # Hz of every sample count of this meeting
    clock_samples: int = 0
    heartbeat_at: str | None = None  # ISO 8601 UTC of the last flush of a live meeting
    dropped_blocks: int = 0  # audio blocks lost because the pipeline fell behind
    removed_people: int = 0  # people deleted on request since the meeting
    overlap_measured: bool | None = None  # the engine could see two people at once; None: not recorded (older meetings)
    engine: str | None = None  # the engine that made the figures ("neural", "lite", ...); None: not recorded (older meetings)
    follows: str | None = None  # the interrupted meeting this one was started after, too late to continue it
    background_samples: int | None = None  # talk credited to nobody as a quieter conversation in the background; None: not recorded (stored before schema 5)


@dataclass(frozen=True)
class Gap:
    """Time a live meeting was not recorded: its tracker stopped (``stopped_at``, the last save)
    and a restart continued the meeting (``resumed_at``). The meeting's clock stops over a gap, as
    over a pause: it is neither talk nor silence. ``at_sample`` is the clock where it happened."""

    at_sample: int
    stopped_at: str  # ISO 8601 UTC
    resumed_at: str  # ISO 8601 UTC

    @property
    def lost_s(self) -> float:
        """Seconds of wall time not recorded (0 if the clocks disagree)."""
        lost = datetime.fromisoformat(self.resumed_at) - datetime.fromisoformat(self.stopped_at)
        return max(0.0, lost.total_seconds())


@dataclass(frozen=True)
class LiveVoice:
    """A voice of a live meeting as its engine holds it (a unit centroid and how much evidence it
    is the mean of), kept only while the meeting can still be continued after a restart."""

    speaker: int
    model: str  # the engine's embedding model (tracker.pipeline.engine.VoiceMemory.embedding_model)
    centroid: np.ndarray
    weight: int


@dataclass(frozen=True)
class MeetingRecord:
    """A whole meeting: who spoke when (samples), names, the roster and agenda phases."""

    info: MeetingInfo
    segments: list[SpeakerSegment]
    names: dict[int, str] = field(default_factory=dict)  # voice id -> name
    expected: list[str] = field(default_factory=list)  # roster names with no voice
    phases: list[Phase] = field(default_factory=list)
    corrections: list[Correction] = field(default_factory=list)  # names and merges made by hand, in order
    gaps: list[Gap] = field(default_factory=list)  # restarts it was continued over, in time order


@dataclass(frozen=True)
class LiveChange:
    """One flush of a live meeting: the meeting's row, plus what changed since the last flush."""

    clock_samples: int
    heartbeat_at: str
    started_at: str | None = None
    ended_at: str | None = None
    dropped_blocks: int = 0
    add: Sequence[SpeakerSegment] = ()
    remove: Sequence[SpeakerSegment] = ()
    people: tuple[dict[int, str], list[str]] | None = None  # (names, roster) when changed
    phases: list[Phase] | None = None  # when changed
    end_reason: str = "ended"  # stored with ended_at; "silence": ended by the room after no one spoke
    corrections: Sequence[Correction] = ()  # made by hand since the last flush (appended to the stored ones)
    voices: Sequence[LiveVoice] | None = None  # the engine's voices when changed (dropped when the meeting ends)
    background_samples: int | None = None  # talk set aside as background (sent with the flush that ends the meeting)


_COLUMNS = ("id, title, series, room, source, started_at, ended_at, end_reason, sample_rate, clock_samples, "
            "heartbeat_at, dropped_blocks, removed_people, overlap_measured, engine, follows, background_samples")


def _info(row: Sequence[object]) -> MeetingInfo:
    measured, engine, follows, background = row[-4], row[-3], row[-2], row[-1]
    return MeetingInfo(*row[:-4], None if measured is None else bool(measured),  # type: ignore[arg-type, call-arg]
                       None if engine is None else str(engine), None if follows is None else str(follows),
                       None if background is None else int(background))  # type: ignore[call-overload]


# ----------------------------------------------------------------------------- writing


def insert_meeting(conn: sqlite3.Connection, info: MeetingInfo) -> None:
    if info.end_reason is not None and info.end_reason not in END_REASONS:
        raise ValueError(f"end_reason expected one of {END_REASONS}, got {info.end_reason!r}")
    conn.execute(f"INSERT INTO meetings ({_COLUMNS.removesuffix(', overlap_measured, engine, follows, background_samples')}) VALUES ({', '.join('?' * 13)})", (
        info.id, info.title, info.series, info.room, info.source, info.started_at, info.ended_at, info.end_reason,
        info.sample_rate, info.clock_samples, info.heartbeat_at, info.dropped_blocks, info.removed_people))
    if info.overlap_measured is not None:  # NB: a column of schema 3, set apart so a row without it stays insertable
        conn.execute("UPDATE meetings SET overlap_measured = ? WHERE id = ?", (int(info.overlap_measured), info.id))
    if info.engine is not None:  # NB: schema 4's, likewise
        conn.execute("UPDATE meetings SET engine = ? WHERE id = ?", (info.engine, info.id))
    if info.follows is not None:  # NB: a column of schema 4, likewise
        conn.execute("UPDATE meetings SET follows = ? WHERE id = ?", (info.follows, info.id))
    if info.background_samples is not None:  # NB: schema 5's, likewise
        conn.execute("UPDATE meetings SET background_samples = ? WHERE id = ?", (info.background_samples, info.id))


def _add_corrections(conn: sqlite3.Connection, meeting_id: str, corrections: Sequence[Correction]) -> None:
    if not corrections:  # NB: so a record without any stays insertable into a store of schema 3 or older
        return
    first = conn.execute("SELECT coalesce(max(position) + 1, 0) FROM corrections WHERE meeting_id = ?",
                         (meeting_id,)).fetchone()[0]
    conn.executemany(
        "INSERT INTO corrections (meeting_id, position, kind, speaker, name, other) VALUES (?, ?, ?, ?, ?, ?)",
        [(meeting_id, first + k, c.kind, c.speaker, c.name, c.other) for k, c in enumerate(corrections)],
    )


def _write_people(conn: sqlite3.Connection, meeting_id: str, names: dict[int, str], roster: Iterable[str]) -> None:
    conn.execute("DELETE FROM people WHERE meeting_id = ?", (meeting_id,))
    rows = [(meeting_id, i, n) for i, n in names.items()] + [(meeting_id, -1 - k, n) for k, n in enumerate(roster)]
    conn.executemany("INSERT INTO people (meeting_id, speaker, name) VALUES (?, ?, ?)", rows)


def _write_phases(conn: sqlite3.Connection, meeting_id: str, phases: Iterable[Phase]) -> None:
    conn.execute("DELETE FROM phases WHERE meeting_id = ?", (meeting_id,))
    conn.executemany(
        "INSERT INTO phases (meeting_id, position, name, start_sample, end_sample) VALUES (?, ?, ?, ?, ?)",
        [(meeting_id, k, p.name, p.start_sample, p.end_sample) for k, p in enumerate(phases)],
    )


def _add_segments(conn: sqlite3.Connection, meeting_id: str, segments: Iterable[SpeakerSegment]) -> None:
    conn.executemany(
        "INSERT INTO segments (meeting_id, speaker, start_sample, end_sample) VALUES (?, ?, ?, ?)",
        [(meeting_id, s.speaker, s.start_sample, s.end_sample) for s in segments],
    )


def insert_record(conn: sqlite3.Connection, record: MeetingRecord) -> None:
    """Store a whole meeting at once."""
    mid = record.info.id
    insert_meeting(conn, record.info)
    _add_segments(conn, mid, record.segments)
    _write_people(conn, mid, record.names, record.expected)
    _write_phases(conn, mid, record.phases)
    _add_corrections(conn, mid, record.corrections)
    for gap in record.gaps:
        _add_gap(conn, mid, gap)


def _add_gap(conn: sqlite3.Connection, meeting_id: str, gap: Gap) -> None:
    conn.execute("INSERT INTO gaps (meeting_id, at_sample, stopped_at, resumed_at) VALUES (?, ?, ?, ?)",
                 (meeting_id, gap.at_sample, gap.stopped_at, gap.resumed_at))


def _write_voices(conn: sqlite3.Connection, meeting_id: str, voices: Iterable[LiveVoice]) -> None:
    conn.execute("DELETE FROM live_voices WHERE meeting_id = ?", (meeting_id,))
    conn.executemany(
        "INSERT INTO live_voices (meeting_id, speaker, model, embedding, weight) VALUES (?, ?, ?, ?, ?)",
        [(meeting_id, v.speaker, v.model, np.asarray(v.centroid, "<f4").tobytes(), v.weight) for v in voices],
    )


def live_voices(conn: sqlite3.Connection, meeting_id: str) -> list[LiveVoice]:
    """The voices kept for continuing ``meeting_id`` after a restart (none once it has ended)."""
    rows = conn.execute("SELECT speaker, model, embedding, weight FROM live_voices WHERE meeting_id = ? ORDER BY speaker",
                        (meeting_id,))
    return [LiveVoice(int(i), str(m), np.frombuffer(b, dtype="<f4").copy(), int(w)) for i, m, b, w in rows]


def drop_voices(conn: sqlite3.Connection, meeting_id: str) -> None:
    """Forget a meeting's live voices: it will not be continued."""
    conn.execute("DELETE FROM live_voices WHERE meeting_id = ?", (meeting_id,))


def drop_stale_voices(conn: sqlite3.Connection, before: str) -> int:
    """Forget the live voices of every ended meeting whose last save was before ``before`` (ISO
    8601 UTC): too long ago to be continued. Returns how many meetings had some."""
    return conn.execute(
        "DELETE FROM live_voices WHERE meeting_id IN (SELECT id FROM meetings WHERE ended_at IS NOT NULL "
        "AND coalesce(heartbeat_at, started_at) < ?)", (before,)).rowcount


def reopen_interrupted(conn: sqlite3.Connection, meeting_id: str, gap: Gap) -> MeetingRecord:
    """Continue a meeting ``close_interrupted`` closed: it is live again from ``gap.resumed_at`` and
    ``gap`` is recorded. The agenda phase that the closing ended reopens. Raises ``ValueError``
    if the meeting is not an interrupted one (another process continued it first, say)."""
    row = conn.execute("SELECT end_reason, clock_samples FROM meetings WHERE id = ?", (meeting_id,)).fetchone()
    if row is None or row[0] != "interrupted":
        raise ValueError(f"meeting {meeting_id} expected to be an interrupted meeting, got "
                         f"{'none' if row is None else repr(row[0])}")
    clock = int(row[1])
    conn.execute("UPDATE meetings SET ended_at = NULL, end_reason = NULL, heartbeat_at = ? WHERE id = ?",
                 (gap.resumed_at, meeting_id))
    last = conn.execute("SELECT max(position) FROM phases WHERE meeting_id = ?", (meeting_id,)).fetchone()[0]
    if last is not None:  # NB: ended where the meeting was cut off: it was still open
        conn.execute("UPDATE phases SET end_sample = NULL WHERE meeting_id = ? AND position = ? AND end_sample = ?",
                     (meeting_id, last, clock))
    _add_gap(conn, meeting_id, gap)
    record = load_record(conn, meeting_id)
    assert record is not None
    return record


def apply_live(conn: sqlite3.Connection, meeting_id: str, change: LiveChange) -> None:
    """One flush of a live meeting (see ``tracker.meeting.recorder``)."""
    for s in change.remove:
        conn.execute(
            "DELETE FROM segments WHERE rowid = (SELECT rowid FROM segments WHERE meeting_id = ? AND speaker = ? "
            "AND start_sample = ? AND end_sample = ? LIMIT 1)",
            (meeting_id, s.speaker, s.start_sample, s.end_sample),
        )
    _add_segments(conn, meeting_id, change.add)
    if change.people is not None:
        _write_people(conn, meeting_id, *change.people)
    if change.phases is not None:
        _write_phases(conn, meeting_id, change.phases)
    _add_corrections(conn, meeting_id, change.corrections)
    if change.ended_at is not None:
        drop_voices(conn, meeting_id)  # NB: an ended meeting is never continued: its voices are not kept
    elif change.voices is not None:
        _write_voices(conn, meeting_id, change.voices)
    if change.background_samples is not None:
        conn.execute("UPDATE meetings SET background_samples = ? WHERE id = ?", (change.background_samples, meeting_id))
    conn.execute(
        # NB: the flush that ends a meeting sets its final clock, which may be shorter: a meeting ended
        # for silence stops at its last speech.
        "UPDATE meetings SET clock_samples = CASE WHEN ? IS NULL THEN max(clock_samples, ?) ELSE ? END, "
        "heartbeat_at = ?, dropped_blocks = ?, started_at = coalesce(?, started_at), ended_at = coalesce(?, ended_at), "
        "end_reason = CASE WHEN ? IS NULL THEN end_reason ELSE ? END WHERE id = ?",
        (change.ended_at, change.clock_samples, change.clock_samples, change.heartbeat_at, change.dropped_blocks,
         change.started_at, change.ended_at, change.ended_at, change.end_reason, meeting_id),
    )


def delete_meeting(conn: sqlite3.Connection, meeting_id: str) -> bool:
    return conn.execute("DELETE FROM meetings WHERE id = ?", (meeting_id,)).rowcount > 0


def prune(conn: sqlite3.Connection, older_than_days: float, *, now: str | None = None) -> list[str]:
    """Delete meetings that started more than ``older_than_days`` days before ``now``."""
    cutoff = (datetime.fromisoformat(now or iso_now()) - timedelta(days=older_than_days)).isoformat(timespec="seconds")
    ids = [r[0] for r in conn.execute("SELECT id FROM meetings WHERE started_at < ?", (cutoff,))]
    conn.executemany("DELETE FROM meetings WHERE id = ?", [(i,) for i in ids])
    return ids


def forget_person(conn: sqlite3.Connection, name: str) -> list[tuple[str, float]]:
    """Delete everyone called ``name`` (any case) and their speech from every meeting."""
    wanted = " ".join(name.split()).casefold()
    rows = [r for r in conn.execute("SELECT meeting_id, speaker, name FROM people") if r[2].casefold() == wanted]
    out = []
    for meeting_id, speaker, _ in rows:
        rate = conn.execute("SELECT sample_rate FROM meetings WHERE id = ?", (meeting_id,)).fetchone()[0]
        talk = conn.execute(
            "SELECT coalesce(sum(end_sample - start_sample), 0) FROM segments WHERE meeting_id = ? AND speaker = ?",
            (meeting_id, speaker),
        ).fetchone()[0]
        conn.execute("DELETE FROM segments WHERE meeting_id = ? AND speaker = ?", (meeting_id, speaker))
        conn.execute("DELETE FROM people WHERE meeting_id = ? AND speaker = ?", (meeting_id, speaker))
        conn.execute("DELETE FROM corrections WHERE meeting_id = ? AND (speaker = ? OR other = ?)",
                     (meeting_id, speaker, speaker))
        conn.execute("UPDATE meetings SET removed_people = removed_people + 1 WHERE id = ?", (meeting_id,))
        out.append((meeting_id, talk / rate))
    named = [(m, k) for m, k, n in conn.execute("SELECT meeting_id, position, name FROM corrections WHERE name IS NOT NULL")
             if n.casefold() == wanted]  # their name in the facilitator's corrections, wherever it is
    conn.executemany("DELETE FROM corrections WHERE meeting_id = ? AND position = ?", named)
    conn.execute("DELETE FROM profiles WHERE name = ? COLLATE NOCASE", (" ".join(name.split()),))  # their voice too
    return out


def as_interrupted(record: MeetingRecord) -> MeetingRecord:
    """A live meeting whose tracker stopped without ending it, as it is closed.

    Its end is its last heartbeat (the last flush: at most a flush interval before the crash),
    its length the larger of the last counted clock and the last stored segment, and an agenda
    phase left open ends there.
    """
    info = record.info
    clock = max([info.clock_samples, *(s.end_sample for s in record.segments)])
    ended = info.heartbeat_at or info.started_at
    phases = [p if p.end_sample is not None else Phase(p.name, p.start_sample, max(clock, p.start_sample))
              for p in record.phases]
    closed = MeetingInfo(**{**info.__dict__, "ended_at": ended, "end_reason": "interrupted", "clock_samples": clock})
    return MeetingRecord(closed, record.segments, record.names, record.expected, phases, record.corrections, record.gaps)


def close_interrupted(conn: sqlite3.Connection, meeting_id: str) -> MeetingInfo | None:
    """End a meeting whose tracker stopped without ending it (see ``as_interrupted``). Returns the
    closed meeting, or None if it had already ended."""
    record = load_record(conn, meeting_id)
    if record is None or record.info.ended_at is not None:
        return None
    closed = as_interrupted(record)
    conn.execute("UPDATE meetings SET ended_at = ?, end_reason = 'interrupted', clock_samples = ? WHERE id = ?",
                 (closed.info.ended_at, closed.info.clock_samples, meeting_id))
    _write_phases(conn, meeting_id, closed.phases)
    return closed.info


# ----------------------------------------------------------------------------- reading


def list_meetings(conn: sqlite3.Connection, *, series: str | None = None, limit: int | None = None) -> list[MeetingInfo]:
    sql, args = f"SELECT {_COLUMNS} FROM meetings", []
    if series is not None:
        sql += " WHERE series = ?"
        args.append(series)
    sql += " ORDER BY started_at DESC, rowid DESC"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [_info(r) for r in conn.execute(sql, args)]


def unfinished(conn: sqlite3.Connection) -> list[MeetingInfo]:
    return [_info(r) for r in conn.execute(f"SELECT {_COLUMNS} FROM meetings WHERE ended_at IS NULL")]


def resolve(conn: sqlite3.Connection, ref: str | None) -> str | list[str]:
    """The one id ``ref`` names (``None``: the latest meeting), else the candidates (maybe none)."""
    if ref is None:
        row = conn.execute("SELECT id FROM meetings ORDER BY started_at DESC, rowid DESC LIMIT 1").fetchone()
        return [] if row is None else str(row[0])
    ref = ref.strip().lower()
    if not ref or any(c not in "0123456789abcdef-" for c in ref):
        return []
    ids = [r[0] for r in conn.execute("SELECT id FROM meetings WHERE id >= ? AND id < ? LIMIT 6", (ref, ref + "g"))]
    return str(ids[0]) if len(ids) == 1 else [str(i) for i in ids]


def load_record(conn: sqlite3.Connection, meeting_id: str) -> MeetingRecord | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM meetings WHERE id = ?", (meeting_id,)).fetchone()
    if row is None:
        return None
    segments = [SpeakerSegment(*r) for r in conn.execute(
        "SELECT speaker, start_sample, end_sample FROM segments WHERE meeting_id = ? ORDER BY start_sample, speaker",
        (meeting_id,))]
    people = conn.execute("SELECT speaker, name FROM people WHERE meeting_id = ?", (meeting_id,)).fetchall()
    names = {int(i): str(n) for i, n in people if i >= 0}
    expected = [str(n) for i, n in sorted(people, key=lambda r: -r[0]) if i < 0]
    phases = [Phase(n, a, b) for n, a, b in conn.execute(
        "SELECT name, start_sample, end_sample FROM phases WHERE meeting_id = ? ORDER BY position", (meeting_id,))]
    corrections = [Correction(*r) for r in conn.execute(
        "SELECT kind, speaker, name, other FROM corrections WHERE meeting_id = ? ORDER BY position", (meeting_id,))]
    gaps = [Gap(int(a), str(s), str(r)) for a, s, r in conn.execute(
        "SELECT at_sample, stopped_at, resumed_at FROM gaps WHERE meeting_id = ? ORDER BY rowid", (meeting_id,))]
    return MeetingRecord(_info(row), segments, names, expected, phases, corrections, gaps)


def load_series(conn: sqlite3.Connection, series: str) -> list[MeetingRecord]:
    ids = [r[0] for r in conn.execute("SELECT id FROM meetings WHERE series = ? ORDER BY started_at, rowid", (series,))]
    return [rec for i in ids if (rec := load_record(conn, i)) is not None]


# ----------------------------------------------------------------------------- voice profiles

_PROFILE_COLUMNS = "id, name, model, embedding, windows, speech_s, consent, created_at, updated_at"


def _profile(row: Sequence[object]) -> Profile:
    pid, name, model, blob, windows, speech_s, consent, created, updated = row
    assert isinstance(blob, bytes)
    return Profile(
        name=str(name), model=str(model), embedding=np.frombuffer(blob, dtype="<f4").copy(), windows=int(str(windows)),
        speech_s=float(str(speech_s)), consent=bool(consent), id=str(pid), created_at=str(created), updated_at=str(updated),
    )


def list_profiles(conn: sqlite3.Connection, *, model: str | None = None) -> list[Profile]:
    """Stored profiles by name (all models, or one)."""
    where, args = ("WHERE model = ?", (model,)) if model is not None else ("", ())
    rows = conn.execute(f"SELECT {_PROFILE_COLUMNS} FROM profiles {where} ORDER BY name COLLATE NOCASE, model", args)
    return [_profile(r) for r in rows]


def put_profile(conn: sqlite3.Connection, profile: Profile, *, replace: bool = True) -> bool:
    """Store ``profile``; one per (name, model): an existing one is replaced (or kept, returning False)."""
    old = conn.execute("SELECT id, created_at FROM profiles WHERE name = ? COLLATE NOCASE AND model = ?",
                       (profile.name, profile.model)).fetchone()
    if old is not None and not replace:
        return False
    now = iso_now()
    created = profile.created_at or (str(old[1]) if old is not None else now)
    if old is not None:
        conn.execute("DELETE FROM profiles WHERE id = ?", (old[0],))
    conn.execute(
        f"INSERT INTO profiles ({_PROFILE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (profile.id, profile.name, profile.model, profile.embedding.astype("<f4").tobytes(), profile.windows,
         float(profile.speech_s), int(profile.consent), created, profile.updated_at or now),
    )
    return True


def rename_profiles(conn: sqlite3.Connection, old: str, new: str) -> int:
    """Rename every profile of ``old`` (any case) to ``new``; returns how many."""
    clash = conn.execute("SELECT count(*) FROM profiles WHERE name = ? COLLATE NOCASE AND name <> ? COLLATE NOCASE "
                         "AND model IN (SELECT model FROM profiles WHERE name = ? COLLATE NOCASE)", (new, old, old)).fetchone()[0]
    if clash:
        raise ValueError(f"{new!r} already has a profile of the same model; expected a free name (delete one first)")
    return conn.execute("UPDATE profiles SET name = ?, updated_at = ? WHERE name = ? COLLATE NOCASE",
                        (new, iso_now(), old)).rowcount


def delete_profiles(conn: sqlite3.Connection, name: str) -> int:
    """Delete every profile of ``name`` (any case); returns how many."""
    return conn.execute("DELETE FROM profiles WHERE name = ? COLLATE NOCASE", (name,)).rowcount
