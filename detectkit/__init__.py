"""detectkit: object detection, fine-tuning, face recognition and live video in one package.

The public API is re-exported here and imported lazily, so ``import detectkit`` is
fast and does not load torch until a model is made.

Example:
    >>> import detectkit
    >>> detectkit.Detections.empty().xyxy.shape
    (0, 4)
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "Detections": "detectkit.detections",
    "Detector": "detectkit.detection.detector",
    "PredictOptions": "detectkit.detection.base",
    "load_image": "detectkit.images",
    "resolve_weights": "detectkit.weights",
    "DetectKitError": "detectkit.errors",
    "evaluate": "detectkit.training.evaluate",
    "load_dataset": "detectkit.training.datasets",
    "load_splits": "detectkit.training.datasets",
    "finetune": "detectkit.training.finetune",
    "TrainRun": "detectkit.training.run",
    "export": "detectkit.deploy.onnx",
    "FaceRecognizer": "detectkit.faces.recognizer",
    "FaceDetector": "detectkit.faces.detector",
    "FaceEmbedder": "detectkit.faces.embedder",
    "Gallery": "detectkit.faces.gallery",
    "calibrate": "detectkit.faces.calibration",
    "Pipeline": "detectkit.video.pipeline",
    "FrameResult": "detectkit.video.frame_result",
    "open_source": "detectkit.video.sources",
    "ByteTracker": "detectkit.video.tracking",
    "HaarFaceDetector": "detectkit.classical.haar_faces",
    "HogFaceEmbedder": "detectkit.classical.face_features",
    "GallerySVM": "detectkit.classical.face_features",
    "run_comparison": "detectkit.compare.tasks",
    "CompareConfig": "detectkit.compare.tasks",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'detectkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
