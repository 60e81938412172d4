"""How low the talk-share error can go without overlap detection: scored on the reference itself.

    python scripts/share_bound.py ../shared/eval/dev

A diarizer that gives each moment to one person at most, however perfect otherwise, cannot credit
the second voice of overlapping speech. This script builds such a perfect single-speaker answer
from each reference (at every 10 ms, the person who has been speaking longest keeps the floor, the
usual case of a listener's "yes" over a speaker) and scores it with scripts/evaluate.py's
talk-share error. The pooled figure is the floor that talktime's pipeline (Resemblyzer embeddings,
one label per window) cannot go below on that data; going lower needs an overlap-aware
segmentation model (e.g. pyannote's, ``--engine pyannote``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from pyannote.core import Annotation, Segment

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evaluate import load_rttm, share_errors  # noqa: E402  (a sibling script)

STEP_S = 0.01


def single_speaker(ref: Annotation) -> Annotation:
    """The reference with overlaps given to whoever has held the floor longest."""
    end = max((s.end for s in ref.get_timeline()), default=0.0)
    n = int(np.ceil(end / STEP_S))
    labels = sorted(ref.labels(), key=str)
    since = np.full((n, len(labels)), np.inf)  # start of the turn covering each step
    for seg, _, label in ref.itertracks(yield_label=True):
        a, b, j = int(seg.start / STEP_S), int(np.ceil(seg.end / STEP_S)), labels.index(label)
        since[a:b, j] = np.minimum(since[a:b, j], seg.start)
    out = Annotation(uri=ref.uri)
    who = np.where(np.isfinite(since).any(axis=1), np.argmin(since, axis=1), -1)
    start = 0
    for t in range(1, n + 1):
        if t == n or who[t] != who[start]:
            if who[start] >= 0:
                out[Segment(start * STEP_S, t * STEP_S)] = labels[who[start]]
            start = t
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", type=Path, help="a folder laid out like ../shared/eval/dev (rttm/)")
    args = ap.parse_args(argv)
    rttms = sorted((args.dir / "rttm").glob("*.rttm"))
    if not rttms:
        print(f"share_bound: no rttm/*.rttm under {args.dir}; expected a folder laid out like ../shared/eval/dev", file=sys.stderr)
        return 1
    pooled: list[float] = []
    talk = single = 0.0  # seconds of reference speech per person, summed; and of one voice at a time
    print(f"{'file':32s} {'overlap s':>9s} {'share':>7s}")
    for path in rttms:
        ref = load_rttm(path)
        overlap = ref.get_overlap().duration()
        errs = share_errors(ref, single_speaker(ref))
        talk += sum(ref.label_duration(label) for label in ref.labels())
        single += ref.get_timeline().support().duration()
        pooled += errs
        print(f"{path.stem:32s} {overlap:9.2f} {np.mean(errs):7.2f}")
    print(f"{'POOLED':32s} {'':9s} {np.mean(pooled):7.2f}")
    print(f"second voices of overlapping speech: {100 * (talk - single) / talk:.1f} % of the reference talk time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
