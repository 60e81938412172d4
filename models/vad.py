"""Frame-level voice activity models: webrtcvad and silero-vad (ONNX, shipped in its wheel).

A frame model takes exactly ``frame_samples`` samples at 16 kHz and returns a speech
probability in [0, 1]; it keeps its own recurrent state, cleared by ``reset()``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from models import SAMPLE_RATE, ModelLoadError, Samples


class FrameVadModel(Protocol):
    """A voice activity model over fixed-size frames."""

    name: str
    frame_samples: int

    def __call__(self, frame: Samples) -> float:
        """Speech probability of one frame of shape (frame_samples,)."""
        ...

    def reset(self) -> None: ...


class WebRtcVadModel:
    """Google's WebRTC VAD (webrtcvad-wheels): 30 ms frames, a 0/1 decision per frame.

    Parameters
    ----------
    aggressiveness : 0 (keeps most speech) to 3 (rejects most non-speech).
    """

    frame_samples = 480  # 30 ms at 16 kHz, one of the three sizes webrtcvad accepts

    def __init__(self, *, aggressiveness: int = 2) -> None:
        if aggressiveness not in (0, 1, 2, 3):
            raise ValueError(f"webrtcvad aggressiveness expected 0, 1, 2 or 3, got {aggressiveness!r}")
        import webrtcvad

        self.name = f"webrtc{aggressiveness}"
        self._vad = webrtcvad.Vad(aggressiveness)

    def __call__(self, frame: Samples) -> float:
        pcm = (np.clip(frame, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        return 1.0 if self._vad.is_speech(pcm, SAMPLE_RATE) else 0.0

    def reset(self) -> None:
        pass


def _silero_model_path() -> Path:
    # NB: find the file without importing silero_vad, whose import sets torch to one thread.
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError("silero-vad is not installed; expected the pip package silero-vad==6.2.3 (make setup)")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.onnx"
    if not path.is_file():
        raise ModelLoadError(f"silero-vad's model file is missing: expected {path}; reinstall silero-vad")
    return path


class SileroVadModel:
    """silero-vad v6 through onnxruntime directly (no torch on the hot path).

    The ONNX graph takes the previous 64 samples as context followed by 512 new samples, plus a
    recurrent state of shape (2, 1, 128).
    """

    name = "silero"
    frame_samples = 512  # 32 ms at 16 kHz, the only size the 16 kHz model accepts
    _context = 64  # samples of left context the model expects before each frame

    def __init__(self) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self._session: Any = ort.InferenceSession(
            str(_silero_model_path()), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._prev = np.zeros(self._context, dtype=np.float32)

    def __call__(self, frame: Samples) -> float:
        if len(frame) != self.frame_samples:
            raise ValueError(f"silero-vad expected frames of {self.frame_samples} samples, got {len(frame)}")
        x = np.concatenate([self._prev, frame.astype(np.float32)])[None, :]
        out, self._state = self._session.run(None, {"input": x, "state": self._state, "sr": self._sr})
        self._prev = frame[-self._context :].astype(np.float32)
        return float(out[0, 0])


def load_vad_model(name: str) -> FrameVadModel:
    """Build a VAD model by name: ``silero``, or ``webrtc0`` .. ``webrtc3``."""
    if name == "silero":
        return SileroVadModel()
    if name.startswith("webrtc") and name[6:] in ("0", "1", "2", "3"):
        return WebRtcVadModel(aggressiveness=int(name[6:]))
    raise ValueError(f"unknown VAD {name!r}; expected 'silero' or 'webrtc0'..'webrtc3'")
