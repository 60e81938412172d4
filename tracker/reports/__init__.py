"""Reports: the figures of a stored meeting, their plain-language text, charts, and the HTML,
PDF, CSV, JSON and RTTM files written from them.

May import: everything in ``tracker`` below it (``audio``, ``segments``, ``stages``, ``store``,
``meeting`` for the phase views).
Must not import: the command line or the web app.
"""
