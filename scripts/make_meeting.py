#!/usr/bin/env python
"""Generate a synthetic multi-speaker "meeting" (16 kHz mono WAV) and its reference RTTM.

    python scripts/make_meeting.py meeting3 meeting2 --out tests/data
    python scripts/make_meeting.py --script my_meeting.json --out /tmp/x --noise-snr 20 --reverb 50

Each turn of a script (who says which sentence) is spoken by espeak-ng with that person's voice,
pitch and speed, converted to 16 kHz by sox, trimmed to its speech and placed on the timeline after
a seeded random pause (or overlapping the previous turn by ``overlap_s``). The reference turns are
where each utterance's speech was placed, split at internal pauses of ``SPLIT_PAUSE_S`` or more,
so the RTTM marks speech rather than "holding the floor". Room reverberation (sox ``reverb``) and
pink-ish background noise (seeded) can be added to the mix. The output is byte-for-byte
deterministic for a given script, seed and set of options.

A JSON script has the shape of ``PRESETS[...]``: ``{"voices": {"ann": {"voice": "en+f4", "pitch": 70,
"speed": 160, "gain_db": 0}}, "turns": [["ann", "Hello there.", 0.0], ...]}`` (the third item of a
turn, overlap in seconds, is optional).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf
from scipy.signal import lfilter

SAMPLE_RATE = 16_000  # Hz, what talktime takes
FRAME = 160  # samples: 10 ms frames to find where speech is
SILENCE_DBFS = -45.0  # a 10 ms frame quieter than this (RMS) is a pause
SPLIT_PAUSE_S = 0.25  # seconds; a pause this long inside an utterance splits the reference turn
UTTERANCE_DBFS = -22.0  # RMS level each utterance is brought to before the speaker's gain
LEAD_S = 1.0  # seconds of room tone before the first turn and after the last
PAUSE_S = (0.4, 1.1)  # seconds; range of the random pause between turns

Audio = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Voice:
    """An espeak-ng voice: ``voice`` is ``-v``, ``pitch`` is ``-p`` (0-99), ``speed`` is ``-s`` (words/min)."""

    voice: str
    pitch: int = 50
    speed: int = 160
    gain_db: float = 0.0  # level relative to the others (a person further from the microphone is quieter)


@dataclass(frozen=True)
class Turn:
    """``speaker`` says ``text``; with ``overlap_s`` > 0 they start that many seconds before the previous turn ends."""

    speaker: str
    text: str
    overlap_s: float = 0.0


@dataclass(frozen=True)
class Script:
    voices: dict[str, Voice]
    turns: list[Turn]


# Voices chosen to be far apart for a speaker encoder (Resemblyzer cosine similarity of their
# centroids 0.58-0.69), as in a meeting of people who do not sound alike.
_ALEX = Voice("en-us+m3", pitch=35, speed=150)
_BLAIR = Voice("en+f4", pitch=70, speed=165, gain_db=-2.0)
_CASEY = Voice("en+Andy", pitch=50, speed=155, gain_db=-4.0)
_DANA = Voice("en+belinda", pitch=65, speed=150, gain_db=-1.0)

PRESETS: dict[str, Script] = {
    # ~50 s, three people with unequal talk (about 50 / 30 / 20 %), one overlap.
    "meeting3": Script(
        {"alex": _ALEX, "blair": _BLAIR, "casey": _CASEY},
        [
            Turn("alex", "Good morning everyone and thank you for joining the planning meeting today."),
            Turn("blair", "Thanks Alex. I have a short update on the customer survey we ran."),
            Turn("alex", "Great. First let us go over the budget for the next quarter."),
            Turn("casey", "Do we already know how much the travel costs went up this year?"),
            Turn("alex", "Yes, by about twelve percent, mostly because of the conferences."),
            Turn("blair", "The survey says our customers want faster answers from the support desk more than new features.", 0.5),
            Turn("alex", "That matches what the sales people told me last week."),
            Turn("casey", "Then we should move two people from the feature work to the support desk for a while."),
            Turn("blair", "I agree, and I can prepare a plan for that by Friday afternoon."),
            Turn("alex", "Good. I will send the new budget tomorrow, and we meet again next Tuesday."),
        ],
    ),
    # ~30 s, two clearly different voices taking turns.
    "meeting2": Script(
        {"alex": _ALEX, "dana": _DANA},
        [
            Turn("alex", "Hello Dana, did you have a chance to read the report I sent on Monday?"),
            Turn("dana", "I did, and I think the numbers in the second chapter are not quite right."),
            Turn("alex", "Which numbers do you mean, the sales figures or the costs?"),
            Turn("dana", "The costs. The totals do not add up to what the table at the end says."),
            Turn("alex", "You are right, I will fix the table and send a new version this afternoon."),
            Turn("dana", "Thank you, that would help a lot before the board meeting."),
        ],
    ),
}


# --------------------------------------------------------------------------- synthesis


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        sys.exit(f"make_meeting: {tool} is not installed; expected it on PATH (run scripts/bootstrap.sh --dev)")
    return path


def speak(voice: Voice, text: str, tmp: Path) -> Audio:
    """Synthesise ``text`` and return it at SAMPLE_RATE, trimmed to its speech, at UTTERANCE_DBFS + gain."""
    raw, conv = tmp / "raw.wav", tmp / "conv.wav"
    subprocess.run(
        [_need("espeak-ng"), "-v", voice.voice, "-p", str(voice.pitch), "-s", str(voice.speed), "-w", str(raw), text],
        check=True,
    )
    # 32-bit float output: no clipping and no dither (sox dithers when it reduces bit depth).
    subprocess.run(
        [_need("sox"), "-R", "-V1", str(raw), "-e", "floating-point", "-b", "32", "-c", "1", str(conv), "rate", str(SAMPLE_RATE)],
        check=True,
    )
    audio, rate = sf.read(str(conv), dtype="float64")
    assert rate == SAMPLE_RATE
    regions = speech_regions(audio)
    if not regions:
        raise ValueError(f"espeak-ng produced no speech for {text!r} with voice {voice.voice!r}")
    audio = audio[regions[0][0] : regions[-1][1]]
    rms = float(np.sqrt(np.mean(audio**2)))
    return audio * (10 ** ((UTTERANCE_DBFS + voice.gain_db) / 20) / rms)


def speech_regions(audio: Audio, *, split_pause_s: float = SPLIT_PAUSE_S) -> list[tuple[int, int]]:
    """(start, end) samples of speech: 10 ms frames above SILENCE_DBFS, pauses shorter than split_pause_s bridged."""
    n = len(audio) // FRAME
    if n == 0:
        return []
    frames = audio[: n * FRAME].reshape(n, FRAME)
    loud = 20 * np.log10(np.sqrt(np.mean(frames**2, axis=1)) + 1e-12) > SILENCE_DBFS
    idx = np.flatnonzero(loud)
    if len(idx) == 0:
        return []
    max_gap = int(round(split_pause_s * SAMPLE_RATE / FRAME))
    regions: list[tuple[int, int]] = []
    start = prev = int(idx[0])
    for i in idx[1:]:
        if i - prev > max_gap:
            regions.append((start * FRAME, (prev + 1) * FRAME))
            start = int(i)
        prev = int(i)
    regions.append((start * FRAME, (prev + 1) * FRAME))
    return regions


# --------------------------------------------------------------------------- mixing


def compose(script: Script, *, seed: int, tmp: Path) -> tuple[Audio, list[tuple[str, int, int]]]:
    """Place every turn on the timeline; return the dry mix and reference (speaker, start, end) in samples."""
    rng = np.random.default_rng(seed)
    placed: list[tuple[str, int, Audio]] = []
    cursor = int(LEAD_S * SAMPLE_RATE)
    prev_end = cursor
    for k, turn in enumerate(script.turns):
        if turn.speaker not in script.voices:
            raise ValueError(f"turn {k} is spoken by {turn.speaker!r}; expected one of {sorted(script.voices)}")
        audio = speak(script.voices[turn.speaker], turn.text, tmp)
        pause = rng.uniform(*PAUSE_S)
        if k == 0:
            start = cursor
        elif turn.overlap_s > 0:
            start = max(0, prev_end - int(turn.overlap_s * SAMPLE_RATE))
        else:
            start = prev_end + int(pause * SAMPLE_RATE)
        placed.append((turn.speaker, start, audio))
        prev_end = max(prev_end, start + len(audio))
    mix = np.zeros(prev_end + int(LEAD_S * SAMPLE_RATE))
    reference: list[tuple[str, int, int]] = []
    for speaker, start, audio in placed:
        mix[start : start + len(audio)] += audio
        reference += [(speaker, start + s, start + e) for s, e in speech_regions(audio)]
    return mix, sorted(reference, key=lambda r: (r[1], r[0]))


def add_reverb(mix: Audio, reverberance: float, tmp: Path) -> Audio:
    """sox ``reverb`` (percent reverberance, 0-100) over the whole room; the length is kept."""
    dry, wet = tmp / "dry.wav", tmp / "wet.wav"
    sf.write(str(dry), mix.astype(np.float32), SAMPLE_RATE, subtype="FLOAT")
    subprocess.run([_need("sox"), "-R", "-V1", str(dry), str(wet), "reverb", str(reverberance)], check=True)
    out, _ = sf.read(str(wet), dtype="float64")
    return np.pad(out, (0, max(0, len(mix) - len(out))))[: len(mix)]


def add_noise(mix: Audio, snr_db: float, *, seed: int) -> Audio:
    """Pink-ish noise (white noise through a one-pole low-pass) at ``snr_db`` below the speech level."""
    rng = np.random.default_rng(seed + 1)
    # y[n] = 0.97 y[n-1] + w[n]: falls 6 dB/octave above ~80 Hz, like the rumble of a room.
    pink = lfilter([1.0], [1.0, -0.97], rng.standard_normal(len(mix)))
    speech_rms = float(np.sqrt(np.mean(mix[np.abs(mix) > 1e-4] ** 2)))
    pink *= speech_rms * 10 ** (-snr_db / 20) / float(np.sqrt(np.mean(pink**2)))
    return mix + pink


# --------------------------------------------------------------------------- output


def write_meeting(
    name: str, script: Script, out_dir: Path, *, seed: int, reverb: float | None, noise_snr_db: float | None
) -> tuple[Path, Path]:
    """Render ``script`` to ``out_dir/<name>.wav`` (16-bit) and ``<name>.rttm``; return both paths."""
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        mix, reference = compose(script, seed=seed, tmp=tmp)
        if reverb:
            mix = add_reverb(mix, reverb, tmp)
    if noise_snr_db is not None:
        mix = add_noise(mix, noise_snr_db, seed=seed)
    mix *= 0.9 / float(np.max(np.abs(mix)))  # peak at -0.9 dBFS
    out_dir.mkdir(parents=True, exist_ok=True)
    wav, rttm = out_dir / f"{name}.wav", out_dir / f"{name}.rttm"
    sf.write(str(wav), mix.astype(np.float32), SAMPLE_RATE, subtype="PCM_16")
    with rttm.open("w") as f:
        for speaker, start, end in reference:
            f.write(
                f"SPEAKER {name} 1 {start / SAMPLE_RATE:.3f} {(end - start) / SAMPLE_RATE:.3f} <NA> <NA> {speaker} <NA> <NA>\n"
            )
    return wav, rttm


def load_script(path: Path) -> Script:
    """Read a JSON script (see the module docstring)."""
    data = json.loads(path.read_text())
    voices = {k: Voice(**v) for k, v in data["voices"].items()}
    return Script(voices, [Turn(*t) for t in data["turns"]])


def talk_shares(rttm: Path) -> dict[str, float]:
    """Each speaker's fraction of the reference talk time."""
    talk: dict[str, float] = {}
    for line in rttm.read_text().splitlines():
        f = line.split()
        talk[f[7]] = talk.get(f[7], 0.0) + float(f[4])
    total = sum(talk.values())
    return {k: v / total for k, v in talk.items()}


