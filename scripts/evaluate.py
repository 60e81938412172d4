#!/usr/bin/env python
"""Measure talktime's accuracy and speed on a folder of recordings with reference turns.

    python scripts/evaluate.py DIR [--mode live|final] [--vad silero|webrtc0..3] [--engine pyannote --pipeline DIR]

DIR is laid out like ../shared/eval/dev: ``wav/<uri>.wav``, ``rttm/<uri>.rttm`` and ``all.uem``.
Each file goes through the live path (FileSource -> Runner -> Pipeline); with ``--engine pyannote``
the final pass is a local pyannote.audio pipeline run on the decoded file. Printed per file and
pooled over all files (last line):

- DER with no collar and with a 0.25 s collar, overlap scored (pyannote.metrics), and its parts
  (missed speech, false alarm, confusion) for the no-collar DER;
- reference vs found speaker count (found = people counted in the equity figures);
- talk-share error: the shares the product shows (among people counted present, so phantom voices
  under AccountingConfig.min_presence_s are left out), mapped one-to-one to real people by overlap (Hungarian);
  for every person and every unmapped found voice, |found share - true share| in percentage
  points, averaged per file; pooled = averaged over all people of all files;
- the real-time factor (wall time / audio time, models loaded beforehand).

``--enroll`` (live mode) scores voice profiles instead: for each file whose reference speakers
also speak in other files (AMI speaker ids recur), each such person's profile is built from the
other files (the mean of the windows they alone fill there, as ``scripts/calibrate_profiles.py``
does) and the file is run live twice: without profiles, and with them seeded as ``talktime run
--roster`` does. Printed per file and pooled: the talk-share error without and with, and how many
people were named from a profile (right / wrong).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(1, str(Path(__file__).resolve().parent))  # calibrate_profiles, for --enroll

import models  # noqa: F401,E402 - telemetry off before pyannote is imported
import numpy as np  # noqa: E402
from pyannote.core import Annotation, Segment, Timeline  # noqa: E402
from pyannote.metrics.diarization import DiarizationErrorRate  # noqa: E402
from scipy.optimize import linear_sum_assignment  # noqa: E402

from tracker.analysis import analyze  # noqa: E402
from tracker.audio import SAMPLE_RATE  # noqa: E402
from tracker.runner import Pipeline, PipelineConfig, build_pipeline  # noqa: E402
from tracker.stages.vad import VadConfig  # noqa: E402


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


@dataclass
class Row:
    uri: str
    der0: float
    miss: float
    fa: float
    conf: float
    derc: float
    ref_spk: int
    hyp_spk: int
    share_err: float
    rtf: float


def fmt(r: Row) -> str:
    return (
        f"{r.uri:32s} {r.der0:6.1f} {r.miss:6.1f} {r.fa:6.1f} {r.conf:6.1f} {r.derc:6.1f}"
        f" {r.ref_spk:4d} {r.hyp_spk:4d} {r.share_err:7.2f} {r.rtf:6.3f}"
    )


def with_overrides(config: PipelineConfig, sets: list[str]) -> PipelineConfig:
    """Apply ``stage.field=value`` overrides to a PipelineConfig (values parsed as their field's type)."""
    for item in sets:
        key, _, value = item.partition("=")
        stage, _, name = key.partition(".")
        part = getattr(config, stage, None)
        if part is None or not hasattr(part, name):
            raise SystemExit(f"evaluate: unknown setting {key!r}; expected STAGE.FIELD=VALUE, e.g. vad.threshold=0.3")
        typed = type(getattr(part, name))(value)
        config = dataclasses.replace(config, **{stage: dataclasses.replace(part, **{name: typed})})
    return config


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", type=Path, help="folder with wav/, rttm/ and all.uem")
    ap.add_argument("--mode", choices=("live", "final"), default="final")
    ap.add_argument("--vad", default=VadConfig().model, help="silero or webrtc0..webrtc3")
    ap.add_argument("--json", type=Path, help="also write the per-file figures here")
    ap.add_argument("--engine", choices=("talktime", "pyannote"), default="talktime",
                    help="final pass: talktime's re-clustering or a pyannote.audio pipeline (--pipeline)")
    ap.add_argument("--pipeline", default="pyannote/speaker-diarization-community-1",
                    help="with --engine pyannote: a local pipeline folder or a Hugging Face id in the local cache")
    ap.add_argument("--segmentation-step", type=float, default=None,
                    help="with --engine pyannote: the segmentation window's step as a fraction of it (pyannote: 0.1)")
    ap.add_argument("--set", action="append", default=[], metavar="STAGE.FIELD=VALUE",
                    help="override a setting, e.g. --set diarization.assign_threshold=0.8 (repeatable)")
    ap.add_argument("--enroll", action="store_true",
                    help="live talk-share error with and without profiles built from the other files (see above)")
    args = ap.parse_args(argv)

    wavs = sorted((args.dir / "wav").glob("*.wav"))
    if not wavs:
        print(f"evaluate: no wav/*.wav under {args.dir}; expected a folder laid out like ../shared/eval/dev", file=sys.stderr)
        return 2
    uems = load_uem(args.dir / "all.uem")
    pipeline = build_pipeline(with_overrides(PipelineConfig(vad=VadConfig(model=args.vad)), args.set))
    if args.enroll:
        return evaluate_enrollment(args.dir, wavs, uems, pipeline)
    engine = None
    if args.engine == "pyannote" and args.mode == "final":
        from models.pyannote import PyannoteEngine

        engine = PyannoteEngine(args.pipeline, segmentation_step=args.segmentation_step)
        try:
            engine.warmup()
        except models.ModelLoadError as exc:
            print(f"evaluate: ModelLoadError: {exc}", file=sys.stderr)
            return 1
    der0, derc = DiarizationErrorRate(collar=0.0, skip_overlap=False), DiarizationErrorRate(collar=0.5, skip_overlap=False)
    rows: list[Row] = []
    all_errs: list[float] = []
    total_audio = total_wall = 0.0
    print(f"mode={args.mode} vad={args.vad} engine={args.engine if engine else 'talktime'}  (DER parts in % of reference speech; share error in pp)")
    print(f"{'file':32s} {'DER':>6s} {'miss':>6s} {'FA':>6s} {'conf':>6s} {'DERc':>6s} {'ref':>4s} {'hyp':>4s} {'share':>7s} {'RTF':>6s}")
    for wav in wavs:
        uri = wav.stem
        rttm = args.dir / "rttm" / f"{uri}.rttm"
        if not rttm.exists():
            print(f"evaluate: skipping {uri}: no {rttm}", file=sys.stderr)
            continue
        ref = load_rttm(rttm)
        a = analyze(wav, pipeline, mode=args.mode, engine=engine)
        hyp = Annotation(uri=uri)
        for k, s in enumerate(a.segments):
            hyp[Segment(s.start_sample / SAMPLE_RATE, s.end_sample / SAMPLE_RATE), k] = f"spk{s.speaker}"
        uem = uems.get(uri, Timeline([Segment(0, a.duration_s)], uri=uri))
        d = der0(ref, hyp, uem=uem, detailed=True)
        dc = derc(ref, hyp, uem=uem)
        total = d["total"] or 1.0
        # Shares as the product shows them: among the people counted present (phantom voices with
        # under min_presence_s of speech are listed apart and get no share).
        present = {f"spk{p.id}" for p in a.summary.speakers if p.present and not p.expected}
        errs = share_errors(ref.crop(uem), hyp.crop(uem).subset(present))
        all_errs += errs
        total_audio += a.duration_s
        total_wall += a.elapsed_s
        row = Row(
            uri,
            100 * d["diarization error rate"],
            100 * d["missed detection"] / total,
            100 * d["false alarm"] / total,
            100 * d["confusion"] / total,
            100 * dc,
            len(ref.labels()),
            sum(1 for s in a.summary.speakers if s.present and not s.expected),
            float(np.mean(errs)),
            a.real_time_factor,
        )
        rows.append(row)
        print(fmt(row), flush=True)
    acc = der0.accumulated_
    t0 = acc["total"] or 1.0
    pooled = Row(
        "POOLED",
        100 * abs(der0),
        100 * acc["missed detection"] / t0,
        100 * acc["false alarm"] / t0,
        100 * acc["confusion"] / t0,
        100 * abs(derc),
        sum(r.ref_spk for r in rows),
        sum(r.hyp_spk for r in rows),
        float(np.mean(all_errs)) if all_errs else 0.0,
        total_wall / total_audio if total_audio else 0.0,
    )
    right = sum(r.ref_spk == r.hyp_spk for r in rows)
    print(f"speaker count right in {right} of {len(rows)} files; mean per-file share error "
          f"{np.mean([r.share_err for r in rows]):.2f} pp; {total_audio:.0f} s of audio in {total_wall:.1f} s")
    print(fmt(pooled))
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in rows + [pooled]], indent=2))
    return 0


def _live_share_error(wav: Path, ref: Annotation, uem: Timeline | None, pipeline: Pipeline) -> tuple[list[float], dict[int, str]]:
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


def _named_right(wav: Path, ref: Annotation, pipeline: Pipeline, named: dict[int, str]) -> tuple[int, int]:
    """Of the voices named from a profile, how many overlap that person's reference speech most."""
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


def evaluate_enrollment(folder: Path, wavs: list[Path], uems: dict[str, Timeline], pipeline: Pipeline) -> int:
    """Live share error with and without profiles of recurring people built from the other files."""
    from calibrate_profiles import person_windows

    from tracker.profiles import KnownVoices, Profile, ProfileMatcher, model_id
    from tracker.stages.diarization import unit

    pairs = [(w, folder / "rttm" / f"{w.stem}.rttm") for w in wavs if (folder / "rttm" / f"{w.stem}.rttm").exists()]
    windows = {w.stem: person_windows(w, r, pipeline) for w, r in pairs}
    model = model_id(pipeline.diarizer.encoder)
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
                                        speech_s=0.4 * len(emb), consent=True))
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
