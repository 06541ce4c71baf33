"""What the classical backends share: the OpenCV check, score calibration and NMS.

* :func:`require_opencv` imports ``cv2`` and checks that it still has the classical
  object detectors (``HOGDescriptor``, ``CascadeClassifier``): OpenCV 5 moved them out
  of the main wheel, so a clear error says which OpenCV to install.
* :func:`platt` turns a classifier margin into a score in ``[0, 1]`` with a logistic
  (Platt scaling) and :func:`margin_for` inverts it, so a confidence threshold becomes
  the margin threshold OpenCV is given.
* :func:`nms` is OpenCV's ``cv2.dnn.NMSBoxes`` (class-agnostic: each classical model
  has one class) returning indices, best first.

Example:
    >>> round(float(platt(0.0, (1.0, 0.0))), 2), round(margin_for(0.5, (2.0, -1.0)), 2)
    (0.5, 0.5)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ModelError

__all__ = ["require_opencv", "platt", "margin_for", "nms", "empty_detections", "check_image"]


def require_opencv(*features: str) -> Any:
    """``cv2``, after checking it has ``features`` (e.g. ``"HOGDescriptor"``).

    Raises:
        ModelError: this OpenCV lacks them (OpenCV 5's main wheel), saying what to install.

    Example:
        >>> require_opencv("CascadeClassifier").__name__
        'cv2'
    """
    import cv2

    missing = [name for name in features if not hasattr(cv2, name)]
    if missing:
        raise ModelError(
            f"OpenCV {cv2.__version__} has no {', '.join(missing)}: OpenCV 5 moved the classical detectors "
            "out of its main wheel. Install OpenCV 4.x: pip install 'opencv-python>=4.8,<5' "
            "(or pip install 'detectkit[classical]')"
        )
    return cv2


def platt(margin: Any, calibration: tuple[float, float]) -> np.ndarray:
    """``1 / (1 + exp(-(a * margin + b)))`` as float32: a monotone map of margins to ``[0, 1]``.

    Example:
        >>> platt(np.array([-100.0, 0.0, 100.0]), (1.0, 0.0)).round(3).tolist()
        [0.0, 0.5, 1.0]
    """
    a, b = calibration
    z = np.clip(a * np.asarray(margin, np.float64) + b, -60.0, 60.0)
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


def margin_for(conf: float, calibration: tuple[float, float], floor: float = -1e6) -> float:
    """The smallest margin whose :func:`platt` score reaches ``conf`` (``floor`` for ``conf=0``).

    Example:
        >>> margin_for(0.0, (2.0, -1.0))
        -1000000.0
    """
    a, b = calibration
    if conf <= 0.0:
        return floor
    if conf >= 1.0:
        return math.inf
    return (math.log(conf / (1.0 - conf)) - b) / a


def nms(xyxy: np.ndarray, scores: np.ndarray, conf: float, iou: float, max_det: int) -> np.ndarray:
    """Indices kept by OpenCV's ``cv2.dnn.NMSBoxes`` (score >= ``conf``), best first, at most ``max_det``.

    Example:
        >>> boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
        >>> nms(boxes, np.array([0.9, 0.8, 0.7], np.float32), 0.0, 0.5, 10).tolist()
        [0, 2]
    """
    import cv2

    if len(xyxy) == 0:
        return np.zeros(0, np.int64)
    xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1).astype(np.float64)
    # no top_k: OpenCV applies it to the candidates *before* suppression, not to the boxes kept
    keep = cv2.dnn.NMSBoxes(xywh.tolist(), scores.astype(np.float64).tolist(), float(conf), float(iou))
    keep = np.asarray(keep, np.int64).reshape(-1)
    order = np.argsort(-scores[keep], kind="stable")  # NMSBoxes sorts already; keep it explicit
    return keep[order][:max_det]


def empty_detections(names: dict[int, str], shape: tuple[int, int]) -> Any:
    """An empty ``Detections`` with this class table and image shape."""
    from ..detections import Detections

    return Detections(
        np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), dict(names), image_shape=shape
    )


def check_image(image: Any, index: int, who: str) -> np.ndarray:
    """``image`` if it is an ``HxWx3`` (or ``HxW``) uint8 array, else a :class:`ModelError` naming it."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3) or (
        image.ndim == 3 and image.shape[2] != 3
    ):
        what = type(image).__name__ if not isinstance(image, np.ndarray) else f"array {image.shape} {image.dtype}"
        raise ModelError(
            f"image {index}: {who} takes HxWx3 uint8 BGR arrays, got {what} "
            "(use detectkit.load_image, or call the detector itself on paths)"
        )
    return image
