#!/usr/bin/env python
"""Calibrate voice-profile matching on real speech: how often a profile claims the wrong person
(false accept) and how often it misses its own person, at each threshold.

    python scripts/calibrate_profiles.py ../shared/eval/dev [--engine neural|lite] [--units N] [--json FILE]
    python scripts/calibrate_profiles.py tests/data            # espeak-ng voices: a sanity check only
    python scripts/calibrate_profiles.py --voices ../shared/eval/voices/librispeech-train-clean-100

``--engine`` picks the encoder through its engine: ``lite`` (Resemblyzer, 1.6 s windows every
0.4 s) or ``neural`` (default: CAM++ embeddings of each local speaker's clean speech, up to 4 s,
about one a second while ``keep_every_embedding`` is on, as during enrollment).

``--voices DIR``: one utterance per person (FLAC/WAV, the speaker id before the first ``-`` of
the name); each utterance is split into halves embedded whole by the encoder. Genuine: one half
against the other half of the same person; impostor: a half against the other half of every
other person. The genuine figures also show how alike one person's two halves are (the
enrollment's two-voices check must stay below them).

DIR holds recordings with reference turns: ``wav/<uri>.wav`` + ``rttm/<uri>.rttm`` (as
../shared/eval/dev), or ``<uri>.wav`` + ``<uri>.rttm`` side by side (as tests/data). A speaker label
that recurs in two files is taken to be the same person (AMI speaker ids do).

Each file goes through the live path (FileSource -> Runner -> Pipeline) and its embeddings (the
ones the live tracker compares) are given to the reference speaker who fills their span: lite
windows (1.6 s) that one person fills >= 1 s of, nobody else > 0.2 s; neural embeddings (the span
of the clean speech they describe) that one person fills >= 1 s of and >= 80 % of the reference
speech in the span. For each person and each file
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
from tracker.pipeline.neural import NeuralEngine  # noqa: E402
from tracker.pipeline.pipeline import Pipeline, PipelineConfig  # noqa: E402
from tracker.pipeline.build import build_pipeline  # noqa: E402
from tracker.pipeline.runner import Runner  # noqa: E402
from tracker.sources.files import FileSource, read_audio  # noqa: E402
from tracker.stages.diarization import unit  # noqa: E402

THRESHOLDS = [round(0.30 + 0.025 * k, 3) for k in range(27)]  # 0.300 .. 0.950
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
    """Each reference speaker's embeddings in one recording (those one person fills), in time order."""
    pipeline.reset()
    engine = pipeline.engine
    if isinstance(engine, NeuralEngine):
        engine.keep_every_embedding = True
    Runner(FileSource(wav), pipeline).run()
    turns = reference(rttm)
    spans: list[tuple[int, int, npt.NDArray[np.float32]]] = []
    lite = not isinstance(engine, NeuralEngine)
    if lite:
        d = engine.diarizer  # type: ignore[attr-defined]
        spans = [(r.index * d.step, r.index * d.step + d.window, r.embedding) for r in d.records
                 if r.embedding is not None and r.strong]
    else:
        spans = [(r.start, r.end, r.embedding) for r in engine.records()]
    found: dict[str, list[npt.NDArray[np.float32]]] = defaultdict(list)
    for start, end, emb in spans:
        cover: dict[str, int] = defaultdict(int)
        for who, a, b in turns:
            cover[who] += max(0, min(b, end) - max(a, start))
        ranked = sorted(cover.items(), key=lambda kv: -kv[1])
        if not ranked or ranked[0][1] < to_samples(1.0):
            continue
        rest = sum(c for _, c in ranked[1:])
        if (rest <= to_samples(0.2)) if lite else (ranked[0][1] >= 0.8 * (ranked[0][1] + rest)):
            found[ranked[0][0]].append(emb)
    return {who: unit(np.stack(e).astype(np.float64)) for who, e in found.items()}


