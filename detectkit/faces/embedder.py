"""`FaceEmbedder`: FaceNet (facenet-pytorch's InceptionResnetV1) as L2-normalised 512-d float32 vectors.

It implements the :class:`~detectkit.faces.embedders.Embedder` protocol (crop: 160x160
box crops with a margin) and is registered as ``"facenet"`` in
:data:`~detectkit.faces.embedders.EMBEDDERS`.

Weights are a known name resolved offline first by :func:`detectkit.weights.resolve_weights`
(``"facenet-vggface2"``, the default, or ``"facenet-casia-webface"``), a path to a
state dict, or a state dict itself. facenet-pytorch's published files carry the
classifier of their training set (``logits.*``, 8631 or 10575 classes); those keys are
dropped and every other key must match the embedding network exactly (strict load),
so a file of another architecture is refused with a clear error instead of half-loading.

Each embedder has a *model key*: its name, a version (the first 16 hex digits of the
SHA-256 of the weights' tensors, so a re-saved copy of the same weights keeps its
version) and the dimension. The gallery stores it with every vector and never compares
vectors of different keys.

For speed the batch-norm layers are folded into the convolutions they follow
(``torch.nn.utils.fusion``) and the network runs channels-last; outputs match the
unfolded network to float rounding (tested).

Example:
    >>> import torch, tempfile, pathlib
    >>> from facenet_pytorch import InceptionResnetV1
    >>> from detectkit.faces import FaceEmbedder
    >>> _ = torch.manual_seed(0)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "mine.pt"
    >>> torch.save(InceptionResnetV1().state_dict(), path)
    >>> embedder = FaceEmbedder(path, device="cpu")
    >>> embedder.model_name, embedder.dim
    ('mine', 512)
    >>> vectors = embedder.embed_crops(torch.zeros(2, 3, 160, 160).numpy())
    >>> vectors.shape, vectors.dtype
    ((2, 512), dtype('float32'))
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..detections import Detections
from ..devices import select_device
from ..errors import ModelError, WeightsFormatError
from .align import DEFAULT_MARGIN, IMAGE_SIZE, box_crops
from .embedders import EMBEDDERS, CropSpec, check_crops, embedding_batch_size, l2_normalise
from .model_key import ModelKey  # re-exported: ``from detectkit.faces.embedder import ModelKey`` keeps working

__all__ = ["FaceEmbedder", "ModelKey", "make_facenet", "load_facenet", "state_dict_version", "DEFAULT_WEIGHTS", "EMBEDDING_DIM"]

DEFAULT_WEIGHTS = "facenet-vggface2"
EMBEDDING_DIM = 512
_ALIASES = {"vggface2": "facenet-vggface2", "casia-webface": "facenet-casia-webface"}


def state_dict_version(state_dict: Mapping[str, Any]) -> str:
    """First 16 hex digits of a SHA-256 over the tensors' names, shapes, dtypes and bytes.

    Example:
        >>> import torch
        >>> state_dict_version({"w": torch.zeros(2)}) == state_dict_version({"w": torch.zeros(2)})
        True
    """
    import torch

    digest = hashlib.sha256()
    for key in sorted(state_dict):
        tensor = state_dict[key].detach().cpu().contiguous()
        digest.update(f"{key}|{tuple(tensor.shape)}|{tensor.dtype}|".encode())
        if tensor.numel():
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().data)
    return digest.hexdigest()[:16]


def _unwrap(data: Any, source: str) -> dict[str, Any]:
    import torch

    if isinstance(data, Mapping) and "state_dict" in data and isinstance(data["state_dict"], Mapping):
        data = data["state_dict"]
    if not isinstance(data, Mapping) or not data:
        raise WeightsFormatError(f"{source}: not a state dict (a mapping of tensor names to tensors)")
    out: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(value, torch.Tensor):
            raise WeightsFormatError(f"{source}: entry {key!r} is a {type(value).__name__}, not a tensor")
        key = str(key)
        if key.startswith("module."):  # saved from DataParallel
            key = key[len("module."):]
        out[key] = value
    return out


def load_facenet(state_dict: Mapping[str, Any], source: str = "state dict") -> Any:
    """An eval-mode ``InceptionResnetV1(classify=False)`` with these weights, loaded strictly.

    ``logits.*`` keys (the training classifier in facenet-pytorch's files) are ignored.

    Raises:
        WeightsFormatError: keys missing, unexpected or of the wrong shape (the
            message names the file and a few of the offending keys).

    Example:
        >>> import torch
        >>> from facenet_pytorch import InceptionResnetV1
        >>> sd = InceptionResnetV1(classify=True, num_classes=3).state_dict()
        >>> load_facenet(sd).classify
        False
    """
    from facenet_pytorch import InceptionResnetV1

    weights = {k: v for k, v in _unwrap(state_dict, source).items() if not k.startswith("logits.")}
    model = InceptionResnetV1(pretrained=None, classify=False)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    wrong = sorted(k for k in set(expected) & set(weights) if tuple(expected[k].shape) != tuple(weights[k].shape))
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:3])})")
        if wrong:
            k = wrong[0]
            parts.append(
                f"{len(wrong)} keys of the wrong shape (e.g. {k}: {tuple(weights[k].shape)}, "
                f"expected {tuple(expected[k].shape)})"
            )
        raise WeightsFormatError(
            f"{source}: not FaceNet InceptionResnetV1 weights: " + "; ".join(parts)
        )
    model.load_state_dict(weights, strict=True)
    return model.eval()


def _fuse_for_inference(model: Any) -> Any:
    """Fold every batch norm into the convolution / linear layer before it (eval-mode arithmetic),
    with torch's own ``fuse_conv_bn_eval`` / ``fuse_linear_bn_eval``."""
    import torch
    from facenet_pytorch.models.inception_resnet_v1 import BasicConv2d
    from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, BasicConv2d):
                module.conv = fuse_conv_bn_eval(module.conv, module.bn)
                module.bn = torch.nn.Identity()
        model.last_linear = fuse_linear_bn_eval(model.last_linear, model.last_bn)
        model.last_bn = torch.nn.Identity()
    return model.requires_grad_(False)


