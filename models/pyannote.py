"""pyannote.audio 4.x as an engine: a speaker-diarization pipeline read from local files only.

The pipeline is named by one of:

- a folder laid out like ``pyannote/speaker-diarization-community-1``::

      DIR/config.yaml
      DIR/segmentation/pytorch_model.bin
      DIR/embedding/pytorch_model.bin
      DIR/plda/xvec_transform.npz, DIR/plda/plda.npz

  or like ``pyannote/speaker-diarization-3.1``, whose config.yaml names the two models by path or
  by hub id, plus a ``plda/`` folder (pyannote.audio 4.x always loads a PLDA);
- the path of such a config.yaml;
- a Hugging Face id (``owner/name``) already in the local Hugging Face cache.

Every reference in config.yaml is resolved to a local file before pyannote sees it, so nothing is
downloaded, and a missing file raises ``ModelLoadError`` naming it and the fix. Telemetry is off:
``models/__init__`` sets ``PYANNOTE_METRICS_ENABLED=0`` before pyannote is imported, and loading
checks pyannote agrees.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from models import SAMPLE_RATE, ModelLoadError, Samples

DEFAULT_PIPELINE = "pyannote/speaker-diarization-community-1"
MODEL_FILE = "pytorch_model.bin"
PLDA_FILES = ("xvec_transform.npz", "plda.npz")
# NB: 1, not the 32 of the shipped configs: on 2 cores batching embeddings is 2x slower
# (../shared/docs/dependencies.md section 3.3).
EMBEDDING_BATCH_SIZE = 1
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _fix(hub_id: str = DEFAULT_PIPELINE) -> str:
    return (f"download the pipeline with a Hugging Face account that has accepted the conditions at "
            f"https://hf.co/{hub_id} (e.g. `hf download {hub_id} --local-dir DIR` on a machine with internet), "
            "then pass --pipeline DIR")


def import_pyannote() -> Any:
    """Import pyannote.audio with its telemetry off, or raise ``ModelLoadError`` saying how to install it."""
    os.environ["PYANNOTE_METRICS_ENABLED"] = "0"  # already set by models/__init__; forced again in case it was changed
    try:
        import pyannote.audio
        from pyannote.audio.telemetry.metrics import is_metrics_enabled
    except ImportError as exc:
        raise ModelLoadError(
            f"pyannote.audio is not importable ({exc}); expected pyannote.audio==4.0.7 with torchcodec==0.13.0 "
            "(scripts/bootstrap.sh installs them)"
        ) from exc
    if is_metrics_enabled():  # internal invariant: talktime never reports usage
        raise ModelLoadError("pyannote.audio's telemetry is on; expected PYANNOTE_METRICS_ENABLED=0 (set by models/__init__)")
    return pyannote.audio


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def set_threads(threads: int | None) -> None:
    """Let torch use ``threads`` threads (default: every core this process may use).

    ``import silero_vad`` sets torch to one thread for the whole process; pyannote's models run about
    twice as fast on two.
    """
    import torch

    n = threads or _cpus()
    if n < 1:
        raise ValueError(f"threads expected >= 1, got {threads!r}")
    torch.set_num_threads(n)


# --------------------------------------------------------------------------- locating files


def _hf_cache_dir(cache_dir: str | Path | None) -> str:
    from huggingface_hub import constants

    return str(cache_dir or constants.HF_HUB_CACHE)


def _from_cache(repo_id: str, filename: str, cache_dir: str | Path | None) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename, cache_dir=cache_dir)
    return Path(found) if isinstance(found, str) else None


def config_path(path_or_id: str | Path, *, cache_dir: str | Path | None = None) -> Path:
    """The config.yaml of a pipeline folder, config file or Hugging Face id in the local cache."""
    p = Path(path_or_id).expanduser()
    if p.is_dir():
        cfg = p / "config.yaml"
        if not cfg.is_file():
            raise ModelLoadError(f"{p} is not a pyannote pipeline folder: expected {cfg} next to segmentation/, "
                                 f"embedding/ and plda/; {_fix()}")
        return cfg
    if p.is_file():
        if p.suffix not in (".yaml", ".yml"):
            raise ModelLoadError(f"expected a pipeline folder or its config.yaml, got the file {p}; {_fix()}")
        return p
    ref = str(path_or_id)
    if _HUB_ID.match(ref):
        cfg_cached = _from_cache(ref, "config.yaml", cache_dir)
        if cfg_cached is None:
            raise ModelLoadError(f"no folder {ref} here, and {ref} is not in the local Hugging Face cache "
                                 f"({_hf_cache_dir(cache_dir)}; talktime never downloads): expected a pipeline "
                                 f"folder with config.yaml; {_fix(ref)}")
        return cfg_cached
    raise ModelLoadError(f"no pyannote pipeline folder at {p}: expected a folder with config.yaml, "
                         f"segmentation/, embedding/ and plda/; {_fix()}")


def _locate(ref: object, files: tuple[str, ...], *, base: Path, what: str, cfg: Path,
            cache_dir: str | Path | None) -> Path:
    """Resolve one config reference (``$model/sub``, a path, a hub id, or {checkpoint, subfolder})
    to a local folder holding ``files`` (or, for one file, that file)."""
    sub = ""
    if isinstance(ref, dict):
        sub = str(ref.get("subfolder") or "")
        ref = ref.get("checkpoint")
    if not isinstance(ref, str) or not ref:
        raise ModelLoadError(f"{cfg} names no {what}; expected e.g. `{what}: $model/{what}` with "
                             f"{cfg.parent / what}/{files[0]}; {_fix()}")
    if ref.startswith("$model/"):
        ref, sub = str(base), ref[len("$model/"):].split("@")[0]
    p = Path(ref).expanduser()
    p = (p if p.is_absolute() else base / p) / sub
    if p.is_file() and len(files) == 1:
        return p
    if p.is_dir():
        missing = [f for f in files if not (p / f).is_file()]
        if missing:
            raise ModelLoadError(f"the {what} of {cfg} is incomplete: expected {', '.join(str(p / f) for f in missing)}; {_fix()}")
        return p
    if _HUB_ID.match(ref):
        found = [_from_cache(ref, f"{sub}/{f}" if sub else f, cache_dir) for f in files]
        if any(f is None for f in found):
            raise ModelLoadError(f"the {what} of {cfg} is {ref}{'/' + sub if sub else ''}, which is not in the local "
                                 f"Hugging Face cache ({_hf_cache_dir(cache_dir)}; talktime never downloads): expected "
                                 f"it there, or a local path in its place in config.yaml; {_fix(ref)}")
        first = found[0]
        assert first is not None
        return first if len(files) == 1 else first.parent
    raise ModelLoadError(f"the {what} of {cfg} is missing: expected {p / files[0]}; {_fix()}")


def pipeline_config(cfg: Path, *, embedding_batch_size: int = EMBEDDING_BATCH_SIZE,
                    segmentation_step: float | None = None, cache_dir: str | Path | None = None) -> dict[str, Any]:
    """Read ``cfg`` and rewrite every model reference as a local path pyannote loads without the hub."""
    import yaml

    try:
        config = yaml.safe_load(cfg.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ModelLoadError(f"cannot read {cfg} ({exc}); expected a pyannote pipeline config.yaml") from exc
    pipe = config.get("pipeline") if isinstance(config, dict) else None
    name = pipe.get("name") if isinstance(pipe, dict) else None
    if not isinstance(name, str) or not name.endswith("SpeakerDiarization"):
        raise ModelLoadError(f"{cfg}: expected a speaker-diarization pipeline "
                             f"(pipeline: name: pyannote.audio.pipelines.SpeakerDiarization), got {name!r}")
    params = dict(pipe.get("params") or {})  # type: ignore[union-attr]
    base = cfg.parent
    kw: dict[str, Any] = {"base": base, "cfg": cfg, "cache_dir": cache_dir}
    # NB: a {"checkpoint": path} dict, not a bare string: pyannote picks an embedding backend from
    # substrings of a string ("wespeaker", "speechbrain", "nvidia"), which a local path may contain.
    for key in ("segmentation", "embedding"):
        params[key] = {"checkpoint": str(_locate(params.get(key), (MODEL_FILE,), what=key, **kw))}
    plda = params.get("plda") or ("$model/plda" if (base / "plda").is_dir() else None)
    if plda is None:
        raise ModelLoadError(f"{cfg} names no plda, and pyannote.audio 4.x needs one: expected "
                             f"{base / 'plda'}/{{{','.join(PLDA_FILES)}}} (copy the plda/ folder of {DEFAULT_PIPELINE})")
    params["plda"] = {"checkpoint": str(_locate(plda, PLDA_FILES, what="plda", **kw))}
    params["embedding_batch_size"] = embedding_batch_size
    if segmentation_step is not None:
        params["segmentation_step"] = segmentation_step
    return {**config, "pipeline": {**pipe, "params": params}}  # type: ignore[dict-item]


def load_pyannote_pipeline(path_or_id: str | Path = DEFAULT_PIPELINE, *, segmentation_step: float | None = None,
                           threads: int | None = None, cache_dir: str | Path | None = None) -> Any:
    """Load a pyannote.audio speaker-diarization pipeline from local files (see the module docstring).

    Parameters
    ----------
    path_or_id : a pipeline folder, its config.yaml, or a Hugging Face id in the local cache.
    segmentation_step : step of the 10 s segmentation window as a fraction of it (pyannote's
        default 0.1); larger is faster (fewer embeddings) and coarser.
    threads : torch threads (default: every core this process may use).
    cache_dir : the Hugging Face cache (default: ``HF_HUB_CACHE``).

    Returns
    -------
    pyannote.audio.pipelines.SpeakerDiarization, with ``embedding_batch_size`` 1.

    Raises
    ------
    ModelLoadError : naming the missing file or folder and the fix.
    """
    cfg = config_path(path_or_id, cache_dir=cache_dir)
    config = pipeline_config(cfg, segmentation_step=segmentation_step, cache_dir=cache_dir)
    pa = import_pyannote()
    set_threads(threads)
    try:
        pipeline = pa.Pipeline.from_pretrained(config)
    except Exception as exc:  # noqa: BLE001 - re-raised with the file it came from; no other loader is tried
        raise ModelLoadError(f"pyannote.audio could not build the pipeline of {cfg} ({type(exc).__name__}: {exc}); "
                             "expected checkpoints saved by pyannote.audio and well-formed PLDA files") from exc
    if pipeline is None:
        raise ModelLoadError(f"pyannote.audio returned no pipeline for {cfg}; {_fix()}")
    return pipeline


# --------------------------------------------------------------------------- engine


class Turn(NamedTuple):
    """``speaker`` spoke over samples [start_sample, end_sample) at ``SAMPLE_RATE``."""

    speaker: int
    start_sample: int
    end_sample: int


def annotation_segments(annotation: Any, n_samples: int) -> list[Turn]:
    """A pyannote ``Annotation`` as sample-exact turns within [0, n_samples).

    Speakers are numbered 0, 1, ... in order of first appearance; overlapping speech gives
    overlapping segments.
    """
    ids: dict[str, int] = {}
    out: list[Turn] = []
    tracks = sorted(annotation.itertracks(yield_label=True), key=lambda t: (t[0].start, t[0].end))
    for seg, _, label in tracks:
        a, b = (min(max(int(round(t * SAMPLE_RATE)), 0), n_samples) for t in (seg.start, seg.end))
        if b > a:
            out.append(Turn(ids.setdefault(str(label), len(ids)), a, b))
    return out


class PyannoteEngine:
    """Whole-recording speaker diarization by a pyannote.audio pipeline (the post-meeting pass).

    It runs at about real time on 2 cores, so it is used after the meeting, not live.

    Parameters
    ----------
    pipeline : a pipeline folder, its config.yaml, or a Hugging Face id in the local cache.
    segmentation_step, threads, cache_dir : see ``load_pyannote_pipeline``.
    """

    def __init__(self, pipeline: str | Path = DEFAULT_PIPELINE, *, segmentation_step: float | None = None,
                 threads: int | None = None, cache_dir: str | Path | None = None) -> None:
        if segmentation_step is not None and not 0 < segmentation_step <= 1:
            raise ValueError(f"segmentation_step expected in (0, 1], got {segmentation_step!r}")
        self.source = str(pipeline)
        self.name = f"pyannote:{self.source}"
        self._options: dict[str, Any] = {"segmentation_step": segmentation_step, "threads": threads, "cache_dir": cache_dir}
        self._pipeline: Any = None

    def warmup(self) -> None:
        """Load the pipeline now (otherwise on first use); raises ``ModelLoadError`` if it cannot."""
        if self._pipeline is None:
            self._pipeline = load_pyannote_pipeline(self.source, **self._options)

    def diarize(self, samples: Samples) -> list[Turn]:
        """Who spoke when in a whole recording, shape (n,) float32 at SAMPLE_RATE (held in memory)."""
        if samples.ndim != 1:
            raise ValueError(f"diarize expected mono samples of shape (n,), got {samples.shape}")
        if len(samples) == 0:
            return []
        self.warmup()
        import torch
        from pyannote.core import Annotation

        wav = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))[None]
        out = self._pipeline({"waveform": wav, "sample_rate": SAMPLE_RATE})
        ann = out if isinstance(out, Annotation) else out.speaker_diarization
        return annotation_segments(ann, len(samples))
