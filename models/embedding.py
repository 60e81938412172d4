"""Speaker embedding models: a waveform of speech in, a unit-length voice vector out.

The default is Resemblyzer's GE2E d-vector encoder, whose weights ship inside its pip package.
Other models (pyannote's) implement the same ``SpeakerEncoder`` protocol.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from models import SAMPLE_RATE, ModelLoadError, Samples

Embeddings = npt.NDArray[np.float32]


class SpeakerEncoder(Protocol):
    """Maps speech to L2-normalised speaker embeddings.

    ``name`` identifies the model and its version: embeddings of different names are never compared.
    """

    name: str
    dimension: int

    def embed(self, waveforms: list[Samples]) -> Embeddings:
        """Embed a batch of 16 kHz mono waveforms (each shape (n,), any n >= min_samples).

        Returns an array of shape (len(waveforms), dimension), each row of unit length.
        """
        ...

    def warmup(self) -> None: ...


def _normalize_volume(wav: Samples, target_dbfs: float = -30.0) -> Samples:
    """Raise quiet speech to ``target_dbfs`` RMS (never lowers it), as Resemblyzer was trained."""
    rms = float(np.sqrt(np.mean(wav.astype(np.float64) ** 2)) + 1e-12)
    gain_db = target_dbfs - 20 * np.log10(rms)
    if gain_db <= 0:
        return wav
    out: Samples = (wav * (10 ** (min(gain_db, 40.0) / 20))).astype(np.float32)
    return out


class ResemblyzerEncoder:
    """Resemblyzer 0.1.4's GE2E LSTM (3 x 256, 40 mel bands, 256-d output).

    Mel frames are 25 ms windows with a 10 ms hop, as the model was trained. Waveforms of equal
    length are batched into one forward pass.
    """

    name = "resemblyzer-ge2e-0.1.4"
    dimension = 256
    min_samples = 4_000  # 0.25 s: shorter speech gives meaningless embeddings

    def __init__(self, *, device: str = "cpu") -> None:
        self.device = device
        self._encoder: Any = None

    def warmup(self) -> None:
        if self._encoder is not None:
            return
        try:
            import torch
            from resemblyzer import VoiceEncoder
        except ImportError as exc:
            raise ModelLoadError(
                f"Resemblyzer is not importable ({exc}); expected `pip install --no-deps resemblyzer==0.1.4` "
                "with webrtcvad-wheels and librosa (make setup does this)"
            ) from exc
        self._torch = torch
        self._encoder = VoiceEncoder(self.device, verbose=False)
        self.embed([np.zeros(SAMPLE_RATE, dtype=np.float32)])

    def _mel(self, wav: Samples) -> npt.NDArray[np.float32]:
        import librosa

        mel = librosa.feature.melspectrogram(
            y=_normalize_volume(wav), sr=SAMPLE_RATE, n_fft=400, hop_length=160, n_mels=40
        )  # 400 = 25 ms, 160 = 10 ms at 16 kHz
        return mel.astype(np.float32).T

    def embed(self, waveforms: list[Samples]) -> Embeddings:
        self.warmup() if self._encoder is None else None
        out = np.zeros((len(waveforms), self.dimension), dtype=np.float32)
        groups: dict[int, list[int]] = {}
        for i, w in enumerate(waveforms):
            if len(w) < self.min_samples:
                raise ValueError(f"embedding expected at least {self.min_samples} samples, got {len(w)}")
            groups.setdefault(len(w), []).append(i)
        torch = self._torch
        with torch.inference_mode():
            for idx in groups.values():
                mels = np.stack([self._mel(waveforms[i]) for i in idx])
                emb = self._encoder(torch.from_numpy(mels).to(self.device)).cpu().numpy()
                out[idx] = emb
        return out
