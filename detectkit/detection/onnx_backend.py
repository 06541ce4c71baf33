"""torchvision detectors exported to ONNX by detectkit, run with onnxruntime.

``detectkit export`` (:func:`detectkit.deploy.onnx.export`) writes the whole torchvision
model (its resize and normalisation, the detector, the box decoding and class-wise NMS) into one
ONNX graph that takes one RGB float ``(3, H, W)`` image in [0, 1] of any size and returns
``boxes`` (N, 4) in that image's pixels, ``labels`` (N,) and ``scores`` (N,). What the graph was
built with rides in the file's ``metadata_props``, in the schema of
:mod:`detectkit.detection.model_metadata` (``ExportMetadata``: the exporter writes it, this backend
reads it, with the same code).

The backend resizes each image on the host with the same ``torch`` interpolation, to the same
size, as the PyTorch model does (the graph's own resize then keeps it as it is) and maps the
boxes back: onnxruntime's ``Resize`` can round a size differently from PyTorch for some scales
(0.8, 0.4), which shifts boxes by a pixel or more; resizing first keeps ONNX and PyTorch
within a thousandth of a pixel.

Usage:
    from detectkit import Detector
    detector = Detector("runs/exp/weights/best.onnx")   # detectkit-exported torchvision model
    detector("photo.jpg").labels
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..detections import Detections
from ..errors import WeightsFormatError
from ..user_warnings import warn_user
from .base import PredictOptions
from .model_metadata import METADATA_KEY, ExportMetadata, read_onnx_metadata
from .postprocess import filtered_detections

__all__ = ["OnnxTorchvisionBackend", "read_metadata", "is_detectkit_onnx", "METADATA_KEY"]


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file, as a dict (``{}`` when there are none).

    Raises:
        WeightsFormatError: not a readable ONNX file.

    Usage:
        read_metadata("best.onnx")["builder"]  -> 'fasterrcnn_mobilenet_v3_large_320_fpn'
    """
    return read_onnx_metadata(path)


def is_detectkit_onnx(path: str | os.PathLike) -> bool:
    """True for an ONNX file ``detectkit export`` wrote from a torchvision detector.

    Example:
        >>> is_detectkit_onnx("no/such/file.onnx")
        False
    """
    path = Path(path)
    if not path.is_file() or path.suffix.lower() != ".onnx":
        return False
    try:
        meta = read_metadata(path)
    except WeightsFormatError:
        return False
    return METADATA_KEY in meta and meta.get("family") == "torchvision"


def _providers(device: Any) -> list[str]:
    import onnxruntime

    available = onnxruntime.get_available_providers()
    if getattr(device, "type", "cpu") == "cuda" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OnnxTorchvisionBackend:
    """An exported torchvision detector (see the module docstring) behind detectkit's backend interface."""

    family = "torchvision"

    def __init__(self, path: str | os.PathLike, device: Any) -> None:
        try:
            import onnxruntime
        except ImportError as exc:  # pragma: no cover - an optional extra
            raise WeightsFormatError(f"{path}: running ONNX models needs onnxruntime (pip install detectkit[onnx])") from exc
        self.path = Path(path)
        self.source = str(self.path)
        self.metadata = ExportMetadata.from_dict(read_metadata(self.path), self.path)
        meta = self.metadata
        self.names = dict(meta.names)
        self.label_offset = meta.label_offset
        self.imgsz = meta.imgsz
        self.min_size, self.max_size, self.fixed_size = meta.min_size, meta.max_size, meta.fixed_size
        self.score_thresh, self.nms_iou, self.max_det = meta.score_thresh, meta.nms_iou, meta.max_det
        self.builder = meta.builder
        self.quantization = meta.quantization
        self.device = device
        import torch

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()  # one thread setting for both runtimes
        try:
            self.session = onnxruntime.InferenceSession(str(self.path), options, providers=_providers(device))
        except Exception as exc:
            raise WeightsFormatError(f"{self.path}: onnxruntime could not load it ({type(exc).__name__}: {exc})") from exc
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        self._warned: set[str] = set()

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warn_user(message)

    def predict(self, images: Sequence[np.ndarray], options: PredictOptions) -> list[Detections]:
        if options.imgsz is not None and options.imgsz != self.imgsz:
            self._warn_once("imgsz", f"{self.path.name} resizes to {self.imgsz} inside the graph; imgsz={options.imgsz} is ignored")
        if options.conf < self.score_thresh:
            self._warn_once(
                "conf", f"{self.path.name} keeps scores >= {self.score_thresh}; conf={options.conf} acts as {self.score_thresh}"
            )
        results = []
        for image in images:
            tensor, ratio = self._resize(image)
            outputs = dict(zip(self.output_names, self.session.run(None, {self.input_name: tensor})))
            outputs["boxes"] = outputs["boxes"].reshape(-1, 4) * ratio
            results.append(self._detections(outputs, image.shape[:2], options))
        return results

    def _resize(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """RGB float CHW at the size torchvision's transform gives it, and the box scale back to ``image``."""
        import torch
        from torch.nn.functional import interpolate

        height, width = image.shape[:2]
        if self.fixed_size is not None:
            size = self.fixed_size
        else:
            scale = min(self.min_size / min(height, width), self.max_size / max(height, width))
            size = (int(np.floor(height * scale)), int(np.floor(width * scale)))
        tensor = torch.from_numpy(np.ascontiguousarray(image[:, :, ::-1].transpose(2, 0, 1))).float().div_(255.0)
        if size != (height, width):
            tensor = interpolate(tensor[None], size=size, mode="bilinear", align_corners=False)[0]
        ratio = np.array([width, height, width, height], np.float32) / np.array([size[1], size[0]] * 2, np.float32)
        return tensor.numpy(), ratio

    def _detections(self, outputs: dict[str, np.ndarray], shape: tuple[int, int], options: PredictOptions) -> Detections:
        labels = outputs["labels"].astype(np.int64) - self.label_offset  # filtered_detections checks the shapes
        return filtered_detections(outputs["boxes"], outputs["scores"], labels, options, self.names, shape,
                                   nms=options.iou < self.nms_iou)
