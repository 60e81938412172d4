#!/usr/bin/env python
"""Make simulated meetings from real human voices (../shared/eval/voices), close and far-field.

    python scripts/make_voice_meetings.py /tmp/eval/voices [--seed 0] [--count 10] [--minutes 3 6]
    python scripts/evaluate.py /tmp/eval/voices/close --mode both
    python scripts/evaluate.py /tmp/eval/voices/far --mode both

OUT gets two folders laid out like ../shared/eval/dev, ``close/`` (close microphones: the dry mix
with a faint noise floor) and ``far/`` (the same meetings as a table microphone hears them), each
with ``wav/<uri>.wav`` (16 kHz mono 16-bit), ``rttm/<uri>.rttm``, ``all.uem`` and a README.md that
lists every meeting (people, length, talk shares, overlap) and credits LibriSpeech; ``meetings.json``
holds the same figures for scripts.

A meeting has 4-8 people (meeting k has ``PEOPLE[k % 5]``: the first four are 4, 6, 8 and 5 people)
and lasts ``--minutes`` (3-6 by default, drawn per meeting). Its turns are drawn from each person's
utterance: random excerpts cut at pauses between words, chained with short pauses into turns of
~0.5 s to ~20 s, with a level per person and per excerpt; between turns a natural-ish pause, or an
overlap (the next person starts 0.3-1.5 s before the other ends). Every meeting has a quiet person
(2-4 % of the talk, at least 4 s so that they count as present), short back-channels ("mm-hm":
0.3-0.8 s excerpts of a listener over another's turn); even-numbered meetings have a dominant
talker, and two meetings in three a late arrival (first speech after 42-60 % of the meeting). The
reference turns are where speech was placed, split at pauses of 0.25 s or more
(``make_meeting.speech_regions``), so overlap and back-channels are in the reference.

The far-field rendering is ``make_farfield.render_farfield`` (reverberation, distance, a second
conversation about 20 dB below, pink noise at ``--snr``); the background conversation is built the
same way from 5 voices that are not in the meeting, so it is babble from strangers.

Meeting k depends only on ``--seed`` and k: ``--count 4`` makes the first four meetings of the
default set, byte for byte.

Limitations, say them beside any figure: each of the 244 people has one utterance (1.6-17 s of read
speech), so every turn of a person reuses pieces of the same sentence. Read speech reused is easier
than real spontaneous talk (steady level and pace, no laughter, no hesitation, a voice that never
changes), so these meetings complement the real meeting clips of ../shared/eval/dev, never replace
them. Audio: LibriSpeech ASR corpus (Panayotov et al., ICASSP 2015), train-clean-100, CC BY 4.0.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_farfield import render_farfield  # noqa: E402
from make_meeting import SAMPLE_RATE, UTTERANCE_DBFS, add_noise, speech_regions  # noqa: E402

VOICES = Path(__file__).resolve().parents[2] / "shared" / "eval" / "voices" / "librispeech-train-clean-100"
PEOPLE = [4, 6, 8, 5, 7]  # people in meeting k: PEOPLE[k % 5]
WORD_PAUSE_S = 0.06  # a pause this long inside an utterance is a place to cut an excerpt
LEAD_S = 1.0  # room tone before the first turn and after the last
CLOSE_SNR_DB = 45.0  # the close rendering's noise floor (no digital silence)
BABBLE_VOICES = 5
CREDIT = ("Voices: LibriSpeech ASR corpus (V. Panayotov, G. Chen, D. Povey, S. Khudanpur, ICASSP 2015), "
          "train-clean-100 subset, from LibriVox audiobooks; CC BY 4.0. The utterances are the ones "
          "redistributed with the Resemblyzer repository (resemble-ai/Resemblyzer).")
LIMITATION = ("Each person has a single utterance of read speech (1.6-17 s), so all of a person's turns "
              "reuse pieces of that one sentence: steady level and pace, no laughter or hesitation. Read "
              "speech reused is easier than real spontaneous talk; use these meetings beside real meeting "
              "recordings (../shared/eval/dev), never instead of them.")

Audio = np.ndarray


@dataclass
class Person:
    label: str  # "ls<LibriSpeech speaker id>"
    audio: Audio  # the utterance, trimmed, at UTTERANCE_DBFS
    cuts: list[tuple[int, int]]  # word-ish speech pieces (samples) to cut excerpts at
    gain_db: float = 0.0


@dataclass
class MeetingInfo:
    uri: str
    people: list[str]
    duration_s: float
    talk_s: dict[str, float]
    share: dict[str, float]  # % of the total talk
    overlap_s: float  # time with two or more people talking
    dominant: str | None = None
    quiet: str | None = None
    late: str | None = None
    late_first_s: float | None = None  # the late arrival's first speech, s (and as a fraction below)
    late_first_frac: float | None = None
    backchannels: int = 0
    overlapped_turns: int = 0
    turns: int = 0
    babble: list[str] = field(default_factory=list)


def load_person(path: Path) -> Person:
    audio, rate = sf.read(str(path), dtype="float64")
    if rate != SAMPLE_RATE:
        raise ValueError(f"{path}: {rate} Hz; expected {SAMPLE_RATE}")
    regions = speech_regions(audio, split_pause_s=WORD_PAUSE_S)
    if not regions:
        raise ValueError(f"{path}: no speech found")
    audio = audio[regions[0][0] : regions[-1][1]]
    off = regions[0][0]
    rms = float(np.sqrt(np.mean(audio**2)))
    audio = audio * (10 ** (UTTERANCE_DBFS / 20) / rms)
    return Person(f"ls{path.name.split('-')[0]}", audio, [(s - off, e - off) for s, e in regions])


def fade(x: Audio, ms: float = 10.0) -> Audio:
    n = min(len(x) // 2, int(ms * SAMPLE_RATE / 1000))
    if n:
        ramp = np.linspace(0.0, 1.0, n)
        x = x.copy()
        x[:n] *= ramp
        x[-n:] *= ramp[::-1]
    return x


def excerpt(p: Person, want_s: float, rng: np.random.Generator) -> Audio:
    """A run of consecutive pieces of ``p``'s utterance from a random piece, about ``want_s`` long
    (at least one piece; a piece longer than wanted is cut, with fades)."""
    i = int(rng.integers(len(p.cuts)))
    start = p.cuts[i][0]
    end = p.cuts[i][1]
    while (end - start) / SAMPLE_RATE < want_s and i + 1 < len(p.cuts):
        i += 1
        end = p.cuts[i][1]
    want = max(int(0.3 * SAMPLE_RATE), int(want_s * SAMPLE_RATE))
    if end - start > want * 1.5:
        end = start + want
    gain = 10 ** (rng.uniform(-2.0, 2.0) / 20)
    return fade(p.audio[start:end]) * gain


def turn_audio(p: Person, length_s: float, rng: np.random.Generator) -> Audio:
    """A turn of about ``length_s``: excerpts chained with 0.1-0.5 s pauses, at the person's level."""
    parts: list[Audio] = []
    total = 0
    while (left := length_s - total / SAMPLE_RATE) > 0.4 or not parts:
        if parts:
            gap = np.zeros(int(rng.uniform(0.1, min(0.5, left - 0.3)) * SAMPLE_RATE))
            parts.append(gap)
            total += len(gap)
        x = excerpt(p, max(0.3, min(length_s - total / SAMPLE_RATE, rng.uniform(1.5, 6.0))), rng)
        parts.append(x)
        total += len(x)
    return np.concatenate(parts) * 10 ** (p.gain_db / 20)


