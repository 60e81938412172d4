"""The pipeline: an engine behind one seam (``engine.StreamingEngine``), then the figures.

Owns: the seam and its implementations (``lite``), the ``Pipeline`` that is given an engine and
keeps the figures, the ``Runner`` thread that feeds it from a source, the hybrid composition of a
room engine and a call engine, known voices (profiles) and file analysis. ``build`` is the only
place that loads models.
May import: ``tracker.audio``, ``tracker.segments``, ``tracker.sources``, ``tracker.stages``, ``models``.
Must not import: the meeting, the store, reports, the command line or the web app.
"""
