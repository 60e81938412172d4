"""The dashboard page's own rendering, in headless Chromium, from real states without the models.

A scripted meeting (tests/api_fixtures.py) runs in the real app; its ``GET /api/state`` answers are
the states the page renders. The page is served from api/static and its websocket is a stand-in
that delivers ``hello`` and those states, so each check takes about a second. What is checked:
a 60-character name fits a 375 px phone for the facilitator, "speaking now" only while the meeting
runs and only for a voice heard within 2 s, clock-style durations and shares round like the report,
and the warm-up's "too early to tell" in the header and the "Talking most" panel alike.
The whole path (``talktime run``, real models, login) is tests/test_dashboard_browser.py.
"""

from __future__ import annotations

import copy
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
from api_fixtures import scripted_session, wait_for
from security_fixtures import CODE, TOKEN, VIEW
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


@pytest.fixture(scope="module")
def base_state() -> Iterator[dict[str, Any]]:
    """A real state of a running meeting of three people (20 s of scripted talk)."""
    session, source = scripted_session()
    app = create_app(Settings(code=CODE, token=TOKEN, save=False), session=session)
    with TestClient(app) as client:
        source.feed(21.0)
        def ready() -> dict[str, Any] | None:
            got: dict[str, Any] = client.get("/api/state", headers=VIEW).json()
            return got if got["clock_s"] >= 21.0 else None

        state = wait_for(ready, what="21 s of the scripted meeting")
    yield state


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


def with_changes(state: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(state)
    out.update(changes)
    return out


def meta_of(page: Any) -> dict[str, str]:
    rows = page.locator(".bar-row")
    return {rows.nth(i).locator(".who").inner_text(): rows.nth(i).locator(".meta").inner_text() for i in range(rows.count())}


def test_a_long_name_fits_a_phone_for_the_facilitator(browser: Any, base_state: dict[str, Any]) -> None:
    state = copy.deepcopy(base_state)
    state["speakers"][0]["name"] = LONG_NAME
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


def test_speaking_now_only_while_running_and_only_just_heard(browser: Any, base_state: dict[str, Any]) -> None:
    state = copy.deepcopy(base_state)
    names = [p["name"] for p in state["speakers"] if p["present"]][:3]
    for p, since in zip([p for p in state["speakers"] if p["present"]], (0.5, 3.0, 12.0)):
        p["since_last_spoke_s"] = since
    page = open_page(browser, role="viewer")
    push(page, state)
    page.locator(".bar-row").nth(2).wait_for()
    meta = meta_of(page)
    assert "speaking now" in meta[names[0]]
    assert "3 s ago" in meta[names[1]] and "12 s ago" in meta[names[2]]  # 3 s: no longer "now"
    finished = with_changes(state, input={**state["input"], "status": "end of input"})
    push(page, finished)  # a replayed recording ran out: the figures are already saved every 2 s
    page.wait_for_function("document.getElementById('banners').textContent.includes('recording has ended')")
    assert "keep these figures" not in page.locator("#banners").inner_text()
    clock = state["clock_s"]
    for status in ("paused", "ended"):
        push(page, with_changes(state, status=status))
        page.wait_for_function("(s) => document.body.dataset.status === s", arg=status)
        meta = meta_of(page)
        assert not any("speaking now" in m for m in meta.values()), (status, meta)
        assert f"last spoke at 0:{round(clock - 0.5):02d}" in meta[names[0]], (status, meta)
    assert not page.errors, page.errors
    page.close()


def test_clock_durations_round_like_the_report(browser: Any, base_state: dict[str, Any]) -> None:
    from tracker.reports.text import clock

    state = copy.deepcopy(base_state)
    group = {"speech_s": 43.648, "silence_s": 5.54, "duration_s": 49.188}  # the QA report's meeting
    state["group"].update(group)
    page = open_page(browser, role="viewer")
    push(page, state)
    page.locator("#figures dd").first.wait_for()
    figures = dict(zip(page.locator("#figures dt").all_inner_texts(), page.locator("#figures dd").all_inner_texts()))
    assert figures["Speech"] == clock(43.648) == "0:44"
    assert figures["Silence"].startswith("0:05 ")  # the report's: the shown 0:49 minus the shown 0:44
    for s in (0.5, 1.5, 2.5, 59.5, 3599.5):  # ties go to the even second, as Python's round()
        assert page.evaluate("(s) => fmtClock(s)", s) == clock(s), s
    assert not page.errors, page.errors
    page.close()


def test_shares_add_up_to_100_like_the_report(browser: Any, base_state: dict[str, Any]) -> None:
    from tracker.reports.figures import whole_percents

    state = copy.deepcopy(base_state)
    present = [p for p in state["speakers"] if p["present"]]
    assert len(present) == 3
    for p in present:  # three equal voices: 33.3 % each
        p.update(talk_time_s=10.0, share=0.333)
    page = open_page(browser, role="viewer")
    push(page, state)
    page.locator(".bar-row").nth(2).wait_for()
    shown = sorted((int(t.rstrip("%")) for t in page.locator(".bar-row .share").all_inner_texts()), reverse=True)
    assert shown == sorted(whole_percents([1 / 3] * 3), reverse=True) == [34, 33, 33]
    assert not page.errors, page.errors
    page.close()


def test_the_warm_up_says_too_early_in_the_header_and_the_panel(browser: Any, base_state: dict[str, Any]) -> None:
    state = copy.deepcopy(base_state)
    state["group"].update({"balance": 0.39, "reading": "dominated by one or two people"})
    page = open_page(browser, role="viewer")
    push(page, state)  # 0:21, within the first minute
    page.locator(".bar-row").first.wait_for()
    assert page.locator("#reading").inner_text() == "too early to tell (first minute)"
    assert "bad" not in (page.locator("#balance").get_attribute("class") or "")
    assert page.locator("#dominant-none").inner_text() == "Nobody yet: too early to tell (first minute)."
    assert page.locator("#quiet-none").inner_text() == "Nobody yet: too early to tell (first minute)."
    push(page, with_changes(state, clock_s=75.0))
    page.wait_for_function("document.getElementById('reading').textContent.startsWith('dominated')")
    assert "bad" in (page.locator("#balance").get_attribute("class") or "")
    assert page.locator("#dominant-none").inner_text() == "Nobody is dominating."
    assert not page.errors, page.errors
    page.close()


def test_overlap_and_interruptions_per_person_or_not_measured(browser: Any, base_state: dict[str, Any]) -> None:
    state = copy.deepcopy(base_state)
    assert state["group"]["overlap_measured"] is True and "overlap_s" in state["speakers"][0]
    first = next(p for p in state["speakers"] if p["present"])
    first.update(overlap_s=3.4, interruptions_made=2, interruptions_suffered=1)
    page = open_page(browser, role="viewer")
    push(page, state)
    page.locator(".bar-row").nth(2).wait_for()
    assert "· overlap 3 s · interrupted others 2×, was interrupted 1×" in meta_of(page)[first["name"]]
    lite = copy.deepcopy(state)
    lite["group"].update(overlap_measured=False, overlap_s=0.0)
    for p in lite["speakers"]:
        p.update(overlap_s=None, interruptions_made=None, interruptions_suffered=None)
    push(page, lite)
    page.wait_for_function("document.getElementById('figures').textContent.includes('not measured')")
    figures = dict(zip(page.locator("#figures dt").all_inner_texts(), page.locator("#figures dd").all_inner_texts()))
    assert figures["Overlap"].startswith("not measured")
    assert not any("overlap" in m or "interrupted" in m for m in meta_of(page).values())
    assert not page.errors, page.errors
    page.close()
