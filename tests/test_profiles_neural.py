"""Known voices on the neural engine (CAM++), with real human voices: `talktime profiles enroll`
makes a campplus profile from the engine's own embeddings, a seeded profile names its person from
their first words, two people in the enrollment speech are refused, and a profile made by another
model (Resemblyzer) is set aside with the command to enrol again, never compared.

The voices are LibriSpeech utterances from ../shared/eval/voices (one per person; CC BY 4.0): the
enrolled person's utterance is split, the first part enrolls, the second speaks in the meeting.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tracker.meeting.enrollment import enroll_from_file, known_voices
from tracker.pipeline.analysis import analyze
from tracker.pipeline.build import build_pipeline
from tracker.pipeline.pipeline import Pipeline, PipelineConfig
from tracker.pipeline.engine import EmbeddingRecord
from tracker.pipeline.profiles import CAMPLUS, EnrollmentError, KnownVoices, ProfileMatcher, enrollment_voice
from tracker.segments import Profile
from tracker.store.storage import STORE_FILE, MeetingStore

REPO = Path(__file__).resolve().parents[1]
VOICES = REPO.parent / "shared" / "eval" / "voices" / "librispeech-train-clean-100"
ANN, BEN, CY = "198-126831-0000", "229-130880-0000", "3374-298025-0000"  # 17.2, 16.8, 16.8 s
ENROLL_S = 8.0  # Ann's first 8 s enroll her; the rest of her utterance opens the meeting
RATE = 16_000

needs_voices = pytest.mark.skipif(not VOICES.is_dir(), reason=f"needs the real voices at {VOICES} (../shared is absent)")
pytestmark = [pytest.mark.models]


def talktime(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TALKTIME_ENGINE"}  # the default engine
    return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True, timeout=300,
                          cwd=REPO, env={**env, "TALKTIME_DATA_DIR": str(data)})


def voice(uri: str) -> np.ndarray:
    wav, rate = sf.read(VOICES / f"{uri}.flac", dtype="float32")
    assert rate == RATE
    return np.asarray(wav, dtype=np.float32)


@pytest.fixture(scope="module")
def neural() -> Pipeline:
    return build_pipeline(PipelineConfig(engine="neural"))


@pytest.fixture
def fresh(neural: Pipeline) -> Iterator[Pipeline]:
    neural.use_profiles(None)
    yield neural
    neural.use_profiles(None)


@pytest.fixture(scope="module")
def meeting(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """Ann (the rest of her utterance) opens, then Ben, then Cy, 0.8 s apart; returns the file and
    when Ann's part ends (s)."""
    pause = np.zeros(int(0.8 * RATE), np.float32)
    ann = voice(ANN)[int(ENROLL_S * RATE):]
    parts = [pause, ann, pause, voice(BEN)[: 8 * RATE], pause, voice(CY)[: 8 * RATE], pause]
    path = tmp_path_factory.mktemp("meeting") / "meeting.wav"
    sf.write(str(path), np.concatenate(parts), RATE, subtype="PCM_16")
    return path, (len(pause) + len(ann)) / RATE


