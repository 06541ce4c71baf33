"""Face detectors: the `FACE_DETECTORS` registry and `make_face_detector`.

A face detector has ``detect(images) -> list[Detections]`` over a list of BGR arrays
(one ``Detections`` per image, class ``0: "face"``, ``landmarks`` ``(N, 5, 2)`` when it finds
them). Built in: ``"mtcnn"`` (:class:`~detectkit.faces.detector.FaceDetector`) and ``"haar"``
(:class:`~detectkit.classical.haar_faces.HaarFaceDetector`; ``detectkit.classical`` sits
above ``detectkit.faces``, so it registers itself and is imported on first lookup).
``FaceRecognizer(detector=...)`` takes a registered name or a detector.

Example:
    >>> from detectkit.faces.face_detectors import FACE_DETECTORS, make_face_detector
    >>> FACE_DETECTORS.names()
    ['haar', 'mtcnn']
    >>> type(make_face_detector("haar", min_neighbors=5)).__name__
    'HaarFaceDetector'
"""

from __future__ import annotations

from typing import Any, Callable

from ..errors import ModelError
from ..registry import BuiltinRegistry

__all__ = ["FACE_DETECTORS", "FaceDetectorFactory", "register_face_detector", "make_face_detector", "DEFAULT_FACE_DETECTOR"]

FaceDetectorFactory = Callable[..., Any]
"""Makes a face detector: ``factory(device=..., **options)``."""

FACE_DETECTORS: BuiltinRegistry[FaceDetectorFactory] = BuiltinRegistry(
    "face detector", builtins=["detectkit.faces.detector", "detectkit.classical.haar_faces"]
)
"""Face detector factories by name."""

DEFAULT_FACE_DETECTOR = "mtcnn"


def register_face_detector(name: str, factory: FaceDetectorFactory, *, replace: bool = False) -> FaceDetectorFactory:
    """Register ``factory(device=..., **options)`` (it returns an object with ``detect(images)``) under ``name``.

    Example:
        >>> _ = register_face_detector("haar-strict", lambda device="cpu", **kw: make_face_detector("haar", min_neighbors=8, **kw))
        >>> make_face_detector("haar-strict").min_neighbors
        8
        >>> _ = FACE_DETECTORS.unregister("haar-strict")
    """
    return FACE_DETECTORS.register(name, factory, replace=replace)


def make_face_detector(spec: Any = None, *, device: Any = "auto", **options: Any) -> Any:
    """A face detector from a registered name (``None``: ``"mtcnn"``), or ``spec`` itself when it has ``detect``.

    Raises:
        ModelError: an unknown name (the message lists the known ones), or an object without ``detect``.

    Example:
        >>> make_face_detector("dlib-cnn")
        Traceback (most recent call last):
        ...
        detectkit.errors.ModelError: unknown face detector 'dlib-cnn'; known: haar, mtcnn
    """
    if spec is None:
        spec = DEFAULT_FACE_DETECTOR
    if isinstance(spec, str):
        return FACE_DETECTORS.get(spec)(device=device, **options)
    if not callable(getattr(spec, "detect", None)):
        raise ModelError(f"a face detector needs detect(images) -> list[Detections]; {type(spec).__name__} has none")
    if options:
        raise ModelError(f"options {sorted(options)} given with a ready face detector {spec!r}")
    return spec
