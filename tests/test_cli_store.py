"""The store's commands as a user runs them (subprocesses, ``TALKTIME_DATA_DIR`` in a temp folder),
bad input, and a live meeting killed with ``kill -9``: continued by a restart soon after, closed and
followed by a new meeting when the restart comes too late."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import DATA, REPO
from store_helpers import meeting, series_of
from tracker.store.storage import STORE_FILE, MeetingStore

Run = Callable[..., subprocess.CompletedProcess[str]]
CODE, TOKEN = "crash-code-1", "crash-token-1"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def talktime(data_dir: Path, tmp_path: Path) -> Run:
    """``talktime(*args)``: the command in a subprocess, with its data folder in ``tmp_path``."""
    env = {**os.environ, "TALKTIME_DATA_DIR": str(data_dir), "COLUMNS": "200"}

    def run(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cli", *map(str, args)], cwd=tmp_path,
                              capture_output=True, text=True, env=env, timeout=timeout)

    return run


def fails(proc: subprocess.CompletedProcess[str], error_type: str, *phrases: str) -> None:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.startswith(f"talktime: {error_type}: "), proc.stderr
    for p in phrases:
        assert p in proc.stderr, proc.stderr


def seed(data_dir: Path) -> list[str]:
    """Three weekly meetings of one series and one that started 400 days ago; their ids, oldest first."""
    old = meeting(seed=9, title="Kick-off", series=None,
                  started_at=(datetime.now(UTC) - timedelta(days=400)).isoformat(timespec="seconds"))
    with MeetingStore.in_folder(data_dir) as store:
        for rec in [old, *series_of(3)]:
            store.save(rec)
        return [m.id for m in reversed(store.meetings())]


def test_list_report_and_history(talktime: Run, data_dir: Path, tmp_path: Path) -> None:
    old, *weekly = seed(data_dir)
    listed = talktime("meetings")
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()[2:]] == [m[:8] for m in reversed(weekly)] + [old[:8]]
    assert "Weekly sync" in listed.stdout and "ended" in listed.stdout

    html = talktime("report")  # the latest meeting, as an HTML file here
    assert html.returncode == 0 and html.stdout.startswith("wrote talktime-"), html.stderr
    assert (tmp_path / html.stdout.split()[1]).read_text().startswith("<!doctype html>")
    assert talktime("report", weekly[0][:8], "-o", tmp_path / "w.pdf").returncode == 0
    assert (tmp_path / "w.pdf").read_bytes().startswith(b"%PDF")
    assert talktime("report", "-o", tmp_path / "w.csv").returncode == 0  # the format from the suffix
    assert (tmp_path / "w.csv").read_text().startswith("section,item,person_id,person,metric,value")
    data = json.loads(talktime("report", "--format", "json").stdout)
    assert data["meeting"]["id"] == weekly[-1] and len(data["history"]) == 3

    history = talktime("history")
    assert history.returncode == 0 and history.stdout.startswith("Weekly sync: 3 meetings"), history.stderr
    assert "Alex" in history.stdout.splitlines()[1] and "earlier meetings of this series" in history.stdout
    trend = json.loads(talktime("history", "--series", "WEEKLY  sync", "--format", "json").stdout)
    assert [m["meeting_id"] for m in trend["meetings"]] == weekly
    assert talktime("history", "--format", "csv").stdout.startswith("meeting_id,started_at,title,")


def test_retention_forgetting_and_deleting(talktime: Run, data_dir: Path) -> None:
    old, *weekly = seed(data_dir)
    pruned = talktime("prune", "--older-than-days", "365")
    assert pruned.returncode == 0 and pruned.stdout.startswith("deleted 1 meeting "), pruned.stderr
    forgot = talktime("forget-person", "blair")
    assert forgot.returncode == 0 and "from 3 meetings" in forgot.stdout, forgot.stderr
    data = json.loads(talktime("report", "--format", "json").stdout)
    assert "Blair" not in {p["name"] for p in data["people"]} and data["meeting"]["removed_people"] == 1
    fails(talktime("forget-person", "blair"), "LookupError", "nobody named 'blair'")
    short = talktime("delete", weekly[0][:3])  # too little of an id: a typo could match any meeting
    assert short.returncode == 2 and short.stderr == (
        f"talktime: delete expected at least 4 characters of the meeting's id (see `talktime meetings`), "
        f"got '{weekly[0][:3]}'\n"), short.stderr
    deleted = talktime("delete", weekly[0][:4])
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.startswith(f"deleted meeting {weekly[0][:8]} 'Weekly sync' (started ")
    assert deleted.stdout.endswith(f"; id {weekly[0]})\n")
    with MeetingStore.in_folder(data_dir) as store:
        assert [m.id for m in store.meetings()] == list(reversed(weekly[1:]))
    fails(talktime("prune"), "ValueError", "expected --older-than-days N")


def test_bad_input_gets_one_clear_line_and_damages_nothing(talktime: Run, data_dir: Path, tmp_path: Path) -> None:
    fails(talktime("report"), "UnknownMeetingError", "no meetings in", "expected one saved by")
    seed(data_dir)
    fails(talktime("report", "0000dead"), "UnknownMeetingError", "no meeting '0000dead'", "expected an id")
    (tmp_path / "a-file").write_text("x")
    fails(talktime("report", "-o", tmp_path / "a-file" / "r.html"), "ReportError", "does not exist", "expected")
    fails(talktime("report", "-o", tmp_path), "ReportError", "it is a folder", "expected a file name")
    assert talktime("report", "--format", "docx").returncode == 2  # argparse names the choices

    store = data_dir / STORE_FILE
    other = sqlite3.connect(store, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another program is writing
    try:
        fails(talktime("prune", "--older-than-days", "1"), "StoreError", "is locked by another program", "expected")
        assert talktime("meetings").returncode == 0  # reading still works (WAL)
    finally:
        other.execute("ROLLBACK")
        other.close()
    with sqlite3.connect(store) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT count(*) FROM meetings").fetchone()[0] == 4

    junk = b"these are someone's notes, not a database\n" * 100
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / STORE_FILE).write_bytes(junk)
    proc = talktime("meetings", "--data-dir", corrupt)
    fails(proc, "StoreError", "is not a readable talktime store", "expected an SQLite file", "left untouched")
    assert (corrupt / STORE_FILE).read_bytes() == junk


@pytest.mark.models
def test_analyze_save_stores_the_recording_as_a_meeting(talktime: Run, tmp_path: Path) -> None:
    import soundfile as sf

    audio, rate = sf.read(str(DATA / "meeting2.wav"), frames=int(10.2 * 16_000))  # alex, then dana: 10 s is enough
    clip = tmp_path / "meeting2-start.wav"
    sf.write(str(clip), audio, rate)
    proc = talktime("analyze", clip, "--save", "--title", "Design review", "--room", "Room 2",
                    "--started-at", "2026-03-02T11:00+01:00")
    assert proc.returncode == 0, proc.stderr
    assert "saved as meeting" in proc.stdout.splitlines()[-1]
    data = json.loads(talktime("report", "--format", "json").stdout)
    m = data["meeting"]
    assert (m["title"], m["series"], m["room"], m["end_reason"]) == ("Design review", "design review", "Room 2", "analysed")
    assert m["started_at"] == "2026-03-02T10:00:00+00:00" and m["source"] == "file meeting2-start.wav"
    assert m["duration_s"] == pytest.approx(10.2, abs=0.05) and data["group"]["people"] >= 1
    assert data["group"]["speech_s"] > 7
    assert data["confidence"]["engine"] == "neural" and "neural engine" in data["confidence"]["accuracy"]  # the default


# ----------------------------------------------------------------------------- kill -9 and recovery


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, *, method: str = "GET") -> Any:
    req = urllib.request.Request(url, method=method, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 - loopback only
        body = r.read()
    return json.loads(body) if r.headers.get_content_type() == "application/json" else body


def start_run(data_dir: Path, *, extra: Sequence[str] = ()) -> tuple[subprocess.Popen[str], str, list[str]]:
    """``talktime run`` replaying meeting3.wav (plus ``extra`` flags); waits until it answers.
    Returns it, its URL, its output so far (standard output and error)."""
    port = free_port()
    cmd = [sys.executable, "-m", "cli", "run", "--input", str(DATA / "meeting3.wav"), "--host", "127.0.0.1",
           "--port", str(port), "--token", TOKEN, "--code", CODE, "--title", "Crash test", *extra]
    env = {**os.environ, "TALKTIME_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: list[str] = []
    assert proc.stdout is not None
    while not any(line.startswith("  meeting record:") for line in lines):  # printed once the models are loaded
        line = proc.stdout.readline()
        if not line:
            raise AssertionError("talktime run exited early:\n" + "".join(lines))
        lines.append(line)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            get(f"{base}/healthz")
            return proc, base, lines
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise AssertionError("talktime run did not answer /healthz") from None
            time.sleep(0.1)


def stored(data_dir: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{data_dir / STORE_FILE}?mode=ro", uri=True) as db:
        return db.execute(sql, args).fetchall()


def send(base: str, path: str, body: dict[str, Any], *, method: str = "POST") -> Any:
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method=method,
                                 headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 - loopback only
        return json.loads(r.read())


TALK = "SELECT coalesce(sum(end_sample - start_sample), 0) FROM segments WHERE meeting_id = ?"


def killed_meeting(data_dir: Path) -> tuple[str, dict[str, Any]]:
    """``talktime run``, until 3 s of speech are stored and a voice is named, an attendee listed and a
    phase marked; then ``kill -9``. Returns the meeting's id and its last state."""
    first, base, _ = start_run(data_dir)
    try:
        meeting_id = get(f"{base}/api/state")["meeting_id"]
        deadline = time.monotonic() + 60
        while stored(data_dir, TALK, meeting_id)[0][0] < 3 * 16_000:  # 3 s of speech stored
            assert time.monotonic() < deadline, "no speech stored within 60 s"
            time.sleep(0.2)
        voice = min(p["id"] for p in get(f"{base}/api/state")["speakers"] if p["id"] >= 0 and p["talk_time_s"] > 0)
        send(base, f"/api/meetings/{meeting_id}/speakers/{voice}", {"name": "Ada"}, method="PATCH")
        send(base, f"/api/meetings/{meeting_id}/attendees", {"name": "Grace"})
        send(base, f"/api/meetings/{meeting_id}/phases", {"name": "Plans"})
        time.sleep(2.5)  # one flush (2 s) stores them
        state = get(f"{base}/api/state")
        first.send_signal(signal.SIGKILL)  # no chance to save anything more
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    return meeting_id, state


