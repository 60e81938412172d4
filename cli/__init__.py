"""The ``talktime`` command line: ``main`` (the parser and analyze/devices/run), ``common``
(usage errors, tables, output checks), ``store`` (meetings and reports), ``profiles`` (voice
profiles) and ``service`` (the systemd unit).

May import: anything of talktime (``tracker``, ``api``, ``models``); nothing imports it.
"""
