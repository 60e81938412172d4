#!/usr/bin/env python
"""Why does the post-meeting pass beat (or lose to) the live labels? Per file, side by side.

    python scripts/diagnose_final.py DIR [DIR ...] [--cache DIR] [--set reclustering.FIELD=VALUE ...]
                                     [--set diarization.FIELD=VALUE ...]

Each DIR is laid out like ../shared/eval/dev (``wav/``, ``rttm/``, optional ``all.uem``). Every
file goes once through the live path (FileSource -> Runner -> Pipeline, as ``talktime analyze``
does) and its window records are cached (``--cache``, default /tmp/talktime-diagnose), so the
post-meeting pass can be re-run and re-scored in seconds while its settings are changed.

Printed per file, for the live labels and for the final pass: the count of people found, the
talk-share error (pp, scored as ``scripts/evaluate.py`` does) and DER; then, for the final pass,
what went wrong, person by person:

- ``split``: a reference person whose talk is spread over two or more found voices (each with
  at least 15 % of their talk and 1 s);
- ``merge``: a found voice holding two or more reference people (each at least 15 % of it and 1 s);
- ``lost``: a reference person with no found voice of their own (folded into someone else's).

``moved`` is how much speech the final pass gave to another voice than the live labels did.

The last lines pool the share error over every person of every file, as evaluate.py does.

``--set diarization.FIELD=VALUE`` changes how the live diarizer assigns windows to voices (one of
``REPLAYABLE``): the cached windows are decided again in their order (``StreamingDiarizer.replay``;
their embeddings do not depend on these settings), and the "live" columns and the final pass are
scored on that re-run. With the default settings the re-run gives the live labels exactly.

The pooled lines also give ``best assignment``: each window's speech given to the reference
person with the most talk in its span (or to nobody's voice where the reference has none). It is
what a perfect speaker assignment would score with this speech detector and these windows, so
the gap between it and the live figure is the diarizer's, and the rest is missed speech, false
alarms, overlap and the windows' 0.4 s resolution.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(Path(__file__).resolve().parent))

import models  # noqa: F401,E402 - telemetry off before pyannote is imported
import numpy as np  # noqa: E402
from evaluate import load_rttm, load_uem, share_errors, with_overrides  # noqa: E402
from pyannote.core import Annotation, Segment, Timeline  # noqa: E402
from pyannote.metrics.diarization import DiarizationErrorRate  # noqa: E402

from tracker.pipeline.analysis import analyze  # noqa: E402
from tracker.audio import SAMPLE_RATE  # noqa: E402
from tracker.pipeline.pipeline import PipelineConfig  # noqa: E402
from tracker.pipeline.build import build_pipeline  # noqa: E402
from tracker.stages.accounting import AccountingConfig  # noqa: E402
from tracker.segments import SpeakerSegment  # noqa: E402
from tracker.stages.diarization import DiarizationConfig, StreamingDiarizer, WindowRecord  # noqa: E402
from tracker.stages.reclustering import ReclusteringConfig, recluster  # noqa: E402


@dataclass
class Cached:
    """What one live run leaves for the post-meeting pass (no audio)."""

    uri: str
    records: list[WindowRecord]
    live: list[SpeakerSegment]
    clock_samples: int


@dataclass
class Score:
    people: int
    share_errs: list[float]
    der: float
    hyp: Annotation


def _live_code_digest() -> bytes:
    """A digest of the sources the live runs depend on: the tracker and the model wrappers, but not
    the post-meeting pass this script re-scores (so trying a change to it keeps the cache)."""
    h = hashlib.sha256()
    for f in sorted([*(ROOT / "tracker").rglob("*.py"), *(ROOT / "models").rglob("*.py")]):
        if f.name != "reclustering.py":
            h.update(f.read_bytes())
    return h.digest()


def collect(folder: Path, cache: Path) -> list[tuple[Cached, Annotation, Timeline]]:
    """Run every file of ``folder`` live once (cached) and return it with its reference and UEM."""
    uems = load_uem(folder / "all.uem")
    out: list[tuple[Cached, Annotation, Timeline]] = []
    pipeline = None
    for wav in sorted((folder / "wav").glob("*.wav")):
        rttm = folder / "rttm" / f"{wav.stem}.rttm"
        if not rttm.exists():
            continue
        # NB: keyed on the audio's bytes and the code of the live path, so another set with the same
        # file names, or a changed live pipeline, is never scored from a stale run.
        key = hashlib.sha256(wav.read_bytes() + _live_code_digest()).hexdigest()[:16]
        path = cache / f"{wav.stem}-{key}.pkl"
        if path.exists():
            item = Cached(**pickle.loads(path.read_bytes()))
        else:
            pipeline = pipeline or build_pipeline(PipelineConfig(engine="lite"))  # NB: it replays the lite engine's windows
            a = analyze(wav, pipeline, mode="live")
            item = Cached(wav.stem, list(pipeline.engine.diarizer.records), list(a.segments), pipeline.accountant.clock_samples)
            cache.mkdir(parents=True, exist_ok=True)
            path.write_bytes(pickle.dumps({f.name: getattr(item, f.name) for f in dataclasses.fields(item)}))
        uem = uems.get(wav.stem, Timeline([Segment(0, item.clock_samples / SAMPLE_RATE)], uri=wav.stem))
        out.append((item, load_rttm(rttm), uem))
    return out


REPLAYABLE = ("assign_threshold", "new_speaker_windows", "new_speaker_agreement", "pending_timeout_s", "max_speakers")


class _RecordedEmbeddings:
    """Stands in for the speaker encoder when the windows' embeddings come from the cache."""

    name = "recorded"
    dimension = 256

    def embed(self, waveforms: list[np.ndarray]) -> np.ndarray:
        raise RuntimeError("a replay reuses the recorded embeddings; nothing should be embedded")

    def warmup(self) -> None:
        pass


