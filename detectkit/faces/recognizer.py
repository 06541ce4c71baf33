"""`FaceRecognizer`: enrol people from photos, then verify ("is this Alice?") and identify ("who is this?").

It chains a face detector (default :class:`FaceDetector`, MTCNN; any entry of
:data:`~detectkit.faces.face_detectors.FACE_DETECTORS`) -> the embedder's crops -> a face
:class:`~detectkit.faces.embedders.Embedder` (default :class:`FaceEmbedder`, FaceNet; any
entry of :data:`~detectkit.faces.embedders.EMBEDDERS`) -> :class:`Gallery` (SQLite). Similarities are cosine similarities of
L2-normalised embeddings, in ``[-1, 1]``; a face is someone when its best similarity
is at least ``threshold``.

The default thresholds
----------------------
``DEFAULT_THRESHOLDS["dlib-resnet"] = 0.915``, **measured**: the best-accuracy cosine threshold of
detectkit's own pipeline (MTCNN, dlib chip from MTCNN's five points, dlib's ResNet in torch) on
LFW ``pairs_fold1.txt`` (600 pairs: accuracy 0.990, 10-fold cross-validated 0.988), by
``python benchmarks/faces_dlib.py lfw`` (docs/benchmarks.md). dlib's descriptors share a large common
component, so cosines of different people are high too: 0.915 is not a strict figure. For open-set
identification against a large gallery calibrate a stricter one (``--target-far``).

``DEFAULT_THRESHOLDS["facenet-vggface2"] = 0.46``, **borrowed, not measured**. facenet-pytorch publishes no
threshold. Its ``vggface2`` weights are David Sandberg's FaceNet model
``20180402-114759`` (VGGFace2, 99.65% LFW accuracy in his README), which deepface
also ships as ``Facenet512``; deepface's tuned thresholds for it
(``deepface/modules/verification.py``, ``find_threshold``) are ``euclidean_l2 = 1.04``,
i.e. cosine similarity ``1 - 1.04**2 / 2 = 0.459``, and ``angular = 0.35``, i.e.
``cos(0.35 * pi) = 0.454``; we take 0.46. (Its ``cosine`` entry, distance 0.30 =
similarity 0.70, disagrees with those two and is stricter.) **This figure was not
re-measured here**: the pretrained weights cannot be downloaded on the machine this
was written on, and preprocessing (detector, margin) shifts the best threshold.
Recompute it for your weights and cameras with :meth:`FaceRecognizer.calibrate`
(``detectkit faces calibrate pairs.txt``), which reports the threshold for a target
false-accept rate; pass it as ``threshold=``. Other weights have no published figure
and fall back to the same 0.46: calibrate them.

Usage:
    from detectkit import FaceRecognizer
    faces = FaceRecognizer(gallery="people.db")
    faces.enroll("Alice", ["alice1.jpg", "alice2.jpg"]).summary()
    faces.verify("door.jpg", "Alice").verified
    [(m.identity, m.similarity) for m in faces.identify("group.jpg", top_k=3)]
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Mapping, Sequence

import numpy as np

from ..detections import Detections
from ..errors import FaceError, GalleryError, ImageError, ModelError
from ..images import ImageInput, describe, load_image
from .calibration import Calibration, Pair, calibrate, read_pairs
from .embedders import Embedder, make_embedder
from .face_detectors import make_face_detector
from .gallery import Gallery, Identity, Match, _metadata_json, validate_name
from .quality import REASONS, Assessment, QualityPolicy, assess

__all__ = [
    "FaceRecognizer",
    "EnrollReport",
    "Rejection",
    "Verification",
    "FaceMatch",
    "DEFAULT_THRESHOLDS",
    "FALLBACK_THRESHOLD",
    "default_threshold",
]

DEFAULT_THRESHOLDS = {"facenet-vggface2": 0.46, "dlib-resnet": 0.915}
"""Published cosine-similarity thresholds per model name (see the module docstring)."""
FALLBACK_THRESHOLD = 0.46
"""Threshold for models with no published figure: calibrate yours."""
_CHUNK = 32  # photos read, detected and embedded at a time (enrolment, calibration)


def default_threshold(model_name: str) -> float:
    """The documented default threshold for a model name.

    Example:
        >>> default_threshold("facenet-vggface2")
        0.46
    """
    return DEFAULT_THRESHOLDS.get(model_name, FALLBACK_THRESHOLD)


@dataclass(frozen=True)
class Rejection:
    """A photo enrolment did not use: where it came from, a reason code and details."""

    source: str
    reason: str
    detail: str = ""


@dataclass
class EnrollReport:
    """What :meth:`FaceRecognizer.enroll` did.

    Example:
        >>> report = EnrollReport("Ann", used=["a.jpg"], rejected=[Rejection("b.jpg", "no_face", "MTCNN found no face")])
        >>> print(report.summary())
        Ann: 1 face(s) enrolled, 1 photo(s) rejected; 0 embedding(s) stored
          rejected b.jpg: no face found (MTCNN found no face)

    Attributes:
        name: the person's (normalised) name.
        used: sources whose face was enrolled.
        rejected: the photos not used, each with the reason (``unreadable``,
            ``no_face``, ``several_faces``, ``too_small``, ``low_probability``, ``too_blurry``).
        embeddings: how many embeddings of this model the person has now.
        created: whether the person was new.
    """

    name: str
    used: list[str] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    embeddings: int = 0
    created: bool = False

    @property
    def faces_used(self) -> int:
        """How many photos gave a face that was enrolled."""
        return len(self.used)

    def summary(self) -> str:
        """One line, plus one line per rejected photo."""
        head = (
            f"{self.name}: {self.faces_used} face(s) enrolled, {len(self.rejected)} photo(s) rejected; "
            f"{self.embeddings} embedding(s) stored" + (" (new person)" if self.created else "")
        )
        lines = [head] + [f"  rejected {r.source}: {REASONS.get(r.reason, r.reason)} ({r.detail})" for r in self.rejected]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain Python (for JSON), rejections as dicts."""
        return {
            "name": self.name,
            "used": list(self.used),
            "rejected": [{"source": r.source, "reason": r.reason, "detail": r.detail} for r in self.rejected],
            "embeddings": self.embeddings,
            "created": self.created,
        }


