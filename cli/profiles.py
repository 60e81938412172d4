"""``talktime profiles ...``: enrolled people's voice profiles in the local store.

    talktime profiles enroll NAME AUDIO [--start S] [--end S] --consent
    talktime profiles list
    talktime profiles rename OLD NEW
    talktime profiles delete NAME
    talktime profiles export FILE [--name NAME]
    talktime profiles import FILE [--replace]

A profile is an average of speaker embeddings of the person's speech (never audio), tied to the
embedding model that made it. Enrollment runs the recording through the live path (FileSource ->
Runner -> Pipeline) and keeps only the windows' embeddings. Errors reach ``cli.main.main``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from tracker.meeting.enrollment import enroll_from_file
from tracker.segments import Profile
from tracker.meeting.session import clean_name
from tracker.sources.files import FileSource

EXPORT_FORMAT = "talktime-voice-profiles"
EXPORT_VERSION = 1

def profile_dict(p: Profile) -> dict[str, Any]:
    return {"name": p.name, "model": p.model, "embedding": [float(x) for x in p.embedding], "windows": p.windows,
            "speech_s": p.speech_s, "consent": p.consent, "created_at": p.created_at, "updated_at": p.updated_at}

def profiles_from_json(text: str, *, source: str) -> list[Profile]:
    """Profiles from an export file; ValueError saying what was expected when it is not one."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source} is not JSON ({exc}); expected a file written by `talktime profiles export`") from exc
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT or not isinstance(data.get("profiles"), list):
        raise ValueError(f"{source} is not a talktime profile export; expected {{\"format\": \"{EXPORT_FORMAT}\", "
                         "\"profiles\": [...]}} as written by `talktime profiles export`")
    if data.get("version") != EXPORT_VERSION:
        raise ValueError(f"{source} has export version {data.get('version')!r}; expected {EXPORT_VERSION}")
    out = []
    for k, item in enumerate(data["profiles"]):
        try:
            out.append(Profile(
                name=clean_name(item["name"]), model=str(item["model"]),
                embedding=np.asarray(item["embedding"], dtype=np.float32), windows=int(item["windows"]),
                speech_s=float(item["speech_s"]), consent=bool(item["consent"]),
                created_at=str(item.get("created_at") or ""), updated_at=str(item.get("updated_at") or ""),
            ))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{source}: profile {k + 1} is unusable ({exc}); expected name, model, embedding "
                             "(unit length), windows, speech_s and consent") from exc
    return out

# ----------------------------------------------------------------------------- commands

def _store(args: argparse.Namespace) -> Any:
    from cli.store import open_store

    return open_store(args)

