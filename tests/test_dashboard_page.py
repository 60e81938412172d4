"""The dashboard page's own rendering, in headless Chromium, from real states without the models.

Scripted meetings (tests/api_fixtures.py) run in the real app; their ``GET /api/state`` answers are
the states the page renders. The page is served from api/static and its websocket is a stand-in
that delivers ``hello`` and those states, so each check takes about a second.

The page holds no display rule of its own (percents, clocks, bands, words, flags, the rows'
order come in the state, computed in tracker/meeting/view.py): what is checked is that it shows
exactly the state's fields, in the state's order, during the warm-up, after it, when the recording
has ended and after the meeting's end, and that a 60-character name fits a 375 px phone.
The whole path (``talktime run``, real models, login) is tests/test_dashboard_browser.py.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.routes import STATIC_DIR
from api.settings import Settings
from api_fixtures import THREE_PEOPLE, FedSource, ScriptedEngine, wait_for
from security_fixtures import CODE, CONTROL, TOKEN, VIEW
from tracker.meeting.session import MeetingSession
from tracker.pipeline.pipeline import Pipeline, PipelineConfig
from tracker.sources.live import LiveInput
from test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

ORIGIN = "http://talktime.test"
LONG_NAME = "Maximilian Alexander von Hohenzollern-Sigmaringen der Dritte"  # the QA report's, 60 characters

# Replaces the page's WebSocket: delivers window.__hello, then each state given to window.__push.
FAKE_SOCKET = """
window.__sockets = [];
window.WebSocket = class {
  constructor(url) {
    this.url = url; window.__sockets.push(this);
    setTimeout(() => { this.onopen && this.onopen(); this.deliver(window.__hello); }, 0);
  }
  deliver(msg) { this.onmessage && this.onmessage({ data: JSON.stringify(msg) }); }
  send() {}
  close() {}
};
window.__push = (state) => window.__sockets.forEach((ws) => ws.deliver({ type: "state", state }));
"""


# Voice 2 talks most and voice 0 least: a page that listed voices by number would put the top one last.
BY_TALK = [(0, 0.0, 3.0), (1, 3.5, 9.0), (2, 9.5, 30.0), (1, 30.5, 33.0), (0, 60.0, 61.0), (2, 70.0, 74.5)]


class OneVoiceAtATime(ScriptedEngine):
    """A scripted engine that, like the lite one, cannot see two people at once."""

    sees_overlap = False


def run_meeting(script: Any, steps: Any, *, engine: Any = None) -> list[dict[str, Any]]:
    """The states of a scripted meeting in the real app, one after each step: ``("feed", seconds)``,
    ``("expect", name)``, ``("rename", id, name)``, ``("finish",)`` (the recording runs out) or ``("end",)``."""
    source = FedSource()
    session = MeetingSession(Pipeline(PipelineConfig(), engine=engine or ScriptedEngine(script)),
                             LiveInput(lambda: source, retry=False, label="test feed"))
    app = create_app(Settings(code=CODE, token=TOKEN, save=False), session=session)
    states = []
    with TestClient(app) as client:
        mid = client.get("/api/state", headers=VIEW).json()["meeting_id"]
        fed = 0.0

        def state(check: Any, what: str) -> dict[str, Any]:
            def ready() -> dict[str, Any] | None:
                got: dict[str, Any] = client.get("/api/state", headers=VIEW).json()
                return got if check(got) else None

            return wait_for(ready, timeout=15.0, what=what)

        for step in steps:
            if step[0] == "feed":
                source.feed(step[1])
                fed += step[1]
                states.append(state(lambda g, t=fed: g["clock_s"] >= t - 1e-6, f"{fed} s of the scripted meeting"))
            elif step[0] == "expect":
                assert client.post(f"/api/meetings/{mid}/attendees", headers=CONTROL, json={"name": step[1]}).status_code == 201
                states.append(state(lambda g: True, "the roster"))
            elif step[0] == "rename":
                assert client.patch(f"/api/meetings/{mid}/speakers/{step[1]}", headers=CONTROL, json={"name": step[2]}).status_code == 200
                states.append(state(lambda g: any(p["name"] == step[2] for p in g["speakers"]), "the new name"))
            elif step[0] == "finish":
                source.finish()
                states.append(state(lambda g: g["input"]["status"] == "end of input", "the end of the recording"))
            else:
                assert client.post(f"/api/meetings/{mid}/end", headers=CONTROL).status_code == 200
                states.append(state(lambda g: g["status"] == "ended", "the end of the meeting"))
    return states


@pytest.fixture(scope="module")
def meeting() -> dict[str, dict[str, Any]]:
    """Real states of one meeting: warming up (0:21), later (1:15), recording over, ended."""
    warm, later, over, ended = run_meeting(BY_TALK, [("feed", 21.0), ("feed", 54.0), ("finish",), ("end",)])[-4:]
    return {"warm": warm, "later": later, "over": over, "ended": ended}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed: run `make test` or `scripts/bootstrap.sh --dev`, which install it")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_page(browser: Any, *, role: str, width: int = 1280, warmup_s: float = 60.0) -> Any:
    """The dashboard as ``role`` sees it, before any state; push states with ``push(page, state)``."""
    page = browser.new_page(viewport={"width": width, "height": 800}, is_mobile=width < 500)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.errors = errors

    def serve(route: Any) -> None:
        path = route.request.url[len(ORIGIN):].split("?")[0]
        if path == "/api/access":
            access = {"role": role, "meeting_id": "m", "code": CODE, "join_url": f"{ORIGIN}/#code={CODE}"}
            route.fulfill(status=200, content_type="application/json", body=json.dumps(access))
            return
        file = STATIC_DIR / ("index.html" if path == "/" else path.removeprefix("/static/"))
        if not file.is_file():
            route.fulfill(status=404, body="")
            return
        route.fulfill(status=200, content_type=mimetypes.guess_type(file.name)[0] or "text/plain", body=file.read_bytes())

    page.route(f"{ORIGIN}/**", serve)
    page.add_init_script(FAKE_SOCKET + f"window.__hello = {json.dumps({'type': 'hello', 'meeting_id': 'm', 'role': role, 'warmup_s': warmup_s})};")
    page.goto(f"{ORIGIN}/")
    return page


def push(page: Any, state: dict[str, Any]) -> None:
    page.evaluate("(s) => window.__push(s)", state)


def meta_of(page: Any) -> dict[str, str]:
    rows = page.locator(".bar-row")
    return {rows.nth(i).locator(".who").inner_text(): rows.nth(i).locator(".meta").inner_text() for i in range(rows.count())}


def test_a_long_name_fits_a_phone_for_the_facilitator(browser: Any) -> None:
    state = run_meeting(THREE_PEOPLE, [("feed", 21.0), ("rename", 0, LONG_NAME)])[-1]
    assert state["speakers"][0]["name"] == LONG_NAME and state["speakers"][0]["kind"] == "named"
    page = open_page(browser, role="facilitator", width=375)
    push(page, state)
    row = page.locator(f'.bar-row[data-id="{state["speakers"][0]["id"]}"]')
    row.locator(".keep-voice").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    who = row.locator(".who")
    assert who.evaluate("e => e.scrollWidth > e.clientWidth")  # truncated with an ellipsis, not wrapped out
    for control in (row.locator(".edit"), row.locator(".keep-voice")):
        box = control.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375, box  # still on screen
    row.locator(".edit").click()
    assert row.locator("input").input_value() == LONG_NAME
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert not page.errors, page.errors
    page.close()



def figures_of(page: Any) -> list[list[str]]:
    return [list(r) for r in zip(page.locator("#figures dt").all_text_contents(), page.locator("#figures dd").all_text_contents())]


def assert_page_shows(page: Any, state: dict[str, Any]) -> None:
    """Every number the page shows is the state's, in the state's order."""
    d = state["display"]
    # The state is rendered as it arrives (push returns after the page's onmessage).
    assert page.locator("#clock").text_content() == d["clock"]
    assert page.locator("#status").text_content() == d["status_text"]
    assert page.locator("#balance").text_content() == d["balance"]
    assert (page.locator("#balance").get_attribute("class") or "").split() == ["balance", *([d["band"]] if d["band"] else [])]
    assert page.locator("#reading").text_content() == d["reading"]
    assert figures_of(page) == [list(r) for r in d["figures"]]
    present = [p for p in state["speakers"] if p["present"]]
    rows = page.locator(".bar-row")
    assert [int(rows.nth(i).get_attribute("data-id") or "") for i in range(rows.count())] == [p["id"] for p in present]
    for i, p in enumerate(present):
        row = rows.nth(i)
        assert row.locator(".share").text_content() == f"{p['percent']}%"
        assert row.locator(".time").text_content() == p["talk_time"]
        if not p["expected"]:
            assert f"longest {p['longest_turn']} · {p['last_spoke']}" in (row.locator(".meta").text_content() or "")
    assert sum(p["percent"] for p in present) in (0, 100)
    equal = f"({d['equal_percent']}% each for {state['group']['people']})" if state["equal_share"] else ""
    assert page.locator("#equal-share").text_content() == equal


def test_the_page_shows_the_states_numbers(browser: Any, meeting: dict[str, dict[str, Any]]) -> None:
    page = open_page(browser, role="viewer")
    for which in ("warm", "later", "over", "ended"):
        state = meeting[which]
        push(page, state)
        assert_page_shows(page, state)
    push(page, meeting["warm"])
    assert page.locator("#dominant-none").text_content() == "Nobody yet: too early to tell (first minute)."
    assert meeting["warm"]["display"]["band"] is None and meeting["later"]["display"]["band"] == "uneven"  # judged after 1:00
    assert not page.errors, page.errors
    page.close()


def test_the_page_holds_no_display_rule() -> None:
    # The rules live in tracker/stages/display.py and tracker/meeting/view.py; a copy here would drift.
    script = (STATIC_DIR / "app.js").read_text()
    for copy_of_a_rule in ("roundHalfEven", "toFixed", "padStart", "% 60", "/ 60", "3600", "warmup", "Math.floor",
                           ">= 0.", "Guest", "id >= 0", "id < 0", "clock_s", "since_last_spoke_s", "speaking now",
                           "overlap_measured", "balance >=", "b >= ", "reading :", "b[1] - a[1]"):
        assert copy_of_a_rule not in script, copy_of_a_rule


def test_people_are_listed_by_talk_with_the_roster_after(browser: Any) -> None:
    state = run_meeting(BY_TALK, [("feed", 40.0), ("expect", "Dana")])[-1]
    assert [p["id"] for p in state["speakers"]] == [2, 1, 0, -1]  # the top speaker first, the roster's silent last
    page = open_page(browser, role="viewer")
    push(page, state)
    assert_page_shows(page, state)
    assert page.locator(".bar-row .who").all_text_contents() == ["Guest 3", "Guest 2", "Guest 1", "Dana"]
    assert not page.errors, page.errors
    page.close()


def test_after_the_recording_ends_nothing_says_live(browser: Any, meeting: dict[str, dict[str, Any]]) -> None:
    live = run_meeting(THREE_PEOPLE, [("feed", 20.0)])[-1]
    page = open_page(browser, role="viewer")
    push(page, live)
    assert_page_shows(page, live)
    assert page.locator("#status").text_content() == "live"
    assert any("speaking now" in m for m in meta_of(page).values())  # voice 1 stopped 0.5 s ago
    for which, status in (("over", "recording ended"), ("ended", "ended")):
        push(page, meeting[which])
        assert_page_shows(page, meeting[which])
        assert page.locator("#status").text_content() == status
        assert not any("speaking now" in m or " ago" in m for m in meta_of(page).values()), meta_of(page)
        assert all("last spoke at" in m for m in meta_of(page).values() if "turn" in m)
    push(page, meeting["over"])
    page.wait_for_function("document.getElementById('banners').textContent.includes('recording has ended')")
    assert page.evaluate("document.body.dataset.counting") == "false"
    assert not page.errors, page.errors
    page.close()


def test_overlap_is_shown_only_when_measured(browser: Any) -> None:
    measured = run_meeting(THREE_PEOPLE, [("feed", 21.0)])[-1]
    lite = run_meeting(THREE_PEOPLE, [("feed", 21.0)], engine=OneVoiceAtATime(THREE_PEOPLE))[-1]
    page = open_page(browser, role="viewer")
    push(page, measured)
    assert_page_shows(page, measured)
    assert dict(figures_of(page))["Overlap"] == "0 s"
    assert all("· overlap 0 s" in m for m in meta_of(page).values())
    push(page, lite)
    assert_page_shows(page, lite)
    assert dict(figures_of(page))["Overlap"].startswith("not measured")
    assert not any("overlap" in m or "interrupted" in m for m in meta_of(page).values())
    assert not page.errors, page.errors
    page.close()


def test_talk_not_yet_decided_is_drawn_lighter(browser: Any) -> None:
    # A real state from a meeting whose engine decides late (tests/test_view_display.py LateEngine).
    from test_view_display import LateEngine

    state = run_meeting([(0, 0.0, 6.0), (1, 6.0, 12.0)], [("feed", 9.0)], engine=LateEngine([(0, 0.0, 6.0), (1, 6.0, 12.0)], {}))[-1]
    pending = next(p for p in state["speakers"] if p["id"] == 1)
    assert pending["provisional_s"] == 2.0 and pending["talk_time_s"] == 3.0
    page = open_page(browser, role="viewer")
    push(page, state)
    assert_page_shows(page, state)
    row = page.locator('.bar-row[data-id="1"]')
    page.wait_for_timeout(700)  # the bars' width transition
    fill, light = row.locator(".fill").bounding_box(), row.locator(".pending").bounding_box()
    assert fill and light and light["width"] > 0
    assert abs(light["width"] / fill["width"] - 2.0) < 0.05  # 2 s not decided, 1 s decided
    assert abs(light["x"] - (fill["x"] + fill["width"])) < 1.5  # right after the decided part
    assert not page.errors, page.errors
    page.close()
