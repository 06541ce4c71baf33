"""Deployment: a trained or pretrained detector written out for another runtime.

:func:`export` (``detectkit.export``, ``detectkit export``) writes ONNX files that
``Detector(path)`` runs again (:mod:`detectkit.deploy.onnx`); what an exported torchvision
graph says about itself is :mod:`detectkit.detection.model_metadata`, which the runtime
backends read.

The package sits beside :mod:`detectkit.detection`: it asks the backend registry for a model's
family and uses training's dataset loader only for YOLO int8 calibration images.
"""

from __future__ import annotations

from typing import Any

__all__ = ["export", "export_torchvision_onnx", "quantize_int8", "EXPORT_FORMATS"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import onnx

        return getattr(onnx, name)
    raise AttributeError(f"module 'detectkit.deploy' has no attribute {name!r}")
