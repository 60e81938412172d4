"""The live meeting: the session around a running pipeline, its view for the dashboard, the room
that runs one meeting after another, the recorder that keeps it in the store, and enrollment.

May import: ``tracker.audio``, ``tracker.segments``, ``tracker.sources``, ``tracker.stages``,
``tracker.pipeline``, ``tracker.store``, ``models``.
Must not import: reports, the command line or the web app.
"""
