"""The ``talktime`` command, run as a user runs it: a subprocess, judged by exit code and output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import DATA, REPO, PulseServer
from fakes import load_rttm
from tracker.audio import SAMPLE_RATE

TALKTIME = Path(sys.executable).parent / "talktime"  # the console script pip installed


def talktime(*args: str | Path, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *map(str, args)],
        cwd=REPO, capture_output=True, text=True, env=env, timeout=timeout,
    )


def assert_clean_failure(proc: subprocess.CompletedProcess[str], error_type: str, *phrases: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"talktime: {error_type}: "), proc.stderr
    for p in phrases:
        assert p in proc.stderr


@pytest.mark.models
def test_analyze_prints_a_table_and_writes_rttm_and_json(tmp_path: Path) -> None:
    rttm, js = tmp_path / "out.rttm", tmp_path / "out.json"
    proc = talktime("analyze", DATA / "meeting2.wav", "--mode", "live", "--rttm", rttm, "--json", js)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("meeting2.wav: 0:30 analysed (live mode, neural engine)")
    assert lines[1].split() == ["speaker", "talk", "share", "turns", "longest", "overlap", "interrupts", "interrupted"]
    rows = [x for x in lines[3:] if x.startswith("Guest ")]
    assert len(rows) >= 2
    assert "balance" in lines[-1]

    data = json.loads(js.read_text())
    assert data["mode"] == "live" and data["sample_rate"] == SAMPLE_RATE
    assert data["duration_s"] == pytest.approx(sf.info(str(DATA / "meeting2.wav")).duration, abs=0.05)
    assert {"speakers", "group", "segments", "file"} <= set(data)
    assert data["background_s"] == 0.0 and "not counted" not in proc.stdout  # nobody talks behind this meeting
    assert f"; balance {round(100 * data['group']['balance'])}: " in lines[-1]  # 0-100, as on the dashboard
    assert sum(s["share"] for s in data["speakers"]) == pytest.approx(1.0)
    # The share column: the whole percents the dashboard and the report show, adding up to 100.
    from tracker.stages.display import whole_percents

    counted = [s for s in data["speakers"] if s["present"]]
    shown = {r.split()[0] + " " + r.split()[1]: r.split()[3] for r in lines[3:] if r.startswith("Guest ")}
    assert [shown[s["name"]] for s in counted] == [f"{p}%" for p in whole_percents([s["share"] for s in counted])]
    assert sum(int(shown[s["name"]].rstrip("%")) for s in counted) == 100
    assert "overlap_measured" in data["group"]
    assert all({"overlap_s", "interruptions_made", "interruptions_suffered"} <= set(s) for s in data["speakers"])
    seg_total = sum(s["end_s"] - s["start_s"] for s in data["segments"])

    fields = [line.split() for line in rttm.read_text().splitlines()]
    assert fields and all(len(f) == 10 and f[0] == "SPEAKER" and f[1] == "meeting2" for f in fields)
    assert all(f[5] == f[6] == f[8] == f[9] == "<NA>" and f[2] == "1" for f in fields)
    assert {f[7] for f in fields} == {f"speaker{s['speaker'] + 1}" for s in data["segments"]}
    assert sum(b - a for _, a, b in load_rttm(rttm)) == pytest.approx(seg_total, abs=0.01 * len(fields))


def test_console_script_is_installed() -> None:
    proc = subprocess.run([str(TALKTIME), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "analyze" in proc.stdout and "devices" in proc.stdout


def _make(kind: str, tmp_path: Path) -> Path:
    if kind == "missing file":
        return tmp_path / "absent.wav"
    if kind == "directory":
        return tmp_path
    path = tmp_path / f"{kind.replace(' ', '_')}.wav"
    if kind == "empty file":
        path.touch()
    elif kind == "corrupt file":
        path.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + np.random.default_rng(1).bytes(3_000))
    return path


@pytest.mark.parametrize(
    ("kind", "phrase"),
    [("missing file", "no such file"), ("directory", "is not a file"), ("empty file", "is empty"),
     ("corrupt file", "cannot decode")],
)
def test_bad_inputs_fail_cleanly(tmp_path: Path, kind: str, phrase: str) -> None:
    proc = talktime("analyze", _make(kind, tmp_path))
    assert_clean_failure(proc, "AudioInputError", phrase, "expected")
    assert proc.returncode == 1


@pytest.mark.models
def test_a_silent_recording_says_there_is_no_speech(tmp_path: Path) -> None:
    path = tmp_path / "quiet_room.wav"
    sf.write(str(path), np.zeros(3 * SAMPLE_RATE, np.float32), SAMPLE_RATE)
    assert_clean_failure(talktime("analyze", path), "NoSpeechError", "no speech found", "expected a recording")


@pytest.mark.models
def test_a_44k_stereo_flac_works_with_a_notice(tmp_path: Path, sox: Callable[..., None]) -> None:
    path = tmp_path / "meeting2.flac"
    sox(DATA / "meeting2.wav", "-r", "44100", "-c", "2", path, "trim", "0", "15")
    proc = talktime("analyze", path)
    assert proc.returncode == 0, proc.stderr
    assert "notice: meeting2.flac: resampling 44100 Hz to 16000 Hz" in proc.stderr
    assert "notice: meeting2.flac: mixing 2 channels down to mono" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout.startswith("meeting2.flac: 0:15 analysed (final mode, neural engine)")


def test_usage_errors_exit_2() -> None:
    assert talktime().returncode == 2
    proc = talktime("analyze", DATA / "meeting2.wav", "--mode", "fast")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_verbose_shows_the_traceback(tmp_path: Path) -> None:
    proc = talktime("-v", "analyze", tmp_path / "absent.wav")
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "AudioInputError" in proc.stderr


@pytest.mark.audio
def test_devices_lists_the_pulse_device(pulse_server: PulseServer) -> None:
    proc = talktime("devices", env=dict(os.environ, **pulse_server.env))
    assert proc.returncode == 0, proc.stderr
    microphones, calls = proc.stdout.split("\n\n")
    header, rule, *rows = microphones.splitlines()
    assert header.split() == ["index", "name", "api", "channels", "rate"]
    assert f"{pulse_server.sink}.monitor" in calls and "monitor (what an output plays)" in calls  # for --call-device
    names = [r.split()[2] if r.startswith("*") else r.split()[1] for r in rows]
    assert "pulse" in names
    assert any(r.startswith("*") for r in rows)  # the default input is marked


def test_devices_without_any_capture_device(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE")}
    env["XDG_RUNTIME_DIR"] = str(tmp_path)  # no sound server here, and no sound card in the machine
    if Path("/dev/snd").exists():
        pytest.skip("this machine has a sound card")
    proc = talktime("devices", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "no audio input devices found (expected a microphone or capture device)"
