"""The comparison's data sets (in ``../shared``) and their ground truth, defined once.

* **Person detection**: Penn-Fudan pedestrians (``data/detection/pennfudan``, 170 photos,
  423 people with boxes), read by :func:`detectkit.load_dataset`.
* **Face detection**, two sets with no face boxes, so ground truth is defined as follows:

  - LFW (``data/faces/lfw/lfw-deepfunneled``, 250x250): every photo is centred on one
    person's face (that is how LFW was cut). A detection is that face when its box
    contains the photo's centre and its own centre is within 16% of the shorter side
    (40 px) of it (:func:`is_subject`); one per photo counts. Every other box is a
    false positive, *including real faces of other people in the background*, so
    precision on LFW is a lower bound, the same for both detectors.
  - Group photos (:data:`GROUP_PHOTOS`): only the number of faces is known (from
    SOURCE.md, the file name, or counted by eye where said). True positives on a
    photo are ``min(found, faces)``: recall and precision there are upper bounds (a
    box on a non-face that stands in for a missed face counts as right).
* **Face identification**: ORL (``data/faces/orl/att_faces``: 40 people x 10 photos,
  already face crops) and LFW's 40 gallery identities (``gallery_identities.txt``, their
  first 10 photos each): photos 1-5 of each person are enrolled, 6-10 identified.

Example:
    >>> [faces for _, faces, _ in GROUP_PHOTOS]
    [2, 2, 6, 2]
    >>> is_subject(np.array([100, 90, 160, 170]), (250, 250)), is_subject(np.array([0, 0, 60, 60]), (250, 250))
    (True, False)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DatasetError

__all__ = [
    "PENNFUDAN",
    "LFW",
    "ORL",
    "GROUP_PHOTOS",
    "IdentityPhoto",
    "default_shared",
    "lfw_photos",
    "orl_people",
    "lfw_gallery_people",
    "is_subject",
    "need",
]

PENNFUDAN = "data/detection/pennfudan"
LFW = "data/faces/lfw"
ORL = "data/faces/orl/att_faces"
GROUP_PHOTOS: list[tuple[str, int, str]] = [  # smallest first (a limited run takes the first ones)
    ("data/faces/face_recognition_examples/examples/knn_examples/test/kit_with_rose.jpg", 2, "SOURCE.md"),
    ("data/faces/face_recognition_examples/examples/two_people.jpg", 2, "its file name"),
    ("data/faces/facenet_pytorch_samples/data/multiface.jpg", 6, "counted by eye; SOURCE.md says 'many faces'"),
    ("data/faces/face_recognition_examples/examples/knn_examples/test/obama_and_biden.jpg", 2, "SOURCE.md"),
]
"""Group photos: ``(path inside ../shared, number of faces, where the number comes from)``."""
SUBJECT_OFFSET = 0.16
"""How far (share of the shorter side) an LFW subject box's centre may be from the photo's centre."""
ENROLLED_PER_PERSON = 5
PHOTOS_PER_PERSON = 10


@dataclass(frozen=True)
class IdentityPhoto:
    """One photo of a known person for identification: enrolled (gallery) or a probe."""

    person: str
    path: Path
    enrol: bool


def default_shared() -> Path:
    """``$DETECTKIT_SHARED``, else ``shared/`` beside the repository this package runs from, else ``../shared``.

    Example:
        >>> isinstance(default_shared(), Path)
        True
    """
    if os.environ.get("DETECTKIT_SHARED"):
        return Path(os.environ["DETECTKIT_SHARED"])
    beside_repo = Path(__file__).resolve().parents[2].parent / "shared"
    return beside_repo if beside_repo.is_dir() else Path("..") / "shared"


def need(shared: Path, relative: str) -> Path:
    """``shared / relative``, or a :class:`DatasetError` naming what is missing."""
    path = Path(shared) / relative
    if not path.exists():
        raise DatasetError(f"{path} not found: the comparison needs the shared data ({relative}); pass --shared DIR")
    return path


def is_subject(box: np.ndarray, shape: tuple[int, int]) -> bool:
    """Whether a box is the photo's centred subject face (LFW's framing; see the module docstring)."""
    height, width = shape[:2]
    cx, cy = width / 2.0, height / 2.0
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    contains = x1 <= cx <= x2 and y1 <= cy <= y2
    offset = np.hypot((x1 + x2) / 2.0 - cx, (y1 + y2) / 2.0 - cy)
    return bool(contains and offset <= SUBJECT_OFFSET * min(height, width))


def lfw_photos(shared: Path, limit: int | None = None) -> list[Path]:
    """LFW's photos in ``../shared`` (sorted; the first ``limit``)."""
    photos = sorted(need(shared, LFW + "/lfw-deepfunneled").glob("*/*.jpg"))
    if not photos:
        raise DatasetError(f"{Path(shared) / LFW}: no photos in lfw-deepfunneled/")
    return photos[:limit] if limit else photos


def _split(person: str, photos: list[Path]) -> list[IdentityPhoto]:
    return [IdentityPhoto(person, p, i < ENROLLED_PER_PERSON) for i, p in enumerate(photos[:PHOTOS_PER_PERSON])]


def orl_people(shared: Path, limit: int | None = None) -> list[IdentityPhoto]:
    """ORL: ``s1`` ... ``s40``, photos ``1.pgm`` - ``5.pgm`` enrolled, ``6.pgm`` - ``10.pgm`` probes."""
    root = need(shared, ORL)
    people = sorted((p for p in root.iterdir() if p.is_dir() and p.name.startswith("s")), key=lambda p: int(p.name[1:]))
    out: list[IdentityPhoto] = []
    for folder in people[:limit] if limit else people:
        photos = sorted(folder.glob("*.pgm"), key=lambda p: int(p.stem))
        if len(photos) < PHOTOS_PER_PERSON:
            raise DatasetError(f"{folder}: {len(photos)} photos, ORL has {PHOTOS_PER_PERSON} per person")
        out += _split(folder.name, photos)
    return out


def lfw_gallery_people(shared: Path, limit: int | None = None) -> list[IdentityPhoto]:
    """LFW's 40 gallery identities: each one's first 10 photos, 5 enrolled and 5 probes."""
    root = need(shared, LFW)
    names = [n.strip() for n in (root / "gallery_identities.txt").read_text().splitlines() if n.strip()]
    out: list[IdentityPhoto] = []
    for name in names[:limit] if limit else names:
        photos = sorted((root / "lfw-deepfunneled" / name).glob("*.jpg"))
        if len(photos) < PHOTOS_PER_PERSON:
            raise DatasetError(f"{root / 'lfw-deepfunneled' / name}: {len(photos)} photos, {PHOTOS_PER_PERSON} needed")
        out += _split(name, photos)
    return out
