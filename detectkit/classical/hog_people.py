"""``Detector("opencv-hog-people")``: Dalal-Triggs HOG features + OpenCV's built-in pedestrian linear SVM.

OpenCV's ``HOGDescriptor`` slides a 64x128 window over an image pyramid and scores each
window with the people SVM of ``cv2.HOGDescriptor_getDefaultPeopleDetector()`` (trained
on INRIA pedestrians: upright, whole bodies, at least ~100 px tall in the scanned image).
This backend returns every window's SVM margin with OpenCV's own grouping switched off,
and then applies detectkit's thresholds like any other backend:

* **score** = ``1 / (1 + exp(-(A * margin + B)))`` with ``A = 2.154``, ``B = -2.654``: a
  monotone map of the SVM margin, Platt-scaled so that a score is about the chance that
  the box is a person (matched at IoU >= 0.5). It was fitted on Penn-Fudan (170 photos,
  20,606 windows after NMS with margin >= -3, 395 of them people; buckets of margin
  0.5, 1 and 2 hold 20%, 37% and 74% people, the fit says 17%, 38% and 84%). Margin 0,
  OpenCV's default decision, is a score of 0.066. ``calibration=(a, b)`` changes it.
* ``conf``: windows scoring below it are never produced (it becomes OpenCV's
  ``hitThreshold``); ``conf=0`` keeps every window (slow: tens of thousands per photo).
* ``iou``: non-maximum suppression by OpenCV (``cv2.dnn.NMSBoxes``), one class;
* ``classes``: the one class is ``0: "person"``; a filter without 0 gives no boxes;
* ``max_det``: the best ``max_det`` boxes after NMS;
* ``imgsz``: the image is resized so its longest side is ``imgsz`` before scanning (up
  or down: upscaling finds smaller people, slower); boxes come back in the original pixels.

Boxes are shrunk as OpenCV's ``peopledetect`` sample does (10% off each side, 7% off the
top, height x 0.8): the 64x128 window holds a margin around the body, and Penn-Fudan's
boxes (like COCO's) are tight. On all 170 Penn-Fudan photos (``evaluate(..., conf=0.001, iou=0.6)``)
this takes AP@0.5 from 0.17 to 0.47.

It finds standing, full-body people; it does not find a seated person or a portrait
(``skimage.data.astronaut()`` gives no box on her), which is one of the things the
deep-vs-classical report (``detectkit compare``) shows.

Example:
    >>> from detectkit import Detector
    >>> import numpy as np
    >>> detector = Detector("opencv-hog-people", conf=0.3)
    >>> detector.family, detector.names
    ('opencv-hog', {0: 'person'})
    >>> len(detector(np.zeros((256, 128, 3), np.uint8)))
    0
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from ..detections import Detections
from ..detection.base import PredictOptions
from ..detection.registry import register_backend
from ..errors import ModelError
from ._common import check_image, empty_detections, margin_for, nms, platt, require_opencv

__all__ = ["HogPeopleBackend", "MODEL_NAME", "PERSON_NAMES", "CALIBRATION", "shrink_boxes"]

MODEL_NAME = "opencv-hog-people"
"""The name ``Detector`` routes to this backend (its entry in ``detectkit.detection.registry.BACKENDS``)."""
PERSON_NAMES = {0: "person"}
CALIBRATION = (2.154, -2.654)
"""Platt scaling ``(A, B)`` of the SVM margin, fitted on Penn-Fudan (see the module docstring)."""


def shrink_boxes(xyxy: np.ndarray) -> np.ndarray:
    """HOG windows -> body boxes, as OpenCV's ``peopledetect`` sample draws them.

    Example:
        >>> [round(float(v), 2) for v in shrink_boxes(np.array([[0, 0, 64, 128]], np.float32))[0]]
        [6.4, 8.96, 57.6, 111.36]
    """
    xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
    w, h = xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]
    x1, y1 = xyxy[:, 0] + 0.1 * w, xyxy[:, 1] + 0.07 * h
    return np.stack([x1, y1, x1 + 0.8 * w, y1 + 0.8 * h], axis=1).astype(np.float32)


class HogPeopleBackend:
    """HOG + linear SVM people detector as a detectkit backend (see the module docstring).

    Args:
        device: ignored (OpenCV runs on the CPU, its own threads); kept for the backend interface.
        win_stride: window step in pixels (a multiple of 8; smaller finds more, slower).
        padding: pixels of border OpenCV adds around the image, so people at the edge are scanned.
        scale: pyramid step (1.05 as in OpenCV's sample; 1.1 is about twice as fast).
        shrink: shrink windows to body boxes (:func:`shrink_boxes`).
        calibration: Platt ``(a, b)`` from margin to score.

    Example:
        >>> backend = HogPeopleBackend(scale=1.1)
        >>> backend.predict([np.zeros((160, 96, 3), np.uint8)], PredictOptions())[0].names
        {0: 'person'}
    """

    family = "opencv-hog"

    def __init__(
        self,
        device: Any = None,
        *,
        win_stride: int = 8,
        padding: int = 32,
        scale: float = 1.05,
        shrink: bool = True,
        calibration: tuple[float, float] = CALIBRATION,
    ) -> None:
        cv2 = require_opencv("HOGDescriptor", "HOGDescriptor_getDefaultPeopleDetector")
        if win_stride < 8 or win_stride % 8:
            raise ModelError(f"win_stride must be a positive multiple of 8 (the HOG block stride), got {win_stride}")
        if padding < 0 or scale <= 1.0:
            raise ModelError(f"padding must be >= 0 and scale > 1, got padding={padding}, scale={scale}")
        if calibration[0] <= 0:
            raise ModelError(f"calibration slope must be positive (scores must grow with the margin), got {calibration}")
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.names = dict(PERSON_NAMES)
        self.device = "cpu"
        self.win_stride = (int(win_stride), int(win_stride))
        self.padding = (int(padding), int(padding))
        self.scale = float(scale)
        self.shrink = bool(shrink)
        self.calibration = (float(calibration[0]), float(calibration[1]))

    def __repr__(self) -> str:
        return f"HogPeopleBackend(win_stride={self.win_stride[0]}, padding={self.padding[0]}, scale={self.scale})"

    def predict(self, images: Sequence[np.ndarray], options: PredictOptions) -> list[Detections]:
        """One ``Detections`` (class ``person``) per BGR image, thresholds as in the module docstring."""
        return [self._one(check_image(image, i, "the HOG people detector"), options) for i, image in enumerate(images)]

    def _one(self, image: np.ndarray, options: PredictOptions) -> Detections:
        import cv2

        height, width = image.shape[:2]
        wanted = options.classes is None or 0 in options.classes
        hit = margin_for(options.conf, self.calibration)
        if not wanted or hit == float("inf"):
            return empty_detections(self.names, (height, width))
        factor = 1.0
        scanned = image
        if options.imgsz is not None and max(height, width) != options.imgsz:
            factor = options.imgsz / max(height, width)
            size = (max(1, round(width * factor)), max(1, round(height * factor)))
            scanned = cv2.resize(image, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
        if min(scanned.shape[:2]) < 8:
            return empty_detections(self.names, (height, width))
        rects, margins = self.hog.detectMultiScale(
            scanned, hitThreshold=hit, winStride=self.win_stride, padding=self.padding, scale=self.scale, groupThreshold=0
        )
        rects = np.asarray(rects, np.float32).reshape(-1, 4)
        if len(rects) == 0:
            return empty_detections(self.names, (height, width))
        xyxy = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1) / factor
        if self.shrink:
            xyxy = shrink_boxes(xyxy)
        xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, width)
        xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, height)
        scores = platt(np.asarray(margins, np.float64).reshape(-1), self.calibration)
        keep = nms(xyxy, scores, options.conf, options.iou, options.max_det)
        return Detections(
            xyxy[keep].astype(np.float32),
            scores[keep],
            np.zeros(len(keep), np.int64),
            dict(self.names),
            image_shape=(height, width),
        )


def _claims(spec: Any) -> bool:
    return isinstance(spec, (str, os.PathLike)) and os.fspath(spec) == MODEL_NAME


def _load(spec: Any, device: Any, **_: Any) -> HogPeopleBackend:
    return HogPeopleBackend(device)


register_backend(MODEL_NAME, family=HogPeopleBackend.family, claims=_claims, load=_load, priority=100)
