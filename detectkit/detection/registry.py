"""``BACKENDS``: which detector backend a model spec means, and which family it belongs to.

Each backend registers an entry: its ``family`` (a string, or a function of the spec), a
``claims(spec) -> bool`` test, and ``load(spec, device, **options) -> Backend`` (the protocol in
:mod:`detectkit.detection.base`). :func:`find_backend` asks the entries highest priority first
and returns the first that claims the spec; :func:`family_of` is that entry's family, which
fine-tuning, export and the CLI use instead of guessing it again.

Built-in entries, in the order they are asked:

=========================  ========  ===============  ==========================================
name                       priority  family           claims
=========================  ========  ===============  ==========================================
``opencv-hog-people``      100       ``opencv-hog``   that exact name (registered by
                                                      :mod:`detectkit.classical.hog_people`)
``openvino``               40        ``ultralytics``  an OpenVINO ``.xml`` or model folder (registered
                                     or               by :mod:`detectkit.runtimes.registration`)
                                     ``torchvision``
``torchvision``            30        ``torchvision``  a torchvision detection builder name
``detectkit-checkpoint``   20        ``torchvision``  a detectkit checkpoint file
``detectkit-onnx``         10        ``torchvision``  an ONNX file ``detectkit export`` wrote
                                                      from a torchvision detector
``ultralytics``            -1000     ``ultralytics``  any other name or path (the catch-all)
=========================  ========  ===============  ==========================================

Backends of packages above this one (the classical baselines) register themselves when their
module is imported; this module names those modules in ``PLUGIN_MODULES`` and imports them by
name on the first lookup, so it never imports them itself. Packages outside detectkit register
from their own code or through the ``detectkit.plugins`` entry-point group.

Example:
    >>> family_of("fasterrcnn_resnet50_fpn"), family_of("yolov8n.yaml"), family_of("opencv-hog-people")
    ('torchvision', 'ultralytics', 'opencv-hog')
    >>> find_backend("yolo11n.pt").name
    'ultralytics'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..checkpoint import CHECKPOINT_SUFFIXES
from ..errors import ModelError, WeightsFormatError
from ..registry import BuiltinRegistry, Registry
from .base import Backend

__all__ = [
    "BACKENDS",
    "BackendEntry",
    "register_backend",
    "find_backend",
    "family_of",
    "PLUGIN_MODULES",
    "RUNTIME_LOADERS",
    "runtime_loader",
]

PLUGIN_MODULES = ("detectkit.classical.hog_people", "detectkit.runtimes.registration")
"""Modules above ``detection`` that register built-in backends on import (imported by name, lazily)."""


@dataclass(frozen=True)
class BackendEntry:
    """One registered backend: its name, family, what specs it claims and how it loads."""

    name: str
    family: str | Callable[[Any], str]
    claims: Callable[[Any], bool]
    load: Callable[..., Backend]

    def family_for(self, spec: Any) -> str:
        """The family of ``spec`` under this entry (``family`` itself, or ``family(spec)``).

        Example:
            >>> find_backend("yolov8n.yaml").family_for("yolov8n.yaml")
            'ultralytics'
        """
        return self.family(spec) if callable(self.family) else str(self.family)


BACKENDS: Registry[BackendEntry] = BuiltinRegistry("detector backend", builtins=PLUGIN_MODULES)

RUNTIME_LOADERS: Registry[Callable[..., Backend]] = BuiltinRegistry("runtime loader", builtins=PLUGIN_MODULES)
"""``Detector(..., runtime=...)`` loads through the first entry: ``load(model, device, *, runtime, weights,
imgsz, calibration, load_default) -> Backend`` (:mod:`detectkit.runtimes` registers one)."""


def runtime_loader() -> Callable[..., Backend]:
    """The registered function that loads a model on a chosen runtime (``Detector(runtime=...)``).

    Example:
        >>> callable(runtime_loader())
        True
    """
    entries = RUNTIME_LOADERS.items()
    if not entries:
        raise ModelError("runtime= needs detectkit.runtimes, which registered no loader (pip install 'detectkit[openvino]')")
    return entries[0][1]


def register_backend(
    name: str,
    *,
    family: str | Callable[[Any], str],
    claims: Callable[[Any], bool],
    load: Callable[..., Backend],
    priority: int = 0,
    replace: bool = False,
) -> BackendEntry:
    """Register a detector backend; ``Detector(spec)`` then loads it for every spec it claims.

    Args:
        name: the entry's name (unique in :data:`BACKENDS`).
        family: ``"ultralytics"``, ``"torchvision"``, ... or a function of the spec giving it.
        claims: ``claims(spec) -> bool``; may raise a :class:`~detectkit.errors.DetectKitError`
            for a spec that is its kind but broken (named in the message).
        load: ``load(spec, device, **options) -> Backend`` (options: ``weights=``, and any a caller adds).
        priority: higher is asked first; the built-ins use 100 (a name) down to -1000 (the catch-all).
        replace: allow replacing an entry of the same name.

    Example:
        >>> entry = register_backend("doc-empty", family="doc", claims=lambda spec: spec == "doc-empty",
        ...                          load=lambda spec, device, **options: None)
        >>> find_backend("doc-empty").name, family_of("doc-empty")
        ('doc-empty', 'doc')
        >>> _ = BACKENDS.unregister("doc-empty")
    """
    entry = BackendEntry(name=name, family=family, claims=claims, load=load)
    BACKENDS.register(name, entry, priority=priority, replace=replace)
    return entry


def find_backend(spec: Any) -> BackendEntry:
    """The highest-priority entry that claims ``spec``.

    Raises:
        ModelError: no entry claims it (only for specs that are not names or paths: the
            ultralytics entry claims every name and path).

    Example:
        >>> find_backend("fasterrcnn_mobilenet_v3_large_320_fpn").name
        'torchvision'
    """
    for _, entry in BACKENDS.items():
        if entry.claims(spec):
            return entry
    raise ModelError(f"cannot make a detector from {type(spec).__name__}: pass a model name or a file path")


def family_of(spec: Any) -> str:
    """The family of the backend that loads ``spec`` (a backend object: its ``family`` attribute).

    Example:
        >>> family_of("retinanet_resnet50_fpn")
        'torchvision'
    """
    if not isinstance(spec, (str, os.PathLike)) and hasattr(spec, "predict") and hasattr(spec, "names"):
        return str(getattr(spec, "family", "custom"))
    return find_backend(spec).family_for(spec)


# ---------------------------------------------------------------------------- built-in entries
def _text(spec: Any) -> str | None:
    return os.fspath(spec) if isinstance(spec, (str, os.PathLike)) else None


def _claims_builder(spec: Any) -> bool:
    from .torchvision_backend import detection_builders

    text = _text(spec)
    return text is not None and text in detection_builders()


def _load_torchvision(spec: Any, device: Any, *, weights: Any = "DEFAULT", **_: Any) -> Backend:
    from .torchvision_backend import TorchvisionBackend

    return TorchvisionBackend(os.fspath(spec), device, weights=weights)


def _claims_checkpoint(spec: Any) -> bool:
    """A detectkit checkpoint; a bare state dict is an error that says how to load it; anything else
    (an ultralytics checkpoint, which needs pickled classes) is left to the next entry."""
    from ..weights import load_torch_file

    text = _text(spec)
    if text is None:
        return False
    path = Path(text)
    if not path.is_file() or path.suffix.lower() not in CHECKPOINT_SUFFIXES:
        return False
    try:
        data = load_torch_file(path, what="checkpoint")
    except WeightsFormatError:
        return False  # needs pickled classes: an ultralytics checkpoint
    if isinstance(data, dict) and "detectkit_checkpoint" in data:
        return True
    if isinstance(data, dict) and "model" not in data and "ema" not in data:
        raise WeightsFormatError(
            f"{path}: a bare state dict, with no model name or classes in it. Name the architecture: "
            f"Detector('fasterrcnn_resnet50_fpn', weights='{path}'), or save a detectkit checkpoint"
        )
    return False


def _load_checkpoint(spec: Any, device: Any, **_: Any) -> Backend:
    from ..checkpoint import load_checkpoint
    from .torchvision_backend import TorchvisionBackend

    return TorchvisionBackend(load_checkpoint(os.fspath(spec)), device)


def _claims_onnx(spec: Any) -> bool:
    from .onnx_backend import is_detectkit_onnx

    text = _text(spec)
    return text is not None and Path(text).suffix.lower() == ".onnx" and is_detectkit_onnx(text)


def _load_onnx(spec: Any, device: Any, **_: Any) -> Backend:
    from .onnx_backend import OnnxTorchvisionBackend

    return OnnxTorchvisionBackend(os.fspath(spec), device)


def _claims_any_path(spec: Any) -> bool:
    return _text(spec) is not None


def _load_ultralytics(spec: Any, device: Any, **_: Any) -> Backend:
    from .ultralytics_backend import UltralyticsBackend

    return UltralyticsBackend(os.fspath(spec), device)


register_backend("torchvision", family="torchvision", claims=_claims_builder, load=_load_torchvision, priority=30)
register_backend("detectkit-checkpoint", family="torchvision", claims=_claims_checkpoint, load=_load_checkpoint, priority=20)
register_backend("detectkit-onnx", family="torchvision", claims=_claims_onnx, load=_load_onnx, priority=10)
register_backend("ultralytics", family="ultralytics", claims=_claims_any_path, load=_load_ultralytics, priority=-1000)
