"""Speed of the neural engine's models on this machine: milliseconds per call, median of repeated calls.

    python scripts/bench_neural_models.py [--threads 1] [--reps 15] [--only campplus|segmentation]

CAM++ (torch and onnxruntime backends; fbank and numpy pooling included) on 1.5 s, 5 s and 10 s
inputs, and segmentation-3.0 (torch and onnxruntime; powerset to per-speaker probabilities included)
on 5 s and 10 s chunks, each at batch 1 and 4. The input is noise:
the cost does not depend on what is said. The two backends' calls are interleaved, so a load that
changes during the run hits both alike; on a shared machine the median is the figure to quote.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import models  # noqa: E402,F401 - telemetry off before pyannote is imported
from models.campplus import CamPlusPlus  # noqa: E402
from models.segmentation import Segmentation3  # noqa: E402


def median_ms(fns: list[Callable[[], object]], reps: int) -> list[float]:
    """Median ms per call of each of ``fns``, their calls interleaved so a changing load hits all alike."""
    for fn in fns:
        fn()
        fn()  # warm-up
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(reps):
        for k, fn in enumerate(fns):
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return [1000 * statistics.median(t) for t in times]


def row(name: str, seconds: float, one: float, four: float) -> None:
    print(f"{name:34s} {seconds:5.1f}s {one:8.1f}   {four:8.1f} ({four / 4:5.1f})", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1, help="torch / onnxruntime intra-op threads (default 1)")
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--only", choices=("campplus", "segmentation"))
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"threads {args.threads}, median of {args.reps} calls; ms per call (ms per item)")
    print(f"{'model':34s} {'input':>6s} {'batch 1':>10s} {'batch 4':>18s}")
    backends = ("torch", "onnx")
    if args.only in (None, "campplus"):
        encoders = [CamPlusPlus(backend=b, threads=args.threads) for b in backends]  # type: ignore[arg-type]
        for enc in encoders:
            enc.load()
        for seconds in (1.5, 5.0, 10.0):
            wav = (0.1 * rng.standard_normal((4, int(seconds * 16000)))).astype(np.float32)
            ones = median_ms([partial(e.embed, wav[:1]) for e in encoders], args.reps)
            fours = median_ms([partial(e.embed, wav) for e in encoders], args.reps)
            for b, one, four in zip(backends, ones, fours):
                row(f"CAM++ {b}", seconds, one, four)
    if args.only in (None, "segmentation"):
        for seconds in (5.0, 10.0):
            segs = [Segmentation3(chunk_seconds=seconds, threads=args.threads, backend=b)  # type: ignore[arg-type]
                    for b in backends]
            for seg in segs:
                seg.load()
            wav = (0.1 * rng.standard_normal((4, segs[0].chunk_samples))).astype(np.float32)
            ones = median_ms([partial(g, wav[:1]) for g in segs], args.reps)
            fours = median_ms([partial(g, wav) for g in segs], args.reps)
            for b, one, four in zip(backends, ones, fours):
                row(f"segmentation-3.0 {b}", seconds, one, four)
    return 0


if __name__ == "__main__":
    sys.exit(main())
