#!/usr/bin/env python
"""A long meeting through the live path: memory, CPU, snapshot cost and delay over hours.

    python scripts/soak.py [--hours 8] [--clips DIR] [--every-min 15] [--json FILE] [--no-check]

Real meeting clips (``../shared/eval/dev/wav`` if present, else ``tests/data``) are played in a
random order with varied silences between them (0.2 s to 4 s, and now and then a 10-40 s break)
until ``--hours`` of audio have gone by. They go through exactly what a microphone feeds: 0.1 s
blocks into a ``LiveInput``, read by the ``Runner`` of a ``MeetingSession`` with the real models,
recorded by a ``MeetingRecorder`` into a SQLite file, as fast as the pipeline takes them. The
dashboard's rate is scaled to audio time: a snapshot whenever the session reports a change (the
pipeline releases segments, or a chunk changes the provisional speech) and every 0.4 s of audio
otherwise (the pump's heartbeat); the recorder flushes every 2 s of audio.

Printed every ``--every-min`` simulated minutes: RSS, the CPU share (process CPU seconds per
audio second, all threads, and the pipeline's busy share), the snapshot's mean and worst time.
At the end:

- delay to the dashboard, p50/p95/max: for every released segment, the audio time from its end
  to the first snapshot that showed its last 10 ms as anyone's talk (provisional or decided),
  plus the processing time of the chunk that led to that snapshot;
- delay to the final attribution: from its end to the chunk whose processing released it;
- provisional credit moved: the share of provisional speech first shown as someone other than
  the voice it was finally given to; the largest drop of a listed person's shown talk time between
  two snapshots (the dashboard never shows one go down: the target is 0); and the rows withdrawn:
  a voice shown only with provisional talk (drawn lighter) whose speech went to another voice;
- RSS growth from the first hour (or the first quarter of a shorter run) to the end;
- the time ending the meeting takes (the neural engine's post-meeting pass over every kept
  embedding runs then);
- the time ``talktime report`` takes to render the stored meeting as HTML and as PDF.

Targets (exit 1 when one is missed, unless ``--no-check``): RSS growth under 50 MB, CPU under
30 % of one core, p95 delay to the dashboard under 1 s, each report under 10 s, no listed
person's shown talk time going down.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from tracker.audio import SAMPLE_RATE, AudioChunk, Samples  # noqa: E402
from tracker.sources.live import LiveInput  # noqa: E402
from tracker.meeting.recorder import MeetingRecorder  # noqa: E402
from tracker.pipeline.build import build_pipeline  # noqa: E402
from tracker.meeting.session import MeetingSession  # noqa: E402
from tracker.sources.files import read_audio  # noqa: E402
from tracker.sources.base import BLOCK_SAMPLES, EndOfStream, SourceStats  # noqa: E402
from tracker.segments import SpeakerSegment  # noqa: E402
from tracker.store.storage import MeetingStore  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEV_CLIPS = ROOT.parent / "shared" / "eval" / "dev" / "wav"
HEARTBEAT_S = 0.4  # api/pump.py: a snapshot at least this often
FLUSH_S = 2.0  # tracker/meeting/recorder.py FLUSH_INTERVAL_S
FRAME = 160  # samples (10 ms): the resolution at which the first showing of speech is tracked
RING = 60 * SAMPLE_RATE // FRAME  # frames of first-showing history kept (60 s: a decision is never later)
TARGETS = {"rss_growth_mb": 50.0, "cpu_share": 0.30, "delay_p95_s": 1.0, "report_s": 10.0, "shown_drop_s": 0.01}


def rss_mb() -> float:
    """Resident memory of this process (MB), from /proc."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class SoakSource:
    """Clips in a random order with varied silences, as 0.1 s microphone blocks, until ``total`` samples."""

    def __init__(self, clips: list[Samples], *, total: int, seed: int = 0) -> None:
        self.stats = SourceStats()
        self.clips, self.total = clips, total
        self.rng = np.random.default_rng(seed)
        self.position = 0
        self._queue: list[Samples] = []
        self._buf = np.zeros(0, np.float32)
        self.on_read = lambda position: None  # called before each chunk is handed out

    def start(self) -> None:
        pass

    def stop(self) -> None:
        self.total = self.position

    def _next_piece(self) -> Samples:
        if self.rng.random() < 0.03:
            pause = self.rng.uniform(10.0, 40.0)
        else:
            pause = self.rng.uniform(0.2, 4.0)
        clip = self.clips[int(self.rng.integers(len(self.clips)))]
        return np.concatenate([np.zeros(int(pause * SAMPLE_RATE), np.float32), clip])

    def read(self, timeout: float) -> AudioChunk | None:
        if self.position >= self.total:
            raise EndOfStream
        while len(self._buf) < BLOCK_SAMPLES:
            self._buf = np.concatenate([self._buf, self._next_piece()])
        n = min(BLOCK_SAMPLES, self.total - self.position)
        samples, self._buf = self._buf[:n].copy(), self._buf[n:]
        self.on_read(self.position)
        chunk = AudioChunk(samples, self.position)
        self.position += n
        return chunk


