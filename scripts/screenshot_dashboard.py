#!/usr/bin/env python
"""Take docs/dashboard.png (and a phone-sized docs/dashboard-phone.png) of the live page.

    python scripts/screenshot_dashboard.py [--input FILE] [--at SECONDS] [--ended]

Runs ``talktime run --input FILE`` on 127.0.0.1 (the recording replayed in real time), plays the
facilitator for a moment through the API (an expected attendee, two names, agenda phases) and
photographs the page with Debian's headless chromium ``--at`` seconds into the meeting.
With ``--ended`` it writes docs/dashboard-live.png at ``--at`` instead, then waits for the
recording to run out, ends the meeting and writes docs/dashboard-ended.png.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_INPUT = REPO.parent / "shared" / "eval" / "dev" / "wav" / "ami-mix_EN2009b_0000-0030.wav"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
TOKEN, CODE = "screenshot-token", "demo-code-1234"


def api(base: str, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{base}{path}", data=data, method=method,
                                 headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 - loopback only
        return json.load(r)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", type=Path, default=DEFAULT_INPUT)
    ap.add_argument("--at", type=float, default=27.0, help="seconds into the meeting to take the picture")
    ap.add_argument("--out", type=Path, default=REPO / "docs")
    ap.add_argument("--ended", action="store_true", help="dashboard-live.png, then dashboard-ended.png after the end")
    args = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    cmd = [str(Path(sys.executable).parent / "talktime"), "run", "--input", str(args.input), "--host", "127.0.0.1",
           "--port", str(port), "--token", TOKEN, "--code", CODE, "--warmup-s", "15", "--quiet-after-s", "60",
           "--data-dir", tempfile.mkdtemp(prefix="talktime-screenshot-")]  # not the user's meeting store
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    try:
        from playwright.sync_api import sync_playwright

        for _ in range(600):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1).close()  # noqa: S310
                break
            except OSError:
                time.sleep(0.2)
        mid = api(base, "GET", "/api/state")["meeting_id"]
        api(base, "POST", f"/api/meetings/{mid}/attendees", {"name": "Priya"})
        api(base, "POST", f"/api/meetings/{mid}/phases", {"name": "identify problems"})
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(f"{base}/?code={TOKEN}")
            phone = browser.new_page(viewport={"width": 375, "height": 812}, device_scale_factor=2, is_mobile=True)
            phone.goto(f"{base}/?code={CODE}")
            names, phased = ["Marco", "Ines", "Tomás", "Ada", "Femi"], False
            while (state := api(base, "GET", "/api/state"))["clock_s"] < args.at:
                for s in state["speakers"]:  # the facilitator names each voice as it appears
                    if s["kind"] == "guest" and s["present"] and names:
                        api(base, "PATCH", f"/api/meetings/{mid}/speakers/{s['id']}", {"name": names.pop(0)})
                if not phased and state["clock_s"] >= args.at / 2:
                    api(base, "POST", f"/api/meetings/{mid}/phases", {"name": "brainstorm"})
                    phased = True
                time.sleep(0.2)
            time.sleep(0.5)
            args.out.mkdir(parents=True, exist_ok=True)
            if args.ended:
                written = [args.out / "dashboard-live.png", args.out / "dashboard-ended.png"]
                page.screenshot(path=str(written[0]), full_page=True)
                while api(base, "GET", "/api/state")["input"]["status"] != "end of input":
                    time.sleep(0.5)
                api(base, "POST", f"/api/meetings/{mid}/end")
                page.wait_for_function("document.body.dataset.status === 'ended'")
                time.sleep(1.0)  # the bars' transitions
                page.screenshot(path=str(written[1]), full_page=True)
            else:
                written = [args.out / "dashboard.png", args.out / "dashboard-phone.png"]
                page.screenshot(path=str(written[0]), full_page=True)
                phone.screenshot(path=str(written[1]))
            browser.close()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    print(f"wrote {written[0]} and {written[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
