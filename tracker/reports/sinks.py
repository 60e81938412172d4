"""Writers of results: RTTM and JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from tracker.audio import SAMPLE_RATE
from tracker.stages.accounting import Summary
from tracker.segments import SpeakerSegment, merge_segments


def write_rttm(
    segments: Iterable[SpeakerSegment], out: TextIO, *, uri: str, label: Callable[[int], str] | None = None
) -> None:
    """Standard RTTM: ``SPEAKER uri 1 start dur <NA> <NA> label <NA> <NA>`` (seconds, 3 decimals)."""
    name = label or (lambda i: f"speaker{i + 1}")
    for s in merge_segments(segments):
        start, dur = s.start_sample / SAMPLE_RATE, s.duration_samples / SAMPLE_RATE
        out.write(f"SPEAKER {uri} 1 {start:.3f} {dur:.3f} <NA> <NA> {name(s.speaker).replace(' ', '_')} <NA> <NA>\n")


def rounded(value: Any) -> Any:
    """Floats to 3 decimals (a millisecond is plenty for people) and NaN/inf to None, recursively."""
    if isinstance(value, float):
        return round(value, 3) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v) for v in value]
    return value


def summary_dict(summary: Summary) -> dict[str, Any]:
    """A JSON-ready dict of a summary."""
    return {"speakers": [asdict(s) for s in summary.speakers], "group": asdict(summary.group)}


def write_json(data: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")
