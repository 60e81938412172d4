#!/usr/bin/env python
"""Speed of talktime on a fixed recording: analysis, the live pipeline, its latency and memory.

    python scripts/bench.py [AUDIO ...] [--repeat N]

Default input: every tests/data/*.wav. Printed:
- analyze: real-time factor (wall / audio) of ``analyze`` in live and final mode (models loaded);
- live: the pipeline fed 0.1 s chunks exactly as from a microphone: its CPU share of one core
  (busy seconds per second of audio), and the decision delay of every speech segment (audio time
  from the end of a segment to the chunk whose processing released it, plus the processing
  time of that chunk), p50 / p95 / max;
- peak memory (RSS) of the process.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from tracker.analysis import analyze  # noqa: E402
from tracker.audio import SAMPLE_RATE  # noqa: E402
from tracker.runner import build_pipeline  # noqa: E402
from tracker.sources import BLOCK_SAMPLES, EndOfStream, FileSource  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def live_run(path: Path, pipeline: object) -> tuple[float, float, list[float]]:
    """Feed live-sized chunks; return (audio seconds, busy seconds, delays in seconds)."""
    from tracker.runner import Pipeline

    assert isinstance(pipeline, Pipeline)
    pipeline.reset()
    src = FileSource(path, block_samples=BLOCK_SAMPLES)
    busy = 0.0
    delays: list[float] = []
    while True:
        try:
            chunk = src.read(0)
        except EndOfStream:
            break
        if chunk is None:
            continue
        t0 = time.perf_counter()
        segs = pipeline(chunk)
        dt = time.perf_counter() - t0
        busy += dt
        delays += [(chunk.end_sample - s.end_sample) / SAMPLE_RATE + dt for s in segs]
    pipeline.flush()
    return pipeline.accountant.clock_samples / SAMPLE_RATE, busy, delays


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("audio", nargs="*", type=Path)
    ap.add_argument("--repeat", type=int, default=1, help="analyse each file this many times")
    args = ap.parse_args(argv)
    files = args.audio or sorted((ROOT / "tests" / "data").glob("*.wav"))
    if not files:
        print("bench: no audio given and no tests/data/*.wav", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    pipeline = build_pipeline()
    print(f"models loaded in {time.perf_counter() - t0:.1f} s")
    for mode in ("live", "final"):
        audio = wall = 0.0
        for _ in range(args.repeat):
            for f in files:
                a = analyze(f, pipeline, mode=mode)
                audio += a.duration_s
                wall += a.elapsed_s
        print(f"analyze --mode {mode:5s}: {audio:7.1f} s of audio in {wall:6.2f} s  RTF {wall / audio:.4f}  ({audio / wall:.0f}x real time)")
    audio = busy = 0.0
    delays: list[float] = []
    for f in files:
        a_s, b_s, d = live_run(f, pipeline)
        audio, busy, delays = audio + a_s, busy + b_s, delays + d
    d = np.array(delays)
    print(f"live pipeline: {100 * busy / audio:.1f} % of one core; decision delay p50 {np.percentile(d, 50):.2f} s, "
          f"p95 {np.percentile(d, 95):.2f} s, max {d.max():.2f} s over {len(d)} segments")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (RSS): {peak_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
