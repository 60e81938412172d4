"""Pipeline stages: plain classes that turn audio or segments into decisions (no I/O, no threads).

Owns: voice activity detection, the window diarizer, the echo gate and the call aligner, speech
onset, accounting (the figures), equity maths and the post-meeting re-clustering.
May import: ``tracker.audio``, ``tracker.segments``, ``models`` (the models they are given).
Must not import: sources, the pipeline, the meeting, the store, reports, the command line or the web app.
"""
