"""YOLO through ultralytics: ``.pt`` checkpoints (pretrained or fine-tuned), ``.yaml``
architectures (untrained), and exported files ultralytics runs (``.onnx``, ``.torchscript``, ...).

Usage:
    backend = UltralyticsBackend("yolo11n.pt", device=torch.device("cpu"))
    backend.predict([bgr_image], PredictOptions(conf=0.3))
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .._ultralytics_env import import_ultralytics, keep_torch_threads
from ..detections import Detections
from ..errors import DetectKitError, WeightsFormatError
from ..weights import resolve_weights
from .base import PredictOptions
from .postprocess import strict_threshold

__all__ = ["UltralyticsBackend", "looks_like_yolo_config"]


def looks_like_yolo_config(spec: str) -> bool:
    """A model architecture YAML (``yolov8n.yaml``): built untrained, no weights file needed."""
    return str(spec).lower().endswith((".yaml", ".yml"))


class UltralyticsBackend:
    """One ultralytics ``YOLO`` model behind detectkit's backend interface.

    ``.pt`` checkpoints are read with ultralytics' restricted loader (only its own model classes
    are rebuilt; nothing in the file runs) unless the thread trusts model files
    (:mod:`detectkit.trust`: ``Detector(..., trust=True)``).
    """

    family = "ultralytics"

    def __init__(self, spec: str | os.PathLike, device: Any) -> None:
        ultralytics = import_ultralytics()
        text = os.fspath(spec)
        source: str = text if looks_like_yolo_config(text) and not Path(text).is_file() else str(resolve_weights(text, family="ultralytics"))
        try:
            with keep_torch_threads():
                self.model = ultralytics.YOLO(source, task="detect")
                names = self.model.names  # exported files are opened here
        except DetectKitError:
            raise  # a refused (untrusted) file: the message already names it and says what to do
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise WeightsFormatError(f"{source}: ultralytics could not load this model ({reason})") from exc
        task = getattr(self.model, "task", "detect")
        if task != "detect":
            raise WeightsFormatError(f"{source}: is a YOLO '{task}' model; detectkit's Detector needs a 'detect' model")
        self.source = source
        self.device = device
        self.names = {int(k): str(v) for k, v in (names or {}).items()}
        self._device_arg = _device_arg(device)
        self._fixed_imgsz = _exported_imgsz(self.model)
        from ultralytics.cfg import DEFAULT_CFG_DICT

        self._has_quantize = "quantize" in DEFAULT_CFG_DICT

    def predict(self, images: Sequence[np.ndarray], options: PredictOptions) -> list[Detections]:
        kwargs: dict[str, Any] = {
            "conf": strict_threshold(options.conf),  # ultralytics keeps score > conf; detectkit keeps >=
            "iou": options.iou,
            "max_det": options.max_det,
            "device": self._device_arg,
            "verbose": False,
            "save": False,
        }
        if options.half:  # ultralytics >= 8.4 calls it quantize=16; before, half=True
            kwargs.update({"quantize": 16} if self._has_quantize else {"half": True})
        imgsz = options.imgsz or self._fixed_imgsz
        if imgsz is not None:
            kwargs["imgsz"] = imgsz
        if options.classes is not None:
            kwargs["classes"] = list(options.classes)
        with keep_torch_threads():  # the first call selects a device, which resets torch's thread count
            results = self.model.predict(list(images), **kwargs)
        return [Detections.from_ultralytics(r) for r in results]


def _device_arg(device: Any) -> str:
    if device.type == "cuda":
        return str(device.index or 0)
    return device.type


def _exported_imgsz(model: Any) -> int | None:
    """Exported files (ONNX...) have a fixed input size, written in their metadata."""
    overrides = getattr(model, "overrides", {}) or {}
    imgsz = overrides.get("imgsz")
    if isinstance(imgsz, (list, tuple)) and imgsz:
        return int(max(imgsz))
    if isinstance(imgsz, int):
        return imgsz
    return None
