"""Faces: detect (MTCNN), embed (FaceNet), enrol into a persistent gallery, verify and identify.

=====================  =====================================================
:class:`FaceDetector`   MTCNN over lists of BGR images -> ``Detections``
:class:`FaceEmbedder`   FaceNet (InceptionResnetV1) -> L2-normalised 512-d vectors
:class:`Gallery`        identities + embeddings in SQLite, exact or faiss search
:class:`FaceRecognizer` enrol / verify / identify, and the video pipeline's batched calls
:func:`calibrate`       ROC, EER, accuracy, threshold at a target false-accept rate
=====================  =====================================================

The names are imported lazily, so ``import detectkit.faces`` does not load torch
(the gallery alone needs only NumPy and SQLite).

Example:
    >>> from detectkit.faces import Gallery
    >>> len(Gallery(":memory:"))
    0
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "FaceDetector": "detectkit.faces.detector",
    "FaceEmbedder": "detectkit.faces.embedder",
    "ModelKey": "detectkit.faces.embedder",
    "Gallery": "detectkit.faces.gallery",
    "Identity": "detectkit.faces.gallery",
    "Match": "detectkit.faces.gallery",
    "FaceRecognizer": "detectkit.faces.recognizer",
    "EnrollReport": "detectkit.faces.recognizer",
    "Rejection": "detectkit.faces.recognizer",
    "Verification": "detectkit.faces.recognizer",
    "FaceMatch": "detectkit.faces.recognizer",
    "QualityPolicy": "detectkit.faces.quality",
    "Calibration": "detectkit.faces.calibration",
    "calibrate": "detectkit.faces.calibration",
    "read_pairs": "detectkit.faces.calibration",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'detectkit.faces' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