def replay(item: Cached, config: DiarizationConfig) -> tuple[list[SpeakerSegment], list[WindowRecord]]:
    """The live labels ``config`` would have given the cached windows, and the windows so labelled."""
    diarizer = StreamingDiarizer(config, encoder=_RecordedEmbeddings())
    segments = diarizer.replay(item.records)
    return segments, diarizer.records


def best_assignment(records: list[WindowRecord], ref: Annotation) -> list[SpeakerSegment]:
    """Each window's speech to the reference person talking most in its span (see the module docstring)."""
    people = sorted(ref.labels(), key=str)
    nobody = len(people)  # speech the reference has no one for: one voice of its own (a false alarm)
    out: list[SpeakerSegment] = []
    for r in records:
        if not r.speech:
            continue
        chart = ref.crop(Segment(r.span_start / SAMPLE_RATE, r.span_end / SAMPLE_RATE)).chart()
        who = people.index(chart[0][0]) if chart else nobody
        out += [SpeakerSegment(who, s, e) for s, e in r.speech]
    return out


def score(segments: list[SpeakerSegment], ref: Annotation, uem: Timeline, uri: str, accounting: AccountingConfig) -> Score:
    """Share error of the people the product would count (>= min_presence_s of talk) and DER."""
    hyp = Annotation(uri=uri)
    talk: dict[int, int] = {}
    for k, s in enumerate(segments):
        hyp[Segment(s.start_sample / SAMPLE_RATE, s.end_sample / SAMPLE_RATE), k] = f"spk{s.speaker}"
        talk[s.speaker] = talk.get(s.speaker, 0) + s.duration_samples
    present = {f"spk{i}" for i, n in talk.items() if n >= accounting.min_presence_s * SAMPLE_RATE}
    der = DiarizationErrorRate(collar=0.0, skip_overlap=False)(ref, hyp, uem=uem)
    return Score(len(present), share_errors(ref.crop(uem), hyp.crop(uem).subset(present)), 100 * der, hyp.crop(uem))


def moved(live: list[SpeakerSegment], final: list[SpeakerSegment]) -> int:
    """Samples of speech that ``final`` credits to another voice than ``live`` does."""
    owner = np.full(max([s.end_sample for s in live + final] + [0]), -1, dtype=np.int64)
    for s in live:
        owner[s.start_sample : s.end_sample] = s.speaker
    return sum(int(np.sum(owner[s.start_sample : s.end_sample] != s.speaker)) for s in final)


