"""The pipeline: an engine behind one seam (``engine.StreamingEngine``), then the figures.

May import: ``tracker.audio``, ``tracker.segments``, ``tracker.stages``, ``models``.
Must not import: the meeting, the store, reports, the command line or the web app.
"""
