"""``talktime service``: the systemd unit, written where a test can read it; and the room service's
life as a subprocess: talk starts a meeting, the log says so, ``kill -9`` and a restart recover it."""

from __future__ import annotations

import getpass
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


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without ``TALKTIME_*`` and ``SUDO_USER`` (they change the unit), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALKTIME_") and k != "SUDO_USER"}
    return {**env, **extra}


def talktime(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=REPO, capture_output=True, text=True,
                          env=env or clean_env(), timeout=120)


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
    system = talktime("service", "print", "--system", "--user", "daemon").stdout
    for line in ("ProtectSystem=strict", "StateDirectory=talktime", "DeviceAllow=char-alsa rw", "SupplementaryGroups=audio",
                 "WantedBy=multi-user.target"):
        assert line in system.splitlines()
    assert "--data-dir /var/lib/talktime" in system


def test_install_writes_a_valid_unit_and_says_how_to_enable_it(tmp_path: Path) -> None:
    env = clean_env(TALKTIME_UNIT_DIR=str(tmp_path / "env-units"))
    proc = talktime("service", "install", "--auto-end-after", "30", env=env)
    assert proc.returncode == 0, proc.stderr
    unit = tmp_path / "env-units" / "talktime.service"
    # systemd does not read that folder: enabling it by its full path links it in
    assert f"wrote {unit}" in proc.stdout and f"systemctl --user enable --now {unit}\n" in proc.stdout
    assert "loginctl enable-linger" in proc.stdout
    assert "--auto-end-after 30" in unit.read_text()
    proc = talktime("service", "install", "--system", "--user", "daemon", "--unit-dir", str(tmp_path / "system"))
    assert proc.returncode == 0, proc.stderr
    assert f"sudo systemctl enable --now {tmp_path / 'system' / 'talktime.service'}\n" in proc.stdout
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


def _user_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr
    return next(line for line in proc.stdout.splitlines() if line.startswith("User="))


def test_the_system_unit_runs_as_the_account_that_ran_sudo_and_never_root_unasked() -> None:
    as_root = os.geteuid() == 0
    proc = talktime("service", "print", "--system", env=clean_env(SUDO_USER="daemon"))
    assert _user_line(proc) == f"User={'daemon' if as_root else getpass.getuser()}"
    assert _user_line(talktime("service", "print", "--system", "--user", "daemon")) == "User=daemon"
    assert _user_line(talktime("service", "print", "--system", "--user=root")) == "User=root"  # asked by name
    if as_root:  # root without sudo, or sudo from root: refused with the way out
        for env in (clean_env(), clean_env(SUDO_USER="root")):
            proc = talktime("service", "print", "--system", env=env)
            assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
            assert "would run as root" in proc.stderr and "--user NAME" in proc.stderr and not proc.stdout
    proc = talktime("service", "print", "--system", "--user", "no-such-account-here")
    assert proc.returncode == 1 and "no account named 'no-such-account-here'" in proc.stderr
    proc = talktime("service", "print", "--user", "daemon")  # a user unit runs as whoever installs it
    assert proc.returncode == 1 and "--user expected --system" in proc.stderr


