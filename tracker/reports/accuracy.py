"""How sure a report is: the engine that made its figures, how accurate that engine measured on
real meetings, and the names and merges the facilitator made by hand.

``MEASURED`` is the one place the engines' measured accuracy lives in code. Its figures come from
``scripts/evaluate.py`` on the dev set (11 clips of real AMI meetings and a phone call,
``../shared/eval/dev``), run as the README's "Accuracy" section shows:

    .venv/bin/python scripts/evaluate.py ../shared/eval/dev --mode both --engine neural|lite

They are the pooled TVD (the part of the meeting's talk time given to the wrong person, in
percentage points) of the README's accuracy table; ``tests/test_report_confidence.py`` checks the
two agree, so a new measurement changes both or the test fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tracker.segments import Correction
from tracker.stages.accounting import default_name


@dataclass(frozen=True)
class Measured:
    """One engine's share error on the dev set (percentage points of talk time)."""

    live_pp: float  # what the dashboard showed during the meeting
    final_pp: float  # after the post-meeting pass (`talktime analyze --mode final`)


# scripts/evaluate.py ../shared/eval/dev --mode both --engine <name>: "TVD pp" of the README's table.
MEASURED: dict[str, Measured] = {
    "neural": Measured(live_pp=12.81, final_pp=11.13),
    "lite": Measured(live_pp=16.87, final_pp=16.82),
}
MEASURED_ON = "recorded real meetings"  # the dev set: real AMI meeting clips and a phone call


@dataclass(frozen=True)
class Confidence:
    """What the report says about how sure its figures are."""

    engine: str | None  # as stored with the meeting; None: a meeting stored before the engine was kept
    accuracy: str  # one sentence: the engine and its measured accuracy
    names_by_hand: int  # voices (or roster names) named by the facilitator
    merges_by_hand: int  # voices merged by the facilitator
    corrections: list[str]  # each correction in words, in the order made

    def lines(self) -> list[str]:
        """The sentences every format shows."""
        return [self.accuracy, corrections_sentence(self)]


def _about(pp: float) -> str:
    return f"about {round(pp)} %"


def _engine_sentence(name: str) -> str:
    measured = MEASURED.get(name)
    if measured is None:
        return f"the {name} engine, whose accuracy was not measured"
    if round(measured.final_pp) == round(measured.live_pp):
        return (f"the {name} engine; on {MEASURED_ON} {_about(measured.live_pp)} of talk time went to the wrong "
                "person")
    return (f"the {name} engine; on {MEASURED_ON} {_about(measured.final_pp)} of talk time went to the wrong person "
            f"after the post-meeting pass, {_about(measured.live_pp)} live")


def accuracy_sentence(engine: str | None) -> str:
    """Which engine made the figures and how accurate it measured (scripts/evaluate.py), in one sentence."""
    if engine is None:
        return "The engine that made these figures was not recorded (the meeting was stored by an older talktime)."
    if engine == "pyannote":
        return ("Figures made by pyannote's pipeline (talktime analyze --engine pyannote); its accuracy was not "
                "measured here, since its weights were not available.")
    if engine.startswith("hybrid:"):
        room, _, call = engine.removeprefix("hybrid:").partition("+")
        text = f"Figures made in the room by {_engine_sentence(room)}"
        return text + ("." if call == room else f"; on the call by the {call} engine.")
    return f"Figures made by {_engine_sentence(engine)}."


def describe(corrections: Sequence[Correction], names: dict[int, str]) -> list[str]:
    """Each correction in words; ``names`` are the voices' final names."""
    out = []
    for c in corrections:
        if c.kind == "merge":
            assert c.other is not None
            gone = c.name or default_name(c.other)
            out.append(f"{gone} merged into {names.get(c.speaker, default_name(c.speaker))}")
        elif c.speaker < 0:
            out.append(f"a roster name corrected to {c.name}")
        else:
            out.append(f"{default_name(c.speaker)} named {c.name}")
    return out


def corrections_sentence(confidence: Confidence) -> str:
    n, m = confidence.names_by_hand, confidence.merges_by_hand
    if not n and not m:
        return "No names were given and no voices merged by hand."
    counts = [f"{k} {word}{'s' if k != 1 else ''}" for k, word in ((n, "name"), (m, "merge")) if k]
    return f"Corrected by hand: {' and '.join(counts)} ({'; '.join(confidence.corrections)})."


def confidence_of(engine: str | None, corrections: Sequence[Correction], names: dict[int, str]) -> Confidence:
    """How sure a meeting's report is, from what is stored with it."""
    return Confidence(
        engine=engine,
        accuracy=accuracy_sentence(engine),
        names_by_hand=sum(c.kind == "name" for c in corrections),
        merges_by_hand=sum(c.kind == "merge" for c in corrections),
        corrections=describe(corrections, names),
    )