class FaceEmbedder:
    """FaceNet embeddings of face crops or of boxes in an image.

    Args:
        weights: ``"facenet-vggface2"`` (default), ``"facenet-casia-webface"`` (or
            ``"vggface2"`` / ``"casia-webface"``), a path to a state dict, or a state dict.
        model_name: the name stored in the gallery (default: the known name, or the
            file's stem, or ``"facenet-custom"`` for an in-memory state dict).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ...
        batch_size: most crops per network call (default 64 on CUDA, 32 elsewhere).
        margin: crop margin in output pixels (see :mod:`detectkit.faces.align`).
        fuse: fold batch norms into convolutions (faster, same results to rounding).

    Raises:
        WeightsNotFoundError: a known name whose file is nowhere (the message says where it looked).
        WeightsFormatError: the file is not FaceNet weights.

    Thread safety: network calls are serialised by a lock.

    Usage:
        embedder = FaceEmbedder()  # finds 20180402-114759-vggface2.pt offline first
        embedder.embed(image, detections).shape  -> (N, 512)
    """

    def __init__(
        self,
        weights: str | os.PathLike | Mapping[str, Any] = DEFAULT_WEIGHTS,
        *,
        model_name: str | None = None,
        device: Any = "auto",
        batch_size: int | None = None,
        margin: int = DEFAULT_MARGIN,
        fuse: bool = True,
    ) -> None:
        import torch

        from ..weights import load_torch_file, resolve_weights

        self.device = select_device(device)
        if isinstance(weights, Mapping):
            state_dict, source = _unwrap(weights, "state dict"), "state dict"
            default_name = "facenet-custom"
            self.weights_path: Path | None = None
        else:
            spec = _ALIASES.get(os.fspath(weights), os.fspath(weights))
            path = resolve_weights(spec, family="facenet")
            state_dict = load_torch_file(path, what="FaceNet state dict")
            source = str(path)
            default_name = spec if spec in _ALIASES.values() else Path(spec).stem
            self.weights_path = path
        model = load_facenet(state_dict, source)
        self.model_version = state_dict_version({k: v for k, v in model.state_dict().items()})
        self.model_name = str(model_name or default_name)
        if not self.model_name.strip():
            raise ModelError("model_name must not be empty")
        if fuse:
            model = _fuse_for_inference(model)
        self.model = model.to(self.device).to(memory_format=torch.channels_last).eval()
        self.dim = EMBEDDING_DIM
        self.margin = int(margin)
        if not 0 <= self.margin < IMAGE_SIZE:
            raise ModelError(f"margin must be in [0, {IMAGE_SIZE}), got {margin}")
        self.crop = CropSpec(IMAGE_SIZE, margin=self.margin)
        self.batch_size = embedding_batch_size(batch_size, self.device)
        self._lock = threading.Lock()

    @property
    def key(self) -> ModelKey:
        """This embedder's model key (name, version, dimension): what the gallery stores with each vector.

        Usage:
            str(FaceEmbedder().key)  -> 'facenet-vggface2@<16 hex digits> (512-d)'
        """
        return ModelKey(self.model_name, self.model_version, self.dim)

    def crops(self, image: np.ndarray, faces: Detections | np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Standardised 160x160 crops ``(N, 3, 160, 160)`` for the boxes of one BGR image.

        ``out``: a ``(N, 3, 160, 160)`` float32 array (e.g. a slice of a batch) to fill instead of a new one.

        Usage:
            batch = np.empty((n, 3, 160, 160), np.float32); embedder.crops(frame, faces, out=batch[:len(faces)])
        """
        return box_crops(image, faces, self.crop, out=out)

    def embed(self, image: np.ndarray, faces: Detections | np.ndarray) -> np.ndarray:
        """Embeddings ``(N, 512)`` float32, L2-normalised, for the face boxes of one BGR image.

        Usage:
            embedder.embed(frame, face_detector.detect([frame])[0])
        """
        return self.embed_crops(self.crops(image, faces))

    def embed_crops(self, crops: np.ndarray) -> np.ndarray:
        """Embeddings of standardised crops ``(N, 3, 160, 160)``, batched by ``batch_size``.

        Usage:
            embedder.embed_crops(crop_faces(image, boxes)).shape  -> (len(boxes), 512)
        """
        import torch

        crops = check_crops(crops, self.crop)
        out = np.empty((len(crops), self.dim), np.float32)
        with self._lock, torch.inference_mode():
            for start in range(0, len(crops), self.batch_size):
                batch = torch.from_numpy(crops[start : start + self.batch_size]).to(self.device)
                vectors = self.model(batch.contiguous(memory_format=torch.channels_last))
                out[start : start + len(batch)] = vectors.float().cpu().numpy()
        # InceptionResnetV1 normalises already; renormalise in float32 so norms are 1 to rounding.
        return l2_normalise(out)

    def __repr__(self) -> str:
        return f"FaceEmbedder({self.key}, device={self.device})"


def make_facenet(*, device: Any = "auto", weights: str | os.PathLike | Mapping[str, Any] = DEFAULT_WEIGHTS, **options: Any) -> FaceEmbedder:
    """The ``"facenet"`` registry entry: ``FaceEmbedder(weights, device=device, **options)``.

    Usage:
        make_embedder("facenet", weights="casia-webface", device="cpu")
    """
    return FaceEmbedder(weights, device=device, **options)


EMBEDDERS.register("facenet", make_facenet)