@needs_voices
@pytest.mark.shared
def test_enroll_on_the_neural_engine_makes_a_campplus_profile_that_names_ann_from_her_first_words(
        tmp_path: Path, fresh: Pipeline, meeting: tuple[Path, float]) -> None:
    proc = talktime("profiles", "enroll", "Ann", str(VOICES / f"{ANN}.flac"), "--end", str(ENROLL_S), "--consent",
                    data=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "enrolled Ann" in proc.stdout and "model campplus" in proc.stdout and "neural engine" in proc.stdout
    with MeetingStore(tmp_path / STORE_FILE) as store:
        (ann,) = store.profiles()
        assert ann.model == fresh.embedding_model == "campplus" and ann.embedding.shape == (192,)
        assert ann.windows >= CAMPLUS.enroll_min_embeddings and 4.0 <= ann.speech_s <= ENROLL_S + 0.5
        fresh.use_profiles(known_voices(store, fresh, roster=["Ann", "Dana"]))
    path, ann_end = meeting
    result = analyze(path, fresh, mode="live")
    people = {s.name: s for s in result.summary.speakers}
    said = len(voice(ANN)) / RATE - ENROLL_S
    assert "Ann" in people and 0.6 * said <= people["Ann"].talk_time_s <= said + 0.5, people
    # from her first words: the first speech decided is hers, and hers is in her part of the meeting
    assert result.segments[0].speaker == people["Ann"].id, result.segments[:3]
    ann_segs = [s for s in result.segments if s.speaker == people["Ann"].id]
    assert sum(s.duration_samples for s in ann_segs if s.end_sample <= (ann_end + 0.5) * RATE) >= \
        0.9 * sum(s.duration_samples for s in ann_segs)
    guests = [s for n, s in people.items() if n.startswith("Guest")]
    assert len(guests) == 2 and all(g.talk_time_s > 5 for g in guests), people  # Ben and Cy
    assert people["Dana"].expected and people["Dana"].talk_time_s == 0  # on the roster, no profile
    assert fresh.known is not None and "Ann" in fresh.known.from_profile.values()


@needs_voices
@pytest.mark.shared
def test_neural_enrollment_of_two_people_or_too_little_speech_asks_for_a_retake(tmp_path: Path, fresh: Pipeline) -> None:
    pause = np.zeros(int(0.5 * RATE), np.float32)
    two = tmp_path / "two.wav"
    sf.write(str(two), np.concatenate([pause, voice(BEN)[: 5 * RATE], voice(CY)[: 5 * RATE], pause]), RATE,
             subtype="PCM_16")
    with pytest.raises(EnrollmentError, match="two voices.*retake"):
        enroll_from_file(two, fresh)
    with pytest.raises(EnrollmentError, match="too short.*retake"):
        enroll_from_file(VOICES / f"{BEN}.flac", fresh, end_s=2.0)
    one = enroll_from_file(VOICES / f"{BEN}.flac", fresh, end_s=8.0)
    assert one.embedding.shape == (192,) and one.windows >= CAMPLUS.enroll_min_embeddings


def test_a_resemblyzer_profile_is_set_aside_on_the_neural_engine_with_the_command_to_re_enrol(
        tmp_path: Path, fresh: Pipeline, caplog: pytest.LogCaptureFixture) -> None:
    v = np.random.default_rng(0).standard_normal(256).astype(np.float32)
    old = Profile("Ann Lee", "resemblyzer-ge2e-0.1.4/256", v / np.linalg.norm(v), windows=12, speech_s=4.8,
                  consent=True)
    with MeetingStore(tmp_path / STORE_FILE) as store:
        store.save_profile(old)
        with caplog.at_level(logging.WARNING, logger="talktime"):
            known = known_voices(store, fresh, roster=["Ann Lee"])
    assert isinstance(known, KnownVoices)
    assert known.matcher.profiles == [] and [p.name for p in known.matcher.other_models] == ["Ann Lee"]
    assert known.matcher.needs_reenrolment("ann lee") is not None
    text = caplog.text
    assert "not used" in text and "resemblyzer-ge2e-0.1.4/256" in text and "campplus" in text
    assert 'talktime profiles enroll "Ann Lee" AUDIO --consent' in text
    fresh.use_profiles(known)  # seeds nothing: the old profile is never compared with CAM++ voices
    assert fresh.memory is not None and not fresh.memory.centroids()
    with pytest.raises(ValueError, match="192-d"):  # were it compared, the spaces would not even agree
        ProfileMatcher([Profile("X", "campplus", np.ones(192, np.float32) / np.sqrt(192), windows=4, speech_s=4,
                                consent=True)], model="campplus").scores(v)
    listed = talktime("profiles", "list", data=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "needs re-enrolment for the neural engine" in listed.stdout and "Ann Lee" in listed.stdout
    assert "talktime profiles enroll NAME AUDIO --consent" in listed.stdout


def test_seeds_follow_the_profiles_in_use_across_resets(fresh: Pipeline) -> None:
    """The neural engine keeps seeded voices over a reset; the pipeline seeds the profiles in use
    again each time, so a new meeting works and a profile no longer used is no longer known."""
    e = np.zeros(192, np.float32)
    e[0] = 1.0
    ann = Profile("Ann", "campplus", e, windows=8, speech_s=8.0, consent=True)
    fresh.use_profiles(KnownVoices(ProfileMatcher([ann], model="campplus"), roster=["Ann"]))
    assert fresh.memory is not None
    assert fresh.memory.centroids()[1000][1] == CAMPLUS.seed_weight
    fresh.reset()  # a new meeting: seeded again, not twice
    assert list(fresh.memory.centroids()) == [1000]
    fresh.use_profiles(None)  # recognition off (or the profile deleted)
    assert 1000 not in fresh.memory.centroids()


def _rec(start_s: float, end_s: float, emb: np.ndarray, speech_s: float) -> EmbeddingRecord:
    return EmbeddingRecord(int(start_s * RATE), int(end_s * RATE), emb.astype(np.float32), int(speech_s * RATE), 3)


def test_enrollment_voice_from_overlapping_campplus_embeddings() -> None:
    """Each embedding describes up to 4 s and they overlap: speech is counted once."""
    rng = np.random.default_rng(0)
    base = rng.standard_normal(192)
    one = [base + 0.3 * rng.standard_normal(192) for _ in range(8)]
    recs = [_rec(k, k + 4.0, v / np.linalg.norm(v), 3.6) for k, v in enumerate(one)]  # 0-11 s, 90 % speech
    voice = enrollment_voice(recs, model="campplus")
    assert voice.windows == 8 and voice.speech_s == pytest.approx(0.9 * 11, abs=0.2)
    with pytest.raises(EnrollmentError, match="too short"):
        enrollment_voice(recs[:2], model="campplus")  # 5 s, but 2 embeddings
    other = rng.standard_normal(192)
    two = recs[:4] + [_rec(k, k + 4.0, other / np.linalg.norm(other), 3.6) for k in range(4, 8)]
    with pytest.raises(EnrollmentError, match="two voices"):
        enrollment_voice(two, model="campplus")
