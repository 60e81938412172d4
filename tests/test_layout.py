"""The folders are the data flow: no import circle between modules, and no folder imports one above it.

Every import is read from the source with ``ast`` (those inside functions and under
``TYPE_CHECKING`` too: a lazy import is still a dependency). docs/architecture.md draws the layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tracker", "api", "cli", "models")

# What each layer may import (besides itself). Bottom to top: the shared value types; the models;
# stage algorithms; sources (the live input's onset detector and the paired source's call aligner
# are stage algorithms); the pipeline; the store (value types only: it never imports the pipeline
# or the meeting); the live meeting (it records into the store); reports; the web app; the command line.
BASE = {"base"}
ALLOWED: dict[str, set[str]] = {
    "base": set(),
    "models": set(),
    "stages": BASE | {"models"},
    "sources": BASE | {"stages"},
    "pipeline": BASE | {"models", "stages", "sources"},
    "store": BASE,
    "meeting": BASE | {"models", "stages", "sources", "pipeline", "store"},
    "reports": BASE | {"stages", "store", "meeting"},
    "api": BASE | {"models", "stages", "sources", "pipeline", "store", "meeting", "reports"},
    "cli": BASE | {"models", "stages", "sources", "pipeline", "store", "meeting", "reports", "api"},
}


def modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def layer(module: str) -> str:
    top, _, rest = module.partition(".")
    if top != "tracker":
        return top
    sub = rest.split(".")[0]
    return sub if sub in ALLOWED else "base"  # tracker, tracker.audio, tracker.segments, tracker.logs


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of ours that ``path`` imports (a package's module where one is named)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {m: imports(p, known) - {m} for m, p in known.items()}


def test_no_folder_imports_a_folder_above_it() -> None:
    upward = [
        f"{m} ({layer(m)}) imports {d} ({layer(d)})"
        for m, deps in graph().items()
        if not m.endswith("__main__")  # an entry point (`python -m api` is `talktime run`): nothing imports it
        for d in sorted(deps)
        if layer(d) != layer(m) and layer(d) not in ALLOWED[layer(m)]
    ]
    assert not upward, "\n".join(upward)


def test_no_import_circle() -> None:
    g = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(g[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                circles.append(sorted(part))

    for v in sorted(g):
        if v not in index:
            visit(v)
    assert not circles, circles


def test_the_checker_sees_an_upward_import_and_a_circle() -> None:
    """The rules above are not vacuous: the graph has the edges they check."""
    g = graph()
    assert "tracker.pipeline.runner" in g["tracker.pipeline.analysis"]
    assert "tracker.segments" in g["tracker.store.records"]
    assert layer("tracker.segments") == "base" and layer("tracker.meeting.session") == "meeting"
