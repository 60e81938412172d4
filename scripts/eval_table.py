#!/usr/bin/env python
"""Print the accuracy table (set x engine x mode) from the JSON files of scripts/evaluate.py.

    python scripts/eval_table.py dev=/tmp/eval/results/dev-lite.json far-field=/tmp/eval/results/dev-far-lite.json ...

Each argument is NAME=FILE (or a FILE, named after its stem). One Markdown row per set, engine and
mode: DER (no collar, overlap scored) and its parts, DERc (0.25 s collar), the pooled talk-time TVD
(mean of per-file TVD weighted by reference talk time; "shown": among the voices counted), voices
counted against people present, files with the exact count / within one, the largest phantom voice.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HEAD = ("| set | engine | mode | DER % | miss | FA | conf | DERc % | TVD pp | TVD shown pp | voices / people "
        "| count exact | within one | largest phantom pp | RTF |")


def rows(name: str, path: Path) -> list[str]:
    data = json.loads(path.read_text())
    out = []
    for mode, figures in data["modes"].items():
        p = figures["pooled"]
        n = p["files"]
        out.append(
            f"| {name} | {data['engine']} | {mode} | {p['der']:.1f} | {p['miss']:.1f} | {p['fa']:.1f} | {p['conf']:.1f} "
            f"| {p['der_collar']:.1f} | **{p['tvd_weighted']:.2f}** | {p['tvd_shown_weighted']:.2f} "
            f"| {p['voices']} / {p['people']} | {p['count_exact']} of {n} | {p['count_within_one']} of {n} "
            f"| {p['phantom_max']:.2f} | {p['rtf']:.2f} |"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+", metavar="NAME=FILE")
    args = ap.parse_args(argv)
    lines = [HEAD, "|" + "---|" * (HEAD.count("|") - 1)]
    for item in args.results:
        name, _, file = item.rpartition("=")
        path = Path(file)
        if not path.exists():
            print(f"eval_table: no {path}", file=sys.stderr)
            return 2
        lines += rows(name or path.stem, path)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
