#!/usr/bin/env python
"""Benchmark the live dashboard: N websocket viewers on one ``talktime run`` (loopback only).

    python scripts/bench_dashboard.py                      # 50 viewers + 5 stuck ones, 20 s per phase
    python scripts/bench_dashboard.py --viewers 100 --seconds 30 --input meeting.wav

Starts ``talktime run`` on 127.0.0.1 with a recording replayed in real time (by default the shared
AMI dev clips joined into one long meeting), then measures for ``--seconds`` with no viewers and
for ``--seconds`` with ``--viewers`` viewers plus ``--stuck`` viewers that never read:

- pipeline change -> viewer: for each state version a viewer sees first, its arrival time minus
  the moment the session recorded the change (same machine, same clock);
- control -> viewer: a rename is sent every 0.5 s; the time from sending it until each viewer
  shows the new name;
- the server process's CPU (from /proc) and the pipeline's load (its busy time per second of
  audio, reported in the state) in both phases.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf  # type: ignore[import-untyped]
from websockets.asyncio.client import ClientConnection, connect

REPO = Path(__file__).resolve().parents[1]
DEV_WAVS = REPO.parent / "shared" / "eval" / "dev" / "wav"
CODE, TOKEN = "bench-viewer-code", "bench-facilitator-token"
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Viewer:
    """What one viewer saw: arrival delays (seconds) and when each rename first showed."""

    pipeline_delays: list[float] = field(default_factory=list)
    seen_names: dict[str, float] = field(default_factory=dict)
    messages: int = 0
    bytes: int = 0
    last_version: int = -1


def long_meeting(out_dir: Path) -> Path:
    """The shared AMI dev clips joined into one recording (several minutes of real meetings)."""
    clips = sorted(DEV_WAVS.glob("ami-mix_*.wav"))
    if not clips:
        raise SystemExit(f"no recordings in {DEV_WAVS}; pass --input FILE")
    parts = [sf.read(str(p), dtype="float32")[0] for p in clips]
    path = out_dir / "bench_meeting.wav"
    sf.write(str(path), np.concatenate(parts), 16_000)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(method: str, url: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 - loopback only
        return json.load(r)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def start_server(recording: Path, port: int) -> subprocess.Popen[str]:
    talktime = Path(sys.executable).parent / "talktime"
    cmd = [str(talktime), "run", "--input", str(recording), "--host", "127.0.0.1", "--port", str(port),
           "--code", CODE, "--token", TOKEN]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"talktime run failed:\n{proc.stderr.read() if proc.stderr else ''}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()  # noqa: S310
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("talktime run did not start within 120 s")


async def watch(url: str, viewer: Viewer, stop: asyncio.Event) -> None:
    async with connect(url, additional_headers={"Authorization": f"Bearer {CODE}"}, max_size=None,
                       compression=None) as ws:
        while not stop.is_set():
            try:
                text = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            now = time.time()
            viewer.messages += 1
            viewer.bytes += len(text)
            msg = json.loads(text)
            if msg["type"] != "state":
                continue
            state = msg["state"]
            if state["version"] > viewer.last_version:
                if viewer.last_version >= 0 and state["changed_at"] > 0:
                    viewer.pipeline_delays.append(now - state["changed_at"])
                viewer.last_version = state["version"]
            for s in state["speakers"]:
                viewer.seen_names.setdefault(s["name"], now)


async def stuck(url: str, stop: asyncio.Event) -> None:
    """A viewer that connects and never reads (its socket buffers fill up)."""
    async with connect(url, additional_headers={"Authorization": f"Bearer {CODE}"}, max_size=None,
                       compression=None, max_queue=1) as ws:
        ws.transport.pause_reading()
        await stop.wait()


async def renamer(base: str, mid: str, speaker: int, sent: dict[str, float], stop: asyncio.Event) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        name = f"Bench {n}"
        sent[name] = time.time()
        await asyncio.to_thread(http, "PATCH", f"{base}/api/meetings/{mid}/speakers/{speaker}", {"name": name})
        await asyncio.sleep(0.5)


async def measure(base: str, viewers: int, stuck_viewers: int, seconds: float) -> dict[str, Any]:
    state = await asyncio.to_thread(http, "GET", f"{base}/api/state")
    voices = [s["id"] for s in state["speakers"] if s["id"] >= 0]
    ws_url = base.replace("http://", "ws://") + "/ws"
    stop = asyncio.Event()
    seen = [Viewer() for _ in range(viewers)]
    sent: dict[str, float] = {}
    tasks = [asyncio.create_task(watch(ws_url, v, stop)) for v in seen]
    tasks += [asyncio.create_task(stuck(ws_url, stop)) for _ in range(stuck_viewers)]
    await asyncio.sleep(1.0)  # everyone connected
    if viewers and voices:
        tasks.append(asyncio.create_task(renamer(base, state["meeting_id"], voices[0], sent, stop)))
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    control = [v.seen_names[name] - t0 for v in seen for name, t0 in sent.items() if name in v.seen_names]
    missed = sum(1 for v in seen for name in list(sent)[:-2] if name not in v.seen_names)
    return {
        "pipeline": [d for v in seen for d in v.pipeline_delays],
        "control": control,
        "missed": missed,
        "renames": len(sent),
        "messages_per_s": statistics.mean(v.messages for v in seen) / seconds if seen else 0.0,
        "kb_per_message": sum(v.bytes for v in seen) / max(1, sum(v.messages for v in seen)) / 1024,
    }


def percentiles(xs: list[float]) -> str:
    if not xs:
        return "n=0"
    ms = np.array(xs) * 1000
    return (f"n={len(ms)}  p50 {np.percentile(ms, 50):.0f} ms  p95 {np.percentile(ms, 95):.0f} ms  "
            f"max {ms.max():.0f} ms")


async def phase(base: str, pid: int, viewers: int, stuck_viewers: int, seconds: float) -> dict[str, Any]:
    before = (await asyncio.to_thread(http, "GET", f"{base}/api/state"))["input"]
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    out = await measure(base, viewers, stuck_viewers, seconds)
    out["cpu"] = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
    after = (await asyncio.to_thread(http, "GET", f"{base}/api/state"))["input"]
    out["load"] = (after["busy_s"] - before["busy_s"]) / max(1e-9, after["audio_s"] - before["audio_s"])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--viewers", type=int, default=50, help="websocket viewers that read every message")
    ap.add_argument("--stuck", type=int, default=5, help="viewers that connect and never read")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each measured phase")
    ap.add_argument("--input", type=Path, help="recording to replay (default: the shared AMI dev clips joined)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        recording = args.input or long_meeting(Path(tmp))
        port = free_port()
        proc = start_server(recording, port)
        base = f"http://127.0.0.1:{port}"
        try:
            time.sleep(3.0)  # let the first voices appear
            quiet = asyncio.run(phase(base, proc.pid, 0, 0, args.seconds))
            busy = asyncio.run(phase(base, proc.pid, args.viewers, args.stuck, args.seconds))
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(f"talktime dashboard benchmark: {args.viewers} viewers + {args.stuck} stuck, {args.seconds:.0f} s per phase, "
          f"{os.cpu_count()} CPUs, input {recording.name}")
    print(f"  pipeline change -> viewer:  {percentiles(busy['pipeline'])}")
    print(f"  rename (HTTP) -> viewer:    {percentiles(busy['control'])}  ({busy['renames']} renames, "
          f"{busy['missed']} never shown)")
    print(f"  messages per viewer: {busy['messages_per_s']:.1f}/s, {busy['kb_per_message']:.1f} KiB each")
    print(f"  server process CPU:  {100 * quiet['cpu']:.0f}% of one core with no viewers, "
          f"{100 * busy['cpu']:.0f}% with {args.viewers + args.stuck}")
    print(f"  pipeline load (its busy seconds per second of audio): {quiet['load']:.3f} with no viewers, "
          f"{busy['load']:.3f} with {args.viewers + args.stuck}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
