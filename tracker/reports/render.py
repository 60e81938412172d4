"""The report in any of its formats, and writing it safely.

The JSON document is ``figures.report_dict``; the HTML page is ``html``, the PDF ``pdf`` and the
CSV (the JSON flattened into one long table) ``csv``. Files are written to a temporary file beside the target and renamed, so a failed write never
leaves half a report.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from tracker.reports.figures import Report, report_dict

FORMATS = ("html", "pdf", "csv", "json")


class ReportError(Exception):
    """A report that cannot be made or written; the message says what was expected."""


# ----------------------------------------------------------------------------- writing


def render(report: Report, fmt: str) -> bytes:
    """The report in ``fmt`` (html, pdf, csv or json) as bytes."""
    import json

    from tracker.reports.csv import render_csv
    from tracker.reports.html import render_html
    from tracker.reports.pdf import render_pdf

    if fmt == "html":
        return render_html(report).encode()
    if fmt == "pdf":
        return render_pdf(report)
    if fmt == "csv":
        return render_csv(report).encode()
    if fmt == "json":
        return (json.dumps(report_dict(report), indent=2, ensure_ascii=False) + "\n").encode()
    raise ValueError(f"report format expected one of {', '.join(FORMATS)}, got {fmt!r}")


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename; ``ReportError`` on failure."""
    path = Path(path)
    if path.is_dir():
        raise ReportError(f"cannot write the report to {path}: it is a folder; expected a file name (-o FILE)")
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise ReportError(f"cannot write the report to {path} ({exc.strerror or exc}); expected a writable "
                          "file in an existing folder (-o FILE)") from exc
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
