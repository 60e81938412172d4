"""Wrappers of third-party models: lazy, loud and local.

Importing this package turns pyannote.audio's telemetry off (it is on by default in 4.x) and keeps
the Hugging Face hub offline unless the user asked otherwise: talktime never downloads a model at
run time and never reports usage.
"""

from __future__ import annotations

import os

# NB: must run before anything imports pyannote.audio, which reads it at import time.
os.environ["PYANNOTE_METRICS_ENABLED"] = "0"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message names what is missing and how to fix it."""
