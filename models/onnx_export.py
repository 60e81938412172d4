"""ONNX copies of the torch networks, made once and kept in a cache folder (no I/O beyond it).

``export_atomically`` writes the export to a temporary file and renames it, so a concurrent
process never reads half a file; ``cpu_session`` opens one on the CPU with a fixed thread count.
The file name carries the weights' hash and ``source_digest`` of the defining module, so a stale
export is never used.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

from models import ModelLoadError


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "talktime" / "models"


def source_digest(module_file: str) -> str:
    """Changes when the module that defines a network changes."""
    return hashlib.sha256(Path(module_file).read_bytes()).hexdigest()[:8]


def export_atomically(net: Any, example: Any, path: Path, *, what: str, input_names: list[str],
                      output_names: list[str], dynamic_axes: dict[str, dict[int, str]]) -> None:
    """``torch.onnx.export`` of ``net`` on ``example`` into ``path``; ``ModelLoadError`` naming ``what``."""
    import torch

    tmp = ""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
        os.close(fd)
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's notes on LSTM batch sizes and norms: checked in tests
            torch.onnx.export(net, (example,), tmp, input_names=input_names, output_names=output_names,
                              dynamic_axes=dynamic_axes, opset_version=17, dynamo=False)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the export holds nothing secret
        os.replace(tmp, path)
    except Exception as exc:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        raise ModelLoadError(f"could not export {what} to ONNX at {path} ({type(exc).__name__}: {exc}); "
                             "use backend='torch'") from exc


def cpu_session(path: Path, threads: int) -> Any:
    """An onnxruntime session on the CPU with ``threads`` intra-op threads, run sequentially."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def cached_session(path: Path, threads: int, export: Any, *, what: str) -> Any:
    """The session of the export at ``path``, made first by ``export(path)`` when missing, and made
    again once when the cached file cannot be opened (a damaged cache); ``ModelLoadError`` otherwise."""
    if not path.is_file():
        export(path)
    try:
        return cpu_session(path, threads)
    except Exception as exc:
        path.unlink(missing_ok=True)
        export(path)
        try:
            return cpu_session(path, threads)
        except Exception as again:
            raise ModelLoadError(f"onnxruntime could not load the {what} export {path} "
                                 f"({type(again).__name__}: {again}); use backend='torch'") from exc
