"""The ``talktime`` command line.

    talktime analyze AUDIO [--rttm FILE] [--json FILE] [--mode live|final] [--engine neural|lite|pyannote [--pipeline DIR]]
    talktime devices
    talktime run [--device D | --input FILE] [--host H] [--port P]
    talktime analyze AUDIO --save [--title T]; talktime meetings; talktime report [MEETING] [--format F] [-o FILE]
    talktime history [MEETING]; talktime prune --older-than-days N; talktime forget-person NAME; talktime delete MEETING
    talktime profiles enroll|list|rename|delete|export|import ...; talktime run --roster FILE

Errors are caught once here and printed as ``talktime: TypeName: message`` with a non-zero exit;
a bad flag or ``TALKTIME_*`` variable is ``talktime: --flag expected ..., got ...`` with exit 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tracker.audio import SAMPLE_RATE
from cli.common import EXIT_INPUT, EXIT_USAGE, UsageError, check_output_path, table
from tracker.logs import CurrentStderr

if TYPE_CHECKING:
    from models.pyannote import PyannoteEngine
    from tracker.pipeline.analysis import Analysis
    from tracker.store.storage import MeetingStore

def _fmt_time(s: float) -> str:
    from tracker.stages.display import clock  # the dashboard's and the report's clock

    return clock(s)


def cmd_analyze(args: argparse.Namespace) -> int:
    from tracker.pipeline.analysis import NoSpeechError, analyze
    from tracker.pipeline.pipeline import Pipeline, PipelineConfig
    from tracker.meeting.recorder import engine_name
    from tracker.pipeline.build import build_pipeline
    from tracker.reports.sinks import summary_dict, write_json, write_rttm
    from tracker.sources.files import FileSource
    from tracker.stages.vad import VadConfig

    FileSource(args.audio)  # fail fast on a bad file, before loading models
    for option, path in (("--rttm", args.rttm), ("--json", args.json)):
        if path:
            check_output_path(path, option)  # and on an output that could not be written afterwards
    if args.call is not None:
        FileSource(args.call)
        if args.engine == "pyannote":
            raise ValueError("--call works with talktime's own engines only; expected --engine neural or lite with it")
    saving = _saving(args) if args.save else None  # and on a store that cannot take the result
    engine = _engine(args)  # and on missing pyannote weights
    from tracker.pipeline.neural import NeuralConfig

    config = PipelineConfig(engine="neural" if args.engine == "pyannote" else args.engine, vad=VadConfig(model=args.vad),
                            neural=NeuralConfig.for_files() if args.mode == "final" else NeuralConfig())
    if args.call is not None:
        from tracker.pipeline.build import build_hybrid_pipeline

        pipeline: Pipeline = build_hybrid_pipeline(config)
    else:
        pipeline = build_pipeline(config)
    result = analyze(args.audio, pipeline, mode=args.mode, engine=engine, call=args.call)
    for note in result.notices:
        print(f"notice: {note}", file=sys.stderr)
    people = [s for s in result.summary.speakers if s.present or s.talk_time_s > 0]
    if not result.segments:
        raise NoSpeechError(
            f"no speech found in {args.audio} ({result.duration_s:.1f} s analysed); "
            "expected a recording of people talking"
        )
    g = result.summary.group
    from tracker.meeting.view import ViewConfig, people_view, room_and_remote

    # The whole percents the dashboard and the report show (the people counted add up to 100).
    shown = people_view(result.summary, clock_s=result.duration_s, config=ViewConfig(), counting=False, final=True,
                        whole_meeting=True)
    percents = {p.id: p.percent for p in shown}
    rows = [
        [s.name, _fmt_time(s.talk_time_s), "–" if percents.get(s.id) is None else f"{percents[s.id]}%", str(s.turns),
         f"{s.longest_turn_s:.1f}s",
         "not measured" if s.overlap_s is None else f"{s.overlap_s:.1f}s",
         "-" if s.interruptions_made is None else str(s.interruptions_made),
         "-" if s.interruptions_suffered is None else str(s.interruptions_suffered)]
        + ([] if s.present else ["(too little to count)"])
        for s in people
    ]
    rows = [r + [""] * (9 - len(r)) for r in rows]
    header = ["speaker", "talk", "share", "turns", "longest", "overlap", "interrupts", "interrupted", ""]
    if args.call is not None:
        from tracker.stages.accounting import is_remote

        rows = [[r[0], "remote" if is_remote(s.id) else "in the room", *r[1:]] for r, s in zip(rows, people, strict=True)]
        header = [header[0], "where", *header[1:]]
    print(f"{Path(args.audio).name}: {_fmt_time(result.duration_s)} analysed ({args.mode} mode"
          f", {'pyannote' if engine else pipeline.engine.name} engine), "
          + _speed(result.duration_s, result.elapsed_s))
    print(table(rows, header))
    if args.call is not None:
        split = room_and_remote(shown)
        if split is not None:
            print(f"in the room {split[0]}% of the talk, remote {split[1]}%")
    from tracker.reports.text import score  # the 0-100 balance of the dashboard, reports and `meetings`

    overlap = f"{g.overlap_s:.1f}s" if g.overlap_measured else "not measured (this engine hears one voice at a time)"
    from tracker.stages.display import shown_silence  # speech + silence read as the length, as on the dashboard

    print(f"speech {_fmt_time(g.speech_s)}, silence {shown_silence(g.duration_s, g.speech_s, g.silence_s)}, overlap {overlap}; "
          f"{g.people} people; balance {score(g.balance)}: {g.reading}")
    if result.background_s >= 0.5:
        print(f"not counted: {_fmt_time(result.background_s)} of a quieter conversation in the background")
    if args.rttm:
        with open(args.rttm, "w") as f:
            write_rttm(result.segments, f, uri=Path(args.audio).stem, label=lambda i: f"speaker{i + 1}")
    if args.json:
        data = {
            "file": str(args.audio),
            "mode": args.mode,
            "engine": "pyannote" if engine else pipeline.engine.name,
            "duration_s": result.duration_s,
            "background_s": result.background_s,
            "sample_rate": SAMPLE_RATE,
            "segments": [
                {"speaker": s.speaker, "start_s": s.start_sample / SAMPLE_RATE, "end_s": s.end_sample / SAMPLE_RATE}
                for s in result.segments
            ],
            **summary_dict(result.summary),
        }
        write_json(data, Path(args.json))
    if saving is not None:
        _save(args, saving, result, engine="pyannote" if engine else engine_name(pipeline.engine))
    return 0


def _speed(duration_s: float, elapsed_s: float) -> str:
    if elapsed_s <= duration_s:
        return f"{duration_s / max(elapsed_s, 1e-9):.0f}x faster than real time"
    return f"{elapsed_s / max(duration_s, 1e-9):.1f}x slower than real time"  # e.g. the pyannote engine


def _engine(args: argparse.Namespace) -> PyannoteEngine | None:
    """The pyannote pipeline for the final pass, loaded now so missing weights fail before the analysis."""
    if args.engine != "pyannote":
        return None
    if args.mode != "final":
        print("notice: --engine pyannote runs the final pass only; --mode live shows the live tracker's labels",
              file=sys.stderr)
        return None
    from models.pyannote import PyannoteEngine

    engine = PyannoteEngine(args.pipeline)
    engine.warmup()
    return engine


def _saving(args: argparse.Namespace) -> tuple[MeetingStore, str]:
    from cli.store import open_store
    from tracker.store.records import iso_now, iso_time

    started_at = iso_time(args.started_at) if args.started_at else iso_now()
    return open_store(args), started_at


def _save(args: argparse.Namespace, saving: tuple[MeetingStore, str], result: Analysis, *, engine: str) -> None:
    from tracker.audio import to_samples
    from cli.store import save_analysis

    store, started_at = saving
    with store:
        meeting_id = save_analysis(args, store, segments=result.segments, clock_samples=to_samples(result.duration_s),
                                   started_at=started_at, overlap_measured=result.summary.group.overlap_measured,
                                   engine=engine, background_samples=to_samples(result.background_s))
    print(f"saved as meeting {meeting_id} in {store.path} (`talktime report {meeting_id[:8]}`)")


def cmd_devices(args: argparse.Namespace) -> int:
    from tracker.sources.microphone import list_input_devices

    devices = list_input_devices()
    if not devices:
        print("no audio input devices found (expected a microphone or capture device)")
    rows = [
        [("* " if d["default"] else "  ") + str(d["index"]), d["name"], d["hostapi"], str(d["channels"]),
         f"{d['default_samplerate']:.0f}"]
        for d in devices
    ]
    if devices:
        print(table(rows, ["index", "name", "api", "channels", "rate"]))
    from tracker.sources.pulse import list_pulse_sources

    sources = list_pulse_sources()
    if sources:
        print("\ncall audio (--call-device; 'default' is the monitor of the default output):")
        print(table([[s["name"], s["kind"]] for s in sources], ["PulseAudio source", "kind"]))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    try:
        from api.server import serve
    except ImportError as exc:  # pragma: no cover - the dashboard ships with the package
        raise RuntimeError(f"the dashboard is not available ({exc})") from exc
    return serve(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="talktime", description="Real-time meeting talk-time tracker.")
    p.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = p.add_subparsers(dest="command", required=True)

    a = sub.add_parser("analyze", help="analyse a recording and print each person's talk time")
    a.add_argument("audio", help="audio file (WAV, FLAC, OGG; MP3/M4A with ffmpeg)")
    a.add_argument("--call", metavar="FILE",
                   help="a hybrid meeting: the call's audio recorded beside the room's AUDIO (each remote person counted "
                        "once, the call's echo in the room ignored)")
    a.add_argument("--rttm", metavar="FILE", help="write who-spoke-when as RTTM (uri = the file's stem)")
    a.add_argument("--json", metavar="FILE", help="write segments and figures as JSON")
    a.add_argument("--mode", choices=("live", "final"), default="final",
                   help="live: exactly what the live tracker showed; final: after the post-meeting pass (default)")
    a.add_argument("--vad", default="silero", help="voice activity detector: silero (default) or webrtc0..webrtc3")
    a.add_argument("--engine", choices=("neural", "lite", "pyannote"), default="neural",
                   help="neural: segmentation + CAM++ voices, overlap seen (default); lite: VAD + Resemblyzer (lighter, "
                        "less accurate); pyannote: a local pyannote.audio pipeline for the final pass (see --pipeline)")
    from models.pyannote import DEFAULT_PIPELINE

    a.add_argument("--pipeline", metavar="DIR", default=DEFAULT_PIPELINE,
                   help="with --engine pyannote: a local pipeline folder (config.yaml, segmentation/, embedding/, "
                        f"plda/) or a Hugging Face id in the local cache (default {DEFAULT_PIPELINE}); never downloaded")
    from cli.store import add_save_arguments, add_store_commands

    add_save_arguments(a)
    a.set_defaults(func=cmd_analyze)

    d = sub.add_parser("devices", help="list audio capture devices")
    d.set_defaults(func=cmd_devices)
    from cli.service import add_service_command

    add_service_command(sub)

    # NB: no abbreviations (--inp, --po): `talktime service` writes the flags into a unit as given
    r = sub.add_parser("run", help="capture live and serve the dashboard", allow_abbrev=False)
    from api.settings import add_cli_arguments  # one flag per dashboard setting, defaults in one place

    add_cli_arguments(r)
    r.set_defaults(func=cmd_run)
    add_store_commands(sub)
    from cli.profiles import add_profile_commands

    add_profile_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s",
                        stream=CurrentStderr())
    if not args.verbose:
        warnings.simplefilter("ignore")
    func: Callable[[argparse.Namespace], int] = args.func
    from pydantic import ValidationError

    from api.settings import Settings, SettingsError, settings_problem

    try:
        return func(args)
    except KeyboardInterrupt:
        return 130
    except (UsageError, SettingsError) as exc:
        print(f"talktime: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - one place turns every failure into a clear message
        if isinstance(exc, ValidationError) and exc.title == Settings.__name__:
            print(f"talktime: {settings_problem(exc)}", file=sys.stderr)  # a TALKTIME_* variable read without flags
            return EXIT_USAGE
        if args.verbose:
            raise
        print(f"talktime: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_INPUT

