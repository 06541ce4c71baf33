"""``export(..., format="engine")``: a YOLO model to a TensorRT engine through ultralytics' exporter.

TensorRT needs an NVIDIA GPU and the ``tensorrt`` package; without them the export stops with a
:class:`~detectkit.errors.ModelError` that says which is missing. ``Detector("best.engine")``
runs the file through ultralytics (the catch-all backend).

Usage:
    export_engine("yolov8n.pt", imgsz=640)        -> yolov8n.engine (on a CUDA machine)
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from ..errors import ModelError

__all__ = ["export_engine", "engine_unavailable"]


def engine_unavailable() -> str | None:
    """Why a TensorRT engine cannot be built here (``None`` when it can).

    Example:
        >>> isinstance(engine_unavailable(), (str, type(None)))
        True
    """
    if importlib.util.find_spec("tensorrt") is None:
        return "the tensorrt package is not installed (pip install tensorrt, on a machine with an NVIDIA GPU)"
    import torch

    if not torch.cuda.is_available():
        return "no CUDA GPU is visible (TensorRT engines are built on the GPU they run on)"
    return None


def export_engine(model: str | os.PathLike, *, imgsz: int | None = None, half: bool = True, out: str | os.PathLike | None = None,
                  data: Any = None, int8: bool = False) -> Path:
    """Build a TensorRT engine of a YOLO model (``half``: FP16; ``int8`` calibrates on ``data``).

    Raises:
        ModelError: no tensorrt or no GPU (the message says which), a torchvision model, or the export failed.
    """
    from ..detection.registry import family_of

    text = os.fspath(model)
    if family_of(text) != "ultralytics":
        raise ModelError(f"{text}: TensorRT export is for YOLO models (torchvision detectors: export to onnx or openvino)")
    why = engine_unavailable()
    if why is not None:
        raise ModelError(f"cannot export {text} to a TensorRT engine: {why}")
    from .._ultralytics_env import import_ultralytics, keep_torch_threads
    from ..weights import resolve_weights

    ultralytics = import_ultralytics()
    args: dict[str, Any] = dict(format="engine", imgsz=int(imgsz or 640), half=bool(half and not int8), device=0, verbose=False)
    if int8:
        if data is None:
            raise ModelError("int8 TensorRT export calibrates on images: pass data= (a dataset)")
        args.update(int8=True, data=str(data))
    with keep_torch_threads():
        try:
            written = Path(ultralytics.YOLO(str(resolve_weights(text, family="ultralytics")), task="detect").export(**args))
        except Exception as exc:
            raise ModelError(f"ultralytics could not export {text} to TensorRT ({type(exc).__name__}: {exc})") from exc
    if out is not None and written.resolve() != Path(out).resolve():
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        written.replace(out)
        return Path(out)
    return written
