"""Bad flags and ``TALKTIME_*`` variables, as a user types them: one line saying what was expected,
exit 2, no traceback, and nothing analysed or started first."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from api.settings import SettingsError, settings_from_args
from conftest import DATA, REPO


def talktime(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TALKTIME_")}
    return subprocess.run([sys.executable, "-m", "cli", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, env={**clean, **(env or {})}, timeout=120)


def one_line(proc: subprocess.CompletedProcess[str], expected: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr == f"talktime: {expected}\n", proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize(
    "argv, env, expected",
    [
        (["--port", "abc"], {}, "--port expected an integer from 1 to 65535, got 'abc'"),
        (["--port", "99999"], {}, "--port expected an integer from 1 to 65535, got '99999'"),
        (["--auto-end-after", "-3"], {}, "--auto-end-after expected a number of at least 0, got '-3'"),
        (["--title", "x" * 5000], {}, "--title expected text of 1 to 120 characters, got 5000 characters"),
        ([], {"TALKTIME_PORT": "xyz"}, "TALKTIME_PORT expected an integer from 1 to 65535, got 'xyz'"),
        (["--port", "8001"], {"TALKTIME_LOG_LEVEL": "loud"},
         "TALKTIME_LOG_LEVEL expected one of debug, info, warning, error, got 'loud'"),
    ],
)
def test_a_bad_run_flag_or_variable_is_one_line(argv: list[str], env: dict[str, str], expected: str) -> None:
    one_line(talktime("run", *argv, env=env), expected)


def test_the_service_says_the_same() -> None:
    proc = talktime("service", "print", "--port", "abc")
    assert proc.returncode == 1 and proc.stderr == (
        "talktime: ServiceError: the run flags are not valid: --port expected an integer from 1 to 65535, got 'abc'\n")


def test_a_flag_beats_a_bad_variable_and_several_problems_share_the_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TALKTIME_PORT", "xyz")
    assert settings_from_args(argparse.Namespace(port=8001)).port == 8001
    with pytest.raises(SettingsError) as caught:
        settings_from_args(argparse.Namespace(code="abc", retry_s=0))
    assert str(caught.value) == ("TALKTIME_PORT expected an integer from 1 to 65535, got 'xyz'; "
                                 "--code expected text of at least 6 characters, got 'abc'; "
                                 "--retry-s expected a number above 0, got 0")


@pytest.mark.parametrize(
    "option, where, expected",
    [
        ("--json", "somedir", "--json expected a file name, got the folder {tmp}/somedir"),
        ("--rttm", "missing/out.rttm", "--rttm expected a file in an existing folder, got {tmp}/missing/out.rttm "
                                       "(no folder {tmp}/missing)"),
        ("--rttm", "/proc/nope.rttm", "--rttm expected a file in a writable folder, got /proc/nope.rttm "
                                      "(/proc: No such file or directory)"),
    ],
)
def test_analyze_checks_its_outputs_before_analysing(tmp_path: Path, option: str, where: str, expected: str) -> None:
    (tmp_path / "somedir").mkdir()
    out = where if where.startswith("/") else tmp_path / where
    one_line(talktime("analyze", DATA / "meeting2.wav", option, out), expected.format(tmp=tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["somedir"]  # the check leaves nothing behind



def test_an_existing_file_is_checked_by_its_own_permission(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An output that exists is written in place: /dev/null or a file in a folder the user may not add to
    are fine, and nothing is created beside them to find out (the probe is for new files only)."""
    from cli import common as cli

    probes: list[object] = []

    def folder_not_writable(**kwargs: object) -> None:
        probes.append(kwargs["dir"])
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cli.tempfile, "NamedTemporaryFile", folder_not_writable)
    assert cli.check_output_path("/dev/null", "--json") == Path("/dev/null")
    existing = tmp_path / "out.json"
    existing.write_text("{}")
    assert cli.check_output_path(str(existing), "--json") == existing
    assert probes == []
    with pytest.raises(cli.UsageError, match="expected a file in a writable folder"):
        cli.check_output_path(str(tmp_path / "new.json"), "--json")  # a new file: the probe runs
    assert probes == [tmp_path]
