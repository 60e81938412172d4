"""talktime's tracker: audio in, who spoke when and for how long out.

The folders follow the data flow: ``sources`` (audio in) -> ``stages`` (plain algorithms) ->
``pipeline`` (an engine behind one seam, the runner thread, the figures) -> ``meeting`` (the live
meeting: session, view, room, recorder, enrollment) -> ``store`` (SQLite) -> ``reports``. The
modules at this level (``audio``, ``segments``, ``logs``) are the value types every layer shares
and import nothing else of talktime. See docs/architecture.md for the picture and the import rules
(checked by tests/test_layout.py).
"""
