"""Classical computer-vision baselines behind detectkit's usual interfaces.

=========================  ==============================================================
``Detector("opencv-hog-people")``  HOG + linear SVM pedestrians (:mod:`.hog_people`)
:class:`HaarFaceDetector`   Viola-Jones Haar cascade faces, usable wherever MTCNN is
:class:`HogFaceEmbedder`    HOG face descriptors for ``Gallery`` / ``FaceRecognizer``
:class:`GallerySVM`         a linear SVM trained on a gallery's embeddings
=========================  ==============================================================

They exist to measure the deep models against (``detectkit compare``). They need
OpenCV 4.x (OpenCV 5's main wheel has no ``HOGDescriptor``, ``CascadeClassifier`` or
cascade files) and, for the SVM, scikit-learn: ``pip install 'detectkit[classical]'``.

Example:
    >>> from detectkit.classical import HaarFaceDetector, HogFaceEmbedder
    >>> HaarFaceDetector().names, HogFaceEmbedder().model_name
    ({0: 'face'}, 'hog-face')
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "HogPeopleBackend": "detectkit.classical.hog_people",
    "HaarFaceDetector": "detectkit.classical.haar_faces",
    "HogFaceEmbedder": "detectkit.classical.face_features",
    "GallerySVM": "detectkit.classical.face_features",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'detectkit.classical' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
