"""Unusable JSON bodies answer 422 with the reason, as docs/security.md and api/openapi.py say:
JSON nested too deeply for Python's parser, and text holding half of a surrogate pair."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from security_fixtures import CONTROL, VIEW, app_client

JSON = {**CONTROL, "content-type": "application/json"}


@pytest.fixture
def client() -> Iterator[TestClient]:
    with app_client(fed_s=4.0) as c:
        yield c


def _state(client: TestClient) -> dict[str, Any]:
    state: dict[str, Any] = client.get("/api/state", headers=VIEW).json()
    return state


def _reason(answer: Any) -> str:
    detail = answer.json()["detail"]
    assert isinstance(detail, list) and detail[0]["type"] == "json_invalid", detail
    return str(detail[0]["ctx"]["error"])


@pytest.mark.parametrize("depth", [1_500, 8_000])  # both over Python's parser's limit, under 16 KiB
def test_json_nested_too_deeply_is_invalid_input(client: TestClient, depth: int) -> None:
    mid = _state(client)["meeting_id"]
    for body in ("[" * depth + "]" * depth, '{"name": ' + "[" * depth + "]" * depth + "}"):
        r = client.patch(f"/api/meetings/{mid}/speakers/0", headers=JSON, content=body)
        assert r.status_code == 422, (r.status_code, r.text[:200])
        assert "nested too deeply; expected an object" in _reason(r)
    r = client.post(f"/api/meetings/{mid}/merge", headers=JSON, content="{" * depth)
    assert r.status_code == 422  # not JSON at all: FastAPI's own 422, unchanged


@pytest.mark.parametrize("text", ["\\ud800", "Ada \\udfff", "\\ud83d"])
def test_a_name_with_a_lone_surrogate_is_refused_with_the_reason(client: TestClient, text: str) -> None:
    state = _state(client)
    mid = state["meeting_id"]
    for path, method in ((f"/api/meetings/{mid}/speakers/0", "PATCH"), (f"/api/meetings/{mid}/attendees", "POST"),
                         (f"/api/meetings/{mid}/phases", "POST")):
        r = client.request(method, path, headers=JSON, content='{"name": "' + text + '"}')
        assert r.status_code == 422, (path, r.status_code, r.text)
        reason = _reason(r)
        assert "'name' holds a lone surrogate" in reason and "expected text of whole Unicode characters" in reason
        assert "codec" not in r.text
    after = _state(client)
    assert [p["name"] for p in after["speakers"]] == [p["name"] for p in state["speakers"]]  # nothing renamed or added
    assert after["phases"] == state["phases"]
    r = client.request("POST", f"/api/meetings/{mid}/attendees", headers=JSON, content='{"\\udc00": "x"}')
    assert r.status_code == 422 and "the key" in _reason(r)


def test_a_whole_surrogate_pair_is_a_name(client: TestClient) -> None:
    mid = _state(client)["meeting_id"]
    r = client.patch(f"/api/meetings/{mid}/speakers/0", headers=JSON, content='{"name": "Ada \\ud83d\\ude00"}')
    assert r.status_code == 200 and any(p["name"] == "Ada \U0001f600" for p in r.json()["speakers"])
