"""``talktime service``: the systemd unit, written where a test can read it; and the room service's
life as a subprocess: talk starts a meeting, the log says so, ``kill -9`` and a restart recover it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_cli_store import free_port, get, start_run, stored

REPO = Path(__file__).resolve().parents[1]


def talktime(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tracker.cli", *args], cwd=REPO, capture_output=True, text=True,
                          env=env or os.environ.copy(), timeout=120)


def test_print_gives_a_unit_that_runs_this_talktime_with_the_flags() -> None:
    proc = talktime("service", "print", "--port", "9000", "--start-on-speech", "--title", "Room 2 %weekly")
    assert proc.returncode == 0, proc.stderr
    unit = proc.stdout
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    exe = Path(sys.executable).parent / "talktime"
    assert exec_start.startswith(f"ExecStart={exe.absolute()} run --port 9000 --start-on-speech ")
    assert '--title "Room 2 %%weekly"' in exec_start  # systemd would expand a lone % specifier
    assert "--data-dir /" in exec_start  # its own, explicit data folder
    for line in ("Restart=always", "NoNewPrivileges=yes", "WantedBy=default.target"):
        assert line in unit.splitlines()
    system = talktime("service", "print", "--system").stdout
    for line in ("ProtectSystem=strict", "StateDirectory=talktime", "DeviceAllow=char-alsa rw", "SupplementaryGroups=audio",
                 "WantedBy=multi-user.target"):
        assert line in system.splitlines()
    assert "--data-dir /var/lib/talktime" in system


def test_install_writes_a_valid_unit_and_says_how_to_enable_it(tmp_path: Path) -> None:
    env = dict(os.environ, TALKTIME_UNIT_DIR=str(tmp_path / "env-units"))
    proc = talktime("service", "install", "--auto-end-after", "30", env=env)
    assert proc.returncode == 0, proc.stderr
    unit = tmp_path / "env-units" / "talktime.service"
    assert f"wrote {unit}" in proc.stdout and "systemctl --user enable --now talktime.service" in proc.stdout
    assert "loginctl enable-linger" in proc.stdout
    assert "--auto-end-after 30" in unit.read_text()
    proc = talktime("service", "install", "--system", "--unit-dir", str(tmp_path / "system"))
    assert proc.returncode == 0 and "sudo systemctl enable --now talktime.service" in proc.stdout
    tool = shutil.which("systemd-analyze")
    if tool is not None:  # verified where systemd is installed; it need not be running
        for path in (unit, tmp_path / "system" / "talktime.service"):
            check = subprocess.run([tool, "verify", str(path)], capture_output=True, text=True, timeout=60)
            assert check.returncode == 0 and path.name not in check.stderr, check.stderr


def test_bad_run_flags_fail_at_install_not_at_boot(tmp_path: Path) -> None:
    proc = talktime("service", "install", "--unit-dir", str(tmp_path), "--port", "0")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("talktime: ServiceError: the run flags are not valid")
    proc = talktime("service", "print", "--no-such-flag")
    assert proc.returncode == 1 and "unrecognized arguments: --no-such-flag" in proc.stderr
    assert not (tmp_path / "talktime.service").exists()


# ----------------------------------------------------------------------------- the service's life


def _state(base: str) -> dict[str, object]:
    state: dict[str, object] = get(f"{base}/api/state")
    return state


def _wait(what: str, check: object, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_service_mode_starts_on_talk_survives_kill_9_and_logs(tmp_path: Path) -> None:
    flags = ["--start-on-speech", "--quiet-before-start-s", "5", "--auto-end-after", "10"]
    first, base, printed = start_run(tmp_path, extra=flags)
    try:
        state = _state(base)
        meeting_id = str(state["meeting_id"])
        _wait("talk to start the meeting", lambda: _state(base)["status"] == "running")
        talk = "SELECT coalesce(sum(end_sample - start_sample), 0) FROM segments WHERE meeting_id = ?"
        _wait("speech to be stored", lambda: stored(tmp_path, talk, meeting_id)[0][0] >= 2 * 16_000)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.stdout is not None
    log = "".join(printed) + first.stdout.read()
    assert f"meeting {meeting_id} ready: it starts when someone speaks" in log
    assert f"meeting {meeting_id} started (speech)" in log and "talktime started: dashboard on 127.0.0.1" in log
    assert "audio input opened: file meeting3.wav" in log

    second, base, lines = start_run(tmp_path, extra=flags)
    try:
        assert any(f"recovered meeting {meeting_id[:8]}" in line for line in lines), "".join(lines)
        (row,) = stored(tmp_path, "SELECT end_reason FROM meetings WHERE id = ?", meeting_id)
        assert row == ("interrupted",)
        _wait("talk to start the restarted room's meeting", lambda: _state(base)["status"] == "running")
        new_id = str(_state(base)["meeting_id"])
        assert new_id != meeting_id
        get(f"{base}/api/meetings", method="POST")  # the facilitator's "New meeting"
        after = _state(base)
        assert after["previous_meeting_id"] == new_id and after["meeting_id"] != new_id
        assert get(f"{base}/api/meetings/{new_id}/report?format=json")["meeting"]["end_reason"] == "ended"
        second.send_signal(signal.SIGTERM)  # systemd's stop
        assert second.wait(30) == 0
    finally:
        if second.poll() is None:
            second.kill()
    assert stored(tmp_path, "SELECT end_reason FROM meetings WHERE id = ?", new_id) == [("ended",)]


def test_a_store_that_cannot_record_the_meeting_stops_run_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "live").write_text("not a folder")  # where the live meeting's lock must go
    proc = subprocess.run(
        [sys.executable, "-m", "tracker.cli", "run", "--input", str(REPO / "tests" / "data" / "meeting3.wav"),
         "--host", "127.0.0.1", "--port", str(free_port()), "--data-dir", str(tmp_path), "--log-level", "error"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.startswith("talktime: StoreError: cannot write") and proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
