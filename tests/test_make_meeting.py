"""The synthetic meeting generator: deterministic, and the committed fixtures are what it makes."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from conftest import DATA, REPO
from fakes import load_rttm

SCRIPT = REPO / "scripts" / "make_meeting.py"


@pytest.fixture(scope="module")
def mm() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_meeting", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_meeting"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def make(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=120)


def test_speech_regions_split_at_long_pauses_only(mm: ModuleType) -> None:
    rate = mm.SAMPLE_RATE
    x = np.zeros(3 * rate)
    t = np.arange(3 * rate) / rate
    for a, b in [(0.2, 0.8), (0.9, 1.2), (1.8, 2.5)]:  # a 0.1 s pause, then a 0.6 s one
        x[int(a * rate) : int(b * rate)] = 0.3 * np.sin(2 * np.pi * 200 * t[int(a * rate) : int(b * rate)])
    regions = [(s / rate, e / rate) for s, e in mm.speech_regions(x)]
    assert regions == [pytest.approx((0.2, 1.2), abs=0.011), pytest.approx((1.8, 2.5), abs=0.011)]
    assert mm.speech_regions(np.zeros(rate)) == []


def test_committed_fixtures_are_reproducible(tmp_path: Path) -> None:
    """tests/data/README.md gives the commands; they must still make the committed files."""
    for line in (DATA / "README.md").read_text().splitlines():
        if "made by `python scripts/make_meeting.py" not in line:
            continue
        command = line.split("made by `")[1].rstrip("`")
        args = command.split()[2:]
        args[args.index("--out") + 1] = str(tmp_path)
        proc = make(*args)
        assert proc.returncode == 0, proc.stderr
    made = sorted(p.name for p in tmp_path.iterdir())
    assert made == sorted(p.name for p in DATA.iterdir() if p.suffix in (".wav", ".rttm"))
    for name in made:
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), (
            f"{name} differs from the committed fixture (espeak-ng or sox changed?); regenerate with the "
            "commands in tests/data/README.md and check the tests still hold"
        )


def test_fixture_references_are_plausible() -> None:
    for rttm, people in [("meeting3.rttm", 3), ("meeting2.rttm", 2)]:
        turns = load_rttm(DATA / rttm)
        assert len({t[0] for t in turns}) == people
        assert all(0 < a < b for _, a, b in turns)


def test_a_json_script_with_overlap_noise_and_reverb_is_deterministic(tmp_path: Path) -> None:
    script = tmp_path / "standup.json"
    script.write_text(json.dumps({
        "voices": {"ann": {"voice": "en+f4", "pitch": 70, "speed": 170},
                   "bob": {"voice": "en-us+m3", "pitch": 35, "gain_db": -3}},
        "turns": [["ann", "Yesterday I fixed the login page."], ["bob", "Nice work, thank you.", 0.6],
                  ["ann", "Today I start on the reports."]],
    }))
    outs = []
    for k, seed in enumerate([3, 3, 4]):
        out = tmp_path / f"run{k}"
        proc = make("--script", script, "--out", out, "--seed", seed, "--reverb", "40", "--noise-snr", "20",
                    "--readme", out / "README.md")
        assert proc.returncode == 0, proc.stderr
        outs.append(out)
    wav = [(o / "standup.wav").read_bytes() for o in outs]
    assert wav[0] == wav[1] and wav[0] != wav[2]
    turns = load_rttm(outs[0] / "standup.rttm")
    assert {t[0] for t in turns} == {"ann", "bob"}
    bob = min(a for n, a, _ in turns if n == "bob")
    assert bob < max(b for n, a, b in turns if n == "ann" and a < bob)  # bob starts before ann has finished
    readme = (outs[0] / "README.md").read_text()
    assert "`standup.wav`" in readme and "--seed 3 --reverb 40 --noise-snr 20" in readme


def test_bad_arguments(tmp_path: Path) -> None:
    proc = make("meeting9", "--out", tmp_path)
    assert proc.returncode == 2 and "unknown preset 'meeting9'" in proc.stderr
    assert make("--out", tmp_path).returncode == 2
    script = tmp_path / "bad.json"
    script.write_text(json.dumps({"voices": {"ann": {"voice": "en+f4"}}, "turns": [["zed", "Hello."]]}))
    proc = make("--script", script, "--out", tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("make_meeting: ValueError: turn 0 is spoken by 'zed'; expected one of ['ann']")
