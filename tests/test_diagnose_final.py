"""scripts/diagnose_final.py run as a user runs it, on the repository's own meeting (no ../shared)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from conftest import eval_folder, run_diagnosis

pytestmark = pytest.mark.models

POOLED = re.compile(r"POOLED .*?: (live.*?) ([\d.]+) pp \((\d+) of 1 counts right\), final ([\d.]+) pp .* "
                    r"best assignment ([\d.]+) pp")


def run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_diagnosis("diagnose_final.py", folder, *args)


def test_live_assignment_settings_are_replayed_from_the_cached_windows(tmp_path: Path) -> None:
    plain = run(eval_folder(tmp_path))
    assert plain.returncode == 0, plain.stderr
    base = POOLED.search(plain.stdout)
    assert base, plain.stdout
    # The default setting, replayed: exactly the live run's figures.
    same = run(tmp_path, "--set", "diarization.assign_threshold=0.8")
    assert same.returncode == 0, same.stderr
    again = POOLED.search(same.stdout)
    assert again and again.group(1).startswith("live re-run with diarization.assign_threshold=0.8")
    assert again.groups()[1:] == base.groups()[1:]
    # Another setting changes the live labels (one voice for everyone: a larger error), not the best assignment.
    other = run(tmp_path, "--set", "diarization.assign_threshold=0.01")
    assert other.returncode == 0, other.stderr
    changed = POOLED.search(other.stdout)
    assert changed and float(changed.group(2)) > float(base.group(2)) and changed.group(5) == base.group(5)


def test_settings_that_change_the_windows_are_refused(tmp_path: Path) -> None:
    (tmp_path / "wav").mkdir()
    proc = run(tmp_path, "--set", "diarization.window_s=2.4")
    assert proc.returncode == 2 and "expected reclustering.FIELD=VALUE or diarization.FIELD=VALUE" in proc.stderr
