"""Voice profiles on the page, in headless Chromium: a regular named from their profile as they
speak, and a guest's voice kept with their consent (and not kept without it).

``talktime profiles enroll`` makes Alex's profile from the first seconds of meeting3.wav; the
meeting is then replayed with Alex and Blair on the roster (``--roster``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, TOKEN, running

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[1]
MEETING = ROOT / "tests" / "data" / "meeting3.wav"


def talktime(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True, cwd=ROOT)


def is_keep(method: str, url: str) -> bool:
    """A request to keep a voice profile (POST .../speakers/{id}/profile)."""
    return method == "POST" and re.search(r"/api/meetings/[^/]+/speakers/-?\d+/profile$", url) is not None


def wait_until(condition: Callable[[], bool], page: Any, *, what: str, timeout_s: float = 10.0) -> None:
    """Poll ``condition`` while Playwright keeps dispatching the page's events."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        page.wait_for_timeout(100)


def test_profile_badge_and_keep_voice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from playwright.sync_api import expect, sync_playwright

    monkeypatch.setenv("TALKTIME_DATA_DIR", str(tmp_path / "data"))
    enrolled = talktime("profiles", "enroll", "Alex", str(MEETING), "--start", "0.5", "--end", "5.5", "--consent")
    assert enrolled.returncode == 0, enrolled.stderr
    roster = tmp_path / "roster.txt"
    roster.write_text("Alex\nBlair\n")
    with running("--input", str(MEETING), "--roster", str(roster)) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{server}/#code={TOKEN}")
            alex = page.locator(".bar-row", has_text="Alex")
            expect(alex.locator(".badge.profile")).to_have_text("Voice profile", timeout=30_000)
            expect(alex.locator(".keep-voice")).to_have_count(0)  # already a profile
            expect(page.locator("#roster li", has_text="Blair").locator("button.enroll")).to_be_visible()

            guest = page.locator(".bar-row", has_text="Guest").first
            expect(guest).to_be_visible(timeout=40_000)
            expect(guest.locator(".keep-voice")).to_have_count(0)  # an unnamed guest has nothing to keep
            blair = page.locator(f'.bar-row[data-id="{guest.get_attribute("data-id")}"]')
            blair.locator(".edit").click()
            blair.locator("input").fill("Blair")
            blair.locator("input").press("Enter")
            expect(blair.locator(".who")).to_have_text("Blair")

            # Every request the page makes to keep a profile, and the answers to them.
            kept_requests: list[str] = []
            kept_answers: list[int] = []
            page.on("request", lambda r: kept_requests.append(r.url) if is_keep(r.method, r.url) else None)
            page.on("response", lambda r: kept_answers.append(r.status) if is_keep(r.request.method, r.url) else None)
            dialogs: list[str] = []

            def decline(dialog: Any) -> None:
                dialogs.append(dialog.type)
                dialog.dismiss()

            page.once("dialog", decline)  # no consent: nothing is asked of the server, nothing is kept
            blair.locator(".keep-voice").click()
            wait_until(lambda: dialogs == ["confirm"], page, what="the consent question")
            page.wait_for_timeout(1500)  # time for a request the page should not make
            assert kept_requests == [], kept_requests
            expect(page.locator("#enroll-status")).not_to_contain_text("kept")
            assert "Blair" not in talktime("profiles", "list").stdout
            page.once("dialog", lambda d: d.accept())
            with page.expect_response(lambda r: is_keep(r.request.method, r.url)) as answer:
                blair.locator(".keep-voice").click()
            assert answer.value.ok, answer.value.text()
            expect(page.locator("#enroll-status")).to_have_text("Blair's voice profile is kept.")
            speaker = blair.get_attribute("data-id")
            assert len(kept_requests) == 1 and kept_requests[0].endswith(f"/speakers/{speaker}/profile"), kept_requests
            assert len(kept_answers) == 1 and 200 <= kept_answers[0] < 300, kept_answers
            assert not errors, errors
        finally:
            browser.close()
    listed = talktime("profiles", "list")
    assert listed.returncode == 0, listed.stderr
    assert "Alex" in listed.stdout and "Blair" in listed.stdout
    assert os.path.exists(tmp_path / "data")
