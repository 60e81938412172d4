"""Result writers: merged segments, RTTM lines and JSON summaries."""

from __future__ import annotations

import io
import json
from pathlib import Path

from tracker.segments import merge_segments
from tracker.reports.sinks import summary_dict, write_json, write_rttm
from tracker.stages.accounting import Accountant
from tracker.segments import SpeakerSegment


def test_merge_joins_touching_runs_of_one_speaker_in_time_order() -> None:
    segs = [SpeakerSegment(1, 3_000, 4_000), SpeakerSegment(0, 0, 1_000), SpeakerSegment(0, 1_000, 2_000),
            SpeakerSegment(1, 4_000, 5_000), SpeakerSegment(0, 2_500, 2_800)]
    assert merge_segments(segs) == [
        SpeakerSegment(0, 0, 2_000), SpeakerSegment(0, 2_500, 2_800), SpeakerSegment(1, 3_000, 5_000)
    ]
    assert merge_segments(segs, gap_samples=500)[0] == SpeakerSegment(0, 0, 2_800)
    assert merge_segments([]) == []


def test_merge_keeps_interleaved_speakers_apart() -> None:
    segs = [SpeakerSegment(0, 0, 1_000), SpeakerSegment(1, 500, 1_500), SpeakerSegment(0, 1_000, 2_000)]
    assert merge_segments(segs) == [SpeakerSegment(0, 0, 2_000), SpeakerSegment(1, 500, 1_500)]


def test_rttm_lines() -> None:
    out = io.StringIO()
    segs = [SpeakerSegment(0, 8_000, 16_000), SpeakerSegment(0, 16_000, 28_000), SpeakerSegment(2, 32_000, 32_016)]
    write_rttm(segs, out, uri="team_sync")
    assert out.getvalue().splitlines() == [
        "SPEAKER team_sync 1 0.500 1.250 <NA> <NA> speaker1 <NA> <NA>",
        "SPEAKER team_sync 1 2.000 0.001 <NA> <NA> speaker3 <NA> <NA>",
    ]


def test_rttm_labels_have_no_spaces() -> None:
    out = io.StringIO()
    write_rttm([SpeakerSegment(0, 0, 16_000)], out, uri="m", label=lambda i: "Ana María López")
    assert out.getvalue().split()[7] == "Ana_María_López"
    assert len(out.getvalue().split()) == 10


def test_summary_json_round_trip(tmp_path: Path) -> None:
    acc = Accountant()
    acc.add([SpeakerSegment(0, 0, 48_000), SpeakerSegment(1, 50_000, 60_000)])
    acc.expect("Dana")
    acc.rename(1, "Kim")
    data = summary_dict(acc.summary())
    path = tmp_path / "summary.json"
    write_json(data, path)
    text = path.read_text()
    assert text.endswith("}\n")
    back = json.loads(text)
    assert back == json.loads(json.dumps(data))
    assert [s["name"] for s in back["speakers"]] == ["Guest 1", "Kim", "Dana"]
    assert back["speakers"][2]["last_spoke_s"] is None
    assert set(back["group"]) >= {"gini", "evenness", "effective_speakers", "balance", "reading", "people"}
