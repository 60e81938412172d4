"""Measure hybrid meetings: is each remote person counted once, and are the shares right?

    python scripts/eval_hybrid.py [--mode live|final] [--shared ../shared/eval/dev] [--no-gate]
                                  [--call-late MS] [--no-align]

Two sets of meetings, each a room recording that holds the call's echo plus the call's own audio:

- ``synthetic``: scripts/make_hybrid.py's meeting (two people in the room, two on the call, espeak-ng
  voices) under every combination of echo level (-10, -3, 0, +3 dB relative to the room talkers) and
  delay (50, 150, 300 ms), with reverberation and noise;
- ``real`` (when the shared data is there): each AMI clip of ../shared/eval/dev as the room and the
  pyannote phone call sample as the call, its echo mixed in at -3 dB and 150 ms the same way.

For each it reports the voices found in the room and on the call against the truth, ``twice``
(room voices that are mostly the call's echo: a remote person counted a second time), the
talk-share error over everyone (scripts/evaluate.py's definition, in percentage points) and the
error of the remote people's total share. ``--no-gate`` turns the echo gate off, to see what it buys.

``--call-late MS`` starts the call's recording MS milliseconds late, so that the call reaches the
pairing after its own echo, as when the room microphone starts slower than the call's monitor.
``--no-align`` turns off lining the call up again from its echo (``CallAligner``), as before it
existed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from pyannote.core import Annotation, Segment

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
from evaluate import load_rttm, share_errors  # noqa: E402
from make_hybrid import SAMPLE_RATE, render, room_microphone, write_rttm  # noqa: E402

from tracker.pipeline.analysis import analyze  # noqa: E402
from tracker.pipeline.build import build_hybrid_pipeline  # noqa: E402
from tracker.pipeline.pipeline import Pipeline  # noqa: E402
from tracker.stages.accounting import is_remote  # noqa: E402
from tracker.stages.echo import EchoConfig  # noqa: E402

ECHO_DB = (-10.0, -3.0, 0.0, 3.0)
DELAY_MS = (50.0, 150.0, 300.0)


@dataclass
class Case:
    name: str
    room: Path
    call: Path
    reference: Annotation  # speakers "room:<x>" and "call:<x>"


@dataclass
class Row:
    name: str
    room_ref: int
    room_hyp: int
    call_ref: int
    call_hyp: int
    twice: int
    share_err: float
    remote_err: float


def late(call: np.ndarray, late_ms: float) -> np.ndarray:
    """The call's audio starting ``late_ms`` late (silence first)."""
    return np.concatenate([np.zeros(int(round(late_ms * SAMPLE_RATE / 1000))), call])


def synthetic_cases(out: Path, late_ms: float = 0.0) -> list[Case]:
    cases = []
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        room, call, ref = render(0, tmp)
        for echo_db in ECHO_DB:
            for delay in DELAY_MS:
                name = f"espeak echo {echo_db:+.0f} dB {delay:.0f} ms"
                d = out / f"syn_{echo_db:+.0f}_{delay:.0f}"
                d.mkdir(parents=True, exist_ok=True)
                mic = room_microphone(room, call, echo_db=echo_db, delay_ms=delay, reverb=40.0, noise_snr=25.0, seed=0, tmp=tmp)
                sf.write(str(d / "room.wav"), mic.astype(np.float32), SAMPLE_RATE, subtype="PCM_16")
                sf.write(str(d / "call.wav"), late(call * 0.9 / np.max(np.abs(call)), late_ms).astype(np.float32), SAMPLE_RATE,
                         subtype="PCM_16")
                write_rttm(d / "hybrid.rttm", "hybrid", [(f"{side}:{s}", a, b) for side, s, a, b in ref])
                cases.append(Case(name, d / "room.wav", d / "call.wav", load_rttm(d / "hybrid.rttm")))
    return cases


def real_cases(shared: Path, out: Path, late_ms: float = 0.0) -> list[Case]:
    phone = shared / "wav" / "pyannote_sample_phonecall.wav"
    if not phone.exists():
        return []
    call, _ = sf.read(str(phone), dtype="float64")
    call_ref = load_rttm(shared / "rttm" / "pyannote_sample_phonecall.rttm")
    cases = []
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        for wav in sorted((shared / "wav").glob("ami-*.wav")):
            room, _ = sf.read(str(wav), dtype="float64")
            n = min(len(room), len(call))
            d = out / wav.stem
            d.mkdir(parents=True, exist_ok=True)
            mic = room_microphone(room[:n], call[:n], echo_db=-3.0, delay_ms=150.0, reverb=40.0, noise_snr=25.0, seed=0, tmp=tmp)
            sf.write(str(d / "room.wav"), mic.astype(np.float32), SAMPLE_RATE, subtype="PCM_16")
            sf.write(str(d / "call.wav"), late(call[:n], late_ms).astype(np.float32), SAMPLE_RATE, subtype="PCM_16")
            ref = Annotation(uri=wav.stem)
            end = n / SAMPLE_RATE
            for side, ann in (("room", load_rttm(shared / "rttm" / f"{wav.stem}.rttm")), ("call", call_ref)):
                for seg, _, label in ann.itertracks(yield_label=True):
                    if seg.start < end:
                        ref[Segment(seg.start, min(seg.end, end)), len(ref)] = f"{side}:{label}"
            cases.append(Case(f"{wav.stem.removeprefix('ami-mix_')} + phone call", d / "room.wav", d / "call.wav", ref))
    return cases


