"""The post-filter every backend that gets raw boxes applies: ``conf``, ``classes``, NMS, ``max_det``.

One function, so the thresholds mean the same on the torchvision, ONNX (and any later runtime)
backends (see :mod:`detectkit.detection.base`):

1. keep boxes with ``score >= conf`` (a score equal to ``conf`` is kept);
2. keep only ``classes`` (before ``max_det``, so a class filter never loses boxes to other classes);
3. optionally class-wise NMS at ``iou`` (``nms=True``: for graphs whose own NMS was looser);
4. highest score first (stable: equal scores keep their order), at most ``max_det``.

Example:
    >>> import numpy as np
    >>> from detectkit.detection.base import PredictOptions
    >>> scores = np.array([0.9, 0.5, 0.3], np.float32)
    >>> labels = np.array([0, 1, 1])
    >>> post_filter(np.zeros((3, 4), np.float32), scores, labels, PredictOptions(conf=0.3, classes=(1,), max_det=1))
    array([1])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..detections import Detections
from .base import PredictOptions

__all__ = ["post_filter", "filtered_detections", "strict_threshold"]


def strict_threshold(conf: float) -> float:
    """The threshold to hand a library that keeps ``score > t`` (ultralytics' NMS, torchvision's box
    heads) so that it keeps ``score >= conf``: the largest float32 below ``conf`` (both compare float32
    scores). ``conf`` 0 stays 0 (the libraries refuse negative thresholds; a score of exactly 0 is dropped).

    Example:
        >>> import numpy as np
        >>> t = strict_threshold(0.5)
        >>> bool(np.float32(0.5) > t), bool(np.float32(np.nextafter(np.float32(0.5), np.float32(0))) > t)
        (True, False)
    """
    if conf <= 0.0:
        return 0.0
    return float(np.nextafter(np.float32(conf), np.float32(0.0)))


def post_filter(
    boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, options: PredictOptions, *, nms: bool = False
) -> np.ndarray:
    """Indices of the boxes ``options`` keep, best first (see the module docstring).

    Args:
        boxes: (N, 4) xyxy.
        scores: (N,) confidences.
        labels: (N,) class ids (already detectkit's ids: any label offset taken off).
        options: the thresholds.
        nms: also run class-wise NMS (torchvision's ``batched_nms``) at ``options.iou``.

    Example:
        >>> import numpy as np
        >>> post_filter(np.zeros((2, 4)), np.array([0.2, 0.25]), np.array([3, 3]), PredictOptions(conf=0.25))
        array([1])
    """
    scores = np.asarray(scores).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    keep = scores >= options.conf
    if options.classes is not None:
        keep &= np.isin(labels, np.asarray(options.classes, dtype=labels.dtype if labels.size else np.int64))
    index = np.flatnonzero(keep)
    if nms and len(index) > 1:
        import torch
        from torchvision.ops import batched_nms

        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        kept = batched_nms(
            torch.from_numpy(boxes[index]),
            torch.from_numpy(np.ascontiguousarray(scores[index], np.float32)),
            torch.from_numpy(np.ascontiguousarray(labels[index], np.int64)),
            options.iou,
        )
        index = index[kept.numpy()]
    order = np.argsort(-scores[index], kind="stable")
    return index[order][: options.max_det]


def filtered_detections(
    boxes: np.ndarray,
    scores: np.ndarray,
    labels: np.ndarray,
    options: PredictOptions,
    names: dict[int, str],
    image_shape: tuple[int, int] | Any,
    *,
    nms: bool = False,
) -> Detections:
    """:func:`post_filter` applied, as one image's ``Detections`` (float32 boxes and scores, int64 ids).

    Example:
        >>> import numpy as np
        >>> det = filtered_detections(np.array([[0, 0, 5, 5]], np.float32), np.array([0.8], np.float32),
        ...                           np.array([0]), PredictOptions(), {0: "cat"}, (10, 10))
        >>> det.labels
        ['cat']
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    scores = np.asarray(scores, np.float32).reshape(-1)
    labels = np.asarray(labels, np.int64).reshape(-1)
    keep = post_filter(boxes, scores, labels, options, nms=nms)
    return Detections(
        xyxy=boxes[keep], confidence=scores[keep], class_id=labels[keep], names=names, image_shape=tuple(image_shape)
    )