def test_talktime_variables_are_written_into_the_unit_as_flags(tmp_path: Path) -> None:
    env = clean_env(TALKTIME_DATA_DIR="/srv/talk data", TALKTIME_PORT="9100", TALKTIME_SAVE="false",
                    TALKTIME_TOKEN="secret-facilitator-token", TALKTIME_TITLE="Room 2")
    proc = talktime("service", "print", "--port", "9200", env=env)
    assert proc.returncode == 0, proc.stderr
    exec_start = next(line for line in proc.stdout.splitlines() if line.startswith("ExecStart="))
    assert exec_start.endswith(' run --port 9200 "--data-dir=/srv/talk data" --no-save "--title=Room 2"'), exec_start
    assert "9100" not in proc.stdout  # the flag wins, as in `talktime run`
    assert "secret-facilitator-token" not in proc.stdout  # a unit file is readable by every account
    assert "TALKTIME_TOKEN is not written into the unit" in proc.stderr and "service.env" in proc.stderr
    proc = talktime("service", "install", "--system", "--user", "daemon", "--unit-dir", str(tmp_path),
                    env=clean_env(TALKTIME_DATA_DIR="/srv/talk"))
    assert proc.returncode == 0, proc.stderr
    unit = (tmp_path / "talktime.service").read_text().splitlines()
    assert "ReadWritePaths=/srv/talk" in unit and "EnvironmentFile=-/etc/talktime/service.env" in unit
    assert next(line for line in unit if line.startswith("ExecStart=")).endswith(" run --data-dir=/srv/talk")
    assert "sudo install -d -m 700 -o daemon /srv/talk" in proc.stdout  # the sandbox cannot create it
    proc = talktime("service", "print", env=clean_env(TALKTIME_PORT="xyz"))
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and not proc.stdout, proc.stderr