@dataclass(frozen=True)
class Verification:
    """The answer to "is this person ``name``?".

    ``similarity`` is the best similarity between any face in the photo and any of
    the person's embeddings; ``box`` is that face. ``verified`` = similarity >= threshold.
    """

    name: str
    verified: bool
    similarity: float
    threshold: float
    box: tuple[float, float, float, float]
    faces: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "verified": self.verified,
            "similarity": round(self.similarity, 5),
            "threshold": self.threshold,
            "box": [round(v, 2) for v in self.box],
            "faces": self.faces,
        }


@dataclass(frozen=True)
class FaceMatch:
    """One face of an identified photo: where it is and who it is.

    ``identity`` is the best candidate when its similarity reaches ``threshold``,
    else ``None`` (unknown). ``candidates`` are the ``top_k`` best people, best first,
    whatever their similarity.
    """

    box: tuple[float, float, float, float]
    confidence: float
    landmarks: np.ndarray | None
    identity: str | None
    similarity: float
    threshold: float
    candidates: list[Match]

    def to_dict(self) -> dict[str, Any]:
        return {
            "box": [round(v, 2) for v in self.box],
            "confidence": round(self.confidence, 5),
            "identity": self.identity,
            "similarity": None if not np.isfinite(self.similarity) else round(self.similarity, 5),
            "threshold": self.threshold,
            "candidates": [{"name": m.name, "similarity": round(m.similarity, 5)} for m in self.candidates],
        }


