"""`HaarFaceDetector`: Viola-Jones Haar cascades (OpenCV's ``CascadeClassifier``), usable wherever MTCNN is.

It has the face detector interface of :class:`detectkit.faces.FaceDetector`: ``detect``
on a list of BGR arrays (sizes may differ) returns one ``Detections`` per image (class
``0: "face"``, highest confidence first), calling it on one image or a list of any
image inputs works too, and ``names`` is the class table. So
``FaceRecognizer(detector=HaarFaceDetector())`` enrols, verifies and identifies with it,
and the video pipeline takes it as a face detector. It is registered as ``"haar"`` in
:data:`detectkit.faces.face_detectors.FACE_DETECTORS` (``FaceRecognizer(detector="haar")``). Differences from MTCNN:

* no landmarks: ``landmarks`` is ``None``;
* **confidence** = ``1 / (1 + exp(-(A * w + B)))`` with ``A = 0.838``, ``B = -2.662``,
  where ``w`` is OpenCV's final-stage weight of the grouped detection
  (``detectMultiScale3(..., outputRejectLevels=True)``). It is monotone in ``w`` and
  Platt-scaled so that it is about the chance that the box is the photo's face: fitted
  on every second LFW photo in ``../shared`` (599 photos, 690 boxes; the subject's face
  = the box around the photo's centre); in buckets of ``w`` around 2, 4, 6 and 8 the
  share of subject faces is 24%, 73%, 94% and 98%, the fit says 27%, 67%, 91% and 98%.
  LFW's background faces count as "not the subject" there, so it understates a little.
* ``conf`` (default 0: OpenCV's own decision, ``min_neighbors`` overlapping hits) drops
  faces scoring lower; enrolment's quality check (``QualityPolicy.min_probability``,
  0.95 for MTCNN) reads this confidence, so pass a policy with a lower floor
  (e.g. 0.9, ``w`` >= 5.8) when enrolling with Haar.

The cascade files ship with ``opencv-python`` 4.x (``cv2.data.haarcascades``); a name is
looked up there, a path is used as it is.

Example:
    >>> import skimage.data
    >>> from detectkit.classical import HaarFaceDetector
    >>> detector = HaarFaceDetector()
    >>> faces = detector(skimage.data.astronaut()[:, :, ::-1])  # RGB -> BGR
    >>> len(faces), faces.labels, faces.landmarks is None
    (1, ['face'], True)
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..detections import Detections
from ..errors import ModelError, WeightsFormatError, WeightsNotFoundError
from ..faces.detector import Keep, keep_order
from ..faces.face_detectors import FACE_DETECTORS
from ..images import ImageInput, load_image
from ._common import check_image, empty_detections, platt, require_opencv

__all__ = ["HaarFaceDetector", "DEFAULT_CASCADE", "CALIBRATION", "find_cascade", "make_haar"]

DEFAULT_CASCADE = "haarcascade_frontalface_default.xml"
CALIBRATION = (0.838, -2.662)
"""Platt scaling ``(A, B)`` of the final-stage weight, fitted on LFW (see the module docstring)."""
FACE_NAMES = {0: "face"}


def find_cascade(cascade: str | os.PathLike) -> Path:
    """The cascade XML file: a path as it is, or a name inside ``cv2.data.haarcascades``.

    Raises:
        WeightsNotFoundError: no such file (the message says where it looked).

    Example:
        >>> find_cascade("haarcascade_frontalface_alt2.xml").name
        'haarcascade_frontalface_alt2.xml'
    """
    cv2 = require_opencv("CascadeClassifier")
    path = Path(cascade).expanduser()
    if path.is_file():
        return path
    folder = Path(getattr(getattr(cv2, "data", None), "haarcascades", "") or ".")
    candidate = folder / path.name
    if candidate.is_file():
        return candidate
    raise WeightsNotFoundError(
        f"Haar cascade {os.fspath(cascade)!r} not found: not a file, and not in OpenCV's cascade folder {folder} "
        f"(OpenCV {cv2.__version__}). Pass the path of a cascade XML, or install opencv-python 4.x, which ships them"
    )


class HaarFaceDetector:
    """Haar-cascade face detector with the :class:`~detectkit.faces.FaceDetector` interface.

    Args:
        cascade: a cascade file name in ``cv2.data.haarcascades`` or a path
            (default ``haarcascade_frontalface_default.xml``).
        scale_factor: pyramid step (OpenCV's ``scaleFactor``).
        min_neighbors: overlapping raw hits a face needs (OpenCV's ``minNeighbors``, default 3 as OpenCV's).
        min_face_size: smallest face searched for, in pixels.
        conf: minimum confidence kept (see the module docstring; 0 keeps OpenCV's decisions).
        keep: ``"all"`` faces, only the ``"largest"``, or the ``"most_confident"`` per image.
        equalize: equalise the grey image's histogram first (as OpenCV's face sample does).
        calibration: Platt ``(a, b)`` from stage weight to confidence.

    Thread safety: calls are serialised by a lock.

    Example:
        >>> HaarFaceDetector(min_neighbors=5).names
        {0: 'face'}
    """

    def __init__(
        self,
        cascade: str | os.PathLike = DEFAULT_CASCADE,
        *,
        scale_factor: float = 1.1,
        min_neighbors: int = 3,
        min_face_size: int = 20,
        conf: float = 0.0,
        keep: Keep = "all",
        equalize: bool = False,
        calibration: tuple[float, float] = CALIBRATION,
    ) -> None:
        cv2 = require_opencv("CascadeClassifier")
        if scale_factor <= 1.0:
            raise ModelError(f"scale_factor must be > 1, got {scale_factor}")
        if min_neighbors < 0 or min_face_size < 1:
            raise ModelError(f"min_neighbors must be >= 0 and min_face_size >= 1, got {min_neighbors}, {min_face_size}")
        if not 0.0 <= conf <= 1.0:
            raise ModelError(f"conf must be in [0, 1], got {conf}")
        if keep not in ("all", "largest", "most_confident"):
            raise ModelError(f"keep must be 'all', 'largest' or 'most_confident', not {keep!r}")
        self.cascade_path = find_cascade(cascade)
        self.classifier = cv2.CascadeClassifier()
        try:
            loaded = self.classifier.load(str(self.cascade_path))
        except cv2.error as exc:
            raise WeightsFormatError(f"{self.cascade_path}: not an OpenCV cascade classifier XML file ({exc.err})") from exc
        if not loaded or self.classifier.empty():
            raise WeightsFormatError(f"{self.cascade_path}: not an OpenCV cascade classifier XML file")
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        self.min_face_size = int(min_face_size)
        self.conf = float(conf)
        self.keep: Keep = keep
        self.equalize = bool(equalize)
        self.calibration = (float(calibration[0]), float(calibration[1]))
        self._lock = threading.Lock()

    @property
    def names(self) -> dict[int, str]:
        return dict(FACE_NAMES)

    def __repr__(self) -> str:
        return (
            f"HaarFaceDetector({self.cascade_path.name!r}, scale_factor={self.scale_factor}, "
            f"min_neighbors={self.min_neighbors}, min_face_size={self.min_face_size}, conf={self.conf})"
        )

    def __call__(self, images: ImageInput | Sequence[ImageInput]) -> Detections | list[Detections]:
        """Faces in one image (``Detections``) or a list (a list); any input ``load_image`` reads.

        Example:
            >>> len(HaarFaceDetector()(np.zeros((64, 64, 3), np.uint8)))
            0
        """
        if isinstance(images, (list, tuple)):
            return self.detect([load_image(image) for image in images])
        return self.detect([load_image(images)])[0]

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """One ``Detections`` per ``HxWx3`` uint8 BGR array, in order (class ``face``, no landmarks).

        Example:
            >>> [len(d) for d in HaarFaceDetector().detect([np.zeros((40, 50, 3), np.uint8)] * 2)]
            [0, 0]
        """
        arrays = [check_image(image, i, "HaarFaceDetector.detect") for i, image in enumerate(images)]
        with self._lock:
            return [self._one(image) for image in arrays]

    def _one(self, image: np.ndarray) -> Detections:
        import cv2

        shape = image.shape[:2]
        if min(shape) < self.min_face_size:
            return empty_detections(FACE_NAMES, shape)
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        if self.equalize:
            grey = cv2.equalizeHist(grey)
        rects, _, weights = self.classifier.detectMultiScale3(
            grey,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(self.min_face_size, self.min_face_size),
            outputRejectLevels=True,
        )
        rects = np.asarray(rects, np.float32).reshape(-1, 4)
        scores = platt(np.asarray(weights, np.float64).reshape(-1), self.calibration)
        kept = scores >= self.conf
        rects, scores = rects[kept], scores[kept]
        if len(rects) == 0:
            return empty_detections(FACE_NAMES, shape)
        xyxy = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1)
        order = keep_order(xyxy, scores, self.keep)
        return Detections(xyxy[order], scores[order], np.zeros(len(order), np.int64), dict(FACE_NAMES), image_shape=shape)


def make_haar(*, device: Any = "cpu", **options: Any) -> HaarFaceDetector:
    """The ``"haar"`` registry entry: ``HaarFaceDetector(**options)``; it runs on the CPU whatever ``device`` says.

    Example:
        >>> make_haar(device="auto", keep="largest").keep
        'largest'
    """
    return HaarFaceDetector(**options)


FACE_DETECTORS.register("haar", make_haar)
