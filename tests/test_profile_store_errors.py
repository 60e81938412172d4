"""Keep voice and Enroll voice with a store that cannot be written: a clear 503, nothing changed,
and the meeting goes on; once the store is free again the same request keeps the profile.

The store is a real SQLite file that another program holds locked (``BEGIN EXCLUSIVE``) while
the app runs; the meeting is the real pipeline over the fake models, fed rendered voices.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import api.profile_routes
from api.app import create_app
from api.settings import Settings
from api_fixtures import FedSource, wait_for
from fakes import FAKE_CONFIG, EnergyVad, FakeEncoder, render
from tracker.sources.live import LiveInput
from tracker.meeting.enrollment import enroll_live
from tracker.pipeline.build import lite_pipeline
from tracker.pipeline.pipeline import Pipeline
from tracker.meeting.session import MeetingSession
from tracker.store.storage import STORE_FILE, MeetingStore

CODE, TOKEN = "viewer-code-5", "facilitator-token-5"
CONTROL = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Served:
    client: TestClient
    session: MeetingSession
    feed: FedSource
    store: MeetingStore

    def hear(self, samples: object) -> None:
        """Play audio to the room and wait until the pipeline has processed it."""
        self.feed.play(samples)  # type: ignore[arg-type]
        wait_for(lambda: self.session.pipeline.accountant.clock_samples >= self.feed.position, timeout=20,
                 what="the pipeline to process the audio")

    def post(self, path: str, body: object) -> object:
        return self.client.post(f"/api/meetings/{self.session.id}/{path}", json=body, headers=CONTROL)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    feed = FedSource()
    pipeline = lite_pipeline(FAKE_CONFIG, vad_model=EnergyVad(), encoder=FakeEncoder())
    session = MeetingSession(pipeline, LiveInput(lambda: feed, retry=False, label="test mic"))
    session.expect("Bo")
    store = MeetingStore(tmp_path / STORE_FILE, busy_timeout_s=0.3)  # NB: a lock fails fast here
    app = create_app(Settings(code=CODE, token=TOKEN), session=session, store=store)
    with TestClient(app) as client:
        yield Served(client, session, feed, store)
    store.close()


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """Another program writing to the store; ``rollback()`` lets go."""
    other = sqlite3.connect(tmp_path / STORE_FILE, isolation_level=None)
    yield other
    other.close()


def test_keep_voice_with_a_locked_store_is_a_503_and_the_meeting_goes_on(
    served: Served, locked: sqlite3.Connection
) -> None:
    served.hear(render([(0, 0.5, 9.5)], 10.0))
    (guest,) = served.session.snapshot().speakers[:1]
    assert served.client.patch(f"/api/meetings/{served.session.id}/speakers/{guest.id}", json={"name": "Ada"},
                               headers=CONTROL).status_code == 200
    locked.execute("BEGIN EXCLUSIVE")
    r = served.post(f"speakers/{guest.id}/profile", {"consent": True})
    assert r.status_code == 503, r.text  # type: ignore[attr-defined]
    detail = r.json()["detail"]  # type: ignore[attr-defined]
    assert "voice profile was not kept" in detail and "is locked by another program" in detail
    assert "expected talktime to be its only writer" in detail
    # The meeting goes on: it still counts what it hears and answers.
    clock = served.session.snapshot().clock_s
    served.hear(render([(1, 0.5, 3.5)], 4.0))
    state = served.client.get(f"/api/meetings/{served.session.id}", headers=CONTROL)
    assert state.status_code == 200 and state.json()["clock_s"] >= clock + 4.0 - 1e-6
    assert served.session.status == "running"
    locked.execute("ROLLBACK")
    assert served.store.profiles() == []  # nothing was kept
    r = served.post(f"speakers/{guest.id}/profile", {"consent": True})
    assert r.status_code == 200, r.text  # type: ignore[attr-defined]
    assert [p.name for p in served.store.profiles()] == ["Ada"]


def test_enroll_voice_with_a_locked_store_is_a_503_and_changes_nothing(
    served: Served, locked: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    def listen(seconds: float) -> None:  # Bo speaks while enrollment listens, then the room is quiet
        served.hear(render([(2, 0.0, seconds)], seconds) if seconds >= 4.0 else render([], seconds))

    monkeypatch.setattr(api.profile_routes, "enroll_live", functools.partial(enroll_live, sleep=listen))
    served.hear(render([], 1.0))
    locked.execute("BEGIN EXCLUSIVE")
    r = served.post("attendees/-1/enroll", {"seconds": 5, "consent": True})
    assert r.status_code == 503, r.text  # type: ignore[attr-defined]
    assert "is locked by another program" in r.json()["detail"]  # type: ignore[attr-defined]
    snap = served.session.snapshot()
    assert [p.name for p in snap.speakers if p.expected] == ["Bo"]  # still an attendee, no voice named Bo
    assert not any(p.name == "Bo" for p in snap.speakers if not p.expected)
    assert served.session.status == "running"
    locked.execute("ROLLBACK")
    r = served.post("attendees/-1/enroll", {"seconds": 5, "consent": True})  # the retake, the store free
    assert r.status_code == 200, r.text  # type: ignore[attr-defined]
    assert [p.name for p in served.store.profiles()] == ["Bo"]


def test_the_schema_lists_the_503_of_both_routes(served: Served) -> None:
    paths = served.client.app.openapi()["paths"]  # type: ignore[attr-defined]
    for path in ("/api/meetings/{meeting_id}/speakers/{speaker_id}/profile",
                 "/api/meetings/{meeting_id}/attendees/{attendee_id}/enroll"):
        answers = paths[path]["post"]["responses"]
        assert "503" in answers and "200" in answers, answers.keys()
