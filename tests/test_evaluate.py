"""scripts/evaluate.py on a slice of the shared development set (skipped when ../shared is absent)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, SHARED_EVAL

pytestmark = [pytest.mark.shared, pytest.mark.models]

DEV = SHARED_EVAL / "dev"
URIS = ["ami-mix_ES2003a_0000-0030", "pyannote_sample_phonecall"]


def test_evaluate_scores_a_folder(tmp_path: Path) -> None:
    for sub in ("wav", "rttm"):
        (tmp_path / sub).mkdir()
    for uri in URIS:
        (tmp_path / "wav" / f"{uri}.wav").symlink_to(DEV / "wav" / f"{uri}.wav")
        (tmp_path / "rttm" / f"{uri}.rttm").symlink_to(DEV / "rttm" / f"{uri}.rttm")
    uem = [line for line in (DEV / "all.uem").read_text().splitlines() if line.split()[0] in URIS]
    (tmp_path / "all.uem").write_text("\n".join(uem) + "\n")
    out = tmp_path / "scores.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "evaluate.py"), str(tmp_path), "--mode", "both", "--json", str(out)],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1].startswith("POOLED")
    figures = json.loads(out.read_text())
    assert figures["engine"] == "lite" and set(figures["modes"]) == {"live", "final"}
    for mode in ("live", "final"):
        rows, pooled = figures["modes"][mode]["files"], figures["modes"][mode]["pooled"]
        assert [r["uri"] for r in rows] == URIS
        for r in [*rows, pooled]:
            assert 0 <= r["miss"] <= 100 and 0 <= r["der"] <= 200 and r["rtf"] > 0
            assert 0 <= r["tvd"] <= 100 and 0 <= r["tvd_shown"] <= 100 and 0 <= r["phantom"] <= 100
        assert [r["people"] for r in rows] == [2, 2]
        assert all(r["voices"] >= 1 for r in rows)
        assert pooled["people"] == 4 and pooled["files"] == 2
        assert min(r["tvd"] for r in rows) <= pooled["tvd_weighted"] <= max(r["tvd"] for r in rows)


def test_evaluate_explains_an_empty_folder(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "evaluate.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 2 and "expected a folder laid out like ../shared/eval/dev" in proc.stderr