def score(case: Case, pipeline: Pipeline, mode: str) -> Row:
    a = analyze(case.room, pipeline, mode=mode, call=case.call)
    present = {p.id for p in a.summary.speakers if p.present and not p.expected}
    hyp = Annotation(uri=case.name)
    for k, s in enumerate(a.segments):
        if s.speaker in present:
            hyp[Segment(s.start_sample / SAMPLE_RATE, s.end_sample / SAMPLE_RATE), k] = s.speaker
    ref = case.reference
    call_only = ref.subset([x for x in ref.labels() if str(x).startswith("call:")]).get_timeline().support()
    room_tl = ref.subset([x for x in ref.labels() if str(x).startswith("room:")]).get_timeline().support()
    call_only = call_only.extrude(room_tl) if room_tl else call_only
    twice = 0
    for spk in present:
        if is_remote(spk):
            continue
        tl = hyp.label_timeline(spk)
        if tl.duration() and tl.crop(call_only, mode="intersection").duration() > 0.5 * tl.duration():
            twice += 1
    rt = {x: ref.label_duration(x) for x in ref.labels()}
    ht = {x: hyp.label_duration(x) for x in hyp.labels()}
    true_remote = sum(v for k, v in rt.items() if str(k).startswith("call:")) / (sum(rt.values()) or 1.0)
    found_remote = sum(v for k, v in ht.items() if is_remote(int(k))) / (sum(ht.values()) or 1.0)
    return Row(
        case.name,
        sum(1 for k in rt if str(k).startswith("room:")),
        sum(1 for k in present if not is_remote(k)),
        sum(1 for k in rt if str(k).startswith("call:")),
        sum(1 for k in present if is_remote(k)),
        twice,
        float(np.mean(share_errors(ref, hyp))),
        abs(found_remote - true_remote) * 100,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=("live", "final"), default="live")
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "eval" / "dev", help="the AMI clips (optional)")
    ap.add_argument("--no-gate", action="store_true", help="turn the echo gate off (margin -100 dB: nothing is echo)")
    ap.add_argument("--only", choices=("synthetic", "real"), help="one set only")
    ap.add_argument("--call-late", type=float, default=0.0, metavar="MS", help="start the call's recording MS ms late")
    ap.add_argument("--no-align", action="store_true", help="do not line the call up again from its echo")
    args = ap.parse_args(argv)
    if args.call_late < 0:
        ap.error(f"--call-late expected milliseconds >= 0, got {args.call_late}")
    echo = EchoConfig(margin_db=-100.0 if args.no_gate else EchoConfig.margin_db, max_shift_s=0.0 if args.no_align else EchoConfig.max_shift_s)
    pipeline = build_hybrid_pipeline(echo=echo)
    with tempfile.TemporaryDirectory() as tmp_dir:
        out = Path(tmp_dir)
        sets = {}
        if args.only != "real":
            sets["synthetic"] = synthetic_cases(out / "syn", args.call_late)
        if args.only != "synthetic":
            sets["real"] = real_cases(args.shared, out / "real", args.call_late)
            if not sets["real"]:
                print(f"eval_hybrid: no AMI clips under {args.shared}; the real set is skipped", file=sys.stderr)
        print(f"mode={args.mode} echo gate {'off' if args.no_gate else 'on'}, realignment {'off' if args.no_align else 'on'}, "
              f"call {args.call_late:.0f} ms late; share errors in pp")
        print(f"{'meeting':40s} {'room':>7s} {'call':>7s} {'twice':>5s} {'share':>6s} {'remote':>6s}")
        for set_name, cases in sets.items():
            rows = []
            for case in cases:
                r = score(case, pipeline, args.mode)
                rows.append(r)
                print(f"{r.name:40s} {r.room_hyp:3d}/{r.room_ref:<3d} {r.call_hyp:3d}/{r.call_ref:<3d} {r.twice:5d} "
                      f"{r.share_err:6.2f} {r.remote_err:6.2f}", flush=True)
            if rows:
                print(f"{set_name.upper() + ' (' + str(len(rows)) + ' meetings)':40s} "
                      f"{sum(r.room_hyp == r.room_ref for r in rows):3d} ok {sum(r.call_hyp == r.call_ref for r in rows):3d} ok "
                      f"{sum(r.twice for r in rows):5d} {np.mean([r.share_err for r in rows]):6.2f} "
                      f"{np.mean([r.remote_err for r in rows]):6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
