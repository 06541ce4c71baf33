"""`DlibResNetEmbedder`: dlib's face ResNet (in torch, no dlib) on aligned 150x150 chips -> 128-d vectors.

The chips are dlib's ``get_face_chip`` (padding 0.25) from the face detector's five
landmarks (:mod:`detectkit.faces.dlib_chip`); faces given as boxes only get their
landmarks from :data:`BOX_TEMPLATE`, where MTCNN puts them inside its box on average.
The network's raw descriptors are what dlib's ``compute_face_descriptor`` returns
(checked to 1e-4 against dlib-bin); this embedder L2-normalises them like every
detectkit embedder, so similarities are cosines (dlib's Euclidean tolerance 0.6 on raw
descriptors has no exact cosine equivalent; the default threshold is measured on LFW).

Usage:
    embedder = DlibResNetEmbedder()            # finds the .dat of face-recognition-models offline
    embedder.embed(frame, faces).shape         -> (N, 128)
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..detections import Detections
from ..devices import select_device
from ..errors import ModelError
from .dlib_chip import CHIP_PADDING, CHIP_SIZE, MTCNN_TEMPLATE, face_chips
from .dlib_resnet import DESCRIPTOR_DIM, load_dlib_resnet
from .embedders import EMBEDDERS, CropSpec, embedding_batch_size, l2_normalise
from .model_key import ModelKey

__all__ = ["DlibResNetEmbedder", "BOX_TEMPLATE", "MODEL_NAME", "landmarks_from_boxes", "make_dlib_resnet", "auto_embedder"]

MODEL_NAME = "dlib-resnet"

BOX_TEMPLATE = np.array(
    [
        [0.2904, 0.3902],
        [0.7374, 0.3826],
        [0.5198, 0.5882],
        [0.3287, 0.7599],
        [0.7201, 0.7536],
    ]
)
"""MTCNN's five points as fractions of its box (x of width, y of height): the mean over 389 LFW gallery
photos (``python benchmarks/faces_dlib.py template``); used for faces that come without landmarks."""


def landmarks_from_boxes(xyxy: np.ndarray) -> np.ndarray:
    """Five landmarks ``(N, 5, 2)`` placed in each box where MTCNN puts them on average.

    Example:
        >>> landmarks_from_boxes(np.array([[0, 0, 100, 100]]))[0, 2].round(1).tolist()
        [52.0, 58.8]
    """
    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    size = (xyxy[:, 2:] - xyxy[:, :2])[:, None, :]
    return xyxy[:, None, :2] + BOX_TEMPLATE[None] * size


class DlibResNetEmbedder:
    """dlib's face-recognition ResNet as a detectkit embedder (batched, CPU or GPU, no dlib).

    Args:
        weights: the ``.dat`` file, or ``None`` to find ``dlib_face_recognition_resnet_model_v1.dat``
            (``DETECTKIT_WEIGHTS``, ``./weights``, detectkit's cache, then the installed
            ``face-recognition-models`` package: ``pip install 'detectkit[dlib]'``).
        model_name: the name stored in the gallery (default ``"dlib-resnet"``).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ...
        batch_size: most chips per network call (default 64 on CUDA, 32 elsewhere).

    Raises:
        WeightsNotFoundError: the file is nowhere (the message says where it looked).
        WeightsFormatError: the file is not dlib's network, or is truncated.

    Usage:
        DlibResNetEmbedder().key  -> ModelKey('dlib-resnet', '<16 hex digits>', 128)
    """

    size = CHIP_SIZE
    padding = CHIP_PADDING
    template = MTCNN_TEMPLATE

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        *,
        model_name: str | None = None,
        device: Any = "auto",
        batch_size: int | None = None,
    ) -> None:
        import torch

        from .embedder import state_dict_version

        self.device = select_device(device)
        net, path, raw = load_dlib_resnet(weights, fuse=False)
        self.model_version = state_dict_version(net.state_dict())
        net.fuse()
        self.model = net.to(self.device).to(memory_format=torch.channels_last).eval()
        self.weights_path: Path = path
        self.model_name = str(model_name or MODEL_NAME)
        if not self.model_name.strip():
            raise ModelError("model_name must not be empty")
        self.dim = DESCRIPTOR_DIM
        self.crop = CropSpec(self.size, template=tuple(map(tuple, self.template)), padding=self.padding)
        self.dlib_distance_threshold = raw.distance_threshold
        self.batch_size = embedding_batch_size(batch_size, self.device)
        self._lock = threading.Lock()

    @property
    def key(self) -> ModelKey:
        """This embedder's model key (name, version = digest of the weights, 128): stored with each vector.

        Usage:
            str(DlibResNetEmbedder().key)  -> 'dlib-resnet@<16 hex digits> (128-d)'
        """
        return ModelKey(self.model_name, self.model_version, self.dim)

    def crops(self, image: np.ndarray, faces: Detections | np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Aligned RGB chips ``(N, 3, 150, 150)`` float32 (0..255) of the faces of one BGR image.

        ``faces``: ``Detections`` (their landmarks are used when present), or ``(N, 4)`` boxes
        or ``(N, 5, 2)`` landmarks. ``out``: an array of that shape to fill (a slice of a batch).

        Usage:
            batch = np.empty((n, 3, 150, 150), np.float32); embedder.crops(frame, faces, out=batch[:len(faces)])
        """
        if isinstance(faces, Detections):
            points = faces.landmarks if faces.landmarks is not None else landmarks_from_boxes(faces.xyxy)
        else:
            array = np.asarray(faces, np.float64)
            points = array.reshape(-1, 5, 2) if array.ndim == 3 else landmarks_from_boxes(array)
        points = np.asarray(points, np.float64)
        missing = ~np.isfinite(points).all(axis=(1, 2))
        if missing.any() and isinstance(faces, Detections):  # e.g. tracked boxes without landmarks
            points = points.copy()
            points[missing] = landmarks_from_boxes(faces.xyxy[missing])
        n = len(points)
        shape = (n, 3, self.size, self.size)
        if out is None:
            out = np.empty(shape, np.float32)
        elif out.shape != shape or out.dtype != np.float32:
            raise ValueError(f"out must be a {shape} float32 array, got {out.shape} {out.dtype}")
        chips = face_chips(image, points, template=self.template, size=self.size, padding=self.padding)
        out[...] = chips[..., ::-1].transpose(0, 3, 1, 2)  # BGR HWC -> RGB CHW
        return out

    def embed(self, image: np.ndarray, faces: Detections | np.ndarray) -> np.ndarray:
        """Embeddings ``(N, 128)`` float32, L2-normalised, of the faces of one BGR image.

        Usage:
            embedder.embed(frame, face_detector.detect([frame])[0])
        """
        return self.embed_crops(self.crops(image, faces))

    def descriptors(self, crops: np.ndarray) -> np.ndarray:
        """dlib's raw descriptors ``(N, 128)`` (as ``compute_face_descriptor``) of RGB chips, 0..255.

        ``crops``: ``(N, 3, 150, 150)`` float32 (as :meth:`crops` makes) or ``(N, 150, 150, 3)`` uint8 RGB.

        Usage:
            embedder.descriptors(np.stack([dlib.get_face_chip(rgb, shape)]))
        """
        import torch

        crops = np.asarray(crops)
        if crops.ndim == 4 and crops.shape[1:] == (self.size, self.size, 3):
            crops = crops.transpose(0, 3, 1, 2)
        crops = np.ascontiguousarray(crops, dtype=np.float32)
        if crops.ndim != 4 or crops.shape[1:] != (3, self.size, self.size):
            raise ModelError(f"face chips must have shape (N, 3, {self.size}, {self.size}), got {crops.shape}")
        out = np.empty((len(crops), self.dim), np.float32)
        with self._lock, torch.inference_mode():
            for start in range(0, len(crops), self.batch_size):
                batch = torch.from_numpy(crops[start : start + self.batch_size]).to(self.device)
                out[start : start + len(batch)] = self.model(batch.contiguous(memory_format=torch.channels_last)).float().cpu().numpy()
        return out

    def embed_crops(self, crops: np.ndarray) -> np.ndarray:
        """L2-normalised embeddings ``(N, 128)`` of chips from :meth:`crops`, batched by ``batch_size``.

        Usage:
            embedder.embed_crops(embedder.crops(frame, faces)).shape  -> (len(faces), 128)
        """
        return l2_normalise(self.descriptors(crops))

    def __repr__(self) -> str:
        return f"DlibResNetEmbedder({self.key}, device={self.device})"