def turn_length(rng: np.random.Generator, long_talker: bool) -> float:
    r = rng.random()
    if long_talker:
        return rng.uniform(1.0, 3.0) if r < 0.15 else rng.uniform(4.0, 12.0) if r < 0.55 else rng.uniform(12.0, 20.0)
    return rng.uniform(0.5, 2.0) if r < 0.3 else rng.uniform(2.0, 8.0) if r < 0.85 else rng.uniform(8.0, 16.0)


def compose(people: list[Person], minutes: float, rng: np.random.Generator, *, dominant: bool,
            late: bool) -> tuple[Audio, list[tuple[str, int, int]], dict[str, object]]:
    """Place turns on a timeline; return the dry mix, reference (label, start, end) samples and facts."""
    n = len(people)
    target = minutes * 60.0
    order = list(rng.permutation(n))
    quiet_i = int(order[0])
    late_i = int(order[1]) if late else None
    dom_i = int(order[2]) if dominant else None
    weights = rng.uniform(0.6, 1.4, n)
    if dom_i is not None:
        weights[dom_i] = (weights.sum() - weights[dom_i]) * rng.uniform(0.8, 1.2)  # about half the turns
    weights[quiet_i] = 0.0  # speaks only in the planned turns below
    late_at = rng.uniform(0.42, 0.6) * target if late_i is not None else 0.0
    if late_i is not None:
        weights[late_i] *= 1.5  # catches up once there
    quiet_total = max(4.0, rng.uniform(0.02, 0.035) * target)
    k_quiet = int(rng.integers(2, 5))
    quiet_lengths = list(1.2 + rng.dirichlet(np.ones(k_quiet)) * max(0.0, quiet_total - 1.2 * k_quiet))
    quiet_times = sorted(rng.uniform(0.1, 0.85, k_quiet) * target)

    placed: list[tuple[int, int, Audio]] = []  # (person, start sample, audio)
    cursor = LEAD_S
    prev: int | None = None
    prev_start = prev_end = LEAD_S
    facts = {"backchannels": 0, "overlapped_turns": 0, "turns": 0}
    late_heard = False
    while cursor < target - LEAD_S or quiet_times or (late_i is not None and not late_heard):
        if quiet_times and cursor >= quiet_times[0] and prev != quiet_i:
            quiet_times.pop(0)
            who, length = quiet_i, quiet_lengths.pop(0)
        elif late_i is not None and not late_heard and cursor >= late_at:  # the late arrival's entrance
            who, length = late_i, rng.uniform(3.0, 8.0)
        else:
            w = weights.copy()
            if prev is not None:
                w[prev] = 0.0
            if late_i is not None and cursor < late_at:
                w[late_i] = 0.0
            who = int(rng.choice(n, p=w / w.sum()))
            length = turn_length(rng, who == dom_i)
        late_heard = late_heard or who == late_i
        audio = turn_audio(people[who], length, rng)
        if prev is not None and rng.random() < 0.18 and prev_end - prev_start > 2.0:
            start = max(prev_start + 1.0, prev_end - rng.uniform(0.3, 1.5))
            facts["overlapped_turns"] += 1
        else:
            start = prev_end + float(rng.lognormal(np.log(0.5), 0.5)) if prev is not None else cursor
        placed.append((who, int(start * SAMPLE_RATE), audio))
        facts["turns"] += 1
        dur = len(audio) / SAMPLE_RATE
        # back-channels: listeners' "mm-hm" over this turn, about one per 12 s of it
        for _ in range(int(rng.poisson(dur / 12.0))):
            listeners = [i for i in range(n) if i not in (who, quiet_i) and not (late_i == i and start < late_at)]
            if not listeners or dur < 2.0:
                break
            b = int(rng.choice(listeners))
            bc = excerpt(people[b], rng.uniform(0.3, 0.8), rng)
            bc = fade(bc[: int(rng.uniform(0.3, 0.8) * SAMPLE_RATE)]) * 10 ** ((people[b].gain_db - 3) / 20)
            at = start + rng.uniform(0.5, dur - 0.9)
            placed.append((b, int(at * SAMPLE_RATE), bc))
            facts["backchannels"] += 1
        prev, prev_start, prev_end = who, start, start + dur
        cursor = prev_end
    end = max(s + len(a) for _, s, a in placed) + int(LEAD_S * SAMPLE_RATE)
    mix = np.zeros(end)
    reference: list[tuple[str, int, int]] = []
    for who, s, a in placed:
        mix[s : s + len(a)] += a
        reference += [(people[who].label, s + r0, s + r1) for r0, r1 in speech_regions(a)]
    facts.update(quiet=people[quiet_i].label, late=people[late_i].label if late_i is not None else None,
                 dominant=people[dom_i].label if dom_i is not None else None)
    return mix, sorted(reference, key=lambda r: (r[1], r[0])), facts


