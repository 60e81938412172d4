#!/usr/bin/env python
"""Regenerate the generated parts of docs/dashboard.md (the settings table and `talktime run --help`).

    python scripts/gen_dashboard_docs.py          # rewrite in place
    python scripts/gen_dashboard_docs.py --check  # exit 1 if the file is out of date
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from api.settings import settings_markdown  # noqa: E402
from cli.main import build_parser  # noqa: E402

DOC = REPO / "docs" / "dashboard.md"


def run_help() -> str:
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal; the docs must not depend on it
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        build_parser().parse_args(["run", "--help"])
    return "```text\n" + out.getvalue().rstrip() + "\n```"


def render(doc: str) -> str:
    for name, body in (("settings", settings_markdown()), ("run-help", run_help())):
        pattern = re.compile(rf"(<!-- {name}:begin -->\n).*?(<!-- {name}:end -->)", re.S)
        if not pattern.search(doc):
            raise SystemExit(f"{DOC} has no <!-- {name}:begin --> ... <!-- {name}:end --> block")
        doc = pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), doc)
    return doc


def main() -> int:
    old = DOC.read_text()
    new = render(old)
    if "--check" in sys.argv[1:]:
        if new != old:
            print(f"{DOC} is out of date; run python scripts/gen_dashboard_docs.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
