"""Voice profiles in the meeting store: migration from schema 1, round trips, one per name and model,
consent, and deletion that leaves no byte of the voice vector in the file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from store_helpers import meeting
from tracker.store import records
from tracker.segments import Profile
from tracker.store.storage import SCHEMA_V1, SCHEMA_VERSION, MeetingStore

MODEL = "resemblyzer-ge2e-0.1.4/256"


def profile(name: str, *, seed: int = 0, model: str = MODEL, consent: bool = True) -> Profile:
    v = np.random.default_rng(seed).standard_normal(256).astype(np.float32)
    return Profile(name, model, v / np.linalg.norm(v), windows=12, speech_s=4.8, consent=consent)


def v1_store(path: Path) -> None:
    """A store file as talktime's schema 1 made it, with one meeting in it."""
    with sqlite3.connect(path, isolation_level=None) as db:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("BEGIN")
        for statement in SCHEMA_V1.split(";\n"):
            if statement.strip():
                db.execute(statement)
        records.insert_record(db, meeting())
        db.execute("PRAGMA user_version = 1")
        db.execute("COMMIT")
    db.close()


def test_a_schema_1_file_is_migrated_and_keeps_its_meetings(tmp_path: Path) -> None:
    path = tmp_path / "meetings.sqlite"
    v1_store(path)
    with MeetingStore(path) as store:
        assert store.load(None) == meeting()
        assert store.profiles() == []
        store.save_profile(profile("Ada"))
        assert [p.name for p in store.profiles()] == ["Ada"]
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
    with MeetingStore(path) as store:  # opening again migrates nothing
        assert [p.name for p in store.profiles()] == ["Ada"]


def test_profiles_round_trip_exactly_one_per_name_and_model(tmp_path: Path) -> None:
    with MeetingStore(tmp_path / "m.sqlite") as store:
        ada = profile("Ada")
        store.save_profile(ada)
        store.save_profile(profile("ada", seed=1))  # same person (any case), same model: replaced
        store.save_profile(profile("Ada", seed=2, model="pyannote-embedding-abc/512"))  # another model: kept apart
        assert store.save_profile(profile("Ada", seed=3), replace=False) is False
        assert [(p.name, p.model) for p in store.profiles()] == [("Ada", "pyannote-embedding-abc/512"), ("ada", MODEL)]
        got = store.profiles(model=MODEL)
        assert np.array_equal(got[0].embedding, profile("x", seed=1).embedding)
        assert got[0].created_at and got[0].windows == 12 and got[0].speech_s == pytest.approx(4.8) and got[0].consent
        assert [p.name for p in store.profiles(model=MODEL)] == ["ada"]
        assert store.rename_profile("ADA", "Ada Lovelace") == 2
        with pytest.raises(ValueError, match="consent"):
            store.save_profile(profile("Bo", consent=False))
        store.save_profile(profile("Bo"))
        with pytest.raises(Exception, match="already has a profile"):
            store.rename_profile("Bo", "ada lovelace")


def test_deleting_a_profile_leaves_no_byte_of_it_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite"
    secret = profile("Ada", seed=7)
    needle = secret.embedding.astype("<f4").tobytes()[:64]
    with MeetingStore(path) as store:
        store.save(meeting())
        store.save_profile(secret)
        store.save_profile(profile("Bo", seed=8))
        store.scrub()
        assert needle in path.read_bytes()  # the test can see it while it is stored
        assert store.delete_profile("ada") == 1
        assert [p.name for p in store.profiles()] == ["Bo"]
        raw = path.read_bytes() + (path.with_name(path.name + "-wal").read_bytes()
                                   if path.with_name(path.name + "-wal").exists() else b"")
        assert needle not in raw
        assert b"Ada" not in raw or store.load(None).names  # a meeting may still name Ada; the voice is gone
        assert store.delete_profile("nobody") == 0


def test_forgetting_a_person_deletes_their_profile_too(tmp_path: Path) -> None:
    with MeetingStore(tmp_path / "m.sqlite") as store:
        store.save(meeting())
        store.save_profile(profile("Alex"))
        store.save_profile(profile("Bo"))
        assert store.forget_person("alex")
        assert [p.name for p in store.profiles()] == ["Bo"]
