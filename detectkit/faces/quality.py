"""Enrolment quality checks: exactly one usable face, big enough, confident, sharp.

A photo used to enrol someone should show that person clearly, alone. For each
photo :func:`assess` looks at the MTCNN detections and returns the face to use, or
the reason to reject the photo:

* ``no_face``: MTCNN found nothing;
* ``several_faces``: more than one face passes the size and probability checks
  (which face would be the person's is ambiguous);
* ``too_small``: the face's shorter box side is under ``min_face_size`` pixels;
* ``low_probability``: the MTCNN probability is under ``min_probability``;
* ``too_blurry``: the sharpness (variance of the Laplacian of the grey face, resized
  to 64x64) is under ``min_sharpness``.

The default sharpness floor, 40, comes from the LFW photos in ``../shared`` (every
third photo, 400 faces, faces ~90 px): as they are, the lowest measures 59 (median
412), so none is rejected; blurred with a Gaussian of sigma 2, 3 and 4 pixels, 6%,
62% and 94% are rejected. Lower it for soft webcams; raise it for strict enrolment.

Example:
    >>> import numpy as np
    >>> from detectkit import Detections
    >>> from detectkit.faces.quality import QualityPolicy, assess
    >>> image = np.zeros((200, 200, 3), np.uint8)
    >>> one_small = Detections(np.array([[10, 10, 30, 30]]), [0.99], [0], {0: "face"})
    >>> assess(image, one_small, QualityPolicy()).reason
    'too_small'
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..detections import Detections

__all__ = ["QualityPolicy", "Assessment", "assess", "sharpness", "REASONS"]

REASONS = {
    "unreadable": "the image could not be read",
    "no_face": "no face found",
    "several_faces": "more than one face",
    "too_small": "face too small",
    "low_probability": "face detection probability too low",
    "too_blurry": "face too blurry",
}
"""Rejection reasons and their plain-English meaning."""


@dataclass(frozen=True)
class QualityPolicy:
    """Thresholds for enrolment photos (see the module docstring).

    Attributes:
        min_face_size: smallest accepted shorter box side, in pixels.
        min_probability: smallest accepted MTCNN probability.
        min_sharpness: smallest accepted variance of the Laplacian (0 disables the check).
        single_face: reject photos with more than one usable face.

    Example:
        >>> QualityPolicy(min_probability=0.9, min_sharpness=0).min_face_size   # e.g. for Haar, soft webcams
        40.0
    """

    min_face_size: float = 40.0
    min_probability: float = 0.95
    min_sharpness: float = 40.0
    single_face: bool = True


@dataclass(frozen=True)
class Assessment:
    """The outcome for one photo: the face index to use, or the reason it was rejected."""

    index: int | None
    reason: str | None = None
    detail: str = ""
    sharpness: float | None = None

    @property
    def ok(self) -> bool:
        return self.index is not None


def sharpness(image: np.ndarray, box: np.ndarray, size: int = 64) -> float:
    """Variance of the Laplacian of the grey face region resized to ``size`` x ``size``.

    Higher is sharper; blur lowers it quickly. Faces larger than ``size`` are shrunk
    with area averaging, smaller ones enlarged bilinearly (nearest-neighbour enlarging
    would add blocky edges and look sharp).

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> noisy = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
        >>> sharpness(noisy, np.array([0, 0, 64, 64])) > sharpness(np.zeros((64, 64, 3), np.uint8), np.array([0, 0, 64, 64]))
        True
    """
    import cv2

    height, width = image.shape[:2]
    x1, y1, x2, y2 = (int(round(float(v))) for v in box[:4])
    x1, y1 = min(max(x1, 0), width - 1), min(max(y1, 0), height - 1)
    x2, y2 = max(min(x2, width), x1 + 1), max(min(y2, height), y1 + 1)
    grey = cv2.cvtColor(image[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY)
    shrink = min(grey.shape[:2]) >= size
    grey = cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def assess(image: np.ndarray, faces: Detections, policy: QualityPolicy) -> Assessment:
    """Pick the face to enrol from one photo's detections, or say why the photo is rejected.

    Example:
        >>> import numpy as np
        >>> from detectkit import Detections
        >>> assess(np.zeros((50, 50, 3), np.uint8), Detections.empty(), QualityPolicy()).reason
        'no_face'
    """
    if len(faces) == 0:
        return Assessment(None, "no_face", "MTCNN found no face")
    sides = np.minimum(faces.xyxy[:, 2] - faces.xyxy[:, 0], faces.xyxy[:, 3] - faces.xyxy[:, 1])
    big = sides >= policy.min_face_size
    sure = faces.confidence >= policy.min_probability
    usable = np.flatnonzero(big & sure)
    if policy.single_face and len(usable) > 1:
        return Assessment(None, "several_faces", f"{len(usable)} faces of at least {policy.min_face_size:g} px")
    if len(usable) == 0:
        best = int(np.argmax(sides))
        if not big[best]:
            return Assessment(
                None, "too_small", f"largest face is {sides[best]:.0f} px, at least {policy.min_face_size:g} px needed"
            )
        return Assessment(
            None,
            "low_probability",
            f"face probability {faces.confidence[best]:.3f}, at least {policy.min_probability:g} needed",
        )
    index = int(usable[np.argmax(sides[usable])])
    score = sharpness(image, faces.xyxy[index]) if policy.min_sharpness > 0 else None
    if score is not None and score < policy.min_sharpness:
        return Assessment(
            None, "too_blurry", f"sharpness {score:.1f}, at least {policy.min_sharpness:g} needed", sharpness=score
        )
    return Assessment(index, None, "", sharpness=score)
