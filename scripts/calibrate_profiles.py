#!/usr/bin/env python
"""Calibrate voice-profile matching on real speech: how often a profile claims the wrong person
(false accept) and how often it misses its own person, at each threshold.

    python scripts/calibrate_profiles.py ../shared/eval/dev [--units 10] [--json FILE]
    python scripts/calibrate_profiles.py tests/data            # espeak-ng voices: a sanity check only

DIR holds recordings with reference turns: ``wav/<uri>.wav`` + ``rttm/<uri>.rttm`` (as
../shared/eval/dev), or ``<uri>.wav`` + ``<uri>.rttm`` side by side (as tests/data). A speaker label
that recurs in two files is taken to be the same person (AMI speaker ids do).

Each file goes through the live path (FileSource -> Runner -> Pipeline) and its analysis windows
(1.6 s, every 0.4 s, the same embeddings the live tracker compares) are given to the reference
speaker who fills the window (>= 1 s of it, nobody else > 0.2 s). For each person and each file
they are in, a profile is the mean of their windows there (as enrollment builds it). Trials:

- genuine: a profile against *voices* of the same person in another file;
- impostor: a profile against voices of every other person, in every file but the profile's own.

A voice is the mean of ``--units`` consecutive windows of one person (10 windows = 4 s of speech:
what ``tracker.pipeline.profiles.MATCH_MIN_WINDOWS`` lets a new voice gather before it is compared), or a
single window with ``--units 1`` (what seeding compares). Printed: trial counts, then per threshold
the false-accept rate (impostor trials at or above it) and the miss rate (genuine trials below it).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import models  # noqa: F401,E402 - telemetry off before pyannote is imported
import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402

from tracker.audio import to_samples  # noqa: E402
from tracker.pipeline.pipeline import Pipeline  # noqa: E402
from tracker.pipeline.build import build_pipeline  # noqa: E402
from tracker.pipeline.runner import Runner  # noqa: E402
from tracker.sources.files import FileSource  # noqa: E402
from tracker.stages.diarization import unit  # noqa: E402

THRESHOLDS = [round(0.60 + 0.025 * k, 3) for k in range(15)]  # 0.600 .. 0.950
Windows = dict[str, npt.NDArray[np.float64]]  # person -> (n, dimension) unit rows, in time order


def recordings(folder: Path) -> list[tuple[Path, Path]]:
    """(wav, rttm) pairs of either layout."""
    if (folder / "wav").is_dir():
        pairs = [(w, folder / "rttm" / f"{w.stem}.rttm") for w in sorted((folder / "wav").glob("*.wav"))]
    else:
        pairs = [(w, w.with_suffix(".rttm")) for w in sorted(folder.glob("*.wav"))]
    return [(w, r) for w, r in pairs if r.exists()]


def reference(rttm: Path) -> list[tuple[str, int, int]]:
    out = []
    for line in rttm.read_text().splitlines():
        f = line.split()
        if len(f) >= 8 and f[0] == "SPEAKER":
            out.append((f[7], to_samples(float(f[3])), to_samples(float(f[3]) + float(f[4]))))
    return out


def person_windows(wav: Path, rttm: Path, pipeline: Pipeline) -> Windows:
    """Each reference speaker's window embeddings in one recording (windows one person fills)."""
    pipeline.reset()
    Runner(FileSource(wav), pipeline).run()
    d = pipeline.engine.diarizer
    turns = reference(rttm)
    found: dict[str, list[npt.NDArray[np.float32]]] = defaultdict(list)
    for rec in d.records:
        if rec.embedding is None or not rec.strong:
            continue
        start = rec.index * d.step
        end = start + d.window
        cover: dict[str, int] = defaultdict(int)
        for who, a, b in turns:
            cover[who] += max(0, min(b, end) - max(a, start))
        ranked = sorted(cover.items(), key=lambda kv: -kv[1])
        if ranked and ranked[0][1] >= to_samples(1.0) and (len(ranked) < 2 or ranked[1][1] <= to_samples(0.2)):
            found[ranked[0][0]].append(rec.embedding)
    return {who: unit(np.stack(e).astype(np.float64)) for who, e in found.items()}


def voices(rows: npt.NDArray[np.float64], units: int) -> list[npt.NDArray[np.float64]]:
    """Means of consecutive, non-overlapping runs of ``units`` windows."""
    return [unit(rows[i : i + units].sum(axis=0)) for i in range(0, len(rows) - units + 1, units)]


def trials(per_file: dict[str, Windows], units: int, min_windows: int) -> tuple[list[float], list[float], int]:
    """Genuine and impostor similarities, and how many profiles they came from."""
    genuine: list[float] = []
    impostor: list[float] = []
    n_profiles = 0
    for uri, people in per_file.items():
        for who, rows in people.items():
            if len(rows) < min_windows:
                continue  # too little to enroll from
            n_profiles += 1
            prof = unit(rows.sum(axis=0))
            for other_uri, other in per_file.items():
                if other_uri == uri:
                    continue
                for other_who, other_rows in other.items():
                    sims = [float(v @ prof) for v in voices(other_rows, units)]
                    (genuine if other_who == who else impostor).extend(sims)
    return genuine, impostor, n_profiles


def table(genuine: list[float], impostor: list[float]) -> list[dict[str, float]]:
    g, i = np.array(genuine), np.array(impostor)
    return [{"threshold": t,
             "false_accept": float((i >= t).mean()) if len(i) else float("nan"),
             "false_accepts": int((i >= t).sum()),
             "miss": float((g < t).mean()) if len(g) else float("nan"),
             "misses": int((g < t).sum())} for t in THRESHOLDS]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", type=Path, help="folder of recordings with RTTM reference turns")
    ap.add_argument("--units", type=int, default=10, help="windows per voice compared (10 = 4 s; 1 = one window)")
    ap.add_argument("--min-windows", type=int, default=6, help="windows a person needs in a file to enroll from it")
    ap.add_argument("--json", type=Path, help="also write the table here")
    args = ap.parse_args(argv)
    pairs = recordings(args.dir)
    if not pairs:
        print(f"calibrate_profiles: no <uri>.wav with <uri>.rttm under {args.dir}; expected a folder laid out like "
              "../shared/eval/dev or tests/data", file=sys.stderr)
        return 2
    pipeline = build_pipeline()
    per_file = {wav.stem: person_windows(wav, rttm, pipeline) for wav, rttm in pairs}
    recurring = {who for people in per_file.values() for who in people
                 if sum(who in p for p in per_file.values()) > 1}
    genuine, impostor, n_profiles = trials(per_file, args.units, args.min_windows)
    print(f"{len(pairs)} recordings, {len(recurring)} people in more than one ({', '.join(sorted(recurring))}); "
          f"{n_profiles} profiles; voices of {args.units} window(s); "
          f"{len(genuine)} genuine and {len(impostor)} impostor trials")
    if genuine:
        print(f"genuine similarity: min {min(genuine):.3f} median {np.median(genuine):.3f}; "
              f"impostor: median {np.median(impostor):.3f} max {max(impostor):.3f}")
    rows = table(genuine, impostor)
    print(f"{'threshold':>9s} {'false accept':>14s} {'miss':>14s}")
    for r in rows:
        print(f"{r['threshold']:9.3f} {100 * r['false_accept']:6.1f}% ({r['false_accepts']:4d}) "
              f"{100 * r['miss']:6.1f}% ({r['misses']:4d})")
    if args.json:
        args.json.write_text(json.dumps({"genuine": len(genuine), "impostor": len(impostor), "table": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
