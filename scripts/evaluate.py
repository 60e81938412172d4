#!/usr/bin/env python
"""Measure talktime's accuracy and speed on a folder of recordings with reference turns.

    python scripts/evaluate.py DIR [--mode live|final|both] [--engine lite|neural|pyannote] [--json OUT]
                               [--vad silero|webrtc0..3] [--pipeline DIR] [--set STAGE.FIELD=VALUE] [--mic-blocks]

DIR is laid out like ../shared/eval/dev: ``wav/<uri>.wav``, ``rttm/<uri>.rttm`` and ``all.uem``.
Each file goes through the microphone's path (FileSource -> Runner -> Pipeline); ``--mode final``
adds the post-meeting pass. ``--engine`` picks the diarization engine: ``lite`` (VAD + Resemblyzer
windows, today's default), ``neural`` (segmentation + CAM++; says so when this checkout does not
have it yet) or ``pyannote`` (final mode only: a local pyannote.audio pipeline, ``--pipeline``, as
the final pass over the lite live labels). Everything evaluate.py asks of the tracker is in
``tracker_runner()``: the tracker's wiring is fixed there and nowhere else.

Printed per file, then pooled over all files (the last line, ``POOLED``):

- DER with no collar, overlap scored (pyannote.metrics), with its parts (missed speech, false
  alarm, confusion, in % of reference speech), and DERc: the same with a 0.25 s collar on each side
  of every reference boundary; pooled = accumulated over all files;
- people present (reference speakers) and voices counted (found voices with at least 2 s of talk,
  as the product counts people); pooled: how many files have the exact count and how many are
  within one;
- TVD, the talk-time total variation distance in percentage points: half the sum of |reference
  share - found share| over people, after the one-to-one mapping of found voices to people that
  maximises the time they share (an unmapped voice counts with reference share 0), over every
  voice found (``scripts/talk_metrics.py``). The part of the talk time given to the wrong person.
  The shares of different meetings do not add up, so the pooled TVD is the mean of the per-file
  TVDs weighted by each file's reference talk time (the plain mean is printed beside it);
- shown: the same TVD with found shares among the counted voices only, as the product shows them
  (it lists voices under 2 s apart, with no share);
- phantom: the share (pp, of everything found) of the largest voice that maps to no person;
  pooled = the largest;
- the real-time factor (wall time / audio time, models loaded beforehand).

``--mode both`` scores the live labels and the final pass of one run of each file (the final pass
follows the live run, so this costs one run, not two); a table is printed for each.
``--json OUT`` writes the settings, every per-file figure (shares and mapping included), the
pooled figures and the found segments (to score again without running the tracker).

``--enroll`` (live; ``--engine neural`` or ``lite``) scores voice profiles instead: for each file whose reference
speakers also speak in other files (AMI speaker ids recur), each such person's profile is built
from the other files (the mean of the embeddings they alone fill there, as
``scripts/calibrate_profiles.py`` does) and the file is run live twice: without profiles, and with
them seeded as ``talktime run --roster`` does. Printed per file and pooled: the talk-share error
(mean |share error| per person, ``share_errors``) without and with, and how many people were named
from a profile (right / wrong).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(1, str(Path(__file__).resolve().parent))  # talk_metrics, calibrate_profiles

import models  # noqa: F401,E402 - telemetry off before pyannote is imported
import numpy as np  # noqa: E402
from pyannote.core import Annotation, Segment, Timeline  # noqa: E402
from pyannote.metrics.diarization import DiarizationErrorRate  # noqa: E402
from scipy.optimize import linear_sum_assignment  # noqa: E402
from talk_metrics import MIN_TALK_S, TalkScore, pool, score_talk  # noqa: E402

ENGINES = ("lite", "neural", "pyannote")
Seg = tuple[str, float, float]  # (speaker, start_s, end_s)


def load_rttm(path: Path) -> Annotation:
    ann = Annotation(uri=path.stem)
    for line in path.read_text().splitlines():
        f = line.split()
        if len(f) >= 8 and f[0] == "SPEAKER":
            start, dur = float(f[3]), float(f[4])
            ann[Segment(start, start + dur), len(ann)] = f[7]
    return ann


def load_uem(path: Path) -> dict[str, Timeline]:
    out: dict[str, Timeline] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            f = line.split()
            if len(f) >= 4:
                out.setdefault(f[0], Timeline(uri=f[0])).add(Segment(float(f[2]), float(f[3])))
    return out


def talk_times(ann: Annotation) -> dict[object, float]:
    return {label: ann.label_duration(label) for label in ann.labels()}


def share_errors(ref: Annotation, hyp: Annotation) -> list[float]:
    """|share_found - share_true| in pp for every person and every unmapped found voice."""
    rt, ht = talk_times(ref), talk_times(hyp)
    rl, hl = sorted(rt, key=str), sorted(ht, key=str)
    rtot, htot = sum(rt.values()) or 1.0, sum(ht.values()) or 1.0
    overlap = np.zeros((len(rl), len(hl)))
    for i, r in enumerate(rl):
        rtl = ref.label_timeline(r)
        for j, h in enumerate(hl):
            overlap[i, j] = rtl.crop(hyp.label_timeline(h), mode="intersection").duration()
    rows, cols = linear_sum_assignment(-overlap) if overlap.size else ([], [])
    pair = {int(i): int(j) for i, j in zip(rows, cols, strict=True) if overlap[i, j] > 0}
    errs = [abs(rt[r] / rtot - (ht[hl[pair[i]]] / htot if i in pair else 0.0)) * 100 for i, r in enumerate(rl)]
    mapped = set(pair.values())
    errs += [ht[h] / htot * 100 for j, h in enumerate(hl) if j not in mapped]
    return errs


def with_overrides(config: Any, sets: list[str]) -> Any:
    """Apply ``stage.field=value`` overrides to a PipelineConfig (values parsed as their field's type);
    a dotted path reaches nested settings, e.g. ``neural.voices.new_voice_s=3``."""

    def replaced(obj: Any, path: list[str], value: str, key: str) -> Any:
        name = path[0]
        if not dataclasses.is_dataclass(obj) or not hasattr(obj, name):
            raise SystemExit(f"evaluate: unknown setting {key!r}; expected STAGE.FIELD=VALUE, e.g. vad.threshold=0.3")
        inner = getattr(obj, name)
        new = replaced(inner, path[1:], value, key) if len(path) > 1 else type(inner)(value)
        return dataclasses.replace(obj, **{name: new})

    for item in sets:
        key, _, value = item.partition("=")
        if "." not in key:
            raise SystemExit(f"evaluate: unknown setting {key!r}; expected STAGE.FIELD=VALUE, e.g. vad.threshold=0.3")
        config = replaced(config, key.split("."), value, key)
    return config


class EngineUnavailable(Exception):
    """The engine asked for cannot run here (not in this checkout, weights missing, wrong mode)."""


@dataclass
class FileRun:
    segments: dict[str, list[Seg]]  # mode ("live", "final") -> who spoke when, as the tracker decided it
    duration_s: float
    elapsed_s: float  # wall time of the run (both modes), models already loaded


RunFile = Callable[[Path], FileRun]


def tracker_runner(engine: str, mode: str, *, vad: str | None = None, sets: list[str] | None = None,
                   pipeline_dir: str | None = None, segmentation_step: float | None = None,
                   mic_blocks: bool = False) -> RunFile:
    """Build the tracker once for ``engine`` and return ``run_file(wav) -> FileRun`` in ``mode``
    (``live``, ``final``, or ``both`` from one run: the final pass follows the same live run).

    The only function of evaluate.py that knows how the tracker is put together (imports included):
    when modules move or the engine factory changes, fix this one.
    """
    from tracker.audio import SAMPLE_RATE
    from tracker.pipeline.analysis import analyze
    from tracker.pipeline.build import ENGINES as BUILT
    from tracker.pipeline.build import build_engine
    from tracker.pipeline.pipeline import Pipeline, PipelineConfig
    from tracker.sources.base import BLOCK_SAMPLES
    from tracker.stages.vad import VadConfig

    def make_pipeline(name: str, config: Any) -> Any:
        if name not in BUILT:
            raise EngineUnavailable(f"this checkout builds only {', '.join(BUILT)} (tracker.pipeline.build.ENGINES)")
        return Pipeline(config, engine=build_engine(name, config))

    if engine not in ENGINES:
        raise EngineUnavailable(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")
    config = PipelineConfig() if vad is None else PipelineConfig(vad=VadConfig(model=vad))
    config = with_overrides(config, sets or [])
    final_engine = None
    if engine == "pyannote":  # the lite engine live, then a pyannote.audio pipeline as the final pass
        if mode == "live":
            raise EngineUnavailable("--engine pyannote is a final pass only (run it with --mode final or both)")
        from models.pyannote import PyannoteEngine

        pipeline = make_pipeline("lite", config)
        final_engine = PyannoteEngine(pipeline_dir or "pyannote/speaker-diarization-community-1",
                                      segmentation_step=segmentation_step)
        try:
            final_engine.warmup()
        except models.ModelLoadError as exc:
            raise EngineUnavailable(f"ModelLoadError: {exc}") from exc
    else:
        try:
            pipeline = make_pipeline(engine, config)
        except models.ModelLoadError as exc:
            raise EngineUnavailable(f"ModelLoadError: {exc}") from exc

    def seconds(segments: Any) -> list[Seg]:
        return [(f"spk{s.speaker}", s.start_sample / SAMPLE_RATE, s.end_sample / SAMPLE_RATE) for s in segments]

    def run_file(wav: Path) -> FileRun:
        a = analyze(wav, pipeline, mode="live" if mode == "live" else "final", engine=final_engine,
                    block_samples=BLOCK_SAMPLES if mic_blocks else None)
        out = {"final": seconds(a.segments)} if mode != "live" else {"live": seconds(a.segments)}
        if mode == "both":  # the live labels of the same run, as analyze(mode="live") returns them
            out["live"] = seconds(sorted(pipeline.segments, key=lambda s: (s.start_sample, s.speaker)))
        return FileRun(out, a.duration_s, a.elapsed_s)

    return run_file


@dataclass
class Row:
    uri: str
    der: float  # % no collar, overlap scored
    miss: float
    fa: float
    conf: float
    der_collar: float  # % with 0.25 s each side
    people: int
    voices: int
    tvd: float  # pp
    phantom: float  # pp
    rtf: float
    duration_s: float = 0.0
    ref_talk_s: float = 0.0
    tvd_shown: float = 0.0  # pp: TVD of the shares among the counted voices, as the product shows them
    ref_share: dict[str, float] = dataclasses.field(default_factory=dict)
    found_share: dict[str, float] = dataclasses.field(default_factory=dict)
    mapping: dict[str, str] = dataclasses.field(default_factory=dict)


HEADER = (f"{'file':34s} {'DER':>6s} {'miss':>6s} {'FA':>6s} {'conf':>6s} {'DERc':>6s} "
          f"{'people':>6s} {'voices':>6s} {'TVD':>6s} {'shown':>6s} {'phant':>6s} {'RTF':>6s}")


def fmt(r: Row) -> str:
    return (f"{r.uri:34s} {r.der:6.1f} {r.miss:6.1f} {r.fa:6.1f} {r.conf:6.1f} {r.der_collar:6.1f} "
            f"{r.people:6d} {r.voices:6d} {r.tvd:6.2f} {r.tvd_shown:6.2f} {r.phantom:6.2f} {r.rtf:6.3f}")


def annotation(uri: str, segs: list[Seg]) -> Annotation:
    ann = Annotation(uri=uri)
    for k, (spk, start, end) in enumerate(segs):
        if end > start:
            ann[Segment(start, end), k] = spk
    return ann


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", type=Path, help="folder with wav/, rttm/ and all.uem")
    ap.add_argument("--mode", choices=("live", "final", "both"), default="final",
                    help="both: live and final figures from one run of each file")
    ap.add_argument("--engine", choices=ENGINES, default="lite",
                    help="diarization engine: lite (today's), neural, or pyannote (final pass only, --pipeline)")
    ap.add_argument("--vad", default=None, help="lite engine's speech detector: silero or webrtc0..webrtc3")
    ap.add_argument("--json", type=Path, metavar="OUT", help="also write every per-file and pooled figure here")
    ap.add_argument("--pipeline", default=None,
                    help="with --engine pyannote: a local pipeline folder or a Hugging Face id in the local cache")
    ap.add_argument("--segmentation-step", type=float, default=None,
                    help="with --engine pyannote: the segmentation window's step as a fraction of it (pyannote: 0.1)")
    ap.add_argument("--set", action="append", default=[], metavar="STAGE.FIELD=VALUE",
                    help="override a setting, e.g. --set diarization.assign_threshold=0.8 (repeatable)")
    ap.add_argument("--mic-blocks", action="store_true",
                    help="read each file in the microphone's 0.1 s blocks, not 2 s ones: the live labels are then "
                         "exactly a live meeting's (the engine decides once per block)")
    ap.add_argument("--enroll", action="store_true",
                    help="live talk-share error with and without profiles built from the other files (see above)")
    args = ap.parse_args(argv)

    wavs = sorted((args.dir / "wav").glob("*.wav"))
    if not wavs:
        print(f"evaluate: no wav/*.wav under {args.dir}; expected a folder laid out like ../shared/eval/dev", file=sys.stderr)
        return 2
    uems = load_uem(args.dir / "all.uem")
    if args.enroll:
        return evaluate_enrollment(args.dir, wavs, uems, vad=args.vad, sets=args.set, engine=args.engine)
    try:
        run_file = tracker_runner(args.engine, args.mode, vad=args.vad, sets=args.set, pipeline_dir=args.pipeline,
                                  segmentation_step=args.segmentation_step, mic_blocks=args.mic_blocks)
    except EngineUnavailable as exc:
        print(f"evaluate: engine {args.engine}: {exc}", file=sys.stderr)
        return 1
    runs: list[tuple[str, Annotation, Timeline, FileRun]] = []
    for wav in wavs:
        uri = wav.stem
        rttm = args.dir / "rttm" / f"{uri}.rttm"
        if not rttm.exists():
            print(f"evaluate: skipping {uri}: no {rttm}", file=sys.stderr)
            continue
        run = run_file(wav)
        runs.append((uri, load_rttm(rttm), uems.get(uri, Timeline([Segment(0, run.duration_s)], uri=uri)), run))
        print(f"  {uri}: {run.duration_s:.0f} s in {run.elapsed_s:.1f} s", file=sys.stderr, flush=True)
    if not runs:
        print(f"evaluate: no wav under {args.dir} has a reference in rttm/", file=sys.stderr)
        return 2
    modes = ["live", "final"] if args.mode == "both" else [args.mode]
    results = {mode: score_mode(args, mode, runs) for mode in modes}
    if args.json:
        out = {
            "dir": str(args.dir), "engine": args.engine, "vad": args.vad, "set": args.set, "min_talk_s": MIN_TALK_S,
            "notes": "pooled tvd = mean of per-file TVD weighted by reference talk time (shares of different files do "
                     "not add up), tvd_mean = plain mean; der/miss/fa/conf/der_collar pooled = accumulated over "
                     "files, in % of reference speech; der_collar = 0.25 s each side; phantom = largest unmapped "
                     "counted voice's share (pp); voices = found voices with >= min_talk_s of talk",
            "modes": results,
            # what the tracker found, (voice, start_s, end_s) per file and mode: to score again without a run
            "found": {uri: {m: [[spk, round(a, 3), round(b, 3)] for spk, a, b in run.segments[m]] for m in modes}
                      for uri, _, _, run in runs},
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2))
    return 0


def score_mode(args: argparse.Namespace, mode: str, runs: list[tuple[str, Annotation, Timeline, FileRun]]) -> dict[str, Any]:
    """Score one mode of every run; print its table (pooled last) and return its figures."""
    der0 = DiarizationErrorRate(collar=0.0, skip_overlap=False)
    derc = DiarizationErrorRate(collar=0.5, skip_overlap=False)  # pyannote's collar is the total: 0.25 s each side
    rows: list[Row] = []
    scores: list[TalkScore] = []
    total_audio = total_wall = 0.0
    print(f"{args.dir}  engine={args.engine} mode={mode}  (DER parts in % of reference speech; TVD and phantom "
          f"share in pp; voices = found voices with >= {MIN_TALK_S:g} s of talk)")
    print(HEADER)
    for uri, ref, uem, run in runs:
        segs = run.segments[mode]
        hyp = annotation(uri, segs)
        d = der0(ref, hyp, uem=uem, detailed=True)
        dc = derc(ref, hyp, uem=uem)
        total = d["total"] or 1.0
        extent = uem.extent()
        ref_segs = [(str(label), seg.start, seg.end) for seg, _, label in ref.itertracks(yield_label=True)]
        s = score_talk(ref_segs, segs, region=(extent.start, extent.end))
        scores.append(s)
        total_audio += run.duration_s
        total_wall += run.elapsed_s
        row = Row(uri, 100 * d["diarization error rate"], 100 * d["missed detection"] / total,
                  100 * d["false alarm"] / total, 100 * d["confusion"] / total, 100 * dc,
                  s.people, s.voices, s.tvd, s.phantom, run.elapsed_s / run.duration_s if run.duration_s else 0.0,
                  run.duration_s, s.ref_talk_s, s.tvd_shown, s.ref_share, s.found_share, s.mapping)
        rows.append(row)
        print(fmt(row), flush=True)
    acc = der0.accumulated_
    t0 = acc["total"] or 1.0
    talk = pool(scores)
    pooled = Row("POOLED", 100 * abs(der0), 100 * acc["missed detection"] / t0, 100 * acc["false alarm"] / t0,
                 100 * acc["confusion"] / t0, 100 * abs(derc), talk["people"], talk["voices"], talk["tvd_weighted"],
                 talk["phantom_max"], total_wall / total_audio if total_audio else 0.0, total_audio,
                 float(sum(s.ref_talk_s for s in scores)), talk["tvd_shown_weighted"])
    print(f"voices counted = people present in {talk['count_exact']} of {len(rows)} files, within one in "
          f"{talk['count_within_one']}; TVD: mean of per-file TVD weighted by reference talk time "
          f"{talk['tvd_weighted']:.2f} pp (plain mean {talk['tvd_mean']:.2f}, worst {talk['tvd_max']:.2f}; "
          f"among the counted voices only, as shown: {pooled.tvd_shown:.2f}); "
          f"largest phantom voice {talk['phantom_max']:.2f} pp; {total_audio:.0f} s of audio in {total_wall:.1f} s")
    print(fmt(pooled), flush=True)
    pooled_fig = {k: v for k, v in dataclasses.asdict(pooled).items() if k not in ("ref_share", "found_share", "mapping")}
    pooled_fig.update(talk)
    return {"files": [dataclasses.asdict(r) for r in rows], "pooled": pooled_fig}


# --------------------------------------------------------------------------- --enroll
# Profiles reach into the pipeline (seeds, merges); this stays apart from tracker_runner().


def _live_share_error(wav: Path, ref: Annotation, uem: Timeline | None, pipeline: Any) -> tuple[list[float], dict[int, str]]:
    from tracker.pipeline.analysis import analyze
    from tracker.audio import SAMPLE_RATE

    a = analyze(wav, pipeline, mode="live")
    hyp = Annotation(uri=wav.stem)
    for k, s in enumerate(a.segments):
        # a voice merged into a profile's voice counts as that voice, past included, as on the dashboard
        hyp[Segment(s.start_sample / SAMPLE_RATE, s.end_sample / SAMPLE_RATE), k] = f"spk{pipeline._alias(s.speaker)}"
    uem = uem or Timeline([Segment(0, a.duration_s)], uri=wav.stem)
    present = {f"spk{p.id}" for p in a.summary.speakers if p.present and not p.expected}
    named = dict(pipeline.known.from_profile) if pipeline.known is not None else {}
    spoke = {i: n for i, n in named.items() if f"spk{i}" in hyp.labels()}
    return share_errors(ref.crop(uem), hyp.crop(uem).subset(present)), spoke


def _named_right(wav: Path, ref: Annotation, pipeline: Any, named: dict[int, str]) -> tuple[int, int]:
    """Of the voices named from a profile, how many overlap that person's reference speech most."""
    from tracker.audio import SAMPLE_RATE

    right = 0
    for sid, name in named.items():
        overlap: dict[str, float] = {}
        for s in pipeline.segments:
            if pipeline._alias(s.speaker) != sid:
                continue
            seg = Segment(s.start_sample / SAMPLE_RATE, s.end_sample / SAMPLE_RATE)
            for label in ref.crop(seg).labels():
                overlap[label] = overlap.get(label, 0.0) + ref.label_timeline(label).crop(seg).duration()
        right += bool(overlap) and max(overlap, key=overlap.__getitem__) == name
    return right, len(named) - right


def evaluate_enrollment(folder: Path, wavs: list[Path], uems: dict[str, Timeline], *, vad: str | None,
                        sets: list[str], engine: str = "neural") -> int:
    """Live share error with and without profiles of recurring people built from the other files."""
    from calibrate_profiles import person_windows

    from tracker.pipeline.build import build_pipeline
    from tracker.pipeline.pipeline import PipelineConfig
    from tracker.pipeline.profiles import KnownVoices, ProfileMatcher, settings
    from tracker.segments import Profile
    from tracker.stages.diarization import unit
    from tracker.stages.vad import VadConfig

    if engine not in ("neural", "lite"):
        print(f"evaluate: --enroll expected --engine neural or lite, got {engine}", file=sys.stderr)
        return 2
    config = PipelineConfig(engine=engine) if vad is None else PipelineConfig(engine=engine, vad=VadConfig(model=vad))
    pipeline = build_pipeline(with_overrides(config, sets))

    pairs = [(w, folder / "rttm" / f"{w.stem}.rttm") for w in wavs if (folder / "rttm" / f"{w.stem}.rttm").exists()]
    windows = {w.stem: person_windows(w, r, pipeline) for w, r in pairs}
    model = pipeline.embedding_model or "none"  # campplus (neural) or resemblyzer-ge2e-0.1.4/256 (lite)
    without: list[float] = []
    with_: list[float] = []
    right = wrong = 0
    print(f"{'file':32s} {'people':>6s} {'enrolled':>8s} {'share without':>13s} {'with':>7s} {'named right/wrong':>18s}")
    for wav, rttm in pairs:
        ref = load_rttm(rttm)
        profiles = []
        for who in ref.labels():
            rows = [p[who] for uri, p in windows.items() if uri != wav.stem and who in p]
            if rows:
                emb = np.concatenate(rows)
                profiles.append(Profile(str(who), model, unit(emb.sum(axis=0)).astype(np.float32), windows=len(emb),
                                        speech_s=settings(model).embedding_s * len(emb), consent=True))
        if not profiles:
            continue
        pipeline.use_profiles(None)
        e0, _ = _live_share_error(wav, ref, uems.get(wav.stem), pipeline)
        pipeline.use_profiles(KnownVoices(ProfileMatcher(profiles, model=model), roster=[p.name for p in profiles]))
        e1, named = _live_share_error(wav, ref, uems.get(wav.stem), pipeline)
        r, w = _named_right(wav, ref, pipeline, named)
        right, wrong = right + r, wrong + w
        without += e0
        with_ += e1
        print(f"{wav.stem:32s} {len(ref.labels()):6d} {len(profiles):8d} {np.mean(e0):13.2f} {np.mean(e1):7.2f} "
              f"{r:>9d}/{w:<8d}", flush=True)
    pipeline.use_profiles(None)
    if not without:
        print("evaluate: no file has a speaker who also speaks in another file; nothing to enroll", file=sys.stderr)
        return 2
    print(f"POOLED live share error (pp, over every person of those files): without profiles {np.mean(without):.2f}, "
          f"with {np.mean(with_):.2f}; named from a profile: {right} right, {wrong} wrong")
    return 0


if __name__ == "__main__":
    sys.exit(main())