def test_a_killed_meeting_goes_on_after_a_restart(talktime: Run, data_dir: Path) -> None:
    meeting_id, before = killed_meeting(data_dir)
    (row,) = stored(data_dir, "SELECT ended_at, clock_samples, heartbeat_at FROM meetings WHERE id = ?", meeting_id)
    assert row[0] is None and row[1] / 16_000 >= before["clock_s"] - 3.5  # at most the last flush interval (2 s) is lost
    kept = stored(data_dir, TALK, meeting_id)[0][0]
    assert stored(data_dir, "PRAGMA integrity_check") == [("ok",)]
    assert stored(data_dir, "SELECT count(*) FROM live_voices WHERE meeting_id = ?", meeting_id)[0][0] >= 1

    # before the restart, the listing and the report agree: interrupted, closed at its last save
    listed = talktime("meetings").stdout
    assert re.search(rf"{meeting_id[:8]} .* interrupted", listed), listed
    report = json.loads(talktime("report", meeting_id[:8], "--format", "json").stdout)
    assert report["meeting"]["end_reason"] == "interrupted", report["notes"]
    assert not any("still going" in n for n in report["notes"])

    second, base, lines = start_run(data_dir)
    try:
        state = get(f"{base}/api/state")
        assert state["meeting_id"] == meeting_id and state["status"] == "running"  # the same meeting goes on
        assert state["clock_s"] >= row[1] / 16_000 and state["started_at"] == before["started_at"]
        assert {"Ada", "Grace"} <= {p["name"] for p in state["speakers"]}
        assert [p["name"] for p in state["phases"]] == [p["name"] for p in before["phases"]] == ["Plans"]
        assert state["phases"][0]["end_s"] is None  # the phase is still open
        restart = state["restart"]
        assert restart["continued"] and restart["interrupted_id"] == meeting_id
        assert re.match(r"talktime restarted at \d\d:\d\d; (\d+ min )?\d+ s were not recorded", restart["message"])
        assert "voices carried on" in restart["voices"] and "could not" not in restart["voices"]
        assert stored(data_dir, "SELECT count(*) FROM gaps WHERE meeting_id = ?", meeting_id) == [(1,)]

        from playwright.sync_api import expect, sync_playwright

        from test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(f"{base}/?code={TOKEN}")
                expect(page.locator("#restart-banner")).to_contain_text("talktime restarted at", timeout=15_000)
                expect(page.locator("#restart-banner")).to_contain_text("were not recorded")
                expect(page.locator("#clock")).not_to_have_text("0:00")
            finally:
                browser.close()

        deadline = time.monotonic() + 30
        while stored(data_dir, TALK, meeting_id)[0][0] <= kept:  # new talk is stored in the same meeting
            assert time.monotonic() < deadline, "nothing stored after the restart within 30 s"
            time.sleep(0.2)

        def talk_of(st: dict[str, Any]) -> float:
            return next(p["talk_time_s"] for p in st["speakers"] if p["name"] == "Ada")

        deadline = time.monotonic() + 30  # the replay starts again with the same first voice: it is still Ada's
        while talk_of(get(f"{base}/api/state")) <= talk_of(before) + 1.0:
            assert time.monotonic() < deadline, "Ada's voice was not recognised after the restart within 30 s"
            time.sleep(0.2)
        listed = talktime("meetings").stdout
        assert re.search(rf"{meeting_id[:8]} .* live", listed) and "interrupted" not in listed, listed
        assert len(stored(data_dir, "SELECT id FROM meetings")) == 1
        second.send_signal(signal.SIGINT)
        assert second.wait(30) == 0
    finally:
        if second.poll() is None:
            second.kill()
    listed = talktime("meetings").stdout
    assert re.search(rf"{meeting_id[:8]} .* ended", listed), listed
    report = json.loads(talktime("report", meeting_id[:8], "--format", "json").stdout)
    assert report["meeting"]["end_reason"] == "ended" and len(report["gaps"]) == 1
    assert any("was restarted" in n for n in report["notes"]), report["notes"]
    assert not any("still going" in n or "stopped unexpectedly" in n for n in report["notes"])
    assert report["gaps"][0]["at_s"] == pytest.approx(row[1] / 16_000, abs=0.01)
    assert stored(data_dir, "SELECT count(*) FROM live_voices") == [(0,)]  # ended: no voices kept


