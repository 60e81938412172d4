"""Logging helpers shared by the command line and the web server."""

from __future__ import annotations

import sys


class CurrentStderr:
    """Whatever ``sys.stderr`` is when a line is logged: threads that outlive a caller who swapped
    it (a test, an embedding program) still log somewhere open."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()
