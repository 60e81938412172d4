"""The live dashboard: a FastAPI app over a ``tracker.meeting.session.MeetingSession``.

``create_app(settings, *, session=None)`` builds it; ``api.server.serve`` runs it for
``talktime run``. Imported lazily so the CLI's other commands do not load the web stack.

May import: ``tracker`` (every folder) and ``models``. Must not import the command line (``cli``),
which imports it; ``api/__main__.py`` (``python -m api``) is an entry point and the one exception.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Settings", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from api.app import create_app

        return create_app
    if name == "Settings":
        from api.settings import Settings

        return Settings
    raise AttributeError(f"module 'api' has no attribute {name!r}")
