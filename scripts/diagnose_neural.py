#!/usr/bin/env python
"""The neural engine's post-meeting pass, replayed from cached live runs while its settings change.

    python scripts/diagnose_neural.py DIR [DIR ...] [--cache DIR] [--set regroup.FIELD=VALUE ...]
                                      [--set final.FIELD=VALUE ...] [--quiet]

Each DIR is laid out like ../shared/eval/dev (``wav/``, ``rttm/``, optional ``all.uem``). Every
file goes once through the live path (FileSource -> Runner -> Pipeline, as ``scripts/evaluate.py
--mode both`` runs it) and what the post-meeting pass reads is cached (``--cache``, default
/tmp/talktime-diagnose-neural): the decided segments with their live voices, and the kept
embedding records (live voice, span, embedding, clean speech, loudness of that speech). The pass (``tracker.stages.voice_pass.final_pass``) is then run again
from the cache with the ``--set`` settings and scored as evaluate.py scores it, in seconds.

Printed per file: people present, voices counted (2 s of talk or more), TVD (pp) and the largest
phantom voice (pp), for the live labels and the final pass; then the pooled figures.

``--voices`` also prints each voice the pass leaves with 2 s of talk or more: its talk, the person
it maps to (``no one``: a phantom), and the voice it is closest to with how alike their profiles
are (cosine of the speech-weighted mean embeddings) and how much quieter it is (speech-weighted
median levels, dB); then how many pairs of such voices hold one person split in two, and how many
two different people (each voice taken as the person whose talk it mostly holds), by how alike.
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from evaluate import load_rttm, load_uem  # noqa: E402
from talk_metrics import by_speaker, duration, pool, score_talk, shared_time  # noqa: E402
from tracker.audio import SAMPLE_RATE  # noqa: E402

Seg = tuple[str, float, float]


def reference(folder: Path, stem: str, uems: dict[str, Any]) -> tuple[list[Seg], tuple[float, float] | None]:
    """The reference turns of one file and its scored region, read as scripts/evaluate.py reads them."""
    ref = load_rttm(folder / "rttm" / f"{stem}.rttm")
    segs = [(str(label), seg.start, seg.end) for seg, _, label in ref.itertracks(yield_label=True)]
    uem = uems.get(stem)
    return segs, None if uem is None else (uem.extent().start, uem.extent().end)


def live_run(wav: Path) -> dict[str, Any]:
    """One run through the live path; what the post-meeting pass reads."""
    from tracker.pipeline.analysis import analyze
    from tracker.pipeline.build import build_engine
    from tracker.pipeline.pipeline import Pipeline, PipelineConfig

    config = PipelineConfig()
    pipeline = Pipeline(config, engine=build_engine("neural", config))
    analyze(wav, pipeline, mode="live")
    eng = pipeline.engine
    segs = [(eng.clustering.track(s.speaker), s.start_sample, s.end_sample) for s in eng._decided]  # noqa: SLF001
    recs = [(r.label, r.start, r.end, np.asarray(r.embedding, np.float32), r.speech) for r in eng.records()]
    return {"segments": segs, "records": recs, "levels": [r.level_db for r in eng.records()]}


def voice_lines(run: dict[str, Any], labels: list[int | None], final: list[Seg], ref: list[Seg],
                region: tuple[float, float] | None, mapping: dict[str, str]) -> tuple[list[str], list[tuple[float, bool, str]]]:
    """``--voices``: one line per counted voice, and (similarity, same person, what) of each pair."""
    from tracker.stages.voice_pass import speech_level

    found = by_speaker(final, region)
    talk = {k: duration(v) for k, v in found.items()}
    total = sum(talk.values()) or 1.0
    sums: dict[str, Any] = {}
    levels: dict[str, list[tuple[float, int]]] = {}
    for label, rec, level in zip(labels, run["records"], run["levels"], strict=True):
        if label is None or rec[4] <= 0:
            continue
        k = f"spk{label}"
        sums[k] = sums.get(k, 0.0) + np.asarray(rec[3], np.float64) * rec[4]
        levels.setdefault(k, []).append((float(level), int(rec[4])))
    counted = [k for k, t in talk.items() if t >= 2.0 and k in sums]
    prof = {k: sums[k] / np.linalg.norm(sums[k]) for k in counted}
    db = {k: speech_level([x for x, _ in levels[k]], [w for _, w in levels[k]]) for k in counted}
    refs = by_speaker(ref, region)
    own = {k: max(refs, key=lambda p: shared_time(found[k], refs[p])) for k in counted}  # whose talk it mostly holds
    lines, pairs = [], []
    for k in sorted(counted, key=lambda k: -talk[k]):
        others = [o for o in counted if o != k]
        near = max(others, key=lambda o: float(prof[k] @ prof[o]), default=None)
        tail = "" if near is None else (f"closest {near} ({talk[near]:.0f} s): alike {float(prof[k] @ prof[near]):.2f}, "
                                        f"{db[k] - db[near]:+.1f} dB")
        lines.append(f"    {k:6s} {talk[k]:6.1f} s {100 * talk[k] / total:5.1f} %  {mapping.get(k, 'no one'):>10s}  {tail}")
        pairs += [(float(prof[k] @ prof[o]), own[k] == own[o], f"{k}/{o}") for o in others if o > k]
    return lines, pairs


STAGES = ("regroup", "final")  # the NeuralConfig parts the post-meeting pass reads


def with_sets(obj: Any, sets: list[str]) -> Any:
    """``obj`` (a NeuralConfig) with each STAGE.FIELD=VALUE of ``sets`` applied."""
    for s in sets:
        key, _, value = s.partition("=")
        stage, _, name = key.partition(".")
        sub = getattr(obj, stage, None) if stage in STAGES else None
        if sub is None or not value or name not in {f.name for f in dataclasses.fields(sub)}:
            raise SystemExit(f"diagnose_neural: --set {s!r}: expected regroup.FIELD=VALUE or final.FIELD=VALUE "
                             "with a field of RegroupConfig or VoicePassConfig (tracker/stages/voice_pass.py)")
        current = getattr(sub, name)
        if dataclasses.is_dataclass(current) and value != "None":
            raise SystemExit(f"diagnose_neural: --set {s!r}: {stage}.{name} is {type(current).__name__}; "
                             "expected None here (switch it off) or a field of a number")
        kind = float if current is None or isinstance(current, float) else type(current)
        sub = dataclasses.replace(sub, **{name: None if value == "None" else kind(value)})
        obj = dataclasses.replace(obj, **{stage: sub})
    return obj


def main(argv: list[str] | None = None) -> int:
    from tracker.pipeline.neural import NeuralConfig
    from tracker.stages import voice_pass

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dirs", type=Path, nargs="+")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/talktime-diagnose-neural"))
    ap.add_argument("--set", action="append", default=[], metavar="STAGE.FIELD=VALUE")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--voices", action="store_true", help="also each voice the pass leaves, and how alike they are")
    args = ap.parse_args(argv)
    config = with_sets(NeuralConfig(), args.set)
    scores: dict[str, list[Any]] = {"live": [], "final": []}
    pairs: list[tuple[float, bool, str]] = []
    for folder in args.dirs:
        uems = load_uem(folder / "all.uem") if (folder / "all.uem").is_file() else {}
        for wav in sorted((folder / "wav").glob("*.wav")):
            cached = args.cache / folder.resolve().name / f"{wav.stem}.pkl"
            if cached.is_file():
                run = pickle.loads(cached.read_bytes())
            else:
                run = live_run(wav)
                cached.parent.mkdir(parents=True, exist_ok=True)
                cached.write_bytes(pickle.dumps(run))
            ref, region = reference(folder, wav.stem, uems)
            live = [(f"spk{s}", a / SAMPLE_RATE, b / SAMPLE_RATE) for s, a, b in run["segments"]]
            out, labels = voice_pass.final_voices(run["records"], run["segments"], config.regroup, config.final,
                                                  levels=run["levels"])
            final = [(f"spk{s}", a / SAMPLE_RATE, b / SAMPLE_RATE) for s, a, b in out]
            line = []
            for mode, hyp in (("live", live), ("final", final)):
                sc = score_talk(ref, hyp, region=region)
                scores[mode].append(sc)
                line.append(f"{mode} {sc.voices:2d}/{sc.people} TVD {sc.tvd:6.2f} ph {sc.phantom:5.2f}")
            if not args.quiet:
                print(f"{folder.name:>8s} {wav.stem:28s} " + "   ".join(line), flush=True)
            if args.voices:
                lines, found = voice_lines(run, labels, final, ref, region, scores["final"][-1].mapping)
                pairs += [(sim, same, f"{folder.name} {wav.stem} {what}") for sim, same, what in found]
                print("\n".join(lines))
    if args.voices and pairs:
        print("pairs of counted voices by how alike they are: one person split in two / two different people")
        for lo, hi in ((0.6, 1.01), (0.5, 0.6), (0.4, 0.5), (0.3, 0.4), (-1.0, 0.3)):
            got = [same for sim, same, _ in pairs if lo <= sim < hi]
            print(f"  {'below 0.30' if lo < 0 else f'{lo:.2f}-{min(hi, 1.0):.2f}':>10s}: {sum(got):3d} / {len(got) - sum(got):3d}")
    for mode, sc in scores.items():
        p = pool(sc)
        print(f"POOLED {mode:5s} voices {p['voices']}/{p['people']} exact {p['count_exact']}/{len(sc)} "
              f"within1 {p['count_within_one']}/{len(sc)} TVD {p['tvd_weighted']:.2f} phantom {p['phantom_max']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
