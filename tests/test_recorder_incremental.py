"""The recorder's flush costs what changed since the last one, not the meeting's length, and the
store still ends up holding exactly the meeting the session holds (merges and late corrections
that rewrite old segments included).

Segments are put into the accountant the way the runner does (under ``runner.lock``), thousands
of them, so the meeting is long without feeding hours of audio.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api_fixtures import scripted_session
from tracker.audio import to_samples
from tracker.meeting.recorder import MeetingRecorder
from tracker.meeting.session import MeetingSession
from tracker.segments import SpeakerSegment
from tracker.store.storage import MeetingStore, StoreError

BATCH = 100  # segments between two flushes (about 2.5 minutes of this meeting)
SEGMENTS = 3_000  # 75 minutes: voices 0, 1, 2 in turn, 1 s each, 0.5 s apart


def segment(k: int) -> SpeakerSegment:
    start = to_samples(1.5 * k)
    return SpeakerSegment(k % 3, start, start + to_samples(1.0))


class ScanCountingList(list[SpeakerSegment]):
    """A timeline that counts how often something walks all of it."""

    scans = 0

    def __iter__(self) -> Iterator[SpeakerSegment]:
        ScanCountingList.scans += 1
        return super().__iter__()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MeetingStore]:
    s = MeetingStore(tmp_path / "talktime.db")
    yield s
    s.close()


def add(session: MeetingSession, segments: list[SpeakerSegment]) -> None:
    with session.runner.lock:
        acc = session.pipeline.accountant
        acc.add(segments)
        acc.advance(max(s.end_sample for s in segments))


def assert_stored_exactly(store: MeetingStore, session: MeetingSession) -> None:
    stored = store.load(session.id)
    assert Counter(stored.segments) == Counter(session.pipeline.accountant.timeline)
    assert stored.info.clock_samples == session.pipeline.accountant.clock_samples


def test_a_long_meeting_is_stored_exactly_and_each_flush_costs_only_its_changes(
    store: MeetingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    session, _ = scripted_session()
    recorder = MeetingRecorder(store, session, interval_s=3600.0)  # flushed by hand below
    recorder.start()
    try:
        costs = []
        for first in range(0, SEGMENTS, BATCH):
            add(session, [segment(k) for k in range(first, first + BATCH)])
            recorder.flush()
            costs.append(recorder.examined)
        assert costs[0] == BATCH  # the first flush compares the whole (still short) timeline once
        assert set(costs[1:]) == {BATCH}  # 3,000 segments in, a flush still looks at the 100 new ones
        assert_stored_exactly(store, session)

        # No flush walks the whole timeline any more (the runner lock is held while it runs).
        acc = session.pipeline.accountant
        with session.runner.lock:
            acc.timeline = ScanCountingList(acc.timeline)
        ScanCountingList.scans = 0
        add(session, [segment(SEGMENTS)])
        recorder.flush()
        assert ScanCountingList.scans == 0 and recorder.examined == 1

        # A merge rewrites every segment of the voice that goes, and only those reach the store.
        gone = sum(1 for s in acc.timeline if s.speaker == 2)
        session.merge(1, 2)
        recorder.flush()
        assert recorder.examined == 2 * gone  # each of voice 2's segments removed, and added as voice 1's
        assert_stored_exactly(store, session)

        # A late correction joins voice 0's runs of 7 minutes ago into one segment.
        add(session, [SpeakerSegment(0, segment(300).start_sample, segment(309).end_sample)])
        recorder.flush()
        assert recorder.examined == 4 + 1  # runs 300, 303, 306, 309 out, the joined one in
        assert_stored_exactly(store, session)

        # A flush that fails keeps its changes: the next one stores them.
        def locked(*args: Any, **kwargs: Any) -> None:
            raise StoreError("database is locked; expected one writer", reason="locked")

        add(session, [segment(k) for k in range(SEGMENTS + 1, SEGMENTS + 11)])
        with monkeypatch.context() as m:
            m.setattr(store, "write", locked)
            with pytest.raises(StoreError):
                recorder.flush()
        session.rename(0, "Ada")
        add(session, [segment(k) for k in range(SEGMENTS + 11, SEGMENTS + 21)])
        recorder.flush()
        assert recorder.examined == 20
        assert_stored_exactly(store, session)
        session.end()
    finally:
        recorder.stop()
    assert_stored_exactly(store, session)
    stored = store.load(session.id)
    assert stored.names == {0: "Ada"} and stored.info.ended_at is not None
    record = recorder.record()
    assert (stored.segments, stored.names, stored.expected, stored.phases) == (
        record.segments, record.names, record.expected, record.phases)