def make_dlib_resnet(*, device: Any = "auto", weights: str | os.PathLike | None = None, **options: Any) -> DlibResNetEmbedder:
    """The ``"dlib-resnet"`` registry entry: ``DlibResNetEmbedder(weights, device=device, **options)``.

    Usage:
        make_embedder("dlib-resnet", device="cpu").key.dim  -> 128
    """
    return DlibResNetEmbedder(weights, device=device, **options)


def auto_embedder(*, device: Any = "auto", log: Any = None, **options: Any) -> Any:
    """FaceNet (``facenet-vggface2``) when its weights are found offline, else ``dlib-resnet``; says which.

    The ``"auto"`` registry entry, and what ``FaceRecognizer()``, ``detectkit faces``, ``detectkit run
    --faces`` and the demo use by default. ``log`` (default: print to stderr) gets one line naming the
    embedder chosen, and why.

    Raises:
        WeightsNotFoundError: neither FaceNet's weights nor dlib's network file is there (the
            message says how to install ``detectkit[dlib]``).

    Usage:
        auto_embedder(device="cpu").key.name  -> 'dlib-resnet' on a machine without FaceNet's weights
    """
    import sys

    from ..errors import WeightsNotFoundError
    from ..weights import resolve_weights
    from .embedder import DEFAULT_WEIGHTS

    say = log or (lambda text: print(text, file=sys.stderr))
    try:
        resolve_weights(DEFAULT_WEIGHTS, family="facenet", download=False)
    except WeightsNotFoundError:
        embedder = DlibResNetEmbedder(device=device, **options)
        say(f"face embedder: dlib-resnet ({embedder.weights_path.name}); FaceNet's {DEFAULT_WEIGHTS} weights are not here")
        return embedder
    facenet = EMBEDDERS.get("facenet")(device=device, **options)
    say(f"face embedder: FaceNet ({DEFAULT_WEIGHTS})")
    return facenet


EMBEDDERS.register(MODEL_NAME, make_dlib_resnet)
EMBEDDERS.register("auto", auto_embedder)
