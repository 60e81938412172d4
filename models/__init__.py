"""Wrappers of third-party models: lazy, loud and local.

Importing this package turns pyannote.audio's telemetry off (it is on by default in 4.x) and keeps
the Hugging Face hub offline unless the user asked otherwise: talktime never downloads a model at
run time and never reports usage.

Models state their own sample rate (``SAMPLE_RATE``) and take and return plain arrays and tuples:
nothing here imports the tracker (or anything else of talktime).
"""

from __future__ import annotations

import os

import numpy as np
import numpy.typing as npt

# NB: must run before anything imports pyannote.audio, which reads it at import time.
os.environ["PYANNOTE_METRICS_ENABLED"] = "0"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


SAMPLE_RATE = 16_000  # Hz; every model here takes mono float32 at this rate (the tracker checks it is its own)
Samples = npt.NDArray[np.float32]  # mono audio in [-1, 1], shape (n,)


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message names what is missing and how to fix it."""