def test_install_in_systemds_own_folder_enables_the_unit_by_name(tmp_path: Path) -> None:
    proc = talktime("service", "install", env=clean_env(XDG_CONFIG_HOME=str(tmp_path / "config")))
    assert proc.returncode == 0, proc.stderr
    unit = tmp_path / "config" / "systemd" / "user" / "talktime.service"
    assert f"wrote {unit}" in proc.stdout and unit.is_file()
    assert "systemctl --user enable --now talktime.service\n" in proc.stdout and "does not read" not in proc.stdout


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
        assert row == (None,)  # restarted within --resume-within: the same meeting goes on, at once
        state = _state(base)
        assert state["status"] == "running" and state["meeting_id"] == meeting_id
        assert isinstance(state["restart"], dict) and state["restart"]["continued"]
        new_id = meeting_id
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
        [sys.executable, "-m", "cli", "run", "--input", str(REPO / "tests" / "data" / "meeting3.wav"),
         "--host", "127.0.0.1", "--port", str(free_port()), "--data-dir", str(tmp_path), "--log-level", "error"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.startswith("talktime: StoreError: cannot write") and proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_paths_given_relative_to_here_are_written_absolute() -> None:
    """systemd starts the service in /, so a relative --input, --roster or --data-dir would name another file."""
    proc = talktime("service", "print", "--input", "tests/data/meeting3.wav", "--data-dir=room-data", "--title", "data")
    assert proc.returncode == 0, proc.stderr
    exec_start = next(line for line in proc.stdout.splitlines() if line.startswith("ExecStart="))
    assert f"--input {REPO / 'tests' / 'data' / 'meeting3.wav'} " in exec_start
    assert f"--data-dir={REPO / 'room-data'}" in exec_start
    assert "--title data" in exec_start  # a value that is not a path stays as it is
    from_env = talktime("service", "print", env=clean_env(TALKTIME_DATA_DIR="room-data"))
    assert from_env.returncode == 0, from_env.stderr
    assert f"--data-dir={REPO / 'room-data'}" in from_env.stdout  # a variable's path too


def _refused(proc: subprocess.CompletedProcess[str], *expected: str) -> None:
    """Exit 1, one line of error naming what was expected, and no unit on standard output."""
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and not proc.stdout, proc.stdout + proc.stderr
    assert proc.stderr.startswith("talktime: ServiceError: ") and all(e in proc.stderr for e in expected), proc.stderr


def test_a_control_character_in_a_value_is_refused_wherever_it_would_go_into_the_unit(tmp_path: Path) -> None:
    """A newline would end the directive, and the rest of the value would be read as another one."""
    injected = "a\nExecStartPre=/usr/bin/id"
    no_control = "expected a value without control characters"
    _refused(talktime("service", "print", "--title", injected), "--title " + no_control, repr(injected))
    _refused(talktime("service", "print", f"--title={injected}"), "--title " + no_control)
    _refused(talktime("service", "print", "--title", "tab\there"), "--title " + no_control)
    _refused(talktime("service", "print", "--data-dir", "/srv/del\x7f"), "--data-dir " + no_control)
    _refused(talktime("service", "print", env=clean_env(TALKTIME_TITLE=injected)), "TALKTIME_TITLE " + no_control)
    _refused(talktime("service", "install", "--system", "--user", "root", "--unit-dir", str(tmp_path),
                      "--data-dir", "/srv/t\nx"), "--data-dir " + no_control)
    _refused(talktime("service", "print", "--system", "--user", "root", env=clean_env(TALKTIME_DATA_DIR="/srv/t\nx")),
             "TALKTIME_DATA_DIR " + no_control)
    assert not (tmp_path / "talktime.service").exists()
    from cli.service import ServiceError, unit_text  # the unit's other values, given by a caller

    exe = Path(sys.executable).parent / "talktime"
    with pytest.raises(ServiceError, match="User= expected a value without control characters"):
        unit_text([], system=True, executable=exe, user="daemon\nExecStartPre=/usr/bin/id")
    with pytest.raises(ServiceError, match="the talktime command .* expected a value without control characters"):
        unit_text([], executable=Path("/opt/talk\ntime"))
    with pytest.raises(ServiceError, match="--data-dir expected a value without control characters"):
        unit_text(["--data-dir", "/srv/t\rx"], system=True, executable=exe, user="daemon")
    assert "ReadWritePaths=/srv/t x" not in unit_text(["--data-dir", "/srv/t x"], system=True, executable=exe,
                                                      user="daemon")  # a space is quoted, not refused
    assert 'ReadWritePaths="/srv/t x"' in unit_text(["--data-dir", "/srv/t x"], system=True, executable=exe,
                                                    user="daemon")


@pytest.mark.parametrize("flags", [["--code", "viewer-code-1"], ["--token=facilitator-token-1"]])
def test_the_code_and_token_as_flags_are_refused_with_the_environment_file_to_use(flags: list[str]) -> None:
    """A unit is readable by every account (0644), and ps shows the command line of the running tracker."""
    variable = "TALKTIME_" + flags[0][2:].split("=")[0].upper()
    _refused(talktime("service", "print", *flags), "is not written into the unit", f"put {variable}=... in "
             "~/.config/talktime/service.env")
    _refused(talktime("service", "print", "--system", "--user", "daemon", *flags), "/etc/talktime/service.env")


def test_a_variable_that_starts_with_a_dash_stays_a_value() -> None:
    """``--title -weekly`` is refused by `talktime run` (expected one argument): the unit would fail at every boot."""
    proc = talktime("service", "print", env=clean_env(TALKTIME_TITLE="-weekly", TALKTIME_INPUT="-x.wav"))
    assert proc.returncode == 0, proc.stderr
    exec_start = next(line for line in proc.stdout.splitlines() if line.startswith("ExecStart="))
    assert " --title=-weekly" in exec_start and f" --input={REPO / '-x.wav'}" in exec_start, exec_start
    words = exec_start.removeprefix("ExecStart=").split()
    from cli.service import _check_run_args

    _check_run_args(words[2:])  # what `talktime run` gets at boot parses


@pytest.mark.parametrize("flags, meant", [(["--inp", "rel.wav"], "--input"), (["--data", "rel"], "--data-dir"),
                                          (["--po", "8001"], "--port"), (["--po=8001"], "--port")])
def test_an_abbreviated_flag_is_refused_with_the_flag_meant(flags: list[str], meant: str) -> None:
    """Abbreviations were neither made absolute nor seen as the flag (an environment value or the default
    --data-dir was added after them and won); `talktime run` refuses them too."""
    _refused(talktime("service", "print", *flags, env=clean_env(TALKTIME_PORT="9000")),
             f"expected flags of `talktime run` written in full, got {flags[0].split('=')[0]}", f"did you mean {meant}")
    run = talktime("run", *flags)
    assert run.returncode == 2 and "unrecognized arguments" in run.stderr, run.stderr


def test_the_services_own_flags_are_not_abbreviated_either() -> None:
    _refused(talktime("service", "print", "--sys"), "unrecognized arguments: --sys")
