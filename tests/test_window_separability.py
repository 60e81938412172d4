"""scripts/window_separability.py: its error rate on known scores, and run as a user runs it on the
repository's own meeting (no ../shared)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pyannote.core import Annotation, Segment

from conftest import DATA, REPO

sys.path.insert(0, str(REPO / "scripts"))

from window_separability import equal_error_rate, owner  # noqa: E402


def test_equal_error_rate_of_known_scores() -> None:
    assert equal_error_rate(np.array([0.8, 0.9]), np.array([0.3, 0.4])) == 0.0  # a threshold between: no error
    same, diff = np.linspace(0.5, 0.9, 101), np.linspace(0.5, 0.9, 101)
    assert equal_error_rate(same, diff) == pytest.approx(0.5, abs=0.01)  # the same scores: chance
    # A quarter of each side on the wrong side of 0.6: 25 %.
    assert equal_error_rate(np.array([0.5, 0.7, 0.8, 0.9]), np.array([0.3, 0.4, 0.5, 0.65])) == 0.25


def test_a_window_belongs_to_the_one_person_who_has_it_to_themselves() -> None:
    ref = Annotation()
    ref[Segment(0.0, 2.0)] = "ada"
    ref[Segment(1.9, 4.0)] = "bob"
    assert owner(ref, 0.0, 1.6) == "ada"
    assert owner(ref, 1.5, 3.1) is None  # both talk in it
    assert owner(ref, 2.2, 3.8) == "bob"
    assert owner(ref, 5.0, 6.6) is None  # nobody


@pytest.mark.models
def test_run_on_a_recorded_meeting(tmp_path: Path) -> None:
    for sub, ext in (("wav", "wav"), ("rttm", "rttm")):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / f"meeting3.{ext}").symlink_to(DATA / f"meeting3.{ext}")
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "window_separability.py"), str(tmp_path),
                           "--cache", str(tmp_path / "cache"), "--per-file"],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    pooled = re.search(r"POOLED .* same ([\d.]+)  diff ([\d.]+)  EER\s+([\d.]+) %", proc.stdout)
    assert pooled, proc.stdout
    same, diff, eer = (float(x) for x in pooled.groups())
    assert same > diff and 0 <= eer < 50  # espeak-ng voices: the windows tell them apart
    assert "meeting3" in proc.stdout


def test_a_folder_without_references_is_refused(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "window_separability.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 2 and "expected wav/ and rttm/ folders" in proc.stderr
