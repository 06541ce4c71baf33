"""Classical face embeddings: HOG descriptors of the face crop, and an SVM over a gallery.

:class:`HogFaceEmbedder` implements the face-embedder protocol
(:class:`~detectkit.faces.embedders.Embedder`) and is registered as ``"hog-face"``
(``FaceRecognizer(embedder="hog-face")``). Its crop is FaceNet's: standardised 160x160
box crops (:mod:`detectkit.faces.align`: box + margin, resized), so
:class:`~detectkit.faces.FaceRecognizer`, :class:`~detectkit.faces.Gallery` and the video
pipeline use it unchanged, with k-nearest-neighbour search by cosine similarity. Each crop
is turned to grey, resized to ``size`` x ``size`` and described by OpenCV's
``HOGDescriptor`` (``cell`` px cells, 2x2-cell blocks, 9 orientation bins, L2-Hys);
the descriptor minus its own mean, L2-normalised, is the embedding. Taking the mean
off makes the cosine similarity of two embeddings the Pearson correlation of their HOG
descriptors: on ORL, same-person pairs average 0.63 and different people 0.41 (raw
HOG descriptors, all positive, give 0.87 and 0.79), which leaves room for a threshold.

Its model key is ``hog-face@<version> (<dim>-d)``, the version a digest of the
parameters, so its vectors never mix with FaceNet's in a gallery (the gallery refuses
to compare vectors of different keys). The FaceNet default threshold means nothing for
it: calibrate one with :meth:`FaceRecognizer.calibrate` (``threshold=`` for the
recogniser).

:class:`GallerySVM` trains a linear SVM (scikit-learn's ``LinearSVC``, the
``detectkit[classical]`` extra) on a gallery's embeddings of one model, one class per
person, and predicts the person of new embeddings.

Example:
    >>> import numpy as np
    >>> from detectkit.classical import HogFaceEmbedder
    >>> embedder = HogFaceEmbedder()
    >>> str(embedder.key).startswith("hog-face@"), embedder.dim
    (True, 1764)
    >>> vectors = embedder.embed_crops(np.random.default_rng(0).uniform(-1, 1, (2, 3, 160, 160)))
    >>> vectors.shape, round(float(np.linalg.norm(vectors[0])), 4)
    ((2, 1764), 1.0)
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any, Sequence

import numpy as np

from ..errors import GalleryError, ModelError
from ..faces.align import DEFAULT_MARGIN, IMAGE_SIZE, box_crops
from ..faces.embedders import EMBEDDERS, CropSpec, check_crops, l2_normalise
from ..faces.model_key import ModelKey
from ._common import require_opencv

__all__ = ["HogFaceEmbedder", "GallerySVM", "MODEL_NAME", "make_hog_face"]

MODEL_NAME = "hog-face"
"""The model name HOG embeddings are stored under."""


class HogFaceEmbedder:
    """HOG descriptors of face crops as L2-normalised vectors (see the module docstring).

    A face :class:`~detectkit.faces.embedders.Embedder` (``key``, ``crop``, ``device``,
    ``crops``, ``embed_crops``, ``embed``; also ``model_name`` and ``dim``), with no
    network and no weights; it runs on the CPU.

    Args:
        size: side, in pixels, the grey crop is resized to before HOG (a multiple of ``cell``).
        cell: HOG cell side in pixels (blocks are 2x2 cells, stride one cell).
        bins: orientation bins.
        margin: crop margin in output pixels, as FaceNet's (see :mod:`detectkit.faces.align`).
        model_name: the name stored in the gallery.

    Example:
        >>> HogFaceEmbedder(size=96).dim
        4356
    """

    def __init__(
        self,
        *,
        size: int = 64,
        cell: int = 8,
        bins: int = 9,
        margin: int = DEFAULT_MARGIN,
        model_name: str = MODEL_NAME,
    ) -> None:
        cv2 = require_opencv("HOGDescriptor")
        if cell < 4 or size < 2 * cell or size % cell:
            raise ModelError(f"size must be a multiple of cell and at least 2 cells (cell >= 4), got size={size}, cell={cell}")
        if bins < 2:
            raise ModelError(f"bins must be at least 2, got {bins}")
        if not 0 <= int(margin) < IMAGE_SIZE:
            raise ModelError(f"margin must be in [0, {IMAGE_SIZE}), got {margin}")
        if not str(model_name).strip():
            raise ModelError("model_name must not be empty")
        self.size, self.cell, self.bins = int(size), int(cell), int(bins)
        self.hog = cv2.HOGDescriptor((self.size, self.size), (2 * cell, 2 * cell), (cell, cell), (cell, cell), self.bins)
        self.dim = int(self.hog.getDescriptorSize())
        self.margin = int(margin)
        self.model_name = str(model_name)
        recipe = f"hog|size={self.size}|cell={self.cell}|bins={self.bins}|margin={self.margin}|centred-l2"
        self.model_version = hashlib.sha256(recipe.encode()).hexdigest()[:16]
        self.crop = CropSpec(IMAGE_SIZE, margin=self.margin)
        self.device = "cpu"
        self._lock = threading.Lock()

    @property
    def key(self) -> ModelKey:
        """``hog-face@<parameters digest> (<dim>-d)``.

        Example:
            >>> HogFaceEmbedder().key.dim, HogFaceEmbedder(cell=16).key == HogFaceEmbedder().key
            (1764, False)
        """
        return ModelKey(self.model_name, self.model_version, self.dim)

    def crops(self, image: np.ndarray, faces: Any, out: np.ndarray | None = None) -> np.ndarray:
        """Standardised box crops ``(N, 3, 160, 160)`` of one BGR image's faces (``Detections`` or ``(N, 4)`` boxes).

        Example:
            >>> HogFaceEmbedder().crops(np.zeros((80, 80, 3), np.uint8), np.array([[10, 10, 60, 70]])).shape
            (1, 3, 160, 160)
        """
        return box_crops(image, faces, self.crop, out=out)

    def embed(self, image: np.ndarray, faces: Any) -> np.ndarray:
        """Embeddings ``(N, dim)`` of the faces of one BGR image.

        Example:
            >>> HogFaceEmbedder().embed(np.zeros((80, 80, 3), np.uint8), np.array([[10, 10, 60, 70]])).shape
            (1, 1764)
        """
        return self.embed_crops(self.crops(image, faces))

    def embed_crops(self, crops: np.ndarray) -> np.ndarray:
        """Embeddings ``(N, dim)`` float32 of standardised RGB crops ``(N, 3, 160, 160)``.

        Example:
            >>> HogFaceEmbedder().embed_crops(np.zeros((0, 3, 160, 160), np.float32)).shape
            (0, 1764)
        """
        import cv2

        crops = check_crops(crops, self.crop)
        out = np.empty((len(crops), self.dim), np.float32)
        # undo fixed_image_standardization, RGB -> grey with OpenCV's weights
        weights = np.array([0.299, 0.587, 0.114], np.float32).reshape(1, 3, 1, 1)
        grey = np.clip((crops * weights).sum(axis=1) * 128.0 + 127.5, 0, 255).astype(np.uint8)
        with self._lock:
            for i, face in enumerate(grey):
                small = cv2.resize(face, (self.size, self.size), interpolation=cv2.INTER_AREA)
                out[i] = self.hog.compute(small).reshape(-1)
        out -= out.mean(axis=1, keepdims=True)
        return l2_normalise(out)

    def __repr__(self) -> str:
        return f"HogFaceEmbedder({self.key}, size={self.size}, cell={self.cell})"


def make_hog_face(*, device: Any = "cpu", **options: Any) -> HogFaceEmbedder:
    """The ``"hog-face"`` registry entry: ``HogFaceEmbedder(**options)``; it runs on the CPU whatever ``device`` says.

    Example:
        >>> make_hog_face(device="auto", size=96).dim
        4356
    """
    return HogFaceEmbedder(**options)


EMBEDDERS.register(MODEL_NAME, make_hog_face)


class GallerySVM:
    """A linear SVM over a gallery's embeddings of one model: one class per person.

    Args:
        C: the SVM's regularisation (scikit-learn ``LinearSVC(C=...)``).

    Example:
        >>> from detectkit.faces import Gallery, ModelKey
        >>> key = ModelKey("toy", "v1", 2)
        >>> gallery = Gallery(":memory:")
        >>> _ = gallery.add("A", np.array([[1.0, 0.1], [0.9, 0.0]]), key)
        >>> _ = gallery.add("B", np.array([[0.0, 1.0], [0.1, 0.9]]), key)
        >>> GallerySVM().fit(gallery, key).predict(np.array([[0.8, 0.2], [0.2, 0.7]]))[0]
        ['A', 'B']
    """

    def __init__(self, *, C: float = 1.0) -> None:
        self.C = float(C)
        self.model: ModelKey | None = None
        self.classes: list[str] = []
        self._svm: Any = None

    def fit(self, gallery: Any, model: ModelKey) -> "GallerySVM":
        """Train on every embedding of ``model`` in ``gallery`` (at least two people).

        Raises:
            GalleryError: fewer than two people have embeddings of this model.
            ModelError: scikit-learn is not installed.

        Usage:
            svm = GallerySVM().fit(recognizer.gallery, recognizer.embedder.key)
        """
        names, vectors = gallery.embeddings(model)
        return self.fit_arrays(vectors, names, model)

    def fit_arrays(self, vectors: np.ndarray, names: Sequence[str], model: ModelKey) -> "GallerySVM":
        """Train on vectors and their people's names directly.

        Example:
            >>> key = ModelKey("toy", "v1", 2)
            >>> svm = GallerySVM().fit_arrays(np.array([[1.0, 0.0], [0.0, 1.0]]), ["A", "B"], key)
            >>> svm.classes
            ['A', 'B']
        """
        try:
            from sklearn.svm import LinearSVC
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ModelError("GallerySVM needs scikit-learn: pip install 'detectkit[classical]'") from exc
        vectors = np.asarray(vectors, np.float32)
        people = sorted(set(names))
        if len(people) < 2:
            raise GalleryError(f"an SVM needs embeddings of {model} for at least two people, found {len(people)}")
        if vectors.ndim != 2 or vectors.shape[1] != model.dim or len(vectors) != len(names):
            raise GalleryError(f"{len(names)} names for vectors of shape {vectors.shape}; {model} needs (N, {model.dim})")
        self._svm = LinearSVC(C=self.C).fit(vectors, np.asarray(names, dtype=object))
        self.model = model
        self.classes = [str(c) for c in self._svm.classes_]
        return self

    def predict(self, vectors: np.ndarray) -> tuple[list[str], np.ndarray]:
        """``(names, margins)``: the person of each row and the SVM's decision value for them.

        The margin is not a similarity: it has no fixed threshold (a closed-set answer).

        Example:
            >>> key = ModelKey("toy", "v1", 2)
            >>> svm = GallerySVM().fit_arrays(np.array([[1.0, 0.0], [0.0, 1.0]]), ["A", "B"], key)
            >>> names, margins = svm.predict(np.array([[0.9, 0.1]]))
            >>> names, bool(margins[0] > 0)
            (['A'], True)
        """
        if self._svm is None or self.model is None:
            raise GalleryError("the SVM is not trained: call fit(gallery, model) first")
        vectors = np.asarray(vectors, np.float32)
        if vectors.ndim == 1:
            vectors = vectors[None, :]
        if len(vectors) == 0:
            return [], np.zeros(0, np.float32)
        if vectors.shape[1] != self.model.dim:
            raise GalleryError(f"vectors of shape {vectors.shape}, but the SVM was trained on {self.model}")
        scores = np.asarray(self._svm.decision_function(vectors), np.float32)
        if scores.ndim == 1:  # two people: one margin, positive for classes_[1]
            scores = np.stack([-scores, scores], axis=1)
        best = scores.argmax(axis=1)
        return [self.classes[i] for i in best], scores[np.arange(len(best)), best]