def babble(voices: list[Person], seconds: float, rng: np.random.Generator) -> Audio:
    """A background conversation of strangers: turns of 1-8 s, sometimes two at once."""
    out = np.zeros(int((seconds + 2) * SAMPLE_RATE))
    t = 0.0
    while t < seconds:
        a = turn_audio(voices[int(rng.integers(len(voices)))], rng.uniform(1.0, 8.0), rng)
        s = int(t * SAMPLE_RATE)
        a = a[: len(out) - s]
        out[s : s + len(a)] += a
        t += len(a) / SAMPLE_RATE + rng.uniform(-1.0, 0.6)
    return out


def active_rms(x: Audio) -> float:
    """RMS over the 10 ms frames within 30 dB of the loudest (the speech, not the pauses)."""
    n = len(x) // 160
    e = np.mean(x[: n * 160].reshape(n, 160) ** 2, axis=1)
    return float(np.sqrt(np.mean(e[e > e.max() * 1e-3]))) if n else 1.0


def stats(uri: str, reference: list[tuple[str, int, int]], labels: list[str], n_samples: int) -> MeetingInfo:
    frames = np.zeros((len(labels), n_samples // 160 + 1), dtype=bool)  # 10 ms
    for who, s, e in reference:
        frames[labels.index(who), s // 160 : e // 160] = True
    talk = {lab: float(frames[i].sum()) / 100 for i, lab in enumerate(labels)}
    total = sum(talk.values()) or 1.0
    return MeetingInfo(uri, labels, n_samples / SAMPLE_RATE, talk, {k: 100 * v / total for k, v in talk.items()},
                       float((frames.sum(axis=0) >= 2).sum()) / 100)


def write(folder: Path, uri: str, mix: Audio, reference: list[tuple[str, int, int]]) -> Path:
    (folder / "wav").mkdir(parents=True, exist_ok=True)
    (folder / "rttm").mkdir(exist_ok=True)
    wav = folder / "wav" / f"{uri}.wav"
    sf.write(str(wav), (mix * (0.9 / float(np.max(np.abs(mix))))).astype(np.float32), SAMPLE_RATE, subtype="PCM_16")
    with (folder / "rttm" / f"{uri}.rttm").open("w") as f:
        for who, s, e in reference:
            f.write(f"SPEAKER {uri} 1 {s / SAMPLE_RATE:.3f} {(e - s) / SAMPLE_RATE:.3f} <NA> <NA> {who} <NA> <NA>\n")
    return wav


def readme(infos: list[MeetingInfo], command: str, rendering: str) -> str:
    lines = [
        f"# Simulated meetings from real voices ({rendering})",
        "",
        f"Made by `{command}` (scripts/make_voice_meetings.py; same files for the same options).",
        "Layout as ../shared/eval/dev: `wav/<uri>.wav` (16 kHz mono 16-bit), `rttm/<uri>.rttm` (reference "
        "turns: where speech was placed, split at pauses of 0.25 s or more), `all.uem` (whole file).",
        "",
        {"close": "Close rendering: the dry mix of the turns with a faint noise floor (45 dB below the speech).",
         "far": "Far-field rendering: scripts/make_farfield.py's chain (reverberation, distance, a second "
                "conversation of 5 voices not in the meeting about 20 dB below, pink noise at the SNR given)."}[rendering],
        "",
        "| uri | people | s | talk shares (%) | overlap (s) | dominant | quiet | late arrival (first speech) |",
        "|---|---:|---:|---|---:|---|---|---|",
    ]
    for m in infos:
        shares = "; ".join(f"{k}={v:.1f}" for k, v in sorted(m.share.items(), key=lambda kv: -kv[1]))
        late = f"{m.late} ({m.late_first_s:.0f} s, {100 * (m.late_first_frac or 0):.0f} %)" if m.late else "-"
        quiet = f"{m.quiet} ({m.share[m.quiet]:.1f} %)" if m.quiet else "-"
        lines.append(f"| {m.uri} | {len(m.people)} | {m.duration_s:.0f} | {shares} | {m.overlap_s:.1f} | "
                     f"{m.dominant or '-'} | {quiet} | {late} |")
    lines += ["", "Back-channels and overlapped turns per meeting: "
              + ", ".join(f"{m.uri} {m.backchannels}/{m.overlapped_turns}" for m in infos) + ".", "",
              "Limitation: " + LIMITATION, "", "Credit: " + CREDIT, ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="output folder (gets close/ and far/)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--count", type=int, default=10, help="meetings (default 10; --count 4: the first four)")
    ap.add_argument("--minutes", type=float, nargs=2, default=(3.0, 6.0), metavar=("MIN", "MAX"),
                    help="meeting length range in minutes (default 3 6)")
    ap.add_argument("--snr", type=float, default=15.0, help="far-field speech-to-noise ratio in dB (default 15)")
    ap.add_argument("--voices", type=Path, default=VOICES, help=f"folder of one-person FLAC utterances (default {VOICES})")
    args = ap.parse_args(argv)
    flacs = sorted(args.voices.glob("*.flac"))
    if len(flacs) < max(PEOPLE) + BABBLE_VOICES:
        print(f"make_voice_meetings: expected at least {max(PEOPLE) + BABBLE_VOICES} FLAC utterances in {args.voices}; "
              f"found {len(flacs)} (see ../shared/eval/voices/README.md)", file=sys.stderr)
        return 2
    if shutil.which("sox") is None:
        print("make_voice_meetings: needs sox for the far-field rendering (apt-get install sox)", file=sys.stderr)
        return 2
    command = (f"python scripts/make_voice_meetings.py {args.out} --seed {args.seed} --count {args.count} "
               f"--minutes {args.minutes[0]:g} {args.minutes[1]:g} --snr {args.snr:g}")
    close_dir, far_dir = args.out / "close", args.out / "far"
    infos: list[MeetingInfo] = []
    uem: list[str] = []
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        for k in range(args.count):
            rng = np.random.default_rng([args.seed, k])
            n = PEOPLE[k % len(PEOPLE)]
            picks = rng.choice(len(flacs), n + BABBLE_VOICES, replace=False)
            people = [load_person(flacs[int(i)]) for i in picks[:n]]
            for p in people:
                p.gain_db = float(rng.uniform(-6.0, 0.0))
            strangers = [load_person(flacs[int(i)]) for i in picks[n:]]
            minutes = float(rng.uniform(*args.minutes))
            uri = f"voices{n}_{k:02d}"
            mix, reference, facts = compose(people, minutes, rng, dominant=k % 2 == 0, late=k % 3 != 2)
            info = stats(uri, reference, [p.label for p in people], len(mix))
            info.dominant, info.quiet, info.late = facts["dominant"], facts["quiet"], facts["late"]  # type: ignore[assignment]
            info.backchannels, info.overlapped_turns, info.turns = (facts["backchannels"], facts["overlapped_turns"],  # type: ignore[assignment]
                                                                    facts["turns"])
            info.babble = [p.label for p in strangers]
            if info.late:
                info.late_first_s = min(s for who, s, _ in reference if who == info.late) / SAMPLE_RATE
                info.late_first_frac = info.late_first_s / info.duration_s
            close = add_noise(mix, CLOSE_SNR_DB, seed=args.seed * 1000 + k)
            wav = write(close_dir, uri, close, reference)
            bg = tmp / "babble.wav"
            noise = babble(strangers, info.duration_s + 15, rng)
            written, _ = sf.read(str(wav), dtype="float64")
            # at the meeting's speech level, as another recording of the set is in make_farfield
            noise *= active_rms(written) / active_rms(noise)
            sf.write(str(bg), noise, SAMPLE_RATE, subtype="FLOAT")
            (far_dir / "wav").mkdir(parents=True, exist_ok=True)
            render_farfield(wav, bg, far_dir / "wav" / f"{uri}.wav", snr=args.snr,
                            shift=f"{rng.uniform(3, 12):.2f}", tmp=tmp)
            uem.append(f"{uri} 1 0.000 {info.duration_s:.3f}")
            infos.append(info)
            print(f"{uri}: {n} people, {info.duration_s:.0f} s, overlap {info.overlap_s:.1f} s, shares "
                  + ", ".join(f"{v:.0f}" for v in sorted(info.share.values(), reverse=True)), flush=True)
    shutil.copytree(close_dir / "rttm", far_dir / "rttm", dirs_exist_ok=True)
    for folder, rendering in ((close_dir, "close"), (far_dir, "far")):
        (folder / "all.uem").write_text("\n".join(uem) + "\n")
        (folder / "README.md").write_text(readme(infos, command, rendering))
        (folder / "meetings.json").write_text(json.dumps([asdict(m) for m in infos], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
