"""detectkit's checkpoint format for torchvision-family detectors.

A checkpoint is one ``torch.save`` file holding only tensors and plain Python values
(so it loads with ``torch.load(weights_only=True)``, never unpickling code)::

    {
      "detectkit_checkpoint": 1,          # format version
      "family": "torchvision",
      "builder": "fasterrcnn_mobilenet_v3_large_fpn",
      "builder_kwargs": {...},            # extra keyword arguments for the builder
      "classes": ["cat", "dog"],          # class names; class id i is classes[i]
      "imgsz": 640,                       # longest image side used in training
      "state_dict": {...},                # model weights
      "metrics": {...},                   # e.g. {"epoch": 9, "map50": 0.81}
      "extra": {...},                     # anything else (optimizer state for resume, ...)
    }

Class ids in detectkit checkpoints are 0-based indices into ``classes``; torchvision's
label 0 (background) is handled inside the backend.

YOLO-family fine-tunes are saved by the ultralytics trainer in its own format
(``best.pt``), which carries its class names and loads straight into ``Detector``.

Example:
    >>> import tempfile, pathlib, torch
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "model.pt"
    >>> save_checkpoint(p, builder="fasterrcnn_mobilenet_v3_large_320_fpn", classes=["cat"],
    ...                 imgsz=320, state_dict={"w": torch.zeros(1)}) == p
    True
    >>> load_checkpoint(p).classes
    ['cat']
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import WeightsFormatError
from .weights import load_torch_file

__all__ = ["Checkpoint", "save_checkpoint", "load_checkpoint", "is_checkpoint", "FORMAT_VERSION", "CHECKPOINT_SUFFIXES"]

FORMAT_VERSION = 1
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")
"""File suffixes a detectkit checkpoint may have."""


@dataclass
class Checkpoint:
    """A loaded detectkit checkpoint (see the module docstring for the file layout)."""

    builder: str
    classes: list[str]
    imgsz: int
    state_dict: dict[str, Any]
    family: str = "torchvision"
    builder_kwargs: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def save_checkpoint(
    path: str | os.PathLike,
    *,
    builder: str,
    classes: list[str],
    imgsz: int,
    state_dict: dict[str, Any],
    builder_kwargs: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    family: str = "torchvision",
) -> Path:
    """Write a checkpoint atomically (a temporary file, then a rename), so a crash never leaves half a file.

    Usage:
        save_checkpoint("runs/best.pt", builder="fasterrcnn_resnet50_fpn", classes=["person"],
                        imgsz=640, state_dict=model.state_dict(), metrics={"map50": 0.9})
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "detectkit_checkpoint": FORMAT_VERSION,
        "family": family,
        "builder": builder,
        "builder_kwargs": dict(builder_kwargs or {}),
        "classes": [str(c) for c in classes],
        "imgsz": int(imgsz),
        "state_dict": state_dict,
        "metrics": dict(metrics or {}),
        "extra": dict(extra or {}),
    }
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _read(path: Path) -> Any:
    return load_torch_file(path, what="detectkit checkpoint")


def is_checkpoint(path: str | os.PathLike) -> bool:
    """True when ``path`` is a detectkit checkpoint (reads the file safely).

    Example:
        >>> is_checkpoint("no/such/file.pt")
        False
    """
    path = Path(path)
    if not path.is_file() or path.suffix.lower() not in CHECKPOINT_SUFFIXES:
        return False
    try:
        data = _read(path)
    except WeightsFormatError:
        return False
    return isinstance(data, dict) and "detectkit_checkpoint" in data


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises:
        WeightsFormatError: not a detectkit checkpoint, a newer format version, or missing fields.
    """
    path = Path(path)
    data = _read(path)
    if not isinstance(data, dict) or "detectkit_checkpoint" not in data:
        raise WeightsFormatError(f"{path}: not a detectkit checkpoint (no 'detectkit_checkpoint' key)")
    version = data["detectkit_checkpoint"]
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise WeightsFormatError(
            f"{path}: checkpoint format version {version} is newer than this detectkit reads ({FORMAT_VERSION}); "
            "upgrade detectkit"
        )
    missing = [key for key in ("builder", "classes", "imgsz", "state_dict") if key not in data]
    if missing:
        raise WeightsFormatError(f"{path}: detectkit checkpoint is missing {', '.join(missing)}")
    return Checkpoint(
        builder=str(data["builder"]),
        classes=[str(c) for c in data["classes"]],
        imgsz=int(data["imgsz"]),
        state_dict=data["state_dict"],
        family=str(data.get("family", "torchvision")),
        builder_kwargs=dict(data.get("builder_kwargs") or {}),
        metrics=dict(data.get("metrics") or {}),
        extra=dict(data.get("extra") or {}),
        path=path,
    )
