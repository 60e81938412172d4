"""A hybrid meeting as the room sees it: ``talktime run --input ROOM --call-input CALL`` and the page.

The room recording holds the call's echo (scripts/make_hybrid.py: two people in the room, two on the
call, the call at -3 dB and 150 ms in the room). Replayed in real time side by side like a microphone
and the speakers' monitor, the page must show four people, the two on the call marked remote, and
the in-room/remote split.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, CODE, TOKEN, get_json, running

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[1]


def test_remote_people_are_marked_and_counted_once(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    made = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_hybrid.py"), "--out", str(tmp_path), "--turns", "8"],
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    with running("--input", str(tmp_path / "room.wav"), "--call-input", str(tmp_path / "call.wav")) as server, \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{server}/#code={CODE}")
            expect(page.locator(".bar-row .badge.remote")).to_have_count(2, timeout=60_000)
            expect(page.locator("body")).to_have_attribute("data-status", "running")
            expect(page.locator("#input-status")).to_contain_text("call call.wav")
            figures = page.locator("#figures")
            expect(figures).to_contain_text("In the room")
            expect(figures).to_contain_text("(2 people)")
            expect(page.locator(".bar-row")).to_have_count(4, timeout=30_000)
            state = get_json(f"{server}/api/state", TOKEN)
            people = [s for s in state["speakers"] if s["present"]]
            assert sorted(s["remote"] for s in people) == [False, False, True, True], people
            assert {s["name"] for s in people if s["remote"]} == {"Remote 1", "Remote 2"}
            assert state["input"]["call"] == "ok"
            assert not errors, errors
        finally:
            browser.close()
