#!/usr/bin/env python
"""Make far-field versions of an evaluation folder: what a table microphone would hear.

    python scripts/make_farfield.py ../shared/eval/dev /tmp/eval-farfield [--snr 15] [--seed 0]

For every ``wav/<uri>.wav`` of SRC (laid out like ../shared/eval/dev) it writes DST/wav/<uri>.wav
with, in order (sox):
- distance: a 2 m-ish room, ``reverb 50 50 100`` (reverberance, HF damping, room scale) and a gentle
  high-frequency roll-off (``lowpass 5000``), level lowered by 6 dB;
- a second conversation in the background: another file of SRC, 20 dB below, shifted in time;
- pink noise (fans, traffic) at ``--snr`` dB below the speech level.
References (rttm/, all.uem) are copied unchanged: the words and the people are the same. The
output is the same on every run for a given --seed and --snr.

The far-field version of the development set used for the baselines:

    python scripts/make_farfield.py ../shared/eval/dev /tmp/eval/dev-far --snr 15 --seed 0
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def sox(*args: str) -> None:
    # -R: repeatable (sox otherwise seeds its noise and dither from the clock), so --seed fixes the output
    subprocess.run(["sox", "-R", *args], check=True, capture_output=True)


def rms_db(path: Path) -> float:
    out = subprocess.run(["sox", str(path), "-n", "stats"], check=True, capture_output=True, text=True).stderr
    for line in out.splitlines():
        if line.startswith("RMS lev dB"):
            return float(line.split()[-1])
    raise RuntimeError(f"sox stats gave no RMS level for {path}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("--snr", type=float, default=15.0, help="speech-to-noise ratio in dB (default 15)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if shutil.which("sox") is None:
        print("make_farfield: needs sox (apt-get install sox)", file=sys.stderr)
        return 2
    wavs = sorted((args.src / "wav").glob("*.wav"))
    if len(wavs) < 2:
        print(f"make_farfield: expected at least two wav/*.wav under {args.src}", file=sys.stderr)
        return 2
    rng = random.Random(args.seed)
    (args.dst / "wav").mkdir(parents=True, exist_ok=True)
    shutil.copytree(args.src / "rttm", args.dst / "rttm", dirs_exist_ok=True)
    if (args.src / "all.uem").exists():
        shutil.copy(args.src / "all.uem", args.dst / "all.uem")
    with tempfile.TemporaryDirectory() as tmp:
        for i, wav in enumerate(wavs):
            other = wavs[(i + 1 + rng.randrange(len(wavs) - 1)) % len(wavs)]
            shift = f"{rng.uniform(3, 12):.2f}"
            out = args.dst / "wav" / wav.name
            render_farfield(wav, other, out, snr=args.snr, shift=shift, tmp=Path(tmp))
            print(f"{out} (background: {other.stem} from {shift} s)")
    return 0


def render_farfield(wav: Path, background: Path, out: Path, *, snr: float, shift: str, tmp: Path) -> None:
    """Write ``out``: ``wav`` as a table microphone hears it (see the module docstring), with
    ``background`` (another conversation, starting ``shift`` seconds in) behind it and pink noise
    ``snr`` dB below the speech. Also used by ``scripts/make_voice_meetings.py``."""
    far, bg, noise = tmp / "far.wav", tmp / "bg.wav", tmp / "noise.wav"
    sox(str(wav), str(far), "reverb", "50", "50", "100", "lowpass", "5000", "gain", "-6", "channels", "1")
    dur = subprocess.run(["soxi", "-D", str(wav)], check=True, capture_output=True, text=True).stdout.strip()
    sox(str(background), str(bg), "reverb", "70", "50", "100", "gain", "-26", "trim", shift, "pad", "0", shift, "trim", "0", dur)
    level = rms_db(far)
    sox("-n", "-r", "16000", "-c", "1", "-b", "16", str(noise), "synth", dur, "pinknoise", "gain", f"{level - snr - 3:.1f}")
    sox("-m", str(far), str(bg), str(noise), "-r", "16000", "-c", "1", "-b", "16", str(out))


if __name__ == "__main__":
    sys.exit(main())
