"""The meeting store's commands: ``meetings``, ``report``, ``history``, ``prune``, ``forget-person``, ``delete``.

The data folder is ``--data-dir``, else ``TALKTIME_DATA_DIR``, else the user's data folder (read
here, at the edge, through the app's ``Settings``). Errors reach ``cli.main.main``, which prints
``talktime: TypeName: message`` and exits non-zero.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tracker.store.records import MeetingInfo, MeetingRecord
from cli.common import left_table
from tracker.store.storage import MeetingStore, StoreError

REPORT_FORMATS = ("html", "pdf", "csv", "json")


def data_dir_of(args: argparse.Namespace) -> Path:
    """The data folder the flags and environment name."""
    from api.settings import settings_from_args

    return settings_from_args(args).store_dir()


def open_store(args: argparse.Namespace) -> MeetingStore:
    return MeetingStore.in_folder(data_dir_of(args))


def open_recovered(args: argparse.Namespace) -> MeetingStore:
    """The store, with every meeting no process records any more closed as interrupted first
    (``tracker.meeting.recorder.recover``; a restart soon after may still continue it, see
    ``tracker.meeting.restart``). When another program holds the write lock, nothing is closed
    and the commands read such a meeting as it would be closed (``as_stored``)."""
    from tracker.meeting.recorder import recover

    store = open_store(args)
    try:
        recover(store)
    except StoreError as exc:
        if exc.reason != "locked":
            store.close()
            raise
    except BaseException:
        store.close()
        raise
    return store


def as_stored(store: MeetingStore, record: MeetingRecord) -> MeetingRecord:
    """``record``, closed as interrupted if it has no end and no process records it any more (what
    the next ``recover`` will store), so ``meetings``, ``report`` and ``history`` agree on it."""
    from tracker.meeting.recorder import is_live
    from tracker.store.records import as_interrupted

    if record.info.ended_at is not None or is_live(store, record.info.id):
        return record
    return as_interrupted(record)


def _status(store: MeetingStore, info: MeetingInfo) -> str:
    from tracker.meeting.recorder import is_live

    if info.end_reason is not None:
        return info.end_reason
    return "live" if is_live(store, info.id) else "interrupted"


# ----------------------------------------------------------------------------- commands


def cmd_meetings(args: argparse.Namespace) -> int:
    from tracker.reports.figures import accountant_for
    from tracker.reports.text import clock, score, when

    with open_recovered(args) as store:
        infos = store.meetings(series=_series(args.series), limit=args.limit)
        if not infos:
            print(f"no meetings stored in {store.path} yet")
            return 0
        rows = []
        for info in infos:
            record = as_stored(store, store.load(info.id))
            info = record.info
            g = accountant_for(record).summary().group
            rows.append([info.id[:8], when(info.started_at), info.title, clock(g.duration_s), str(g.people),
                         score(g.balance), _status(store, info)])
    print(left_table(rows, ["id", "started", "title", "length", "people", "balance", "status"]))
    return 0


def _series(text: str | None) -> str | None:
    from tracker.store.records import series_key

    return None if text is None else series_key(text)


def _report_of(store: MeetingStore, ref: str | None) -> Any:
    from tracker.reports.figures import build_report

    record = as_stored(store, store.load(ref))
    series = [as_stored(store, r) for r in store.series(record.info.series)] if record.info.series else []
    return build_report(record, series=series)


def default_report_name(record_info: MeetingInfo, fmt: str) -> str:
    return f"talktime-{record_info.started_at[:10]}-{record_info.id[:8]}.{fmt}"


def cmd_report(args: argparse.Namespace) -> int:
    from tracker.reports.render import render, write_atomic

    out = None if args.output in (None, "-") else Path(args.output)
    if out is not None and out.is_dir():
        from tracker.reports.render import ReportError

        raise ReportError(f"cannot write the report to {out}: it is a folder; expected a file name (-o FILE)")
    fmt = args.format or (out.suffix.lstrip(".").lower() if out is not None else "html")
    if fmt not in REPORT_FORMATS:
        raise ValueError(f"report format expected one of {', '.join(REPORT_FORMATS)} (--format, or -o FILE's "
                         f"suffix), got {fmt!r}")
    if out is not None and not out.parent.is_dir():
        from tracker.reports.render import ReportError

        raise ReportError(f"cannot write the report to {out}: folder {out.parent} does not exist; expected an "
                          "existing folder (-o FILE)")
    with open_recovered(args) as store:
        report = _report_of(store, args.meeting)
    data = render(report, fmt)
    if args.output == "-" or (out is None and fmt in ("csv", "json")):
        sys.stdout.buffer.write(data)
        return 0
    path = out or Path(default_report_name(report.meeting, fmt))
    write_atomic(path, data)
    print(f"wrote {path} ({fmt}, meeting {report.meeting.id[:8]} {report.meeting.title!r})")
    return 0


def _history_records(store: MeetingStore, args: argparse.Namespace) -> list[MeetingRecord]:
    if args.series is not None:
        found = store.series(_series(args.series) or "")
        if not found:
            raise StoreError(f"no meetings of series {args.series!r} in {store.path}; expected a title or series "
                             "from `talktime meetings`")
        return found
    record = store.load(args.meeting)
    if record.info.series is None:
        return [record]
    return [r for r in store.series(record.info.series) if r.info.started_at <= record.info.started_at]


def cmd_history(args: argparse.Namespace) -> int:
    from tracker.reports.figures import trend_points, trend_reading
    from tracker.reports.text import clock, pct, score, when

    with open_recovered(args) as store:
        records = _history_records(store, args)
    points = trend_points(records)
    reading = trend_reading(points)
    if args.format == "json":
        print(json.dumps({"series": records[-1].info.series, "meetings": [asdict(p) for p in points], "trend": reading},
                         indent=2, ensure_ascii=False))
        return 0
    names = sorted({n for p in points for n in p.shares}, key=lambda n: -sum(p.shares.get(n, 0) for p in points))
    if args.format == "csv":
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(["meeting_id", "started_at", "title", "duration_s", "people", "balance", "evenness", "top_share",
                    *[f"share:{n}" for n in names]])
        for p in points:
            w.writerow([p.meeting_id, p.started_at, p.title, round(p.duration_s, 3), p.people,
                        *("" if x is None else round(x, 3) for x in (p.balance, p.evenness, p.top_share)),
                        *("" if n not in p.shares else round(p.shares[n], 3) for n in names)])
        return 0
    first = records[-1].info
    print(f"{first.title}: {len(points)} meeting{'s' if len(points) != 1 else ''}"
          + (f" (series {first.series!r})" if first.series else " (not part of a series: give it a --title)"))
    rows = [[when(p.started_at), clock(p.duration_s), str(p.people), score(p.balance), pct(p.top_share),
             *(pct(p.shares.get(n)) if n in p.shares else "" for n in names)] for p in points]
    print(left_table(rows, ["meeting", "length", "people", "balance", "top share", *names]))
    if reading:
        print(reading)
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    from api.settings import Settings

    days = args.older_than_days if args.older_than_days is not None else Settings().retention_days
    if days is None:
        raise ValueError("prune expected --older-than-days N (or TALKTIME_RETENTION_DAYS), got neither")
    if days < 1:
        raise ValueError(f"--older-than-days expected a whole number of days >= 1, got {days!r}")
    with open_store(args) as store:
        gone = store.prune(older_than_days=days)
    print(f"deleted {len(gone)} meeting{'s' if len(gone) != 1 else ''} that started more than {days} days ago")
    return 0


def cmd_forget_person(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        done = store.forget_person(args.name)
        if not done:
            raise LookupError(f"nobody named {args.name!r} in {store.path}; expected a name as shown in the reports "
                              "(any case)")
    talk = sum(s for _, s in done)
    print(f"deleted {args.name!r} and {talk:.0f} s of their speech from {len(done)} meeting"
          f"{'s' if len(done) != 1 else ''}: {', '.join(m[:8] for m, _ in done)}")
    return 0


MIN_ID_CHARS = 4  # `delete` needs this much of an id: one or two characters match a meeting by accident


def cmd_delete(args: argparse.Namespace) -> int:
    """Delete one meeting, named by at least ``MIN_ID_CHARS`` of its id; no prompt, so scripts can use
    it like ``prune`` and ``forget-person``. Says which meeting (title, start) it deleted."""
    from cli.common import UsageError
    from tracker.reports.text import when

    ref = args.meeting.strip()
    if len(ref) < MIN_ID_CHARS:
        raise UsageError(f"delete expected at least {MIN_ID_CHARS} characters of the meeting's id (see `talktime "
                         f"meetings`), got {args.meeting!r}")
    with open_store(args) as store:
        info = store.load(ref).info
        store.delete(info.id)
    print(f"deleted meeting {info.id[:8]} {info.title!r} (started {when(info.started_at)}; id {info.id})")
    return 0


# ----------------------------------------------------------------------------- parser


def _store_flag(p: argparse.ArgumentParser) -> None:
    from api.settings import add_cli_arguments

    add_cli_arguments(p, names=("data_dir",))


def add_store_commands(sub: Any) -> None:
    """Add the store's subcommands to ``talktime``'s subparsers."""
    m = sub.add_parser("meetings", help="list the stored meetings, newest first")
    m.add_argument("--series", metavar="TITLE", help="only this recurring meeting (its title or series)")
    m.add_argument("--limit", type=int, default=30, metavar="N", help="at most N meetings (default: 30)")
    m.set_defaults(func=cmd_meetings)

    r = sub.add_parser("report", help="write a meeting's talk-time report (default: the latest meeting, HTML)")
    r.add_argument("meeting", nargs="?", help="meeting id or its first characters (default: the latest)")
    r.add_argument("--format", choices=REPORT_FORMATS, help="html, pdf, csv or json (default: from -o's suffix, else html)")
    r.add_argument("-o", "--output", metavar="FILE",
                   help="where to write it ('-': standard output; default: csv/json to standard output, "
                        "html/pdf to talktime-<date>-<id>.<format> here)")
    r.set_defaults(func=cmd_report)

    h = sub.add_parser("history", help="balance and each person's share across a recurring meeting")
    h.add_argument("meeting", nargs="?", help="a meeting of the series (default: the latest meeting)")
    h.add_argument("--series", metavar="TITLE", help="the recurring meeting's title or series instead")
    h.add_argument("--format", choices=("text", "csv", "json"), default="text", help="text (default), csv or json")
    h.set_defaults(func=cmd_history)

    pr = sub.add_parser("prune", help="delete stored meetings older than N days")
    pr.add_argument("--older-than-days", type=int, metavar="N",
                    help="age in days (default: TALKTIME_RETENTION_DAYS)")
    pr.set_defaults(func=cmd_prune)

    f = sub.add_parser("forget-person", help="delete a person and their speech from every stored meeting")
    f.add_argument("name", help="their name as shown in the reports (any case)")
    f.set_defaults(func=cmd_forget_person)

    d = sub.add_parser("delete", help="delete one stored meeting")
    d.add_argument("meeting", help=f"meeting id or its first characters (at least {MIN_ID_CHARS})")
    d.set_defaults(func=cmd_delete)

    for p in (m, r, h, pr, f, d):
        _store_flag(p)


def add_save_arguments(a: argparse.ArgumentParser) -> None:
    """``talktime analyze --save``: keep the analysed recording as a meeting."""
    from api.settings import add_cli_arguments

    a.add_argument("--save", action="store_true", help="keep the result as a meeting in the store (see `talktime meetings`)")
    a.add_argument("--started-at", metavar="TIME", help="when the recording started, ISO 8601 (default: now)")
    add_cli_arguments(a, names=("title", "series", "room", "data_dir"))


def save_analysis(args: argparse.Namespace, store: MeetingStore, *, segments: Sequence[Any], clock_samples: int,
                  started_at: str, overlap_measured: bool | None = None, engine: str | None = None,
                  background_samples: int | None = None) -> str:
    """Store an analysed recording as an ended meeting; returns its id. ``background_samples``: talk
    the engine set aside as a conversation in the background."""
    import uuid
    from datetime import datetime, timedelta

    from tracker.audio import SAMPLE_RATE, seconds
    from tracker.store.records import clean_title, series_key

    from api.settings import settings_from_args

    settings = settings_from_args(args)
    ended = (datetime.fromisoformat(started_at) + timedelta(seconds=seconds(clock_samples))).isoformat(timespec="seconds")
    title = clean_title(settings.title) if settings.title else Path(args.audio).stem
    key, room = settings.series or settings.title, settings.room
    info = MeetingInfo(id=str(uuid.uuid4()), title=title, series=series_key(key) if key else None,
                       room=clean_title(room, what="room") if room else None, source=f"file {Path(args.audio).name}",
                       started_at=started_at, ended_at=ended, end_reason="analysed", sample_rate=SAMPLE_RATE,
                       clock_samples=clock_samples, overlap_measured=overlap_measured, engine=engine,
                       background_samples=background_samples)
    return store.save(MeetingRecord(info, sorted(segments, key=lambda s: (s.start_sample, s.speaker))))
