"""`OnnxFaceEmbedder`: any face-embedding ONNX file (ArcFace / InsightFace, SFace, ...) as a detectkit embedder.

The model takes aligned face chips and returns one vector per face. What it expects
is read from the file, or given:

* input layout and size from the input's shape: ``(N, 3, H, W)`` or ``(N, H, W, 3)``
  (a dynamic H/W takes ``input_size``, default 112);
* preprocessing ``(pixel - mean) * scale`` and the colour order, from the model's
  ``metadata_props`` (keys ``mean``, ``scale`` or ``std`` (scale = 1/std), ``color``
  ``rgb``/``bgr``, ``input_size``, ``alignment``, ``model_name``) unless given as
  arguments; defaults are InsightFace's ArcFace convention: RGB, mean 127.5, std 127.5;
* alignment: ``"arcface"`` (default) warps the five landmarks onto InsightFace's
  standard 112x112 template (``arcface_dst``, scaled to other sizes) by a similarity
  transform, as ``insightface.utils.face_align.norm_crop``; ``"dlib"`` makes dlib's
  150-px-style chip (:mod:`detectkit.faces.dlib_chip`, any size).

At load the model runs once on a zero batch, so a file whose output is not one
``(N, D)`` vector per face (or whose input is not an image batch) is refused then,
with a :class:`~detectkit.errors.WeightsFormatError` naming the file.

Usage:
    embedder = OnnxFaceEmbedder("w600k_r50.onnx")       # InsightFace buffalo_l's recogniser
    embedder = OnnxFaceEmbedder("face_recognition_sface_2021dec.onnx", mean=0, scale=1)
    embedder.embed(frame, faces).shape  -> (N, 512) / (N, 128)
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..detections import Detections
from ..devices import select_device
from ..errors import ModelError, WeightsFormatError
from .embedders import EMBEDDERS, CropSpec, l2_normalise
from .model_key import ModelKey

__all__ = ["OnnxFaceEmbedder", "ARCFACE_TEMPLATE", "arcface_template", "make_onnx_embedder"]

ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ]
)
"""InsightFace's ``arcface_dst``: eyes, nose, mouth corners (image left first) in a 112x112 chip."""

Alignment = Literal["arcface", "dlib"]


def arcface_template(size: int) -> np.ndarray:
    """The ArcFace template for a ``size`` chip: scaled by size/112 (InsightFace's ``estimate_norm``
    for sizes that are multiples of 112; a 128 chip is scaled by 128/112 too and has no x shift).

    Example:
        >>> arcface_template(224)[2].tolist()
        [112.0504, 143.4732]
    """
    return ARCFACE_TEMPLATE * (float(size) / 112.0)


def _meta_float(meta: dict[str, str], *keys: str) -> float | None:
    for key in keys:
        if key in meta:
            try:
                return float(meta[key])
            except ValueError:
                return None
    return None


