"""Where model files come from (offline first) and how they are checked.

A model spec is a path or a known name. :func:`resolve_weights` looks for a
known name's file in this order and returns the first hit:

1. the spec itself, when it is a path to an existing file;
2. each folder in ``DETECTKIT_WEIGHTS`` (``os.pathsep``-separated);
3. ``./weights/`` in the current working directory;
4. detectkit's cache (``DETECTKIT_CACHE``, default ``~/.cache/detectkit/weights``);
5. the wrapped library's own cache (torch hub's ``checkpoints/`` for torchvision and
   FaceNet files, ultralytics' ``weights_dir`` for YOLO files);
6. a download into detectkit's cache, unless ``DETECTKIT_OFFLINE=1`` or ``download=False``.

Known names carry the checksum their publisher gives: a full SHA-256 where
published, the 8-hex prefix torchvision puts in its file names otherwise. Files
with no published checksum (Ultralytics and FaceNet releases) are hashed when
detectkit downloads them, and checked against that record afterwards.
A missing file raises one :class:`~detectkit.errors.WeightsNotFoundError` that
lists every place searched and how to provide the file.

Example:
    >>> from detectkit.weights import known_weights
    >>> known_weights("fasterrcnn_resnet50_fpn").filename
    'fasterrcnn_resnet50_fpn_coco-258fb6c6.pth'
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import ChecksumError, WeightsFormatError, WeightsNotFoundError

__all__ = [
    "KnownWeights",
    "known_weights",
    "KNOWN_WEIGHTS",
    "resolve_weights",
    "search_dirs",
    "cache_dir",
    "sha256_of",
    "load_torch_file",
]

Family = Literal["ultralytics", "torchvision", "facenet"]


@dataclass(frozen=True)
class KnownWeights:
    """A model file detectkit knows by name.

    Attributes:
        name: the name users pass (``"yolo11n.pt"``, ``"fasterrcnn_resnet50_fpn"``, ``"facenet-vggface2"``).
        family: which library loads it.
        filename: the publisher's file name.
        url: where to download it, or ``None`` when it cannot be downloaded.
        sha256: full published SHA-256, or ``None``.
        hash_prefix: the SHA-256 prefix in torchvision's file names, or ``None``.
        aliases: other file names accepted for it (a user's own state dict saved as
            ``<name>.pth``); these carry no published checksum and are only
            checked for format when loaded.
    """

    name: str
    family: Family
    filename: str
    url: str | None
    sha256: str | None = None
    hash_prefix: str | None = None
    aliases: tuple[str, ...] = field(default_factory=tuple)

    @property
    def candidates(self) -> tuple[str, ...]:
        return (self.filename, *self.aliases)


def _build_registry() -> dict[str, KnownWeights]:
    registry: dict[str, KnownWeights] = {}
    ultralytics_release = "https://github.com/ultralytics/assets/releases/download/v8.4.0"
    for version in ("yolov8", "yolo11", "yolo12", "yolo26"):
        for size in "nsmlx":
            name = f"{version}{size}.pt"
            registry[name] = KnownWeights(name, "ultralytics", name, f"{ultralytics_release}/{name}")
    registry["yolov8n_int8.onnx"] = KnownWeights(
        "yolov8n_int8.onnx",
        "ultralytics",
        "yolov8n_int8.onnx",
        "https://github.com/Lamri-Meriem/edge-object-detection/raw/6f7f95f/yolov8n_int8.onnx",
        sha256="83de8f0d2cd521e00ae2b138c340a03dece35b060b3898509bdc69afff417312",
    )
    torchvision_files = {
        "fasterrcnn_resnet50_fpn": "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth",
        "fasterrcnn_resnet50_fpn_v2": "fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth",
        "fasterrcnn_mobilenet_v3_large_fpn": "fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7.pth",
        "fasterrcnn_mobilenet_v3_large_320_fpn": "fasterrcnn_mobilenet_v3_large_320_fpn-907ea3f9.pth",
        "retinanet_resnet50_fpn": "retinanet_resnet50_fpn_coco-eeacb38b.pth",
        "retinanet_resnet50_fpn_v2": "retinanet_resnet50_fpn_v2_coco-5905b1c5.pth",
        "fcos_resnet50_fpn": "fcos_resnet50_fpn_coco-99b0c9b7.pth",
        "ssd300_vgg16": "ssd300_vgg16_coco-b556d3b4.pth",
        "ssdlite320_mobilenet_v3_large": "ssdlite320_mobilenet_v3_large_coco-a79551df.pth",
        "maskrcnn_resnet50_fpn": "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth",
        "maskrcnn_resnet50_fpn_v2": "maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth",
        "keypointrcnn_resnet50_fpn": "keypointrcnn_resnet50_fpn_coco-fc266e95.pth",
    }
    for builder, filename in torchvision_files.items():
        prefix = filename.rsplit("-", 1)[1].split(".")[0]
        registry[builder] = KnownWeights(
            builder,
            "torchvision",
            filename,
            f"https://download.pytorch.org/models/{filename}",
            hash_prefix=prefix,
            aliases=(f"{builder}.pth", f"{builder}.pt"),
        )
    facenet_release = "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9"
    for name, filename in (
        ("facenet-vggface2", "20180402-114759-vggface2.pt"),
        ("facenet-casia-webface", "20180408-102900-casia-webface.pt"),
    ):
        registry[name] = KnownWeights(
            name, "facenet", filename, f"{facenet_release}/{filename}", aliases=(f"{name}.pt", f"{name}.pth")
        )
    return registry


KNOWN_WEIGHTS: dict[str, KnownWeights] = _build_registry()


def known_weights(name: str) -> KnownWeights | None:
    """The registry entry for a known model name, or ``None``.

    Example:
        >>> known_weights("yolo11n.pt").family
        'ultralytics'
    """
    return KNOWN_WEIGHTS.get(name)


# --------------------------------------------------------------------------- folders
def cache_dir() -> Path:
    """detectkit's own weights cache (``DETECTKIT_CACHE`` or ``~/.cache/detectkit/weights``)."""
    if os.environ.get("DETECTKIT_CACHE"):
        return Path(os.environ["DETECTKIT_CACHE"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")).expanduser()
    return base / "detectkit" / "weights"


def _library_cache(family: Family | None) -> list[tuple[Path, str]]:
    places: list[tuple[Path, str]] = []
    if family in ("torchvision", "facenet"):
        try:
            import torch.hub

            places.append((Path(torch.hub.get_dir()) / "checkpoints", "torch hub cache"))
        except Exception:  # pragma: no cover - torch is a dependency
            pass
    if family == "ultralytics":
        try:
            from ._ultralytics_env import ultralytics_settings

            places.append((Path(ultralytics_settings()["weights_dir"]), "ultralytics weights_dir"))
        except Exception:
            pass
    return places


def search_dirs(family: Family | None = None) -> list[tuple[Path, str]]:
    """The folders searched for model files, in order, each with where it came from.

    Example:
        >>> [label for _, label in search_dirs()][-2:]
        ['./weights', 'detectkit cache']
    """
    places: list[tuple[Path, str]] = []
    for entry in os.environ.get("DETECTKIT_WEIGHTS", "").split(os.pathsep):
        if entry.strip():
            places.append((Path(entry.strip()).expanduser(), "DETECTKIT_WEIGHTS"))
    places.append((Path.cwd() / "weights", "./weights"))
    places.append((cache_dir(), "detectkit cache"))
    places.extend(_library_cache(family))
    return places


# --------------------------------------------------------------------------- checksums
_hash_memo: dict[tuple[str, int, int], str] = {}
_hash_lock = threading.Lock()


def sha256_of(path: str | os.PathLike) -> str:
    """SHA-256 of a file (memoised on path, size and modification time).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x"; _ = p.write_bytes(b"abc")
        >>> sha256_of(p)[:12]
        'ba7816bf8f01'
    """
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _hash_lock:
        if key in _hash_memo:
            return _hash_memo[key]
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    value = digest.hexdigest()
    with _hash_lock:
        _hash_memo[key] = value
    return value


def _manifest_path() -> Path:
    return cache_dir() / "manifest.json"


def _recorded_hashes() -> dict[str, str]:
    try:
        return json.loads(_manifest_path().read_text())
    except (OSError, ValueError):
        return {}


def _record_hash(filename: str, digest: str) -> None:
    hashes = _recorded_hashes()
    hashes[filename] = digest
    path = _manifest_path()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(hashes, indent=1, sort_keys=True))
    os.replace(tmp, path)


def verify(path: Path, known: KnownWeights | None) -> None:
    """Check a found file: not empty, and its checksum where one is known.

    Raises:
        WeightsFormatError: empty file.
        ChecksumError: checksum mismatch (the message names the file, both hashes and what to do).
    """
    if path.stat().st_size == 0:
        raise WeightsFormatError(f"{path}: model file is empty (0 bytes); delete it and provide the file again")
    if known is None:
        return
    expected: str | None = None
    if path.name == known.filename:
        expected = known.sha256 or known.hash_prefix
        if expected is None and path.parent == cache_dir():
            expected = _recorded_hashes().get(known.filename)
    if expected is None:
        return
    actual = sha256_of(path)
    if not actual.startswith(expected):
        raise ChecksumError(
            f"{path}: SHA-256 is {actual}, but {known.name} should start with {expected}. "
            "The file is corrupt, truncated or a different model: delete it and download it again"
            + (f" from {known.url}" if known.url else "")
        )


# --------------------------------------------------------------------------- resolution
def _offline() -> bool:
    return os.environ.get("DETECTKIT_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _download(known: KnownWeights) -> Path:
    import torch.hub

    target_dir = cache_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / known.filename
    partial = target.with_name(target.name + ".part")
    try:
        torch.hub.download_url_to_file(known.url, str(partial), hash_prefix=None, progress=True)
        digest = sha256_of(partial)
        expected = known.sha256 or known.hash_prefix
        if expected and not digest.startswith(expected):
            raise ChecksumError(f"{known.url}: downloaded file has SHA-256 {digest}, expected {expected}...")
        os.replace(partial, target)
    finally:
        if partial.exists():
            partial.unlink()
    if not (known.sha256 or known.hash_prefix):
        _record_hash(known.filename, digest)
    return target


def _looks_like_path(spec: str) -> bool:
    return os.sep in spec or (os.altsep is not None and os.altsep in spec) or spec.startswith(".")


def resolve_weights(
    spec: str | os.PathLike,
    *,
    family: Family | None = None,
    download: bool | None = None,
) -> Path:
    """Find the file for a model spec (a path or a known name), downloading only as a last resort.

    Args:
        spec: a path to a file, or a known name (see ``KNOWN_WEIGHTS``), or a file name
            to look for in the weights folders.
        family: narrows which library caches are searched when ``spec`` is not a known name.
        download: allow a download; default: yes unless ``DETECTKIT_OFFLINE=1``.

    Returns:
        The path of an existing, checked file.

    Raises:
        WeightsNotFoundError: not found anywhere; the message lists where it looked and how to provide it.
        ChecksumError: found, but its checksum is wrong.

    Example:
        >>> import os, tempfile, pathlib
        >>> folder = tempfile.mkdtemp(); _ = (pathlib.Path(folder) / "mine.onnx").write_bytes(b"x")
        >>> os.environ["DETECTKIT_WEIGHTS"] = folder
        >>> resolve_weights("mine.onnx").name
        'mine.onnx'
        >>> del os.environ["DETECTKIT_WEIGHTS"]
    """
    text = os.fspath(spec)
    known = known_weights(text)
    direct = Path(text).expanduser()
    if direct.is_file():
        verify(direct, known if known and direct.name == known.filename else None)
        return direct
    if known is None and (_looks_like_path(text) or direct.is_absolute()):
        raise WeightsNotFoundError(f"{text}: no such model file")
    if direct.is_dir():
        raise WeightsFormatError(f"{text}: is a folder, not a model file")

    fam = known.family if known else family
    candidates = known.candidates if known else (text,)
    places = search_dirs(fam)
    for folder, _label in places:
        for name in candidates:
            path = folder / name
            if path.is_file():
                verify(path, known)
                return path

    download_note = ""
    if known is not None and known.url:
        allowed = (not _offline()) if download is None else download
        if allowed:
            try:
                return _download(known)
            except ChecksumError:
                raise
            except Exception as exc:  # no network, HTTP error, disk full...
                download_note = f"\n  download from {known.url} failed: {type(exc).__name__}: {exc}"
        else:
            download_note = f"\n  download from {known.url} not attempted (offline: DETECTKIT_OFFLINE=1 or download=False)"
    raise WeightsNotFoundError(_not_found_message(text, known, candidates, places, download_note))


def _not_found_message(
    spec: str,
    known: KnownWeights | None,
    candidates: tuple[str, ...],
    places: list[tuple[Path, str]],
    download_note: str,
) -> str:
    what = f"model weights for {spec!r}" if known else f"model file {spec!r}"
    lines = [f"{what} not found. Looked for {' or '.join(candidates)} in:"]
    lines += [f"  {folder}  ({label})" for folder, label in places]
    if download_note:
        lines.append(download_note.strip("\n"))
    hint = "To provide it, put the file in ./weights/ or in a folder listed in DETECTKIT_WEIGHTS"
    if known is not None and known.url:
        hint += f" (get it from {known.url}), or run once with network access to download it into {cache_dir()}"
    lines.append(hint + ".")
    return "\n".join(lines)


# --------------------------------------------------------------------------- loading
def load_torch_file(path: str | os.PathLike, *, what: str = "model file") -> Any:
    """``torch.load`` a file safely (``weights_only=True``, on the CPU).

    Files that would need unpickling arbitrary objects are refused with an error
    that says so, instead of being executed.

    Raises:
        WeightsFormatError: not a PyTorch file, corrupt, or needs unsafe unpickling.

    Example:
        >>> import torch, tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "sd.pt"; torch.save({"w": torch.zeros(2)}, p)
        >>> load_torch_file(p)["w"].shape
        torch.Size([2])
    """
    import pickle

    import torch

    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" in str(exc) or "GLOBAL" in str(exc):
            raise WeightsFormatError(
                f"{path}: this {what} contains pickled Python objects, not only tensors; detectkit does not "
                "unpickle files it cannot check (it could run code). Save a state dict (model.state_dict()) "
                "instead"
            ) from exc
        raise WeightsFormatError(f"{path}: not a readable PyTorch {what} ({_torch_reason(exc)})") from exc
    except Exception as exc:  # torch raises many types for garbage (KeyError, RuntimeError, EOFError...)
        message = _torch_reason(exc)
        raise WeightsFormatError(f"{path}: not a readable PyTorch {what} ({message})") from exc


def _torch_reason(exc: BaseException) -> str:
    """The informative part of torch.load's (long) error message."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if "WeightsUnpickler error:" in line:
            detail = line.split("WeightsUnpickler error:", 1)[1].strip() or (lines[i + 1] if i + 1 < len(lines) else "")
            return detail[:160]
    return (lines[0][:160] if lines else type(exc).__name__)