@dataclass
class Probe:
    """Everything measured, in the pipeline's thread (no locks needed beyond the session's)."""

    session: MeetingSession
    recorder: MeetingRecorder
    every: int  # samples between report rows
    rows: list[dict[str, float]] = field(default_factory=list)
    delays_shown: list[float] = field(default_factory=list)
    delays_final: list[float] = field(default_factory=list)
    provisional_samples: int = 0
    moved_samples: int = 0
    largest_drop_s: float = 0.0  # of a person still listed (the page never shows one go down: 0)
    drops_over_1s: int = 0
    withdrawn: int = 0  # rows of a voice shown only provisionally, gone when its speech went to another voice
    largest_withdrawn_s: float = 0.0
    snapshots: int = 0

    def __post_init__(self) -> None:
        self.seen_frame = np.full(RING, -1, np.int64)  # frame index stored in each ring slot
        self.seen_at = np.zeros(RING, np.float64)  # when it was first shown (audio seconds, processing included)
        self.seen_who = np.zeros(RING, np.int64)
        self.next_beat = self.next_flush = 0
        self.next_row = every = self.every
        self.last_read = time.perf_counter()
        self.last_proc = 0.0
        self.prev_talk: dict[int, float] = {}
        self.snap_times: list[float] = []
        self.t0, self.cpu0 = time.perf_counter(), time.process_time()
        self.row_cpu, self.row_busy, self.row_pos = self.cpu0, 0.0, 0
        del every

    # -- hooks

    def on_read(self, position: int) -> None:
        """Before a chunk is handed out: the previous one has been processed."""
        now = time.perf_counter()
        self.last_proc = now - self.last_read
        if position >= self.next_beat:
            self.snapshot(position)
        if position >= self.next_flush:
            self.recorder.flush()
            self.next_flush = position + int(FLUSH_S * SAMPLE_RATE)
        if position >= self.next_row:
            self.row(position)
            self.next_row += self.every
        self.last_read = time.perf_counter()

    def on_segments(self, segs: list[SpeakerSegment]) -> None:
        position = self.session.input.delivered_samples
        proc = time.perf_counter() - self.last_read
        for s in segs:
            final = (position - s.end_sample) / SAMPLE_RATE + proc
            self.delays_final.append(final)
            shown = final
            f = (s.end_sample - 1) // FRAME
            if self.seen_frame[f % RING] == f:
                shown = min(shown, self.seen_at[f % RING] - s.end_sample / SAMPLE_RATE)
            self.delays_shown.append(shown)
            for g in range(s.start_sample // FRAME, (s.end_sample - 1) // FRAME + 1):
                if self.seen_frame[g % RING] == g:
                    self.provisional_samples += FRAME
                    self.moved_samples += FRAME * int(self.seen_who[g % RING] != s.speaker)
        if segs:
            self.last_proc = proc
            self.snapshot(position)

    def on_provisional(self) -> None:
        """A chunk changed the provisional speech: the pump wakes and shows it."""
        self.last_proc = time.perf_counter() - self.last_read
        self.snapshot(self.session.input.delivered_samples)

    # -- measurements

    def snapshot(self, position: int) -> None:
        t = time.perf_counter()
        snap = self.session.snapshot()
        self.snap_times.append(time.perf_counter() - t)
        self.snapshots += 1
        shown_at = position / SAMPLE_RATE + self.last_proc
        for p in self.session.pipeline.accountant.provisional:  # NB: this thread is the only writer
            for g in range(p.start_sample // FRAME, (p.end_sample - 1) // FRAME + 1):
                if self.seen_frame[g % RING] != g:
                    self.seen_frame[g % RING], self.seen_at[g % RING], self.seen_who[g % RING] = g, shown_at, p.speaker
        talk = {p.id: p.talk_time_s for p in snap.speakers}
        drop = max([self.prev_talk[i] - talk[i] for i in self.prev_talk if i in talk] + [0.0])
        self.largest_drop_s = max(self.largest_drop_s, drop)
        self.drops_over_1s += drop > 1.0
        gone = [self.prev_talk[i] for i in self.prev_talk if i not in talk and self.prev_talk[i] > 0]
        self.withdrawn += len(gone)
        self.largest_withdrawn_s = max([self.largest_withdrawn_s, *gone])
        self.prev_talk = talk
        self.next_beat = position + int(HEARTBEAT_S * SAMPLE_RATE)

    def row(self, position: int) -> None:
        cpu, busy = time.process_time(), self.session.runner.processing_s
        audio = (position - self.row_pos) / SAMPLE_RATE
        times = np.array(self.snap_times or [0.0]) * 1000
        r = {
            "audio_h": position / SAMPLE_RATE / 3600,
            "wall_s": time.perf_counter() - self.t0,
            "rss_mb": rss_mb(),
            "cpu_share": (cpu - self.row_cpu) / audio,
            "busy_share": (busy - self.row_busy) / audio,
            "snapshot_ms_mean": float(times.mean()),
            "snapshot_ms_max": float(times.max()),
            "segments": len(self.session.pipeline.accountant.timeline),
        }
        self.rows.append(r)
        self.row_cpu, self.row_busy, self.row_pos, self.snap_times = cpu, busy, position, []
        print(f"{r['audio_h']:5.2f} h  RSS {r['rss_mb']:6.1f} MB  CPU {100 * r['cpu_share']:5.1f} % "
              f"(pipeline busy {100 * r['busy_share']:4.1f} %)  snapshot {r['snapshot_ms_mean']:5.2f} ms mean, "
              f"{r['snapshot_ms_max']:5.1f} ms max  {r['segments']} stored segments  [{r['wall_s']:.0f} s wall]",
              flush=True)


def load_clips(folder: Path) -> list[Samples]:
    files = sorted(folder.glob("*.wav"))
    if not files:
        raise SystemExit(f"soak: no .wav files in {folder}; expected meeting recordings (--clips DIR)")
    return [read_audio(f) for f in files]


def render_time(data_dir: Path, meeting_id: str, fmt: str) -> float:
    """Wall seconds of ``talktime report`` as a user runs it (a new process)."""
    out = data_dir / f"report.{fmt}"
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cli", "report", meeting_id, "--format", fmt, "-o", str(out),
                    "--data-dir", str(data_dir)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - t
    if out.stat().st_size == 0:
        raise SystemExit(f"soak: the {fmt} report is empty")
    return elapsed


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def run(args: argparse.Namespace, data_dir: Path) -> dict[str, object]:
    clips = load_clips(args.clips)
    total = int(args.hours * 3600 * SAMPLE_RATE)
    source = SoakSource(clips, total=total, seed=args.seed)
    t = time.perf_counter()
    pipeline = build_pipeline()
    print(f"soak: {args.hours:g} h of audio from {len(clips)} clips in {args.clips}; models loaded in "
          f"{time.perf_counter() - t:.1f} s", flush=True)
    live = LiveInput(lambda: source, retry=False, label="soak")
    session = MeetingSession(pipeline, live)
    store = MeetingStore.in_folder(data_dir)
    recorder = MeetingRecorder(store, session, interval_s=1e6)  # flushed by the probe, in audio time
    every = int(min(args.every_min * 60, args.hours * 3600 / 4) * SAMPLE_RATE)
    probe = Probe(session, recorder, max(every, BLOCK_SAMPLES))
    source.on_read = probe.on_read
    forward = session.runner.on_segments
    assert forward is not None

    def on_segments(segs: list[SpeakerSegment]) -> None:
        probe.on_segments(segs)
        forward(segs)

    session.runner.on_segments = on_segments
    show = session.runner.on_provisional
    assert show is not None

    def on_provisional() -> None:
        probe.on_provisional()
        show()

    session.runner.on_provisional = on_provisional
    recorder.start()
    session.open()
    while session.runner._thread is not None and session.runner._thread.is_alive():  # noqa: SLF001
        session.runner._thread.join(1.0)  # noqa: SLF001
    probe.row(source.position)
    t_end = time.perf_counter()
    session.end()  # the neural engine's post-meeting pass runs here, over every kept embedding
    end_s = time.perf_counter() - t_end
    recorder.stop()
    store.close()
    if session.runner.error is not None:
        raise SystemExit(f"soak: the pipeline failed: {session.runner.error!r}")
    base_h = min(1.0, args.hours / 4)
    base = next(r for r in probe.rows if r["audio_h"] >= base_h - 1e-9)
    html_s = render_time(data_dir, session.id, "html")
    pdf_s = render_time(data_dir, session.id, "pdf")
    audio_s = source.position / SAMPLE_RATE
    result = {
        "hours": audio_s / 3600,
        "wall_s": time.perf_counter() - probe.t0,
        "rows": probe.rows,
        "rss_growth_mb": probe.rows[-1]["rss_mb"] - base["rss_mb"],
        "rss_growth_from_h": base["audio_h"],
        "cpu_share": (time.process_time() - probe.cpu0) / audio_s,
        "busy_share": session.runner.processing_s / audio_s,
        "delay_shown_s": {"p50": pct(probe.delays_shown, 50), "p95": pct(probe.delays_shown, 95),
                          "max": max(probe.delays_shown, default=float("nan"))},
        "delay_final_s": {"p50": pct(probe.delays_final, 50), "p95": pct(probe.delays_final, 95),
                          "max": max(probe.delays_final, default=float("nan"))},
        "segments_released": len(probe.delays_final),
        "provisional_moved_share": probe.moved_samples / probe.provisional_samples if probe.provisional_samples else 0.0,
        "largest_drop_s": probe.largest_drop_s,
        "drops_over_1s": probe.drops_over_1s,
        "withdrawn_rows": probe.withdrawn,
        "largest_withdrawn_s": probe.largest_withdrawn_s,
        "snapshots": probe.snapshots,
        "stored_segments": int(probe.rows[-1]["segments"]),
        "end_s": end_s,
        "figures_at_end": session.snapshot().display.figures,
        "report_html_s": html_s,
        "report_pdf_s": pdf_s,
        "dropped_blocks": live.dropped_blocks,
    }
    result["checks"] = {
        "rss_growth_mb": result["rss_growth_mb"] < TARGETS["rss_growth_mb"],  # type: ignore[operator]
        "cpu_share": result["cpu_share"] < TARGETS["cpu_share"],  # type: ignore[operator]
        "delay_p95_s": result["delay_shown_s"]["p95"] < TARGETS["delay_p95_s"],  # type: ignore[index]
        "report_s": max(html_s, pdf_s) < TARGETS["report_s"],
        "shown_drop_s": probe.largest_drop_s < TARGETS["shown_drop_s"],
    }
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hours", type=float, default=8.0, help="hours of meeting audio (default 8)")
    ap.add_argument("--clips", type=Path, default=DEV_CLIPS if DEV_CLIPS.is_dir() else ROOT / "tests" / "data",
                    help="folder of meeting .wav clips (default: ../shared/eval/dev/wav, else tests/data)")
    ap.add_argument("--every-min", type=float, default=15.0, help="simulated minutes between report rows")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", type=Path, help="keep the meeting store here (default: a temporary folder)")
    ap.add_argument("--json", type=Path, help="also write every figure to this file")
    ap.add_argument("--no-check", action="store_true", help="only report; exit 0 even when a target is missed")
    args = ap.parse_args(argv)
    if args.hours <= 0:
        ap.error(f"--hours expected > 0, got {args.hours}")
    with tempfile.TemporaryDirectory(prefix="talktime-soak-") as tmp:
        data_dir = args.data_dir or Path(tmp)
        data_dir.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("TALKTIME_DATA_DIR", str(data_dir))
        r = run(args, data_dir)
    d, f = r["delay_shown_s"], r["delay_final_s"]
    print(f"audio {r['hours']:.2f} h in {r['wall_s']:.0f} s wall ({3600 * r['hours'] / r['wall_s']:.0f}x real time); "  # type: ignore[operator]
          f"{r['segments_released']} segments released, {r['stored_segments']} stored, {r['snapshots']} snapshots")
    print(f"CPU {100 * r['cpu_share']:.1f} % of one core (pipeline busy {100 * r['busy_share']:.1f} %)")  # type: ignore[operator]
    print(f"delay to the dashboard: p50 {d['p50']:.2f} s, p95 {d['p95']:.2f} s, max {d['max']:.2f} s")  # type: ignore[index]
    print(f"delay to the final attribution: p50 {f['p50']:.2f} s, p95 {f['p95']:.2f} s, max {f['max']:.2f} s")  # type: ignore[index]
    print(f"provisional speech first shown as another voice: {100 * r['provisional_moved_share']:.1f} %; "  # type: ignore[operator]
          f"largest drop of a listed person's shown talk time {r['largest_drop_s']:.2f} s "
          f"({r['drops_over_1s']} drops over 1 s); rows withdrawn (a voice shown only provisionally whose "
          f"speech went to another voice): {r['withdrawn_rows']}, largest {r['largest_withdrawn_s']:.2f} s")
    print(f"RSS growth from {r['rss_growth_from_h']:.2f} h to the end: {r['rss_growth_mb']:+.1f} MB "
          f"(end {r['rows'][-1]['rss_mb']:.0f} MB)")  # type: ignore[index]
    print(f"ending the meeting (the post-meeting pass included): {r['end_s']:.1f} s")
    print(f"report of the stored meeting: HTML {r['report_html_s']:.1f} s, PDF {r['report_pdf_s']:.1f} s")
    checks = r["checks"]
    assert isinstance(checks, dict)
    print("targets: " + ", ".join(f"{k} {'ok' if v else 'MISSED'}" for k, v in checks.items()))
    if args.json:
        args.json.write_text(json.dumps(r, indent=1))
    return 0 if args.no_check or all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
