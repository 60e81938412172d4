"""A talk-started room whose store is locked by another program goes on: a meeting that ended for
silence without a word cannot be removed from the store, and the next meeting is still readied."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from api_fixtures import FedSource, scripted_pipeline, wait_for
from fakes import FAKE_VAD, EnergyVad, render
from tracker.sources.live import LiveInput
from tracker.stages.onset import SpeechOnset
from tracker.meeting.room import Room
from tracker.meeting.session import MeetingSession
from tracker.stages.vad import VoiceActivityDetector
from tracker.store.storage import STORE_FILE, MeetingStore


def test_a_wordless_meeting_that_cannot_be_removed_still_readies_the_next(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    feed = FedSource()
    onset = SpeechOnset(VoiceActivityDetector(FAKE_VAD, model=EnergyVad()), quiet_s=0.0, already_quiet=True)
    # Talk starts the meeting, but the pipeline decides nobody spoke (its script is empty).
    session = MeetingSession(scripted_pipeline([]), LiveInput(lambda: feed, label="test mic"),
                             onset=onset)
    store = MeetingStore(tmp_path / STORE_FILE, busy_timeout_s=0.2)
    other = sqlite3.connect(tmp_path / STORE_FILE, isolation_level=None)
    room = Room(session, store=store, auto_end_after_s=1.0, tick_s=0.05)
    room.open()
    try:
        feed.play(render([(0, 0.0, 2.0)], 2.0))
        wait_for(lambda: session.status == "running", timeout=15, what="talk to start the meeting")  # NB: slow on a busy machine
        wait_for(lambda: room.recorder is not None, timeout=15, what="the meeting to be recorded")
        other.execute("BEGIN EXCLUSIVE")  # another program holds the store from now on
        feed.play(render([], 3.0))
        wait_for(lambda: session.status == "ended", timeout=10, what="silence to end the meeting")
        wait_for(lambda: room.current is not session, timeout=10, what="the next meeting to be readied")
        assert room.current.status == "ready" and room.current.previous_id == session.id
        assert "it stays in the store, empty" in caplog.text and "is locked by another program" in caplog.text
        assert "the room's check failed" not in caplog.text
    finally:
        if other.in_transaction:
            other.execute("ROLLBACK")
        other.close()
        room.close()
        store.close()
    assert session.id in {m.id for m in MeetingStore(tmp_path / STORE_FILE).meetings()}  # kept, empty