class FaceRecognizer:
    """Face enrolment, verification and identification over a persistent gallery.

    Args:
        gallery: a :class:`Gallery`, a path to its SQLite file (created when missing), a
            ``postgresql://`` URL (PostgreSQL + pgvector), or ``None`` for an in-memory gallery.
        detector: a face detector (an object with ``detect(images)``), or a registered name
            (``"mtcnn"``, ``"haar"``; default: MTCNN, all faces, 20 px minimum).
        embedder: a face :class:`~detectkit.faces.embedders.Embedder`, a registered name
            (``"facenet"``, ``"hog-face"``, ...), or FaceNet weights (a known name such as
            ``"facenet-vggface2"``, a state-dict path, or a state dict; see :func:`make_embedder`).
        threshold: cosine similarity at or above which a face is someone (default: the
            documented figure for the embedder's model, see the module docstring).
        quality: the enrolment photo checks.
        device: device for the detector and embedder made here.
        index: gallery search (for a gallery made here): ``"exact"`` or ``"faiss"`` in this process,
            or, on PostgreSQL, ``"hnsw"`` or ``"scan"`` in the server (see :class:`Gallery`).
        create: for a gallery path: create the file when it is missing (``False``: an error).
            The file is opened last, so a model that fails to load leaves no file behind.

    Attributes used by the video pipeline: ``threshold``, ``gallery``,
    ``embedder.key``, and the batched :meth:`detect`, :meth:`embed`,
    :meth:`match` and :meth:`identify_arrays`.

    Usage:
        recognizer = FaceRecognizer(gallery="people.db", threshold=0.5)
        recognizer.identify_arrays(frames)[0].identity
    """

    def __init__(
        self,
        gallery: Gallery | str | os.PathLike | None = None,
        *,
        detector: Any = None,
        embedder: Embedder | str | os.PathLike | Mapping[str, Any] | None = None,
        threshold: float | None = None,
        quality: QualityPolicy | None = None,
        device: Any = "auto",
        index: Literal["exact", "faiss", "hnsw", "scan"] = "exact",
        create: bool = True,
    ) -> None:
        self.embedder: Embedder = make_embedder(embedder, device=device)
        self.detector = make_face_detector(detector, device=device)
        self.threshold = float(default_threshold(self.embedder.key.name) if threshold is None else threshold)
        if not -1.0 <= self.threshold <= 1.0:
            raise GalleryError(f"threshold is a cosine similarity in [-1, 1], got {threshold}")
        self.quality = quality or QualityPolicy()
        # the gallery last: nothing above can fail with a file created or a connection left open
        if isinstance(gallery, Gallery):
            self.gallery, self._owns_gallery = gallery, False
        else:
            where = ":memory:" if gallery is None else gallery
            self.gallery, self._owns_gallery = Gallery(where, index=index, create=create), True

    def close(self) -> None:
        """Close the gallery if this recogniser opened it (one passed in is the caller's to close).

        Usage:
            with FaceRecognizer("faces.db") as recognizer: ...   # closed on leaving the block
        """
        if self._owns_gallery:
            self.gallery.close()

    def __enter__(self) -> "FaceRecognizer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FaceRecognizer(gallery={self.gallery!r}, embedder={self.embedder!r}, threshold={self.threshold:g})"

    # ------------------------------------------------------------------ batched building blocks
    def detect(self, frames: Sequence[np.ndarray] | np.ndarray) -> list[Detections]:
        """Faces in each of a list of BGR frames (one ``Detections`` per frame, possibly empty).

        Class ``"face"``, ``confidence`` = MTCNN probability, ``landmarks`` filled.
        Frames may have different sizes. A single ``HxWx3`` array is taken as a list of one.

        Usage:
            [len(d) for d in recognizer.detect([frame1, frame2])]
        """
        if isinstance(frames, np.ndarray) and frames.ndim == 3:
            frames = [frames]
        return self.detector.detect(list(frames))

    def embed(self, frame: np.ndarray, faces: Detections) -> np.ndarray:
        """Embeddings ``(N, D)`` float32, L2-normalised, of the given face boxes of one BGR frame.

        Boxes may come from :meth:`detect` or from a tracker; each is cropped as the
        embedder's ``crop`` says (box + margin clipped to the frame, or aligned on the
        landmarks) at its ``crop.size``.

        Usage:
            vectors = recognizer.embed(frame, recognizer.detect([frame])[0])   # (N, 512)
        """
        if len(faces) == 0:
            return np.zeros((0, self.embedder.key.dim), np.float32)
        return self.embedder.embed(frame, faces)

    def match(self, embeddings: np.ndarray) -> tuple[list[str | None], np.ndarray]:
        """Best gallery person for each row: ``(names, similarities)``.

        A name is ``None`` when the best similarity is below ``threshold`` (or the
        gallery is empty; its similarity is then NaN). Similarities are float32.

        Raises:
            GalleryError: the gallery holds only another model's embeddings, or the
                vectors' dimension is not the embedder's.

        Usage:
            names, similarities = recognizer.match(vectors)   # e.g. (['Ann', None], array([0.81, 0.2]))
        """
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if embeddings.ndim == 1:
            embeddings = embeddings[None, :]
        if len(embeddings) == 0:
            return [], np.zeros(0, np.float32)
        names, sims = self.gallery.search_arrays(embeddings, self.embedder.key, 1)
        best, similarity = names[:, 0], sims[:, 0]
        out = [n if (n is not None and s >= self.threshold) else None for n, s in zip(best, similarity)]
        return out, similarity.astype(np.float32)

    def identify_arrays(self, frames: Sequence[np.ndarray] | np.ndarray) -> list[Detections]:
        """Detect, embed and match the faces of many frames in one go.

        Returns one ``Detections`` per frame with ``identity`` (``None`` = unknown),
        ``similarity`` and ``embedding`` filled. All faces of all frames go through the
        embedder and the gallery as one batch.

        Usage:
            for faces in recognizer.identify_arrays(frames): print(faces.identity, faces.similarity)
        """
        found = self.detect(frames)
        if isinstance(frames, np.ndarray) and frames.ndim == 3:
            frames = [frames]
        total = sum(len(d) for d in found)
        crops = self.embedder.crop.buffer(total)
        at = 0
        for frame, faces in zip(frames, found):
            if len(faces):
                self.embedder.crops(frame, faces, out=crops[at : at + len(faces)])  # straight into the batch
                at += len(faces)
        vectors = self.embedder.embed_crops(crops) if total else np.zeros((0, self.embedder.key.dim), np.float32)
        names, sims = self.match(vectors) if total else ([], np.zeros(0, np.float32))
        out, at = [], 0
        for faces in found:
            n = len(faces)
            identity = np.empty(n, dtype=object)
            identity[:] = names[at : at + n]
            out.append(faces.with_extras(identity=identity, similarity=sims[at : at + n], embedding=vectors[at : at + n]))
            at += n
        return out

    # ------------------------------------------------------------------ questions
    def identify(self, image: ImageInput, top_k: int = 1) -> list[FaceMatch]:
        """Who is in this photo: for every face, the ``top_k`` best people and the decision.

        Usage:
            for face in recognizer.identify("group.jpg", top_k=3):
                print(face.box, face.identity or "unknown", face.similarity)
        """
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ModelError(f"top_k must be a whole number of at least 1, got {top_k!r}")
        array = load_image(image)
        faces = self.detect([array])[0]
        if len(faces) == 0:
            return []
        vectors = self.embed(array, faces)
        names, sims = self.gallery.search_arrays(vectors, self.embedder.key, top_k)
        results = []
        for i in range(len(faces)):
            candidates = [Match(str(n), float(s)) for n, s in zip(names[i], sims[i]) if n is not None]
            best = candidates[0] if candidates else None
            similarity = best.similarity if best else float("nan")
            results.append(
                FaceMatch(
                    box=tuple(float(v) for v in faces.xyxy[i]),
                    confidence=float(faces.confidence[i]),
                    landmarks=faces.landmarks[i] if faces.landmarks is not None else None,  # e.g. Haar: none
                    identity=best.name if best and best.similarity >= self.threshold else None,
                    similarity=similarity,
                    threshold=self.threshold,
                    candidates=candidates,
                )
            )
        return results

    def verify(self, image: ImageInput, name: str) -> Verification:
        """Is ``name`` in this photo? Compares every face with every embedding of ``name``.

        Raises:
            FaceError: no face in the photo.
            GalleryError: no such person, or none of their embeddings is of this model.

        Usage:
            result = recognizer.verify("door.jpg", "Ann")
            result.verified, result.similarity, result.threshold
        """
        person = validate_name(name)
        if person not in self.gallery:
            raise GalleryError(f"{self.gallery.path}: no identity named {person!r}")
        _, enrolled = self.gallery.embeddings(self.embedder.key, person)
        if len(enrolled) == 0:
            held = ", ".join(self.gallery.get(person).embeddings) or "none"
            raise GalleryError(
                f"{person!r} has no embeddings of {self.embedder.key} (has: {held}); re-enrol them with this model"
            )
        array = load_image(image)
        faces = self.detect([array])[0]
        if len(faces) == 0:
            raise FaceError(f"{describe(image)}: no face found, cannot verify {person!r}")
        sims = np.clip(self.embed(array, faces) @ enrolled.T, -1.0, 1.0)  # (faces, enrolled)
        per_face = sims.max(axis=1)
        best = int(np.argmax(per_face))
        similarity = float(per_face[best])
        return Verification(
            name=person,
            verified=similarity >= self.threshold,
            similarity=similarity,
            threshold=self.threshold,
            box=tuple(float(v) for v in faces.xyxy[best]),
            faces=len(faces),
        )

    # ------------------------------------------------------------------ enrolment
    def _embed_photos(
        self, images: Iterable[ImageInput], choose: Callable[[np.ndarray, Detections], Assessment]
    ) -> list[tuple[str, np.ndarray | None, Rejection | None]]:
        """For each photo, in order: ``(source, embedding, None)`` of the face ``choose`` picks, else
        ``(source, None, rejection)``.

        Photos are read, detected, cropped and embedded ``_CHUNK`` at a time, so memory holds
        one chunk of images and crops, whatever the number of photos.
        """
        outcomes: list[tuple[str, np.ndarray | None, Rejection | None]] = []
        pending: list[tuple[int, np.ndarray]] = []

        def flush() -> None:
            found = self.detector.detect([array for _, array in pending])
            crops = self.embedder.crop.buffer(len(pending))
            chosen: list[int] = []
            for (slot, array), faces in zip(pending, found):
                source = outcomes[slot][0]
                verdict = choose(array, faces)
                if verdict.ok:
                    self.embedder.crops(array, faces[[verdict.index]], out=crops[len(chosen) : len(chosen) + 1])
                    chosen.append(slot)
                else:
                    outcomes[slot] = (source, None, Rejection(source, str(verdict.reason), verdict.detail))
            if chosen:
                for slot, vector in zip(chosen, self.embedder.embed_crops(crops[: len(chosen)])):
                    outcomes[slot] = (outcomes[slot][0], vector, None)
            pending.clear()

        for image in images:
            source = describe(image)
            try:
                array = load_image(image)
            except ImageError as exc:
                outcomes.append((source, None, Rejection(source, "unreadable", str(exc))))
                continue
            outcomes.append((source, None, None))
            pending.append((len(outcomes) - 1, array))
            if len(pending) >= _CHUNK:
                flush()
        if pending:
            flush()
        return outcomes

    def enroll(
        self,
        name: str,
        images: ImageInput | Sequence[ImageInput],
        *,
        metadata: Mapping[str, Any] | None = None,
        replace: bool = False,
        strict: bool = False,
    ) -> EnrollReport:
        """Enrol a person from photos: one face per accepted photo, all stored in one transaction.

        Each photo must show exactly one usable face (see :mod:`detectkit.faces.quality`);
        the others are reported in ``rejected`` with the reason.

        Args:
            name: the person's name (new, or existing: the faces are added).
            images: one photo or a list (paths, bytes, PIL images, BGR arrays).
            metadata: JSON-serialisable dict stored with the person.
            replace: drop the person's previous embeddings of this model first.
            strict: refuse the whole enrolment if any photo is rejected.

        Raises:
            GalleryError: invalid name or metadata (checked before any work).
            FaceError: no photo was usable (or, with ``strict``, one was not); its
                ``report`` says why for each photo. Nothing is written.

        Usage:
            print(recognizer.enroll("Ann", ["ann1.jpg", "ann2.jpg"], metadata={"desk": 4}).summary())
        """
        return self.enroll_many({name: images}, metadata={name: metadata} if metadata else None,
                                replace=replace, strict=strict)[validate_name(name)]

    def enroll_many(
        self,
        people: Mapping[str, ImageInput | Sequence[ImageInput]],
        *,
        metadata: Mapping[str, Mapping[str, Any]] | None = None,
        replace: bool = False,
        strict: bool = False,
    ) -> dict[str, EnrollReport]:
        """Enrol several people; photos are detected and embedded in batches across people.

        Each person is still written in their own transaction, after all photos are
        checked; on a :class:`FaceError` for one person, nobody is written.

        Returns:
            ``{name: EnrollReport}``.

        Usage:
            reports = recognizer.enroll_many({"Ann": ["ann1.jpg"], "Bo": ["bo1.jpg", "bo2.jpg"]})
        """
        plan: dict[str, list[ImageInput]] = {}
        for raw_name, images in people.items():
            name = validate_name(raw_name)
            if name in plan:
                raise GalleryError(f"{raw_name!r} and another name are the same after normalisation ({name!r})")
            if isinstance(images, (str, os.PathLike, bytes, bytearray)) or (
                isinstance(images, np.ndarray) and images.ndim == 3
            ):
                images = [images]
            plan[name] = list(images)
            if not plan[name]:
                raise FaceError(f"no photos given to enrol {name!r}")
        meta = {validate_name(k): v for k, v in (metadata or {}).items()}
        for value in meta.values():
            _metadata_json(value)  # bad metadata fails before any work, not half-way through the writes
        owners = [name for name, images in plan.items() for _ in images]
        outcomes = self._embed_photos(
            (image for images in plan.values() for image in images), lambda array, faces: assess(array, faces, self.quality)
        )
        reports = {name: EnrollReport(name) for name in plan}
        vectors: dict[str, list[np.ndarray]] = {name: [] for name in plan}
        for name, (source, vector, rejection) in zip(owners, outcomes):
            if vector is not None:
                vectors[name].append(vector)
                reports[name].used.append(source)
            elif rejection is not None:
                reports[name].rejected.append(rejection)
        for name, report in reports.items():
            if not vectors[name] or (strict and report.rejected):
                why = "no usable face in any photo" if not vectors[name] else "some photos were rejected (strict)"
                raise FaceError(f"cannot enrol {name!r}: {why}; nothing was written\n{report.summary()}", report)
        for name, report in reports.items():
            report.created = name not in self.gallery
            report.embeddings = self.gallery.add(
                name,
                np.stack(vectors[name]),
                self.embedder.key,
                metadata=meta.get(name),
                sources=report.used,
                replace=replace,
            )
        return reports

    # ------------------------------------------------------------------ gallery management
    def remove(self, name: str) -> int:
        """Delete a person; returns how many embeddings were removed (see :meth:`Gallery.remove`).

        Usage:
            recognizer.remove("Ann")   # -> 2
        """
        return self.gallery.remove(name)

    def rename(self, old: str, new: str) -> None:
        """Rename a person (see :meth:`Gallery.rename`).

        Usage:
            recognizer.rename("Ann", "Ann Smith")
        """
        self.gallery.rename(old, new)

    def list(self) -> list[Identity]:
        """Everyone enrolled, with metadata and embedding counts per model.

        Usage:
            [person.name for person in recognizer.list()]
        """
        return self.gallery.identities()

    def export(self, path: str | os.PathLike) -> Path:
        """Export the gallery (``.json``, or an SQLite copy; see :meth:`Gallery.export`).

        Usage:
            recognizer.export("backup.json")
        """
        return self.gallery.export(path)

    def import_from(self, path: str | os.PathLike, *, on_conflict: Literal["error", "skip", "merge", "replace"] = "error") -> dict[str, int]:
        """Import an exported gallery (see :meth:`Gallery.import_from`).

        Usage:
            recognizer.import_from("backup.json", on_conflict="skip")
        """
        return self.gallery.import_from(path, on_conflict=on_conflict)

    # ------------------------------------------------------------------ calibration
    def calibrate(
        self,
        pairs: str | os.PathLike | Sequence[Pair | tuple[Any, Any, bool]],
        *,
        images_dir: str | os.PathLike | None = None,
        target_far: float = 1e-3,
        plot: str | os.PathLike | None = None,
    ) -> Calibration:
        """Measure the threshold on labelled pairs of photos (LFW ``pairs.txt`` or ``(a, b, same)`` tuples).

        Each photo's largest face is embedded (photos read once, batched); pairs with
        an unreadable photo or no face are left out and counted in ``skipped``.
        Set ``recognizer.threshold = result.threshold`` to use the result.

        Usage:
            result = recognizer.calibrate("lfw/pairs.txt", target_far=1e-3, plot="roc.png")
            print(result.summary()); recognizer.threshold = result.threshold
        """
        if isinstance(pairs, (str, os.PathLike)):
            pairs = read_pairs(pairs, images_dir)
        items = [p if isinstance(p, Pair) else Pair(p[0], p[1], bool(p[2])) for p in pairs]
        keys: dict[str, Any] = {}
        for p in items:
            for image in (p.a, p.b):
                keys.setdefault(_key(image), image)

        def largest(array: np.ndarray, faces: Detections) -> Assessment:
            return Assessment(int(np.argmax(faces.area))) if len(faces) else Assessment(None, "no_face")

        outcomes = self._embed_photos(keys.values(), largest)
        vectors = {key: vector for key, (_, vector, _) in zip(keys, outcomes) if vector is not None}
        scores, same = [], []
        for p in items:
            a, b = vectors.get(_key(p.a)), vectors.get(_key(p.b))
            if a is not None and b is not None:
                scores.append(float(a @ b))
                same.append(p.same)
        result = calibrate(np.asarray(scores), np.asarray(same, bool), target_far=target_far, plot=plot)
        result.skipped = len(items) - len(scores)
        return result


def _key(image: Any) -> str:
    return os.fspath(image) if isinstance(image, (str, os.PathLike)) else f"id:{id(image)}"
