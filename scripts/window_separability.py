"""How well can the live diarizer's window embeddings tell two people apart? Measured on real audio.

    python scripts/window_separability.py DIR [DIR ...] [--cache DIR] [--per-file] [--encoder campplus]

Each DIR is laid out like ../shared/eval/dev (``wav/``, ``rttm/``, optional ``all.uem``). Every file
goes once through the live path, as ``talktime analyze`` does, and its windows are cached with
``scripts/diagnose_final.py``'s cache (the same ``--cache``), so a second run takes seconds.

Only windows that one reference person has to themselves are kept: at least 90 % of the
reference speech inside the window's 1.6 s of audio is theirs, and under 5 % of it overlaps.
Pairs of such windows whose audio does not overlap (windows share audio with their neighbours,
which makes them alike whatever is said) are scored by cosine similarity:

- ``same`` / ``diff``: the mean similarity of pairs of one person / of two people in the same file;
- ``same by distance``: one person's pairs, by how far apart the windows are (a voice drifts);
- ``EER``: the equal error rate of a single threshold telling "same person" from "two people".
  0 % is a perfect embedding, 50 % is chance. The live diarizer needs a few % to stay stable: it
  puts a window with a voice at 0.8 and starts a new voice from windows 0.84 alike.

``--encoder campplus`` scores the same windows (the same selection, the same 1.6 s of audio each)
embedded by the neural engine's CAM++ encoder instead of the live path's Resemblyzer.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))

from diagnose_final import collect  # noqa: E402
from pyannote.core import Annotation, Segment  # noqa: E402

import soundfile as sf  # noqa: E402

from tracker.audio import SAMPLE_RATE  # noqa: E402
from tracker.stages.diarization import DiarizationConfig, WindowRecord  # noqa: E402

DISTANCES = ((0.0, 5.0), (5.0, 15.0), (15.0, float("inf")))  # seconds between the windows' starts


def owner(ref: Annotation, start_s: float, end_s: float) -> str | None:
    """The one reference person who has the window to themselves, or None."""
    crop = ref.crop(Segment(start_s, end_s), mode="intersection")
    talk = {label: crop.label_duration(label) for label in crop.labels()}
    total = sum(talk.values())
    if total <= 0:
        return None
    overlap = total - crop.get_timeline().support().duration()
    best = max(talk, key=talk.__getitem__)
    return best if talk[best] >= 0.9 * total and overlap < 0.05 * total else None


def equal_error_rate(same: npt.NDArray[np.float64], diff: npt.NDArray[np.float64]) -> float:
    """The error rate where a threshold rejects as many same-person pairs as it accepts two-people pairs."""
    thresholds = np.unique(np.concatenate([same, diff]))
    miss = np.searchsorted(np.sort(same), thresholds, side="left") / len(same)  # same-person pairs under t
    false = 1.0 - np.searchsorted(np.sort(diff), thresholds, side="left") / len(diff)  # two-people pairs at t or over
    return float(np.min(np.maximum(miss, false)))


def pairs(records: list[WindowRecord], ref: Annotation, config: DiarizationConfig) -> tuple[list[float], list[float], list[tuple[float, float]]]:
    """Similarities of non-overlapping window pairs: one person's, two people's, and (distance, sim) of one person's."""
    window, step = config.window_s, config.step_s
    apart = int(np.ceil(window / step - 1e-9))  # windows this many indices apart share no audio
    kept = []
    for r in records:
        if r.embedding is None or not r.strong:
            continue
        start = r.index * step
        who = owner(ref, start, start + window)
        if who is not None:
            kept.append((r.index, who, r.embedding.astype(np.float64)))
    same: list[float] = []
    diff: list[float] = []
    by_distance: list[tuple[float, float]] = []
    for i, (ka, wa, ea) in enumerate(kept):
        for kb, wb, eb in kept[i + 1 :]:
            if kb - ka < apart:
                continue
            sim = float(ea @ eb)
            if wa == wb:
                same.append(sim)
                by_distance.append(((kb - ka) * step, sim))
            else:
                diff.append(sim)
    return same, diff, by_distance


