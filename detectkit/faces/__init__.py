"""Faces: detect (MTCNN), embed (FaceNet), enrol into a persistent gallery, verify and identify.

* :class:`FaceDetector`: MTCNN over lists of BGR images -> ``Detections``;
* :class:`FaceEmbedder`: FaceNet (InceptionResnetV1) -> L2-normalised 512-d vectors;
* :class:`Embedder` / :class:`CropSpec`: the face-embedder protocol; :func:`make_embedder` and
  :func:`make_face_detector` make one from a registered name (``EMBEDDERS``, ``FACE_DETECTORS``);
* :class:`Gallery`: identities + embeddings in SQLite, exact or faiss search;
* :class:`FaceRecognizer`: enrol / verify / identify, and the video pipeline's batched calls;
* :func:`calibrate`: ROC, EER, accuracy, threshold at a target false-accept rate.

Importing this package does not load torch or OpenCV; the models load them when made
(the gallery alone needs only NumPy and SQLite).

Example:
    >>> from detectkit.faces import Gallery
    >>> len(Gallery(":memory:"))
    0
"""

from __future__ import annotations

from .calibration import Calibration, calibrate, read_pairs
from .detector import FaceDetector
from .embedder import FaceEmbedder
from .embedders import EMBEDDERS, CropSpec, Embedder, make_embedder, register_embedder
from .face_detectors import FACE_DETECTORS, make_face_detector, register_face_detector
from .gallery import Gallery, Identity, Match
from .model_key import ModelKey
from .quality import QualityPolicy
from .recognizer import EnrollReport, FaceMatch, FaceRecognizer, Rejection, Verification

__all__ = [
    "EMBEDDERS",
    "FACE_DETECTORS",
    "Calibration",
    "CropSpec",
    "Embedder",
    "EnrollReport",
    "FaceDetector",
    "FaceEmbedder",
    "FaceMatch",
    "FaceRecognizer",
    "Gallery",
    "Identity",
    "Match",
    "ModelKey",
    "QualityPolicy",
    "Rejection",
    "Verification",
    "calibrate",
    "make_embedder",
    "make_face_detector",
    "read_pairs",
    "register_embedder",
    "register_face_detector",
]
