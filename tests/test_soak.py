"""scripts/soak.py: a brief run (0.1 h of tests/data clips) through the live path, as in CI.

The full 8-hour run is done by hand (README, "Long meetings").
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import DATA

ROOT = Path(__file__).resolve().parents[1]


def test_a_brief_soak_reports_memory_cpu_delay_and_report_times(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    r = subprocess.run([sys.executable, "scripts/soak.py", "--hours", "0.1", "--clips", str(DATA), "--no-check",
                        "--data-dir", str(tmp_path / "data"), "--json", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "targets:" in r.stdout
    s = json.loads(out.read_text())
    assert abs(s["hours"] - 0.1) < 0.001
    assert len(s["rows"]) >= 4 and all(row["rss_mb"] > 100 for row in s["rows"])
    assert 0 < s["cpu_share"] < 1 and s["busy_share"] > 0  # CPU seconds per audio second; busy is wall time
    shown, final = s["delay_shown_s"], s["delay_final_s"]
    assert s["segments_released"] > 100
    assert 0 <= shown["p50"] <= shown["p95"] <= final["p95"] < 10
    assert s["snapshots"] > 0.1 * 3600 / 0.4 * 0.9  # at least the heartbeat's rate, in audio time
    assert s["stored_segments"] > 0 and (tmp_path / "data" / "report.pdf").stat().st_size > 0
    assert 0 < s["report_html_s"] < 60 and 0 < s["report_pdf_s"] < 60
    assert set(s["checks"]) == {"rss_growth_mb", "cpu_share", "delay_p95_s", "report_s", "shown_drop_s"}
    assert s["largest_drop_s"] == 0.0, "a listed person's shown talk time went down"


def test_soak_rejects_a_meaningless_length() -> None:
    r = subprocess.run([sys.executable, "scripts/soak.py", "--hours", "0"], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and "--hours expected > 0" in r.stderr
