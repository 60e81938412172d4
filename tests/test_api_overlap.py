"""Overlap and interruptions per person in the dashboard's state and the meeting's report, over a
scripted meeting in the real app: an engine that sees overlap, and one that cannot (as the lite one)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from api_fixtures import FedSource, ScriptedEngine, speaker, wait_for
from tracker.meeting.session import STATE_SCHEMA, MeetingSession
from tracker.pipeline.engine import sees_overlap
from tracker.pipeline.pipeline import Pipeline, PipelineConfig
from tracker.sources.live import LiveInput

CODE, TOKEN = "viewer-code-1", "facilitator-token-1"
VIEW = {"Authorization": f"Bearer {CODE}"}

# Ann talks 0-10; Ben's "mm-hm" at 3 is a back-channel; Ben cuts in at 9 and Ann stops at 10; Ben to 16.
CROSSTALK: list[tuple[int, float, float]] = [(0, 0.0, 10.0), (1, 3.0, 3.5), (1, 9.0, 16.0)]


class OneVoiceEngine(ScriptedEngine):
    """A scripted engine that, like the lite one, hears one voice at a time."""

    sees_overlap = False


def state_after(engine: ScriptedEngine, seconds: float, tmp_path: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The state after ``seconds`` of the scripted meeting, and its report as JSON."""
    source = FedSource()
    session = MeetingSession(Pipeline(PipelineConfig(), engine=engine),
                             LiveInput(lambda: source, retry=False, label="test feed"))
    app = create_app(Settings(code=CODE, token=TOKEN, data_dir=tmp_path / "data"), session=session)
    with TestClient(app) as client:
        source.feed(seconds)
        wait_for(lambda: session.snapshot().clock_s >= seconds - 1e-6, what="the clock")
        state = client.get("/api/state", headers=VIEW).json()
        report = client.get(f"/api/meetings/{session.id}/report?format=json", headers=VIEW)
        assert report.status_code == 200, report.text
        return state, report.json()


def figures(people: Sequence[dict[str, Any]], who: int) -> tuple[Any, Any, Any]:
    p = next(p for p in people if p["id"] == who)
    return p["overlap_s"], p["interruptions_made"], p["interruptions_suffered"]


def test_the_state_and_report_carry_overlap_and_interruptions(tmp_path: Any) -> None:
    state, report = state_after(ScriptedEngine(CROSSTALK), 20.0, tmp_path)
    assert state["schema"] == STATE_SCHEMA == "talktime.state/4"
    assert state["group"]["overlap_measured"] is True
    assert state["group"]["overlap_s"] == pytest.approx(1.5)
    assert figures(state["speakers"], 0) == (pytest.approx(1.5), 0, 1)  # the mm-hm and 9-10; interrupted once
    assert figures(state["speakers"], 1) == (pytest.approx(1.5), 1, 0)  # the back-channel is no interruption
    assert speaker(state, 1)["turns"] >= 1
    assert report["group"]["overlap_measured"] is True
    assert figures(report["people"], 0) == figures(state["speakers"], 0)
    assert figures(report["people"], 1) == figures(state["speakers"], 1)


def test_which_engines_see_overlap() -> None:
    from tracker.pipeline.hybrid import HybridEngine
    from tracker.pipeline.lite import LiteEngine

    assert LiteEngine.sees_overlap is False and sees_overlap(ScriptedEngine([]))
    assert sees_overlap(HybridEngine(ScriptedEngine([]), ScriptedEngine([])))
    assert not sees_overlap(HybridEngine(OneVoiceEngine([]), ScriptedEngine([])))  # the room's people: one at a time
    assert sees_overlap(HybridEngine(OneVoiceEngine([]), ScriptedEngine([]), room=False))  # a fully remote meeting
    pipeline = Pipeline(PipelineConfig(), engine=OneVoiceEngine([]))
    assert pipeline.accountant.overlap_measured is False
    pipeline.reset()
    assert pipeline.accountant.overlap_measured is False


def test_an_engine_that_hears_one_voice_at_a_time_measures_no_overlap(tmp_path: Any) -> None:
    engine = OneVoiceEngine([(0, 0.0, 9.0), (1, 9.0, 16.0)])
    assert not sees_overlap(engine) and sees_overlap(ScriptedEngine([]))
    state, report = state_after(engine, 20.0, tmp_path)
    assert state["group"]["overlap_measured"] is False
    for people in (state["speakers"], report["people"]):
        assert {figures(people, i) for i in (0, 1)} == {(None, None, None)}  # not measured, never 0
    assert report["group"]["overlap_measured"] is False
    assert any("not measured" in n for n in report["notes"])
