"""What the commands share: exit codes, usage errors, output checks and plain-text tables."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

EXIT_USAGE = 2
EXIT_INPUT = 1


class UsageError(ValueError):
    """A flag's value cannot be used; the message names the flag and what it expected."""


def check_output_path(path: str, option: str) -> Path:
    """``path`` as a file ``option`` can write: not a folder; an existing file it may write, or a new
    one in an existing folder where a file can be created (tried with a temporary file), so nothing
    is analysed for a result that cannot be kept."""
    out = Path(path)
    if out.is_dir():
        raise UsageError(f"{option} expected a file name, got the folder {path}")
    folder = out.parent
    if not folder.is_dir():
        raise UsageError(f"{option} expected a file in an existing folder, got {path} (no folder {folder})")
    if out.exists():  # written in place: being allowed to write it is enough (/dev/stdout too)
        if not os.access(out, os.W_OK):
            raise UsageError(f"{option} expected a file it may overwrite, got {path} (read-only)")
        return out
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".talktime-check-"):
            pass
    except OSError as exc:
        raise UsageError(f"{option} expected a file in a writable folder, got {path} "
                         f"({folder}: {exc.strerror or exc})") from None
    return out


def table(rows: list[list[str]], header: list[str]) -> str:
    """Rows under a header, the first column left-aligned and the others right-aligned."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    line = "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths, strict=True)))
    out = [line, "-" * len(line)]
    for r in rows:
        out.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))))
    return "\n".join(out)


def left_table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """Rows under a header, every column left-aligned."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]

    def fmt(row: Sequence[str]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip()

    return "\n".join([fmt(header), "-" * len(fmt(header))] + [fmt(r) for r in rows])