class OnnxFaceEmbedder:
    """Face embeddings from an ONNX model file.

    Args:
        path: the ``.onnx`` file (a path, or a file name found in the weights folders).
        input_size: chip side when the model's H/W are dynamic (default: metadata, else 112).
        mean, scale: ``(pixel - mean) * scale``; scalars or one value per channel (in the
            model's colour order). Default: metadata, else 127.5 and 1/127.5.
        color: ``"rgb"`` or ``"bgr"`` channel order of the input (default: metadata, else RGB).
        alignment: ``"arcface"`` or ``"dlib"`` (default: metadata, else ``"arcface"``).
        model_name: the name stored in the gallery (default: metadata ``model_name``, else the file's stem).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` (CUDA needs onnxruntime-gpu).
        batch_size: most chips per call (a model with a fixed batch of 1 runs one at a time).

    Raises:
        WeightsNotFoundError: no such file.
        WeightsFormatError: not an ONNX model, the input is not an image batch, or the output
            is not one vector per face.
        ModelError: options that do not fit (unknown colour order or alignment, bad mean).

    Usage:
        OnnxFaceEmbedder("arcface.onnx").crop_size  -> 112
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        input_size: int | None = None,
        mean: float | tuple[float, float, float] | None = None,
        scale: float | tuple[float, float, float] | None = None,
        color: str | None = None,
        alignment: Alignment | None = None,
        model_name: str | None = None,
        device: Any = "auto",
        batch_size: int | None = None,
    ) -> None:
        from ..weights import resolve_weights, sha256_of

        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - onnxruntime is in [onnx]
            raise ModelError("the onnx embedder needs onnxruntime: pip install 'detectkit[onnx]'") from exc

        self.path = Path(resolve_weights(path, download=False))
        source = str(self.path)
        self.device = select_device(device)
        providers = ["CPUExecutionProvider"]
        if self.device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = ort.InferenceSession(source, providers=providers)
        except Exception as exc:  # onnxruntime raises its own Fail / InvalidProtobuf / RuntimeError kinds
            raise WeightsFormatError(f"{source}: not a loadable ONNX model: {type(exc).__name__}: {str(exc)[:300]}") from exc
        meta = dict(self.session.get_modelmeta().custom_metadata_map or {})
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise WeightsFormatError(f"{source}: a face embedder takes one input (a chip batch), this model takes {len(inputs)}")
        self.input_name = inputs[0].name
        shape = list(inputs[0].shape)
        if len(shape) != 4:
            raise WeightsFormatError(
                f"{source}: input {self.input_name!r} has shape {shape}; expected an image batch (N, 3, H, W) or (N, H, W, 3)"
            )
        if shape[1] == 3:
            self.layout, hw = "NCHW", shape[2:4]
        elif shape[3] == 3:
            self.layout, hw = "NHWC", shape[1:3]
        else:
            raise WeightsFormatError(
                f"{source}: input {self.input_name!r} has shape {shape}: neither (N, 3, H, W) nor (N, H, W, 3), "
                "so it is not a colour image batch"
            )
        fixed = [d for d in hw if isinstance(d, int) and d > 0]
        if len(fixed) == 2 and fixed[0] != fixed[1]:
            raise WeightsFormatError(f"{source}: input chips are {fixed[0]}x{fixed[1]}; only square chips are supported")
        size = fixed[0] if fixed else int(input_size or _meta_float(meta, "input_size") or 112)
        if input_size is not None and fixed and int(input_size) != size:
            raise ModelError(f"{source}: the model's input is {size}x{size}, not input_size={input_size}")
        self.crop_size = int(size)
        self.fixed_batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None

        self.color = str(color or meta.get("color") or meta.get("channel_order") or "rgb").lower()
        if self.color not in ("rgb", "bgr"):
            raise ModelError(f"color must be 'rgb' or 'bgr', got {self.color!r}")
        mean_v = mean if mean is not None else _meta_float(meta, "mean", "input_mean")
        if scale is None:
            std = _meta_float(meta, "std", "input_std")
            scale_v: Any = _meta_float(meta, "scale") if std is None else 1.0 / std
        else:
            scale_v = scale
        self.mean = np.broadcast_to(np.asarray(127.5 if mean_v is None else mean_v, np.float32), (3,)).copy()
        self.scale = np.broadcast_to(np.asarray(1 / 127.5 if scale_v is None else scale_v, np.float32), (3,)).copy()
        if not (np.isfinite(self.mean).all() and np.isfinite(self.scale).all()) or (self.scale == 0).any():
            raise ModelError(f"mean {self.mean.tolist()} / scale {self.scale.tolist()} must be finite, scale non-zero")
        self.alignment = str(alignment or meta.get("alignment") or "arcface").lower()
        if self.alignment not in ("arcface", "dlib"):
            raise ModelError(f"alignment must be 'arcface' or 'dlib', got {self.alignment!r}")
        self.model_name = str(model_name or meta.get("model_name") or self.path.stem)
        if not self.model_name.strip():
            raise ModelError("model_name must not be empty")
        self.model_version = sha256_of(self.path)[:16]
        self.batch_size = 1 if self.fixed_batch == 1 else int(batch_size or 32)
        if self.batch_size < 1:
            raise ModelError(f"batch_size must be at least 1, got {batch_size}")
        self._lock = threading.Lock()
        # one call on a zero batch: the output must be one vector per chip
        probe = np.zeros((self.fixed_batch or 2, *self._chip_shape()), np.float32)
        try:
            outputs = self.session.run(None, {self.input_name: probe})
        except Exception as exc:
            raise WeightsFormatError(
                f"{source}: the model fails on a {list(probe.shape)} float32 chip batch: {type(exc).__name__}: {str(exc)[:300]}"
            ) from exc
        first = np.asarray(outputs[0])
        if first.ndim == 4 and first.shape[2:] == (1, 1):
            first = first[:, :, 0, 0]
        if first.ndim != 2 or first.shape[0] != len(probe) or first.shape[1] < 2:
            raise WeightsFormatError(
                f"{source}: output {self.session.get_outputs()[0].name!r} has shape {list(np.asarray(outputs[0]).shape)} "
                f"for {len(probe)} chips; a face embedder returns one vector per chip, (N, D)"
            )
        self.dim = int(first.shape[1])
        if self.alignment == "dlib":
            from .dlib_chip import CHIP_PADDING, MTCNN_TEMPLATE

            self.crop = CropSpec(self.crop_size, template=tuple(map(tuple, MTCNN_TEMPLATE)), padding=CHIP_PADDING)
        else:
            self.crop = CropSpec(self.crop_size, template=tuple(map(tuple, arcface_template(self.crop_size) / self.crop_size)))

    def _chip_shape(self) -> tuple[int, int, int]:
        s = self.crop_size
        return (3, s, s) if self.layout == "NCHW" else (s, s, 3)

    @property
    def key(self) -> ModelKey:
        """Model key: name, version (first 16 hex digits of the file's SHA-256), dimension.

        Usage:
            str(OnnxFaceEmbedder("arcface.onnx").key)  -> 'arcface@<16 hex> (512-d)'
        """
        return ModelKey(self.model_name, self.model_version, self.dim)

    def chips(self, image: np.ndarray, faces: Detections | np.ndarray) -> np.ndarray:
        """Aligned uint8 chips ``(N, S, S, 3)`` in the image's (BGR) order, before colour and scaling.

        Usage:
            embedder.chips(frame, faces)[0]   -> the 112x112 face ArcFace sees (BGR)
        """
        import cv2

        from .dlib_chip import CHIP_PADDING, MTCNN_TEMPLATE, face_chips, similarity_transform
        from .dlib_embedder import landmarks_from_boxes

        if isinstance(faces, Detections):
            points = faces.landmarks if faces.landmarks is not None else landmarks_from_boxes(faces.xyxy)
            points = np.asarray(points, np.float64)
            missing = ~np.isfinite(points).all(axis=(1, 2))
            if missing.any():
                points = points.copy()
                points[missing] = landmarks_from_boxes(faces.xyxy[missing])
        else:
            array = np.asarray(faces, np.float64)
            points = array.reshape(-1, 5, 2) if array.ndim == 3 else landmarks_from_boxes(array)
        s = self.crop_size
        if self.alignment == "dlib":
            return face_chips(image, points, template=MTCNN_TEMPLATE, size=s, padding=CHIP_PADDING)
        dst = arcface_template(s)
        out = np.empty((len(points), s, s, 3), np.uint8)
        for i, pts in enumerate(points):
            m = similarity_transform(pts, dst)  # image -> chip, as norm_crop
            out[i] = cv2.warpAffine(image, m, (s, s), borderValue=0.0)
        return out

    def crops(self, image: np.ndarray, faces: Detections | np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Preprocessed float32 chips ``(N, 3, S, S)`` (model colour order, mean and scale applied) of one BGR image.

        Always channels-first, as every embedder's crops; :meth:`embed_crops` transposes for an NHWC model.

        Usage:
            embedder.embed_crops(embedder.crops(frame, faces))
        """
        chips = self.chips(image, faces).astype(np.float32)
        if self.color == "rgb":
            chips = chips[..., ::-1]
        chips = ((chips - self.mean) * self.scale).transpose(0, 3, 1, 2)
        if out is None:
            return np.ascontiguousarray(chips, dtype=np.float32)
        if out.shape != chips.shape or out.dtype != np.float32:
            raise ValueError(f"out must be a {chips.shape} float32 array, got {out.shape} {out.dtype}")
        out[...] = chips
        return out

    def embed_crops(self, crops: np.ndarray) -> np.ndarray:
        """L2-normalised embeddings ``(N, D)`` float32 of chips from :meth:`crops`.

        Usage:
            embedder.embed_crops(embedder.crops(frame, faces)).shape  -> (len(faces), D)
        """
        s = self.crop_size
        crops = np.asarray(crops, dtype=np.float32)
        if crops.ndim != 4 or crops.shape[1:] != (3, s, s):
            raise ModelError(f"face crops must have shape (N, 3, {s}, {s}), got {crops.shape}")
        if self.layout == "NHWC":
            crops = crops.transpose(0, 2, 3, 1)
        crops = np.ascontiguousarray(crops)
        out = np.empty((len(crops), self.dim), np.float32)
        with self._lock:
            for start in range(0, len(crops), self.batch_size):
                batch = crops[start : start + self.batch_size]
                vectors = np.asarray(self.session.run(None, {self.input_name: batch})[0], np.float32)
                out[start : start + len(batch)] = vectors.reshape(len(batch), self.dim)
        return l2_normalise(out)

    def embed(self, image: np.ndarray, faces: Detections | np.ndarray) -> np.ndarray:
        """Embeddings ``(N, D)`` float32, L2-normalised, of the faces of one BGR image.

        Usage:
            embedder.embed(frame, face_detector.detect([frame])[0])
        """
        if len(faces) == 0:
            return np.zeros((0, self.dim), np.float32)
        return self.embed_crops(self.crops(image, faces))

    def __repr__(self) -> str:
        return f"OnnxFaceEmbedder({self.key}, {self.path.name}, {self.layout} {self.crop_size}px, {self.alignment})"


def make_onnx_embedder(*, device: Any = "auto", path: str | os.PathLike | None = None, **options: Any) -> OnnxFaceEmbedder:
    """The ``"onnx"`` registry entry: ``make_embedder("onnx", path="arcface.onnx", color="bgr", ...)``.

    Example:
        >>> make_onnx_embedder()
        Traceback (most recent call last):
        ...
        detectkit.errors.ModelError: the onnx face embedder needs path= (a face-embedding .onnx file)
    """
    if path is None:
        raise ModelError("the onnx face embedder needs path= (a face-embedding .onnx file)")
    return OnnxFaceEmbedder(path, device=device, **options)


EMBEDDERS.register("onnx", make_onnx_embedder)