def record_command(readme: Path, name: str, command: str, summary: str) -> None:
    """Write (or replace) the line of ``readme`` that says how ``name`` was made."""
    line = f"- `{name}.wav`, `{name}.rttm`: {summary}; made by `{command}`"
    lines = readme.read_text().splitlines() if readme.exists() else []
    lines = [x for x in lines if not x.startswith(f"- `{name}.wav`")]
    readme.write_text("\n".join([*lines, line]) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("presets", nargs="*", metavar="PRESET", help=f"one of {', '.join(PRESETS)}")
    ap.add_argument("--script", type=Path, help="a JSON script instead of a preset (the output is named after it)")
    ap.add_argument("--out", type=Path, default=Path("."), help="output folder (default: here)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the pauses and the noise (default 0)")
    ap.add_argument("--reverb", type=float, help="sox reverberance in percent (0-100); default none")
    ap.add_argument("--noise-snr", type=float, help="add background noise this many dB below the speech; default none")
    ap.add_argument("--readme", type=Path, help="record the command that made each file in this Markdown file")
    args = ap.parse_args(argv)
    unknown = [p for p in args.presets if p not in PRESETS]
    if unknown:
        ap.error(f"unknown preset {unknown[0]!r}; expected one of {', '.join(PRESETS)}")
    jobs = [(p, PRESETS[p]) for p in args.presets]
    if args.script:
        jobs.append((args.script.stem, load_script(args.script)))
    if not jobs:
        ap.error(f"expected a preset ({', '.join(PRESETS)}) or --script FILE")
    for name, script in jobs:
        try:
            wav, rttm = write_meeting(
                name, script, args.out, seed=args.seed, reverb=args.reverb, noise_snr_db=args.noise_snr
            )
        except (ValueError, OSError, subprocess.CalledProcessError) as exc:
            ap.exit(1, f"make_meeting: {type(exc).__name__}: {exc}\n")
        duration = sf.info(str(wav)).duration
        shares = ", ".join(f"{k} {100 * v:.0f}%" for k, v in sorted(talk_shares(rttm).items()))
        print(f"{wav}: {duration:.1f} s; reference talk shares: {shares}")
        if args.readme:
            options = [f"--seed {args.seed}"]
            options += [f"--reverb {args.reverb:g}"] if args.reverb else []
            options += [f"--noise-snr {args.noise_snr:g}"] if args.noise_snr is not None else []
            source = f"--script {args.script}" if name not in PRESETS else name
            command = f"python scripts/make_meeting.py {source} --out {args.out} {' '.join(options)}"
            record_command(args.readme, name, command, f"{duration:.1f} s, talk shares {shares}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
