#!/usr/bin/env python
"""Make a set of six espeak-ng meetings laid out like ../shared/eval/dev, to score the tracker on.

    python scripts/make_meeting_set.py /tmp/eval-synth
    python scripts/evaluate.py /tmp/eval-synth --mode final
    python scripts/diagnose_final.py /tmp/eval-synth

OUT gets ``wav/<name>.wav``, ``rttm/<name>.rttm`` and the JSON script of each meeting. The
meetings are 1 to 2 minutes long, so a voice is heard more often than in the 30 s dev clips:

- dominant4: four people, one talking most of the time in long turns;
- equal3: three people with about equal talk;
- similar5: five people, three of them male voices close to each other;
- monologue2: two people, one holding the floor in long turns;
- noisy4: four people in a reverberant room with noise 18 dB below the speech;
- brief6: six people, one of whom speaks only briefly, with many one-word answers.

Who speaks when and what they say are drawn with a fixed seed per meeting, so the output is the
same on every run (``scripts/make_meeting.py`` renders each meeting). ``--seed N`` draws other
turns from the same people: a second set to check that a change was not fitted to the first.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
from pathlib import Path

SENTENCES = [
    "I think we should look at the numbers again before we decide anything.",
    "The customers told us the new release is slower than the old one.",
    "Can we move the review to Thursday, because Wednesday is full for me?",
    "We spent most of the budget on hardware in the first quarter.",
    "Let me share what the team found when they tested the prototype last week.",
    "That is a fair point, but the deadline is not ours to change.",
    "If we hire two more people we can finish the migration by the summer.",
    "The report says the support desk answers within four hours on average.",
    "I would rather ship a smaller feature on time than a big one late.",
    "Who is going to write the summary for the board this month?",
    "We could ask the design group to help with the screens.",
    "The last survey had almost three hundred answers, which is a record for us.",
    "My worry is that nobody owns the test servers at the moment.",
    "Let us agree on the priorities first and talk about dates afterwards.",
    "The contract with the supplier ends in October, so we need a decision soon.",
]
SHORT = ["Yes.", "Right.", "Okay.", "Sure.", "Mm, agreed.", "No.", "Exactly."]  # answers under 1 s
VOICES = {  # espeak-ng voice, pitch (0-99), speed (words/min), level against the others (dB)
    "m3": {"voice": "en-us+m3", "pitch": 35, "speed": 150},
    "f4": {"voice": "en+f4", "pitch": 70, "speed": 165, "gain_db": -2.0},
    "andy": {"voice": "en+Andy", "pitch": 50, "speed": 155, "gain_db": -4.0},
    "bel": {"voice": "en+belinda", "pitch": 65, "speed": 150, "gain_db": -1.0},
    "m1": {"voice": "en+m1", "pitch": 40, "speed": 160, "gain_db": -3.0},
    "m2": {"voice": "en+m2", "pitch": 45, "speed": 150},
    "f2": {"voice": "en-us+f2", "pitch": 60, "speed": 170, "gain_db": -2.0},
    "klatt": {"voice": "en+klatt", "pitch": 50, "speed": 145, "gain_db": -1.0},
    "f1": {"voice": "en+f1", "pitch": 55, "speed": 160, "gain_db": -5.0},
}


def script(people: dict[str, str], weights: list[float], turns: int, seed: int, *, short_p: float = 0.2,
           long_for: str | None = None) -> dict[str, object]:
    """A make_meeting.py JSON script: ``turns`` turns, each by a person drawn by ``weights`` (never
    the previous speaker); a turn is a short answer with probability ``short_p``, else one or two
    sentences (three for ``long_for``)."""
    rng = random.Random(seed)
    out: list[list[str]] = []
    names = list(people)
    prev = None
    while len(out) < turns:
        who = rng.choices(names, weights)[0]
        if who == prev:
            continue
        if rng.random() < short_p and out:
            out.append([who, rng.choice(SHORT)])
        else:
            k = 3 if who == long_for else rng.choice([1, 1, 2])
            out.append([who, " ".join(rng.sample(SENTENCES, k))])
        prev = who
    return {"voices": {name: VOICES[v] for name, v in people.items()}, "turns": out}


def meetings(seed: int) -> list[tuple[str, dict[str, object], list[str]]]:
    """The six meetings (name, script, extra make_meeting.py options); ``seed`` 0 is the set the
    README's figures come from, other seeds draw other turns from the same people."""
    return [
        ("dominant4", script({"ann": "m3", "bo": "f4", "cy": "andy", "di": "bel"}, [6, 2, 2, 1], 16, seed + 1, long_for="ann"), []),
        ("equal3", script({"ann": "f2", "bo": "m1", "cy": "bel"}, [1, 1, 1], 15, seed + 2), []),
        ("similar5", script({"ann": "m3", "bo": "m2", "cy": "m1", "di": "f4", "ed": "f2"}, [2, 2, 1, 2, 1], 18, seed + 3), []),
        ("monologue2", script({"ann": "andy", "bo": "f4"}, [3, 1], 10, seed + 4, long_for="andy"), []),
        ("noisy4", script({"ann": "klatt", "bo": "f2", "cy": "m3", "di": "bel"}, [2, 2, 1, 1], 16, seed + 5),
         ["--reverb", "40", "--noise-snr", "18"]),
        ("brief6", script({"ann": "m3", "bo": "f4", "cy": "andy", "di": "bel", "ed": "m1", "fi": "f1"}, [4, 3, 2, 2, 1, 0.3], 20,
                          seed + 6, short_p=0.3), []),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="output folder (gets wav/ and rttm/)")
    ap.add_argument("--seed", type=int, default=0, help="draw other turns (default 0: the README's set)")
    args = ap.parse_args(argv)
    (args.out / "wav").mkdir(parents=True, exist_ok=True)
    (args.out / "rttm").mkdir(exist_ok=True)
    make = Path(__file__).resolve().parent / "make_meeting.py"
    for name, meeting, extra in meetings(args.seed):
        path = args.out / f"{name}.json"
        path.write_text(json.dumps(meeting, indent=1))
        subprocess.run([sys.executable, str(make), "--script", str(path), "--out", str(args.out), "--seed", "1", *extra], check=True)
        (args.out / f"{name}.wav").replace(args.out / "wav" / f"{name}.wav")
        (args.out / f"{name}.rttm").replace(args.out / "rttm" / f"{name}.rttm")
    return 0


if __name__ == "__main__":
    sys.exit(main())