def cmd_enroll(args: argparse.Namespace) -> int:
    from api.settings import settings_from_args
    from tracker.pipeline.build import build_pipeline
    from tracker.pipeline.pipeline import PipelineConfig

    name = clean_name(args.name)
    if not args.consent:
        raise ValueError(f"a voice profile is kept only with the person's consent; expected --consent once {name} "
                         "has agreed to keep one on this computer")
    FileSource(args.audio)  # a bad file fails before the models load
    store = _store(args)
    with store:
        pipeline = build_pipeline(PipelineConfig(engine=settings_from_args(args).engine))
        voice = enroll_from_file(args.audio, pipeline, start_s=args.start, end_s=args.end)
        model = pipeline.embedding_model or "none"
        store.save_profile(Profile(name, model, voice.embedding, windows=voice.windows, speech_s=voice.speech_s,
                                   consent=True))
    print(f"enrolled {name}: {voice.speech_s:.1f} s of speech, {voice.windows} embeddings, model {model} "
          f"({pipeline.engine.name} engine), in {store.path}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from cli.common import left_table

    with _store(args) as store:
        found = store.profiles()
        if not found:
            print(f"no voice profiles in {store.path} (`talktime profiles enroll NAME AUDIO --consent` makes one)")
            return 0
    from tracker.pipeline.profiles import ENGINE_MODELS, REENROL_COMMAND, model_name

    def engines(model: str) -> str:
        return ", ".join(e for e, m in ENGINE_MODELS.items() if m == model_name(model)) or "none"

    rows = [[p.name, p.model, engines(p.model), f"{p.speech_s:.1f}", str(p.windows), "yes" if p.consent else "no",
             p.updated_at[:16]] for p in found]
    print(left_table(rows, ["name", "model", "engine", "speech s", "embeddings", "consent", "updated"]))
    default = next(iter(ENGINE_MODELS))
    old = sorted({p.name for p in found} - {p.name for p in found if model_name(p.model) == ENGINE_MODELS[default]},
                 key=str.casefold)
    if old:
        print(f"needs re-enrolment for the {default} engine (the default; profiles of another model are never "
              f"compared with its voices): {', '.join(old)}; for each: `{REENROL_COMMAND.format(name='NAME')}`")
    return 0

def _no_profile(name: str) -> LookupError:
    return LookupError(f"no voice profile named {name!r}; expected a name from `talktime profiles list`")


def cmd_rename(args: argparse.Namespace) -> int:
    new = clean_name(args.new)
    with _store(args) as store:
        n = store.rename_profile(args.old, new)
    if not n:
        raise _no_profile(args.old)
    print(f"renamed {n} profile{'s' if n > 1 else ''} of {args.old} to {new}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    with _store(args) as store:
        n = store.delete_profile(args.name)
    if not n:
        raise _no_profile(args.name)
    print(f"deleted {n} profile{'s' if n > 1 else ''} of {args.name} (the stored bytes are overwritten)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    with _store(args) as store:
        found = [p for p in store.profiles() if args.name is None or p.name.casefold() == args.name.casefold()]
    if args.name is not None and not found:
        raise _no_profile(args.name)
    data = {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "profiles": [profile_dict(p) for p in found]}
    Path(args.file).write_text(json.dumps(data, indent=1) + "\n")
    Path(args.file).chmod(0o600)  # NB: a voice profile is personal data
    print(f"exported {len(found)} profile{'' if len(found) == 1 else 's'} to {args.file}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; expected a file written by `talktime profiles export`")
    found = profiles_from_json(path.read_text(), source=str(path))
    with _store(args) as store:
        added = [p.name for p in found if store.save_profile(p, replace=args.replace)]
    kept = len(found) - len(added)
    print(f"imported {len(added)} profile{'' if len(added) == 1 else 's'}"
          + (f"; kept {kept} existing (--replace overwrites them)" if kept else ""))
    return 0

def add_profile_commands(sub: Any) -> None:
    """Add ``talktime profiles ...`` to ``talktime``'s subparsers."""
    from api.settings import add_cli_arguments

    p = sub.add_parser("profiles", help="enrolled people's voice profiles: enroll, list, rename, delete, export, import")
    ps = p.add_subparsers(dest="profiles_command", required=True)
    e = ps.add_parser("enroll", help="make NAME's voice profile from a recording of them speaking (a few seconds)")
    e.add_argument("name", help="the person's name, as on the roster")
    e.add_argument("audio", help="a recording of them alone (WAV, FLAC, OGG; MP3/M4A with ffmpeg)")
    e.add_argument("--start", type=float, default=0.0, metavar="S", help="use the recording from S seconds (default 0)")
    e.add_argument("--end", type=float, default=None, metavar="S", help="up to S seconds (default: its end)")
    e.add_argument("--consent", action="store_true", help="the person agreed to keep a voice profile (required)")
    add_cli_arguments(e, names=("engine",))
    e.set_defaults(func=cmd_enroll)
    ls = ps.add_parser("list", help="list the stored profiles")
    ls.set_defaults(func=cmd_list)
    r = ps.add_parser("rename", help="rename a person's profiles")
    r.add_argument("old")
    r.add_argument("new")
    r.set_defaults(func=cmd_rename)
    d = ps.add_parser("delete", help="delete a person's profiles for good")
    d.add_argument("name")
    d.set_defaults(func=cmd_delete)
    x = ps.add_parser("export", help="write profiles to a JSON file (to move them to another computer)")
    x.add_argument("file")
    x.add_argument("--name", help="only this person's profiles")
    x.set_defaults(func=cmd_export)
    i = ps.add_parser("import", help="read profiles from a file written by export")
    i.add_argument("file")
    i.add_argument("--replace", action="store_true", help="overwrite profiles of the same name and model")
    i.set_defaults(func=cmd_import)
    for q in (e, ls, r, d, x, i):
        add_cli_arguments(q, names=("data_dir",))
