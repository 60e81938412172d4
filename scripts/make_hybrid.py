"""Generate a hybrid meeting: two people in the room, two on the call, and the call's echo in the room.

    python scripts/make_hybrid.py --out /tmp/hybrid [--echo-db -3] [--delay-ms 150] [--seed 0]

Writes to OUT:
- ``call.wav``: what the meeting app plays (the remote people, dry), 16 kHz mono;
- ``room.wav``: what the table microphone hears: the people in the room (with sox reverb), plus the
  call played through the loudspeakers: delayed by ``--delay-ms``, reverberant, ``--echo-db``
  relative to the room talkers' level, plus pink noise at ``--noise-snr`` dB;
- ``room.rttm`` / ``call.rttm``: who speaks when on each side; ``hybrid.rttm``: both, speakers named
  ``room:<name>`` and ``call:<name>``.

The turns alternate between the room and the call, with one stretch of double talk (someone in the
room answering over the end of a remote turn). Voices, pauses and noise are seeded (espeak-ng and sox
are needed, as for scripts/make_meeting.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_meeting import (  # noqa: E402  (a sibling script)
    LEAD_S,
    PAUSE_S,
    SAMPLE_RATE,
    Voice,
    add_noise,
    add_reverb,
    speak,
    speech_regions,
)

ROOM = {"blair": Voice("en+f4", pitch=70, speed=165, gain_db=-2.0), "casey": Voice("en+Andy", pitch=50, speed=155, gain_db=-4.0)}
CALL = {"alex": Voice("en-us+m3", pitch=35, speed=150), "dana": Voice("en+belinda", pitch=65, speed=150, gain_db=-1.0)}
TURNS: list[tuple[str, str, float]] = [  # speaker, words, seconds of overlap with the previous turn
    ("blair", "Good morning, we are all here in the room. Can the two of you on the call hear us?", 0.0),
    ("alex", "Yes, we hear you well. Dana is with me on the line as well.", 0.0),
    ("dana", "Hello everyone. I have the numbers from the pilot study ready to share.", 0.0),
    ("casey", "Great, please go ahead, we have the slides open on the big screen.", 0.0),
    ("dana", "The pilot ran for six weeks in two offices, and the response times dropped by a third.", 0.0),
    ("blair", "That is better than we hoped. What did the staff think of the new process?", 0.0),
    ("alex", "Most of them liked it, but they asked for better training before we roll it out everywhere.", 0.0),
    ("casey", "Then training should be the first item of the plan.", 1.0),
    ("alex", "Agreed. I can draft the training plan by next week.", 0.0),
    ("blair", "Thank you both. Let us meet again on Thursday with the draft.", 0.0),
]


def render(seed: int, tmp: Path, turns: int | None = None) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str, int, int]]]:
    """Room and call tracks (dry) and the reference (side, speaker, start, end) in samples (the
    first ``turns`` turns only, if given)."""
    rng = np.random.default_rng(seed)
    voices = {**ROOM, **CALL}
    placed: list[tuple[str, int, np.ndarray]] = []
    prev_end = int(LEAD_S * SAMPLE_RATE)
    for k, (speaker, words, overlap) in enumerate(TURNS[:turns]):
        audio = speak(voices[speaker], words, tmp)
        if k == 0:
            start = prev_end
        elif overlap > 0:
            start = max(0, prev_end - int(overlap * SAMPLE_RATE))
        else:
            start = prev_end + int(rng.uniform(*PAUSE_S) * SAMPLE_RATE)
        placed.append((speaker, start, audio))
        prev_end = max(prev_end, start + len(audio))
    n = prev_end + int(LEAD_S * SAMPLE_RATE)
    room, call = np.zeros(n), np.zeros(n)
    reference: list[tuple[str, str, int, int]] = []
    for speaker, start, audio in placed:
        side = "room" if speaker in ROOM else "call"
        (room if side == "room" else call)[start : start + len(audio)] += audio
        reference += [(side, speaker, start + s, start + e) for s, e in speech_regions(audio)]
    return room, call, sorted(reference, key=lambda r: r[2])


def room_microphone(room: np.ndarray, call: np.ndarray, *, echo_db: float, delay_ms: float, reverb: float,
                    noise_snr: float | None, seed: int, tmp: Path) -> np.ndarray:
    """What a table microphone hears: the room's talk and the call from the loudspeakers, delayed by
    ``delay_ms``, reverberant, ``echo_db`` relative to the room talkers' level, plus pink noise."""
    n = max(len(room), len(call))
    room, call = np.pad(room, (0, n - len(room))), np.pad(call, (0, n - len(call)))
    delay = int(round(delay_ms / 1000 * SAMPLE_RATE))
    echo = add_reverb(np.concatenate([np.zeros(delay), call])[:n], reverb, tmp)
    room = add_reverb(room, reverb, tmp)
    room_rms = float(np.sqrt(np.mean(room[np.abs(room) > 1e-4] ** 2)))
    echo_rms = float(np.sqrt(np.mean(echo[np.abs(echo) > 1e-4] ** 2)))
    mic = room + echo * (room_rms / echo_rms) * 10 ** (echo_db / 20)
    if noise_snr is not None:
        mic = add_noise(mic, noise_snr, seed=seed)
    out: np.ndarray = mic * 0.9 / float(np.max(np.abs(mic)))
    return out


def write_rttm(path: Path, uri: str, rows: list[tuple[str, int, int]]) -> None:
    with path.open("w") as f:
        for speaker, start, end in rows:
            f.write(f"SPEAKER {uri} 1 {start / SAMPLE_RATE:.3f} {(end - start) / SAMPLE_RATE:.3f} <NA> <NA> {speaker} <NA> <NA>\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="output folder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--echo-db", type=float, default=-3.0, help="call echo level relative to the room talkers (dB)")
    ap.add_argument("--delay-ms", type=float, default=150.0, help="call-to-microphone delay (ms)")
    ap.add_argument("--reverb", type=float, default=40.0, help="sox reverberance of the room (percent)")
    ap.add_argument("--noise-snr", type=float, default=25.0, help="room noise below the speech level (dB)")
    ap.add_argument("--turns", type=int, help=f"only the first N of the {len(TURNS)} turns (a shorter meeting)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        room, call, ref = render(args.seed, tmp, args.turns)
        mic = room_microphone(room, call, echo_db=args.echo_db, delay_ms=args.delay_ms, reverb=args.reverb,
                              noise_snr=args.noise_snr, seed=args.seed, tmp=tmp)
    call = call * 0.9 / float(np.max(np.abs(call)))
    args.out.mkdir(parents=True, exist_ok=True)
    sf.write(str(args.out / "room.wav"), mic.astype(np.float32), SAMPLE_RATE, subtype="PCM_16")
    sf.write(str(args.out / "call.wav"), call.astype(np.float32), SAMPLE_RATE, subtype="PCM_16")
    write_rttm(args.out / "room.rttm", "room", [(s, a, b) for side, s, a, b in ref if side == "room"])
    write_rttm(args.out / "call.rttm", "call", [(s, a, b) for side, s, a, b in ref if side == "call"])
    write_rttm(args.out / "hybrid.rttm", "hybrid", [(f"{side}:{s}", a, b) for side, s, a, b in ref])
    talk: dict[str, float] = {}
    for side, s, a, b in ref:
        talk[f"{side}:{s}"] = talk.get(f"{side}:{s}", 0.0) + (b - a) / SAMPLE_RATE
    print(f"{args.out}: {len(mic) / SAMPLE_RATE:.1f} s; talk " + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(talk.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
