"""scripts/diagnose_neural.py run as a user runs it, on the repository's own meeting (no ../shared)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from conftest import eval_folder, run_diagnosis

pytestmark = pytest.mark.models

POOLED = re.compile(r"POOLED final voices (\d+)/(\d+) .* TVD ([\d.]+)")


def run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_diagnosis("diagnose_neural.py", folder, *args)


def test_the_post_meeting_pass_is_replayed_from_the_cached_live_run(tmp_path: Path) -> None:
    plain = run(eval_folder(tmp_path))
    assert plain.returncode == 0, plain.stderr
    base = POOLED.search(plain.stdout)
    assert base and int(base.group(2)) >= 2, plain.stdout
    assert list((tmp_path / "cache").rglob("meeting3.pkl")), "the live run is cached"
    one = run(tmp_path, "--set", "final.merge_threshold=-0.99", "--set", "regroup.threshold=-0.99")  # everyone one voice
    assert one.returncode == 0, one.stderr
    assert POOLED.search(one.stdout).group(1) == "1"  # type: ignore[union-attr]
    voices = run(tmp_path, "--voices")  # from the cache: each voice left, and how alike the pairs are
    assert voices.returncode == 0, voices.stderr
    lines = re.findall(r"^    spk\d+ +([\d.]+) s +[\d.]+ % +(\S+) +closest spk\d+ \(\d+ s\): alike (-?[\d.]+), ([+-][\d.]+) dB$",
                       voices.stdout, re.M)
    assert len(lines) == int(base.group(1)), voices.stdout  # one per counted voice
    assert all(float(talk) >= 2.0 and -1 <= float(alike) <= 1 for talk, _, alike, _ in lines)
    bins = re.findall(r"^ +(?:below 0\.30|[\d.]+-[\d.]+): +(\d+) / +(\d+)$", voices.stdout, re.M)
    n = len(lines)
    assert len(bins) == 5 and sum(int(a) + int(b) for a, b in bins) == n * (n - 1) // 2, voices.stdout


def test_a_setting_the_pass_does_not_read_is_refused(tmp_path: Path) -> None:
    (tmp_path / "wav").mkdir()
    proc = run(tmp_path, "--set", "voices.assign_threshold=0.4")
    assert proc.returncode != 0 and "expected regroup.FIELD=VALUE or final.FIELD=VALUE" in proc.stderr
