"""The meeting store against a real SQLite file: round trips, one writer, retention, live recording,
recovery, and a locked, full, corrupt or newer file (a clear StoreError; nothing stored is damaged)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from api_fixtures import FedSource, scripted_session, wait_for
from store_helpers import meeting
from tracker.meeting.recorder import MeetingRecorder, is_live, live_info, recover
from tracker.reports.figures import build_report
from tracker.meeting.session import MeetingSession
from tracker.store.storage import SCHEMA_VERSION, STORE_FILE, MeetingStore, StoreError, UnknownMeetingError


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MeetingStore]:
    with MeetingStore.in_folder(tmp_path / "data", busy_timeout_s=0.3) as s:
        yield s


def test_a_meeting_round_trips_exactly(store: MeetingStore) -> None:
    rec = meeting()
    store.save(rec)
    assert store.load(rec.info.id) == rec
    assert store.load(rec.info.id[:6]) == rec and store.load(None) == rec
    assert store.path.stat().st_mode & 0o777 == 0o600 and store.path.parent.stat().st_mode & 0o777 == 0o700
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        columns = {r[1] for t in ("meetings", "people", "segments", "phases") for r in db.execute(f"PRAGMA table_info({t})")}
    assert not {"audio", "text", "words", "transcript"} & columns  # who spoke when, never what


def test_one_writer_thread_serves_many_threads(store: MeetingStore) -> None:
    errors: list[BaseException] = []

    def save(k: int) -> None:
        try:
            store.save(meeting(seed=k, title=f"Meeting {k}", minutes=1))
            store.meetings()  # reads use their own connection, meanwhile
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(k,)) for k in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(store.meetings()) == 12
    assert [t.name for t in threading.enumerate()].count("talktime-store") >= 1


def test_ids_prefixes_and_unknown_meetings(store: MeetingStore) -> None:
    a = meeting(seed=1, title="A", started_at="2026-05-01T09:00:00+00:00")
    b = meeting(seed=2, title="B", started_at="2026-05-02T09:00:00+00:00")
    store.save(a)
    store.save(b)
    assert store.resolve(None) == b.info.id  # the latest
    assert store.resolve(a.info.id.upper()) == a.info.id
    for ref in ("ffffffff", "not-a-hex-id!", ""):
        with pytest.raises(UnknownMeetingError, match="expected an id from `talktime meetings`"):
            store.load(ref)


def test_retention_and_forgetting_a_person(store: MeetingStore) -> None:
    old = meeting(seed=1, started_at="2026-01-01T09:00:00+00:00")
    new = meeting(seed=2, started_at="2026-05-01T09:00:00+00:00")
    store.save(old)
    store.save(new)
    assert store.prune(older_than_days=30, now="2026-05-10T00:00:00+00:00") == [old.info.id]
    assert [m.id for m in store.meetings()] == [new.info.id]

    blair = sum(s.duration_samples for s in new.segments if s.speaker == 1) / 16_000
    assert store.forget_person("  BLAIR ") == [(new.info.id, pytest.approx(blair))]
    after = store.load(new.info.id)
    assert "Blair" not in after.names.values() and all(s.speaker != 1 for s in after.segments)
    assert after.info.removed_people == 1 and "deleted on request" in " ".join(build_report(after).notes)
    assert store.forget_person("Dana") == [(new.info.id, 0.0)]  # a roster name goes too
    assert store.load(new.info.id).expected == ["Eli"]
    assert store.forget_person("nobody") == []


def _feed(session: MeetingSession, source: FedSource, seconds: float) -> None:
    target = session.snapshot().clock_s + seconds
    source.feed(seconds)
    wait_for(lambda: session.snapshot().clock_s >= target - 1e-6, what=f"clock at {target} s")


def test_a_live_meeting_is_flushed_with_its_corrections(store: MeetingStore) -> None:
    session, source = scripted_session()
    recorder = MeetingRecorder(store, session, info=live_info(session, title="Stand-up", room="Room 4"), interval_s=0.05)
    recorder.start()
    session.open()
    try:
        assert is_live(store, session.id) and recover(store) == []  # a live meeting is never "recovered"
        _feed(session, source, 16.0)  # all three voices have spoken (api_fixtures.THREE_PEOPLE)
        wait_for(lambda: len(store.load(session.id).segments) >= 3, what="segments stored")
        session.rename(0, "Alex")
        session.merge(1, 2)
        session.expect("Dana")
        session.mark_phase("brainstorm")
        _feed(session, source, 4.0)
        session.end()
        wait_for(lambda: store.load(session.id).info.ended_at is not None, what="the end stored")
    finally:
        recorder.stop()
        session.close()
    stored = store.load(session.id)
    assert not is_live(store, session.id)
    assert stored.info.title == "Stand-up" and stored.info.series == "stand-up" and stored.info.end_reason == "ended"
    assert stored.names == {0: "Alex"} and stored.expected == ["Dana"]
    assert [p.name for p in stored.phases] == ["brainstorm"] and stored.phases[0].end_sample is not None
    live_timeline = session.pipeline.accountant.timeline
    assert sorted(stored.segments, key=str) == sorted(live_timeline, key=str)  # the merge rewrote stored rows too
    assert any(s.speaker == 1 and s.start_sample == 14.5 * 16_000 for s in stored.segments)  # was voice 2's
    live = session.snapshot()
    report = build_report(stored)
    figures = {p.id: (p.talk_time_s, p.share, p.turns) for p in report.people + report.brief_voices}
    assert figures == {p.id: (p.talk_time_s, p.share, p.turns) for p in live.speakers}  # the same Accountant
    assert report.group.balance == pytest.approx(live.group.balance)


def test_an_interrupted_meeting_is_closed_at_its_last_save(store: MeetingStore) -> None:
    session, source = scripted_session()
    recorder = MeetingRecorder(store, session, interval_s=0.05)
    recorder.start()
    session.open()
    _feed(session, source, 12.0)
    session.mark_phase("brainstorm")
    wait_for(lambda: store.load(session.id).phases, what="a flush with the phase")
    recorder._stop.set()  # noqa: SLF001 - the process "dies": no more flushes, no end
    recorder._thread.join()  # type: ignore[union-attr]  # noqa: SLF001
    before = store.load(session.id)
    assert recover(store) == []  # the lock is still held: it is live
    recorder._lock.release()  # noqa: SLF001 - what the kernel does when the process dies
    (closed,) = recover(store)
    after = store.load(session.id)
    assert closed.id == session.id and after.info.end_reason == "interrupted"
    assert after.info.ended_at == before.info.heartbeat_at
    assert after.segments == before.segments and after.info.clock_samples >= max(s.end_sample for s in before.segments)
    assert after.phases[-1].end_sample == after.info.clock_samples
    assert "stopped unexpectedly" in " ".join(build_report(after).notes)
    assert recover(store) == []
    session.close()


# ----------------------------------------------------------------------------- bad files


def _bytes(path: Path) -> bytes:
    return path.read_bytes()


@pytest.mark.parametrize("content", [b"meeting notes, not a database\n" * 40, bytes(range(256)) * 64])
def test_a_corrupt_file_is_refused_and_left_untouched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / STORE_FILE
    path.write_bytes(content)
    with pytest.raises(StoreError, match="is not a readable talktime store .* expected an SQLite file") as err:
        MeetingStore(path)
    assert err.value.reason == "corrupt"
    assert _bytes(path) == content and sorted(p.name for p in tmp_path.iterdir()) == [STORE_FILE]


def test_a_locked_file_says_so_and_loses_nothing(store: MeetingStore) -> None:
    store.save(meeting(seed=1))
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another program writing
    try:
        with pytest.raises(StoreError, match="is locked by another program .* expected talktime to be its only") as err:
            store.save(meeting(seed=2, title="Other"))
        assert err.value.reason == "locked"
    finally:
        other.execute("ROLLBACK")
        other.close()
    store.save(meeting(seed=2, title="Other"))
    assert len(store.meetings()) == 2


def test_a_full_disk_says_so_and_keeps_what_was_stored(store: MeetingStore) -> None:
    first = meeting(seed=1)
    store.save(first)
    pages = store.write(lambda c: c.execute("PRAGMA page_count").fetchone()[0])
    store.write(lambda c: c.execute(f"PRAGMA max_page_count = {pages}"))  # the disk is now "full"
    with pytest.raises(StoreError, match="is full .* expected free space") as err:
        store.save(meeting(seed=2, title="Long", minutes=90))
    assert err.value.reason == "full"
    assert [m.id for m in store.meetings()] == [first.info.id] and store.load(None) == first
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_newer_schema_or_an_unwritable_folder_is_refused(tmp_path: Path) -> None:
    path = tmp_path / STORE_FILE
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer talktime"):
        MeetingStore(path)
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(StoreError, match="expected a writable"):
        MeetingStore.in_folder(tmp_path / "a-file" / "data")
