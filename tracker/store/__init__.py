"""The meeting store: one SQLite file with one writer thread (``storage``) and its records.

Owns: meetings, their segments, phases and people, voice profiles, and the SQL that reads and
writes them (``records``).
May import: ``tracker.audio``, ``tracker.segments`` (the value types it stores), nothing else of talktime.
"""
