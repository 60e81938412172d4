"""Audio sources: files, microphones, PulseAudio, the paired room + call source, and the live
input that survives unplugging, with its pause switches and marks.

Every source hands out ``AudioChunk``s stamped in samples (``base.Source``); optional features
(capture position, device name, status) are declared protocols in ``base``.
May import: ``tracker.audio``, ``tracker.segments``, ``tracker.stages`` (the onset detector and
the call aligner are stage algorithms a source runs).
Must not import: the pipeline, the meeting, the store, reports, the command line or the web app.
"""
