"""``load_on_runtime()``: load a detector spec on the runtime chosen for it (see :mod:`.choice`),
converting it once into the cache (see :mod:`.cache`) when the runtime is not the model's own.

A conversion that fails under ``runtime="auto"`` gives one warning and the next runtime of the plan
is used; under an explicit runtime it raises. A cache entry that does not load is removed and
converted again once. Every backend returned has ``runtime`` (``"torch"``, ``"onnx"``,
``"openvino"``) and ``precision`` (``"fp32"``, ``"fp16"``, ``"int8"``).

Example:
    >>> import torch
    >>> backend = load_on_runtime("fasterrcnn_mobilenet_v3_large_320_fpn", torch.device("cpu"), weights=None)
    >>> backend.runtime, backend.precision      # untrained: no weights file to convert, so PyTorch
    ('torch', 'fp32')
"""

from __future__ import annotations

import hashlib
import os
import shutil
import warnings
from pathlib import Path
from typing import Any, Callable

from ..errors import DetectKitError, WeightsFormatError
from .choice import check_runtime, runtime_plan
from ..detection.runtime_info import _is_int8_onnx, describe_runtime
from .openvino_files import looks_like_openvino

__all__ = ["load_on_runtime", "source_kind", "describe_runtime"]


def source_kind(model: Any, weights: Any = "DEFAULT") -> str:
    """What a spec is, for :func:`detectkit.runtimes.choice.runtime_plan` (one of ``choice.SOURCES``).

    Example:
        >>> source_kind("yolov8n.yaml"), source_kind("fasterrcnn_resnet50_fpn", weights=None)
        ('untrained', 'untrained')
    """
    if not isinstance(model, (str, os.PathLike)):
        return "other"
    text = os.fspath(model)
    if looks_like_openvino(text):
        return "openvino"
    from ..detection.torchvision_backend import detection_builders

    if text in detection_builders():
        return "untrained" if weights is None else "torch"
    path = Path(text)
    if path.suffix.lower() in (".yaml", ".yml"):
        return "untrained"
    if path.suffix.lower() == ".onnx":
        return "onnx-int8" if path.is_file() and _is_int8_onnx(path) else "onnx"
    if path.suffix.lower() in (".pt", ".pth", ".ckpt"):
        return "torch"
    return "other"


def load_on_runtime(
    model: Any,
    device: Any,
    *,
    runtime: str = "auto",
    weights: Any = "DEFAULT",
    imgsz: int | None = None,
    calibration: Any = None,
    load_default: Callable[..., Any] | None = None,
) -> Any:
    """Load ``model`` on ``runtime`` (see the module docstring).

    Args:
        model: any spec ``Detector`` takes.
        device: a ``torch.device``.
        runtime: ``"auto"``, ``"torch"``, ``"onnx"`` or ``"openvino"``.
        weights: for torchvision builder names (as in ``Detector``).
        imgsz: the input size a converted model is built for (YOLO: 640 when ``None``;
            torchvision: the model's own).
        calibration: a dataset: OpenVINO conversions are NNCF int8, calibrated on its images.
        load_default: how the model's own runtime loads it (``detectkit.detection.detector.load_backend``).
    """
    if load_default is None:
        from ..detection.detector import load_backend as load_default
    runtime = check_runtime(runtime)
    kind = source_kind(model, weights)
    plan = runtime_plan(runtime, device, kind)
    for index, name in enumerate(plan):
        try:
            backend = _load(name, model, device, kind, weights, imgsz, calibration, load_default)
        except Exception as exc:
            if runtime != "auto" or index == len(plan) - 1:
                raise
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            warnings.warn(f"{os.fspath(model)}: {name} conversion failed ({reason}); running on {plan[index + 1]}", stacklevel=3)
            continue
        return _labelled(backend, name)
    raise AssertionError("unreachable: the plan is never empty")


def _labelled(backend: Any, runtime: str) -> Any:
    if not hasattr(backend, "runtime"):
        try:
            backend.runtime = runtime
        except AttributeError:
            pass
    describe_runtime(backend)  # records ``precision``
    return backend


def _load(runtime: str, model: Any, device: Any, kind: str, weights: Any, imgsz: int | None, calibration: Any,
          load_default: Callable[..., Any]) -> Any:
    from .openvino_backend import load_openvino_backend

    if runtime == "torch" or (runtime == "onnx" and kind.startswith("onnx")):
        backend = load_default(model, device, weights=weights)
        if runtime == "onnx" and not hasattr(backend, "runtime"):
            backend.runtime = "onnx"
        return backend
    if runtime == "openvino" and kind == "openvino":
        return load_openvino_backend(model, device)
    return _load_converted(runtime, os.fspath(model), device, kind, weights, imgsz, calibration, load_default)


def _load_converted(runtime: str, model: str, device: Any, kind: str, weights: Any, imgsz: int | None, calibration: Any,
                    load_default: Callable[..., Any]) -> Any:
    from .cache import cache_key, cached_conversion, weights_digest
    from .convert import onnx_to_openvino, to_openvino
    from .openvino_backend import load_openvino_backend
    from ..detection.registry import family_of
    from ..weights import resolve_weights

    family = "ultralytics" if kind.startswith("onnx") and not _is_detectkit_onnx(model) else (
        "torchvision" if kind.startswith("onnx") else family_of(model))
    if kind == "torch":
        spec = weights if family == "torchvision" and weights not in (None, "DEFAULT") and not Path(model).is_file() else model
        source_file = resolve_weights(spec, family=family)
    else:
        source_file = Path(model)
    size = int(imgsz or (640 if family == "ultralytics" else 0))
    int8 = calibration is not None and runtime == "openvino" and kind == "torch"
    key = cache_key(weights_digest(source_file), family=family, imgsz=size, precision="int8" if int8 else "fp32",
                    calibration=_calibration_digest(calibration) if int8 else "", format=runtime)

    def convert(folder: Path) -> Path:
        if runtime == "onnx":
            from ..deploy.onnx import export

            folder.mkdir(parents=True, exist_ok=True)
            export(model, out=folder / "model.onnx", imgsz=imgsz, weights=weights)
            return folder
        if kind.startswith("onnx"):
            return onnx_to_openvino(model, folder)
        return to_openvino(model, folder, imgsz=imgsz, int8=int8, data=calibration, weights=weights)

    def load(folder: Path) -> Any:
        if runtime == "onnx":
            return load_default(folder / "model.onnx", device)
        return load_openvino_backend(folder, device)

    folder, hit = cached_conversion(key, convert)
    try:
        return load(folder)
    except WeightsFormatError:
        if not hit:
            raise
    shutil.rmtree(folder, ignore_errors=True)  # a cache entry that no longer loads: convert again, once
    folder, _ = cached_conversion(key, convert)
    return load(folder)


def _is_detectkit_onnx(path: str) -> bool:
    from ..detection.onnx_backend import is_detectkit_onnx

    return is_detectkit_onnx(path)


def _calibration_digest(data: Any) -> str:
    """A digest of the calibration images (their paths and sizes), so another dataset is another entry."""
    from ..training.datasets import load_splits

    train, val = load_splits(data)
    digest = hashlib.sha256()
    for sample in [*val.samples, *train.samples]:
        digest.update(f"{Path(sample.image_path).resolve()}|{Path(sample.image_path).stat().st_size}\n".encode())
    return digest.hexdigest()[:16]
