"""The OpenVINO conversion cache: a model converted once per weights file, input size, precision
and OpenVINO version, under detectkit's cache (``<DETECTKIT_CACHE>/openvino``).

An entry is a ``*_openvino_model`` folder named by its key, with ``entry.json`` written last,
which records the key's parts and the SHA-256 of every file in the folder. An entry is used only
when ``entry.json`` is there, names this OpenVINO version and every file matches its digest;
anything else (an interrupted conversion, a truncated ``.bin``, another OpenVINO version) is
removed and rebuilt, without a message. Weight-file digests are remembered by path, size and
modification time (``digests.json``), so a cache hit reads no large file twice.

Example:
    >>> key = cache_key("0" * 64, family="ultralytics", imgsz=640, precision="fp32", converter_version="2026.4.1")
    >>> key.folder_name().endswith("_openvino_model"), len(key.digest())
    (True, 16)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from ..weights import cache_dir, sha256_of
from .openvino_files import FOLDER_SUFFIX

__all__ = ["CacheKey", "cache_key", "openvino_cache_dir", "weights_digest", "cached_conversion", "entry_is_valid"]

ENTRY_FILE = "entry.json"
_lock = threading.Lock()


def openvino_cache_dir() -> Path:
    """Where converted models live: ``<detectkit cache>/openvino``."""
    return cache_dir() / "openvino"


@dataclass(frozen=True)
class CacheKey:
    """What a converted model depends on (the weights' digest, not their path)."""

    weights_sha256: str
    family: str
    imgsz: int
    precision: str  # "fp32" or "int8"
    converter_version: str  # the OpenVINO version (or torch's, for an ONNX entry)
    calibration: str = ""  # int8: a digest of the calibration images' paths
    format: str = "openvino"  # "openvino" or "onnx"

    def digest(self) -> str:
        """16 hex digits of the key's SHA-256."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]

    def folder_name(self) -> str:
        """The entry's folder name (ultralytics needs the ``_openvino_model`` ending)."""
        ending = FOLDER_SUFFIX if self.format == "openvino" else f"_{self.format}"
        return f"{self.family}-{self.precision}-{self.imgsz}-{self.digest()}{ending}"


def cache_key(weights_sha256: str, *, family: str, imgsz: int, precision: str, converter_version: str | None = None,
              calibration: str = "", format: str = "openvino") -> CacheKey:
    """A :class:`CacheKey` (``converter_version`` defaults to the installed OpenVINO's, or torch's for ONNX)."""
    if converter_version is None:
        if format == "openvino":
            import openvino

            converter_version = openvino.__version__
        else:
            import torch

            converter_version = torch.__version__
    return CacheKey(weights_sha256, family, int(imgsz), precision, converter_version, calibration, format)


def weights_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a weights file, remembered by (path, size, mtime) so it is read once.

    Example:
        >>> import tempfile
        >>> f = Path(tempfile.mkdtemp()) / "w.pt"; _ = f.write_bytes(b"abc")
        >>> weights_digest(f)[:12]
        'ba7816bf8f01'
    """
    path = Path(path).resolve()
    stat = path.stat()
    record = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    index_path = openvino_cache_dir() / "digests.json"
    with _lock:
        try:
            index = json.loads(index_path.read_text())
        except (OSError, ValueError):
            index = {}
        if isinstance(index, dict) and isinstance(index.get(record), str):
            return index[record]
        digest = sha256_of(path)
        index = index if isinstance(index, dict) else {}
        index[record] = digest
        _write_json(index_path, index)
    return digest


def entry_is_valid(folder: Path, key: CacheKey) -> bool:
    """The entry is complete, for this key, and no file differs from its recorded digest."""
    try:
        entry = json.loads((folder / ENTRY_FILE).read_text())
        if entry.get("key") != asdict(key):
            return False
        files = entry["files"]
        present = {p.name for p in folder.iterdir() if p.name != ENTRY_FILE}
        if not files or set(files) != present or not any(name.endswith((".xml", ".onnx")) for name in files):
            return False
        return all(sha256_of(folder / name) == digest for name, digest in files.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def cached_conversion(key: CacheKey, convert: Callable[[Path], Path]) -> tuple[Path, bool]:
    """The entry for ``key``, converting with ``convert(folder)`` when it is missing or not valid.

    Returns ``(folder, hit)``; ``hit`` is True when the entry was already there.
    ``convert`` writes the model into the folder it is given and returns it.
    """
    folder = openvino_cache_dir() / key.folder_name()
    if entry_is_valid(folder, key):
        return folder, True
    shutil.rmtree(folder, ignore_errors=True)
    written = convert(folder)
    files = {p.name: sha256_of(p) for p in sorted(Path(written).iterdir()) if p.is_file() and p.name != ENTRY_FILE}
    _write_json(Path(written) / ENTRY_FILE, {"key": asdict(key), "files": files})
    return Path(written), False


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)
