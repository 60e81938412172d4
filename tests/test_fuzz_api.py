"""Fuzzing of the HTTP API against its own OpenAPI schema (schemathesis), over a real socket.

Every operation of ``app.openapi()`` gets ``FUZZ_EXAMPLES`` generated requests (valid and invalid
ones) as a viewer and as the facilitator, sent to uvicorn serving a live scripted meeting. Each
answer must not be a 5xx and must match the schema (status code, content type, headers, body).
Path ids are drawn from the real ones as well as at random, so requests get past the 404.
Afterwards the meeting must still be served, and viewers must have changed nothing.

More examples, by hand (docs/security.md has the figures of the runs made):

    TALKTIME_FUZZ_EXAMPLES=500 .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_fuzz_api.py
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import api.profile_routes
from api.app import create_app
from api.settings import Settings
from api_fixtures import scripted_session, wait_for
from security_fixtures import CODE, CONTROL, TOKEN, VIEW, LiveRoom, live_room
from tracker.meeting.enrollment import enroll_live

FUZZ_EXAMPLES = int(os.environ.get("TALKTIME_FUZZ_EXAMPLES", "12"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
# Ending the meeting is a control like the others, but it stops capture for good; it has no input
# besides the id and is tested in tests/test_api.py. Starting a new meeting (if the app has it)
# likewise replaces the meeting under test.
NOT_FUZZED_AS_FACILITATOR = ("/end", "POST /api/meetings")
# Limits high enough that the fuzzer explores the API instead of the rate limits (tested in test_security.py).
FUZZ_SETTINGS: dict[str, Any] = {"requests_per_s": 1000.0, "request_burst": 100_000, "auth_failures": 100_000}


def with_real_ids(raw: dict[str, Any], meeting_id: str) -> dict[str, Any]:
    """The schema with path ids drawn from the real ones as often as at random."""
    out = copy.deepcopy(raw)
    real: dict[str, list[Any]] = {"meeting_id": [meeting_id], "speaker_id": [0, 1, 2], "attendee_id": [-1, -2]}
    for item in out["paths"].values():
        for operation in item.values():
            for param in operation.get("parameters", []):
                if param["in"] == "path" and param["name"] in real:
                    param["schema"] = {"anyOf": [{"enum": real[param["name"]]}, param["schema"]]}
    return out


ROSTER = ("Alex",)  # an expected attendee (id -1), so the enroll route is fuzzed past its 404


@pytest.fixture(scope="module")
def room() -> Iterator[LiveRoom]:
    with live_room(roster=ROSTER, **FUZZ_SETTINGS) as served, pytest.MonkeyPatch.context() as patch:
        # An enrollment listens to the room for 4-30 s: here the room hears that long a silence at
        # once (fed, not waited for), through the scripted engine, which keeps no voice windows:
        # the enrollment runs its course and asks for a retake (422).
        patch.setattr(api.profile_routes, "enroll_live", functools.partial(enroll_live, sleep=served.source.feed))
        _AT_START[served.base] = what_viewers_see_fixed(served)
        yield served


_AT_START: dict[str, Any] = {}


def room_at_start(room: LiveRoom) -> Any:
    return _AT_START[room.base]


def api_schema() -> Any:
    """The schema of an app like the served one, with path ids drawn partly from the real ones."""
    session, _ = scripted_session()
    raw = create_app(Settings(code=CODE, token=TOKEN, save=False), session=session).openapi()
    schema = schemathesis.openapi.from_dict(with_real_ids(raw, MEETING))
    schema.config.generation.update(modes=["positive", "negative"], max_examples=FUZZ_EXAMPLES, no_shrink=True)
    return schema


MEETING = "the-meeting-under-test"  # stands for the served meeting's id (known only once it runs)
# NB: schemathesis.pytest.from_fixture fails under pytest 9.2 ('Function' object has no attribute '_nodeid').
fuzzed = api_schema()


SENT = {"viewer": 0, "facilitator": 0}  # requests made, reported by the last test
ENROLL_ANSWERS: list[tuple[int, str]] = []  # the facilitator's enrollments: status code, start of the body


def _call(case: Any, room: LiveRoom, auth: dict[str, str]) -> None:
    SENT["viewer" if auth is VIEW else "facilitator"] += 1
    # NB: a generated Authorization or Cookie header would replace the role under test
    if (case.path_parameters or {}).get("meeting_id") == MEETING:
        case.path_parameters["meeting_id"] = room.session.id
    enrolling = case.operation.path.endswith("/enroll") and auth is CONTROL
    if enrolling:  # the DELETE attendees cases, fuzzed before, may have emptied the roster
        for name in ROSTER:
            requests.post(f"{room.base}/api/meetings/{room.session.id}/attendees", json={"name": name},
                          headers=CONTROL, timeout=5)  # 201, or 409: already there
    response = case.call(base_url=room.base, headers=auth, timeout=10, allow_redirects=False)
    if enrolling:
        ENROLL_ANSWERS.append((response.status_code, response.text[:200]))
    case.validate_response(response, checks=CHECKS)


@fuzzed.parametrize()
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_fuzz_as_viewer(case: Any, room: LiveRoom) -> None:
    _call(case, room, VIEW)


def what_viewers_see_fixed(room: LiveRoom) -> Any:
    state = requests.get(f"{room.base}/api/state", headers=VIEW, timeout=5).json()
    return state["status"], [(p["id"], p["name"], p["expected"]) for p in state["speakers"]], state["phases"]


def test_viewers_changed_nothing(room: LiveRoom) -> None:
    """Runs after the viewer's fuzzing (file order): names, roster, phases and status are as at start."""
    assert what_viewers_see_fixed(room) == room_at_start(room)


@fuzzed.parametrize()
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_fuzz_as_facilitator(case: Any, room: LiveRoom) -> None:
    label = f"{case.method.upper()} {case.operation.path}"
    if case.operation.path.endswith(NOT_FUZZED_AS_FACILITATOR[0]) or label == NOT_FUZZED_AS_FACILITATOR[1]:
        return
    _call(case, room, CONTROL)


def test_the_meeting_survived_the_fuzzing(room: LiveRoom) -> None:
    state = requests.get(f"{room.base}/api/state", headers=VIEW, timeout=5)
    assert state.status_code == 200
    assert state.json()["meeting_id"] == room.session.id
    assert state.json()["status"] in ("running", "paused")
    before = state.json()["clock_s"]
    if state.json()["status"] == "paused":
        assert requests.post(f"{room.base}/api/meetings/{room.session.id}/start", headers=CONTROL, timeout=5).ok
    room.source.feed(1.0)
    wait_for(lambda: requests.get(f"{room.base}/api/state", headers=VIEW, timeout=5).json()["clock_s"] > before,
             what="the meeting clock to move on")
    assert requests.get(f"{room.base}/healthz", timeout=5).json() == {"status": "ok"}
    assert SENT["viewer"] > 0 and SENT["facilitator"] > 0
    # The roster's attendee was found and listened for: the enroll route went past its 404.
    # (a retake asked for, or the meeting's state named after the attendee's lookup)
    assert any("retake" in body or "cannot enroll Alex" in body for _, body in ENROLL_ANSWERS), ENROLL_ANSWERS
    print(f"\nfuzzed requests: {SENT['viewer']} as viewer, {SENT['facilitator']} as facilitator")