def problems(ref: Annotation, hyp: Annotation) -> list[str]:
    """Splits, merges and lost people of ``hyp`` against ``ref`` (see the module docstring)."""
    rl, hl = ref.labels(), hyp.labels()
    m = np.zeros((len(rl), len(hl)))
    for i, r in enumerate(rl):
        rtl = ref.label_timeline(r)
        for j, h in enumerate(hl):
            m[i, j] = rtl.crop(hyp.label_timeline(h), mode="intersection").duration()
    out: list[str] = []
    for i, r in enumerate(rl):
        parts = [(hl[j], m[i, j]) for j in range(len(hl)) if m[i, j] >= max(1.0, 0.15 * m[i].sum())]
        if len(parts) > 1:
            out.append(f"split {r} ({ref.label_duration(r):.1f}s) over " + ", ".join(f"{h} {t:.1f}s" for h, t in parts))
    for j, h in enumerate(hl):
        parts = [(rl[i], m[i, j]) for i in range(len(rl)) if m[i, j] >= max(1.0, 0.15 * m[:, j].sum())]
        if len(parts) > 1:
            out.append(f"merge {h} holds " + ", ".join(f"{r} {t:.1f}s" for r, t in parts))
    owner = {int(np.argmax(m[:, j])) for j in range(len(hl)) if m[:, j].sum() > 0}
    for i, r in enumerate(rl):
        if i not in owner:
            out.append(f"lost {r} ({ref.label_duration(r):.1f}s)")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dirs", type=Path, nargs="+", help="folders with wav/, rttm/ and optionally all.uem")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/talktime-diagnose"), help="where the live runs are kept")
    ap.add_argument("--set", action="append", default=[], metavar="STAGE.FIELD=VALUE",
                    help="override a setting of the post-meeting pass (reclustering.*) or of the live "
                         f"assignment (diarization.{{{','.join(REPLAYABLE)}}}); repeatable")
    ap.add_argument("--quiet", action="store_true", help="print only the pooled lines")
    args = ap.parse_args(argv)
    live_sets = [kv for kv in args.set if kv.startswith("diarization.")]
    wrong = [kv for kv in args.set if not kv.startswith("reclustering.")
             and kv.partition("=")[0].removeprefix("diarization.") not in REPLAYABLE]
    if wrong:
        ap.error(f"--set expected reclustering.FIELD=VALUE or diarization.FIELD=VALUE with FIELD one of "
                 f"{', '.join(REPLAYABLE)} (the windows are cached, so nothing that changes them), got {', '.join(wrong)}")
    config = with_overrides(PipelineConfig(engine="lite"), args.set)
    rc: ReclusteringConfig = config.reclustering
    for folder in args.dirs:
        if not (folder / "wav").is_dir():
            print(f"diagnose_final: no wav/ under {folder}; expected a folder laid out like ../shared/eval/dev", file=sys.stderr)
            return 2
        live_errs: list[float] = []
        final_errs: list[float] = []
        best_errs: list[float] = []
        right = [0, 0]
        total_moved = 0.0
        items = collect(folder, args.cache)
        if not args.quiet:
            print(f"{folder}: {'file':32s} {'ref':>3s} | live: {'n':>2s} {'share':>6s} {'DER':>5s} | final: {'n':>2s} {'share':>6s} {'DER':>5s} {'moved':>6s}")
        for item, ref, uem in items:
            labels, records = replay(item, config.diarization) if live_sets else (item.live, item.records)
            live = score(labels, ref, uem, item.uri, config.accounting)
            segments = recluster(records, rc)
            final = score(segments, ref, uem, item.uri, config.accounting)
            moved_s = moved(labels, segments) / SAMPLE_RATE
            total_moved += moved_s
            n = len(ref.crop(uem).labels())
            right[0] += live.people == n
            right[1] += final.people == n
            live_errs += live.share_errs
            final_errs += final.share_errs
            best_errs += score(best_assignment(records, ref.crop(uem)), ref, uem, item.uri, config.accounting).share_errs
            if not args.quiet:
                mark = "WORSE" if np.mean(final.share_errs) > np.mean(live.share_errs) + 0.5 else ""
                print(f"  {item.uri:32s} {n:3d} | {live.people:8d} {np.mean(live.share_errs):6.2f} {live.der:5.1f}"
                      f" | {final.people:9d} {np.mean(final.share_errs):6.2f} {final.der:5.1f} {moved_s:5.1f}s {mark}")
                for p in problems(ref.crop(uem), final.hyp):
                    print(f"      {p}")
        what = f"live re-run with {', '.join(live_sets)}" if live_sets else "live"
        print(f"POOLED {folder}: {what} {np.mean(live_errs):.2f} pp ({right[0]} of {len(items)} counts right), "
              f"final {np.mean(final_errs):.2f} pp ({right[1]} of {len(items)} counts right); "
              f"{total_moved:.1f} s of speech moved; best assignment {np.mean(best_errs):.2f} pp", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