def half_voices(folder: Path, pipeline: Pipeline) -> tuple[list[float], list[float]]:
    """Genuine and impostor similarities of utterance halves (``--voices``), embedded by the engine's encoder."""
    engine = pipeline.engine
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".flac", ".wav"))
    firsts, seconds_, halves = [], [], []
    for f in files:
        audio = read_audio(f).astype(np.float32)
        half = len(audio) // 2
        halves.append(half)
        if isinstance(engine, NeuralEngine):
            a, b = engine.encoder.embed(audio[:half]), engine.encoder.embed(audio[half : 2 * half])  # type: ignore[attr-defined]
        else:
            enc = engine.diarizer.encoder  # type: ignore[attr-defined]
            a, b = enc.embed([audio[:half]]), enc.embed([audio[half : 2 * half]])
        firsts.append(unit(np.asarray(a, np.float64).reshape(-1)))
        seconds_.append(unit(np.asarray(b, np.float64).reshape(-1)))
    who = [f.name.split("-")[0] for f in files]
    sims = np.stack(firsts) @ np.stack(seconds_).T
    same = np.array([[x == y for y in who] for x in who])
    print(f"{len(files)} utterances of {len(set(who))} people, halves of {min(halves) / 16000:.1f} to "
          f"{max(halves) / 16000:.1f} s")
    return [float(x) for x in sims[same]], [float(x) for x in sims[~same]]


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
    ap.add_argument("dir", type=Path, nargs="?", help="folder of recordings with RTTM reference turns")
    ap.add_argument("--engine", choices=("neural", "lite"), default="neural", help="whose encoder (default neural: CAM++)")
    ap.add_argument("--voices", type=Path, help="instead: a folder of one utterance per person, split into halves")
    ap.add_argument("--units", default=None,
                    help="embeddings per voice compared, or several as 1,4 (default: 10 lite windows = 4 s; "
                         "4 neural embeddings = about 4 s)")
    ap.add_argument("--min-windows", type=int, default=None,
                    help="embeddings a person needs in a file to enroll from it (default 6 lite, 3 neural)")
    ap.add_argument("--json", type=Path, help="also write the table here")
    args = ap.parse_args(argv)
    neural = args.engine == "neural"
    all_units = [int(u) for u in args.units.split(",")] if args.units else [4 if neural else 10]
    min_windows = args.min_windows or (3 if neural else 6)
    pairs = recordings(args.dir) if args.dir is not None else []
    if args.voices is None and not pairs:
        print(f"calibrate_profiles: no <uri>.wav with <uri>.rttm under {args.dir}; expected a folder laid out like "
              "../shared/eval/dev or tests/data (or --voices DIR)", file=sys.stderr)
        return 2
    pipeline = build_pipeline(PipelineConfig(engine=args.engine))
    print(f"model {pipeline.embedding_model}")
    if args.voices is not None:
        genuine, impostor = half_voices(args.voices, pipeline)
        print(f"{len(genuine)} genuine and {len(impostor)} impostor trials (halves)")
        report(genuine, impostor)
    else:
        per_file = {wav.stem: person_windows(wav, rttm, pipeline) for wav, rttm in pairs}
        recurring = {who for people in per_file.values() for who in people
                     if sum(who in p for p in per_file.values()) > 1}
        for units in all_units:
            genuine, impostor, n_profiles = trials(per_file, units, min_windows)
            print(f"{len(pairs)} recordings, {len(recurring)} people in more than one ({', '.join(sorted(recurring))}); "
                  f"{n_profiles} profiles; voices of {units} embedding(s); "
                  f"{len(genuine)} genuine and {len(impostor)} impostor trials")
            report(genuine, impostor)
    if args.json:
        args.json.write_text(json.dumps({"genuine": len(genuine), "impostor": len(impostor),
                                         "table": table(genuine, impostor)}, indent=2))
    return 0


def report(genuine: list[float], impostor: list[float]) -> None:
    if genuine:
        print(f"genuine similarity: min {min(genuine):.3f} 5th percentile {np.percentile(genuine, 5):.3f} "
              f"median {np.median(genuine):.3f}; impostor: median {np.median(impostor):.3f} "
              f"99.9th percentile {np.percentile(impostor, 99.9):.3f} max {max(impostor):.3f}")
    print(f"{'threshold':>9s} {'false accept':>14s} {'miss':>14s}")
    for r in table(genuine, impostor):
        print(f"{r['threshold']:9.3f} {100 * r['false_accept']:7.2f}% ({r['false_accepts']:5d}) "
              f"{100 * r['miss']:6.1f}% ({r['misses']:4d})")


if __name__ == "__main__":
    sys.exit(main())
