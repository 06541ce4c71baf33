"""Library-level factories the CLI, the demo (and a service or batch runner) build their parts with.

* :func:`make_detector`: a :class:`~detectkit.detection.Detector` from plain arguments;
  ``model="auto"`` is :func:`auto_model`, ``model="none"`` (or ``None``) no detector;
* :func:`make_recognizer`: a :class:`~detectkit.faces.FaceRecognizer` over an enrolled gallery file;
* :func:`auto_model`: the COCO detector to use when none is named (a local YOLO file, else a download);
* :func:`summarize_labels`: ``'2 person, 1 cup'`` for a list of labels.

Example:
    >>> make_detector("none") is None
    True
    >>> summarize_labels(["cup", "person", "person"])
    '2 person, 1 cup'
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from .errors import GalleryError, WeightsError, WeightsNotFoundError

if TYPE_CHECKING:  # pragma: no cover
    from .detection import Detector
    from .faces import FaceRecognizer

__all__ = ["make_detector", "make_recognizer", "auto_model", "summarize_labels", "LOCAL_CANDIDATES", "DEFAULT_FACE_WEIGHTS"]

LOCAL_CANDIDATES = ("yolo11n.pt", "yolov8n.pt", "yolov8n_int8.onnx")
"""COCO detectors :func:`auto_model` uses when found locally, best first; the last resort is a download of the first."""
DEFAULT_FACE_WEIGHTS = "auto"
"""FaceNet when its weights are found offline, else dlib-resnet (``detectkit.faces.dlib_embedder.auto_embedder``)."""


def summarize_labels(labels: Iterable[str]) -> str:
    """'2 person, 1 cup' (most frequent first), or 'nothing'.

    Example:
        >>> summarize_labels([])
        'nothing'
    """
    labels = list(labels)
    if not labels:
        return "nothing"
    return ", ".join(f"{n} {label}" for label, n in Counter(labels).most_common())


def auto_model(log: Callable[[str], None] = print) -> str | None:
    """The default COCO detector: a local file of ``LOCAL_CANDIDATES``, else ``yolo11n.pt`` downloaded.

    Returns the path of the weights, or ``None`` after saying (through ``log``) why none
    could be had and how to provide one.

    Usage:
        auto_model()  -> '/data/weights/yolov8n_int8.onnx' with DETECTKIT_WEIGHTS=/data/weights
    """
    from .weights import resolve_weights

    for name in LOCAL_CANDIDATES:
        try:
            return str(resolve_weights(name, download=False))
        except WeightsError:
            continue
    try:
        return str(resolve_weights(LOCAL_CANDIDATES[0]))
    except WeightsError as exc:
        log("No object-detector weights are available, so object detection is skipped.")
        log(str(exc))
        log(f"Any of {', '.join(LOCAL_CANDIDATES)} works; for example: DETECTKIT_WEIGHTS=/folder/with/it detectkit demo")
        return None


def make_detector(
    model: Any = "auto",
    *,
    device: Any = "auto",
    conf: float = 0.25,
    iou: float = 0.45,
    classes: Iterable[int | str] | None = None,
    max_det: int = 300,
    imgsz: int | None = None,
    log: Callable[[str], None] | None = None,
    **options: Any,
) -> "Detector | None":
    """The Detector for ``model``, or ``None`` for ``model=None`` / ``"none"``.

    Args:
        model: any spec ``Detector`` takes; ``"auto"``: :func:`auto_model`.
        device, conf, iou, classes, max_det, imgsz: as for :class:`~detectkit.detection.Detector`.
        log: where :func:`auto_model` says why no weights were found (default: into the error).
        **options: other ``Detector`` arguments (``weights``, ``half``, ``batch_size``).

    Raises:
        WeightsNotFoundError: ``"auto"`` and no detector weights anywhere (the message says where to put them).

    Example:
        >>> make_detector("fasterrcnn_mobilenet_v3_large_320_fpn", weights=None, device="cpu").family
        'torchvision'
    """
    from .detection import Detector

    if model is None or (isinstance(model, str) and model.lower() == "none"):
        return None
    if isinstance(model, str) and model.lower() == "auto":
        messages: list[str] = []

        def say(text: str) -> None:
            messages.append(text)
            if log is not None:
                log(text)

        found = auto_model(log=say)
        if found is None:
            raise WeightsNotFoundError("\n".join(messages) or "no detector weights found")
        model = found
    return Detector(model, device=device, conf=conf, iou=iou, classes=classes, max_det=max_det, imgsz=imgsz, **options)


def make_recognizer(
    gallery: str | os.PathLike,
    *,
    embedder: Any = DEFAULT_FACE_WEIGHTS,
    device: Any = "auto",
    threshold: float | None = None,
    **options: Any,
) -> "FaceRecognizer":
    """A FaceRecognizer over an enrolled gallery file (the face module's errors say what else is missing).

    Args:
        gallery: the gallery file (it must exist: an empty one would call everyone unknown), or a
            ``postgresql://`` URL.
        embedder: the face embedder, as ``FaceRecognizer(embedder=...)`` takes it (a name such as
            ``"facenet-vggface2"``, a weights path, or an embedder object).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        threshold: face similarity threshold (``None``: the embedder's default).
        **options: other ``FaceRecognizer`` arguments (``detector``, ``quality``, ``index``).

    Raises:
        GalleryError: the gallery file does not exist.

    Example:
        >>> make_recognizer("no/such/faces.db")
        Traceback (most recent call last):
        ...
        detectkit.errors.GalleryError: no/such/faces.db: no such gallery; enrol people first: detectkit faces enroll NAME photo.jpg --db no/such/faces.db
    """
    from .faces.gallery_urls import is_url

    if not is_url(gallery) and not Path(gallery).is_file():  # a server gallery is opened (and checked) as it is
        raise GalleryError(f"{gallery}: no such gallery; enrol people first: detectkit faces enroll NAME photo.jpg --db {gallery}")
    from .faces import FaceRecognizer

    return FaceRecognizer(gallery=gallery, embedder=embedder, threshold=threshold, device=device, **options)