def reembed(records: list[WindowRecord], wav: Path, encoder: object, config: DiarizationConfig) -> list[WindowRecord]:
    """The records with each embedded window's embedding replaced by ``encoder``'s of its whole audio.

    ``encoder`` is a ``models.campplus.CamPlusPlus`` (any object with its ``embed`` works).
    """
    audio, rate = sf.read(wav, dtype="float32", always_2d=True)
    if rate != SAMPLE_RATE:
        raise SystemExit(f"error: {wav} is {rate} Hz; expected {SAMPLE_RATE} Hz")
    audio = audio.mean(axis=1)
    length = int(round(config.window_s * SAMPLE_RATE))
    out: list[WindowRecord] = []
    todo: list[int] = []  # indices in ``out`` of the windows to embed
    for r in records:
        if r.embedding is None:
            out.append(r)
            continue
        start = int(round(r.index * config.step_s * SAMPLE_RATE))
        if start + length <= len(audio):  # a window cut short by the file's end is left out
            todo.append(len(out))
            out.append(r)
    for lo in range(0, len(todo), 32):
        batch = todo[lo : lo + 32]
        starts = [int(round(out[i].index * config.step_s * SAMPLE_RATE)) for i in batch]
        emb = encoder.embed(np.stack([audio[s : s + length] for s in starts]))  # type: ignore[attr-defined]
        for i, e in zip(batch, emb):
            out[i] = dataclasses.replace(out[i], embedding=e)
    return out


def summary(name: str, same: list[float], diff: list[float], by_distance: list[tuple[float, float]]) -> str:
    if not same or not diff:
        return f"{name:34s} too few windows of one person (same {len(same)}, diff {len(diff)} pairs)"
    s, d = np.asarray(same), np.asarray(diff)
    bins = []
    for lo, hi in DISTANCES:
        v = [sim for dist, sim in by_distance if lo <= dist < hi]
        label = f"{lo:.0f}-{hi:.0f}s" if hi != float("inf") else f">{lo:.0f}s"
        bins.append(f"{label} {np.mean(v):.2f}" if v else f"{label}   - ")
    return (f"{name:34s} same {s.mean():.2f}  diff {d.mean():.2f}  EER {100 * equal_error_rate(s, d):4.1f} %"
            f"  same by distance: {', '.join(bins)}  ({len(s)} / {len(d)} pairs)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dirs", nargs="+", type=Path, help="folders with wav/, rttm/ and optionally all.uem")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/talktime-diagnose"), help="window cache (diagnose_final.py's)")
    ap.add_argument("--per-file", action="store_true", help="a line per file as well")
    ap.add_argument("--encoder", choices=("resemblyzer", "campplus"), default="resemblyzer",
                    help="embed the windows with the live path's Resemblyzer (default) or CAM++")
    args = ap.parse_args()
    config = DiarizationConfig()
    encoder = None
    if args.encoder == "campplus":
        from models.campplus import CamPlusPlus

        encoder = CamPlusPlus()
    for folder in args.dirs:
        if not (folder / "wav").is_dir() or not (folder / "rttm").is_dir():
            print(f"error: {folder} expected wav/ and rttm/ folders (see ../shared/eval/README)", file=sys.stderr)
            return 2
        all_same: list[float] = []
        all_diff: list[float] = []
        all_dist: list[tuple[float, float]] = []
        for item, ref, _uem in collect(folder, args.cache):
            records = item.records
            if encoder is not None:
                records = reembed(records, folder / "wav" / f"{item.uri}.wav", encoder, config)
            same, diff, dist = pairs(records, ref, config)
            if args.per_file:
                print("  " + summary(item.uri, same, diff, dist))
            all_same += same
            all_diff += diff
            all_dist += dist
        print(summary(f"POOLED {folder}", all_same, all_diff, all_dist), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