def test_a_restart_long_after_starts_a_new_meeting_linked_to_the_old(talktime: Run, data_dir: Path) -> None:
    meeting_id, _ = killed_meeting(data_dir)
    (row,) = stored(data_dir, "SELECT clock_samples FROM meetings WHERE id = ?", meeting_id)
    long_ago = (datetime.now(UTC) - timedelta(minutes=15)).isoformat(timespec="seconds")
    with sqlite3.connect(data_dir / STORE_FILE) as db:  # as if the restart came 15 minutes later (default: 10)
        db.execute("UPDATE meetings SET heartbeat_at = ? WHERE id = ?", (long_ago, meeting_id))

    second, base, lines = start_run(data_dir)
    try:
        assert any(f"recovered meeting {meeting_id[:8]}" in line for line in lines), "".join(lines)
        (closed,) = stored(data_dir, "SELECT ended_at, end_reason, clock_samples FROM meetings WHERE id = ?", meeting_id)
        assert closed == (long_ago, "interrupted", row[0])  # closed at its last save
        assert stored(data_dir, "SELECT count(*) FROM live_voices WHERE meeting_id = ?", meeting_id) == [(0,)]
        state = get(f"{base}/api/state")
        new_id = state["meeting_id"]
        assert new_id != meeting_id and state["previous_meeting_id"] == meeting_id
        restart = state["restart"]
        assert not restart["continued"] and restart["interrupted_id"] == meeting_id
        assert "15 min" in restart["message"] and "this is a new meeting" in restart["message"]
        assert get(f"{base}/api/meetings/{meeting_id}/report?format=json")["meeting"]["id"] == meeting_id  # the link
        listed = talktime("meetings").stdout
        assert re.search(rf"{meeting_id[:8]} .* interrupted", listed) and re.search(rf"{new_id[:8]} .* live", listed)
        get(f"{base}/api/meetings/{new_id}/end", method="POST")
        page = get(f"{base}/api/meetings/{new_id}/report?format=html")
        assert b"Crash test" in page and b"Trend of this recurring meeting" in page  # two meetings of one title
        second.send_signal(signal.SIGINT)
        assert second.wait(30) == 0
    finally:
        if second.poll() is None:
            second.kill()
    assert stored(data_dir, "SELECT end_reason, follows FROM meetings WHERE id = ?", new_id) == [("ended", meeting_id)]
    report = json.loads(talktime("report", new_id[:8], "--format", "json").stdout)
    assert report["meeting"]["follows"] == meeting_id
    old = json.loads(talktime("report", meeting_id[:8], "--format", "json").stdout)
    assert old["meeting"]["end_reason"] == "interrupted" and any("stopped unexpectedly" in n for n in old["notes"])


def test_every_flag_of_the_store_commands_is_documented() -> None:
    import argparse

    from test_report import _readme_section
    from cli.main import build_parser
    from cli.store import add_save_arguments

    doc = _readme_section()
    sub = next(a for a in build_parser()._actions if a.dest == "command")  # noqa: SLF001
    save = argparse.ArgumentParser(prog="talktime analyze")
    add_save_arguments(save)  # analyze's own flags are documented in "Using it"
    parsers = {c: sub.choices[c] for c in ("meetings", "report", "history", "prune", "forget-person", "delete")}  # type: ignore[index]
    for command, parser in {**parsers, "analyze": save}.items():
        flags = {o for a in parser._actions for o in a.option_strings if o.startswith("--")} - {"--help"}  # noqa: SLF001
        missing = sorted(f for f in flags if not re.search(rf"(?<![\w-]){f}(?![\w-])", doc))
        assert not missing, f"README's 'Meeting record and reports' does not document talktime {command} {missing}"
