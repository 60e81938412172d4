#!/usr/bin/env python
"""Speed of talktime on a fixed recording: analysis, the live pipeline, its latency and memory.

    python scripts/bench.py [AUDIO ...] [--engine neural|lite] [--load N] [--repeat N] [--json FILE]

Default input: tests/data/meeting3.wav. Printed:
- analyze: real-time factor (wall / audio) of ``analyze`` in live and final mode (models loaded);
- live: the pipeline fed 0.1 s chunks exactly as from a microphone: its CPU share of one core
  (busy seconds per second of audio) and, for every released speech segment, p50 / p95 / max of
  - the delay to the dashboard: audio time from the segment's end to the end of the first chunk
    after which its last 10 ms were shown as anyone's talk (provisional or decided), plus the
    processing time of that chunk (the page's 0.4 s heartbeat comes on top, see scripts/soak.py);
  - the delay to the final attribution: from its end to the chunk whose processing released it,
    plus that chunk's processing time;
- peak memory (RSS) of the process;
- the whole ``talktime analyze`` process (start-up and model loading included), timed as a
  subprocess, in final mode.

``--load N`` runs N competing busy processes (a torch matrix product on all its default threads,
as another program on the room machine would) for the whole measurement.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from tracker.pipeline.analysis import analyze  # noqa: E402
from tracker.audio import SAMPLE_RATE  # noqa: E402
from tracker.pipeline.pipeline import Pipeline  # noqa: E402
from tracker.pipeline.build import ENGINES, build_pipeline  # noqa: E402
from tracker.pipeline.pipeline import PipelineConfig  # noqa: E402
from tracker.sources.files import FileSource  # noqa: E402
from tracker.sources.base import BLOCK_SAMPLES, EndOfStream  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


FRAME = 160  # samples (10 ms): the resolution at which the first showing of speech is tracked


def live_run(path: Path, pipeline: Pipeline) -> tuple[float, float, list[float], list[float]]:
    """Feed live-sized chunks; return (audio seconds, busy seconds, delays to the dashboard,
    delays to the final attribution), delays in seconds."""
    pipeline.reset()
    src = FileSource(path, block_samples=BLOCK_SAMPLES)
    busy = 0.0
    shown_at: dict[int, float] = {}  # 10 ms frame -> audio time it was first shown
    shown: list[float] = []
    final: list[float] = []
    while True:
        try:
            chunk = src.read(0)
        except EndOfStream:
            break
        if chunk is None:
            continue
        t0 = time.perf_counter()
        segs = pipeline.account(pipeline.decide(chunk), start=chunk.start_sample, end=chunk.end_sample)
        dt = time.perf_counter() - t0
        busy += dt
        now = chunk.end_sample / SAMPLE_RATE + dt
        for p in pipeline.accountant.provisional:
            for f in range(p.start_sample // FRAME, (p.end_sample - 1) // FRAME + 1):
                shown_at.setdefault(f, now)
        for s in segs:
            final.append(now - s.end_sample / SAMPLE_RATE)
            first = shown_at.get((s.end_sample - 1) // FRAME, now)
            shown.append(min(now, first) - s.end_sample / SAMPLE_RATE)
    pipeline.flush()
    return pipeline.accountant.clock_samples / SAMPLE_RATE, busy, shown, final


def busy_loop() -> None:  # pragma: no cover - a competing load, killed by the parent
    import torch

    a = torch.randn(512, 512)
    while True:
        a = torch.tanh(a @ a)


def process_rtf(path: Path, engine: str) -> tuple[float, float]:
    """Wall time of a whole ``talktime analyze`` process on ``path`` and the file's length."""
    import soundfile as sf

    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cli", "analyze", str(path), "--engine", engine, "--mode", "final"],
                   check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - t0, float(sf.info(str(path)).duration)


def stats(values: list[float]) -> dict[str, float]:
    d = np.array(values)
    return {"p50": float(np.percentile(d, 50)), "p95": float(np.percentile(d, 95)), "max": float(d.max())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("audio", nargs="*", type=Path)
    ap.add_argument("--repeat", type=int, default=1, help="analyse each file this many times")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    ap.add_argument("--engine", choices=ENGINES, default=ENGINES[0], help=f"the engine to time (default {ENGINES[0]})")
    ap.add_argument("--load", type=int, default=0, help="competing busy processes during the measurement (default 0)")
    args = ap.parse_args(argv)
    loads = [multiprocessing.Process(target=busy_loop, daemon=True) for _ in range(args.load)]
    for p in loads:
        p.start()
    try:
        return measure(args)
    finally:
        for p in loads:
            p.terminate()


def measure(args: argparse.Namespace) -> int:
    files = args.audio or [ROOT / "tests" / "data" / "meeting3.wav"]
    missing = [str(f) for f in files if not Path(f).is_file()]
    if missing:
        print(f"bench: no such file: {', '.join(missing)}; expected audio recordings", file=sys.stderr)
        return 2
    out: dict[str, object] = {"files": [str(f) for f in files], "engine": args.engine, "load": args.load}
    print(f"engine {args.engine}, {args.load} competing busy process(es)")
    t0 = time.perf_counter()
    pipeline = build_pipeline(PipelineConfig(engine=args.engine))
    print(f"models loaded in {time.perf_counter() - t0:.1f} s")
    for mode in ("live", "final"):
        audio = wall = 0.0
        for _ in range(args.repeat):
            for f in files:
                a = analyze(f, pipeline, mode=mode)
                audio += a.duration_s
                wall += a.elapsed_s
        print(f"analyze --mode {mode:5s}: {audio:7.1f} s of audio in {wall:6.2f} s  RTF {wall / audio:.4f}  ({audio / wall:.0f}x real time)")
        out[f"rtf_{mode}"] = wall / audio
    audio = busy = 0.0
    shown: list[float] = []
    final: list[float] = []
    for f in files:
        a_s, b_s, d_shown, d_final = live_run(f, pipeline)
        audio, busy, shown, final = audio + a_s, busy + b_s, shown + d_shown, final + d_final
    out["live_cpu_share"] = busy / audio
    out["delay_shown_s"], out["delay_final_s"] = stats(shown), stats(final)
    print(f"live pipeline: {100 * busy / audio:.1f} % of one core over {len(final)} segments")
    for what, d in (("delay to the dashboard", stats(shown)), ("delay to the final attribution", stats(final))):
        print(f"  {what}: p50 {d['p50']:.2f} s, p95 {d['p95']:.2f} s, max {d['max']:.2f} s")
    wall = audio = 0.0
    for f in files:
        w, a = process_rtf(f, args.engine)
        wall, audio = wall + w, audio + a
    out["process_rtf_final"] = wall / audio
    print(f"talktime analyze --mode final, whole process: {audio:.1f} s of audio in {wall:.1f} s  RTF {wall / audio:.3f}  "
          f"({audio / wall:.1f}x real time)")
    out["peak_rss_mb"] = peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (RSS): {peak_mb:.0f} MB")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
