"""torchvision detectors exported to ONNX by detectkit, run with onnxruntime.

``detectkit export`` (:func:`detectkit.training.export.export`) writes the whole torchvision
model (its resize and normalisation, the detector, the box decoding and class-wise NMS) into one
ONNX graph that takes one RGB float ``(3, H, W)`` image in [0, 1] of any size and returns
``boxes`` (N, 4) in that image's pixels, ``labels`` (N,) and ``scores`` (N,). What the graph was
built with rides in the file's ``metadata_props`` (all strings):

=====================  ==========================================================
key                    value
=====================  ==========================================================
``detectkit_export``   format version (``"1"``); how ``load_backend`` recognises the file
``family``             ``"torchvision"``
``builder``            the torchvision builder (``"fasterrcnn_mobilenet_v3_large_320_fpn"``)
``names``              JSON ``{class_id: name}``
``label_offset``       subtracted from the graph's labels to get class ids (1 for fine-tuned
                       checkpoints, whose label 0 is background; 0 for COCO builders)
``imgsz``              the longest side the graph resizes images to
``min_size``,          the model's resize rule (torchvision's ``GeneralizedRCNNTransform``):
``max_size``,          shorter side to ``min_size`` unless the longer would pass ``max_size``;
``fixed_size``         SSD: always ``fixed_size`` (``"W,H"``; empty otherwise)
``score_thresh``       the lowest score the graph keeps (``conf`` below it cannot be honoured)
``nms_iou``            the graph's own class-wise NMS IoU (a lower ``iou`` is applied on top)
``max_det``            the most boxes the graph returns
``quantization``       ``"none"`` or ``"int8-dynamic"``
=====================  ==========================================================

The backend resizes each image on the host with the same ``torch`` interpolation, to the same
size, as the PyTorch model does (the graph's own resize then keeps it as it is) and maps the
boxes back: onnxruntime's ``Resize`` can round a size differently from PyTorch for some scales
(0.8, 0.4), which shifts boxes by a pixel or more; resizing first keeps ONNX and PyTorch
within a thousandth of a pixel.

Example:
    >>> # from detectkit import Detector
    >>> # detector = Detector("runs/exp/weights/best.onnx")   # detectkit-exported torchvision model
    >>> # detector("photo.jpg").labels
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..detections import Detections
from ..errors import WeightsFormatError
from .base import PredictOptions

__all__ = ["OnnxTorchvisionBackend", "read_metadata", "is_detectkit_onnx", "METADATA_KEY"]

METADATA_KEY = "detectkit_export"


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file, as a dict (``{}`` when there are none).

    Raises:
        WeightsFormatError: not a readable ONNX file.

    Example:
        >>> # read_metadata("best.onnx")["builder"]  -> 'fasterrcnn_mobilenet_v3_large_320_fpn'
    """
    path = Path(path)
    try:
        import onnx

        proto = onnx.load(str(path), load_external_data=False)
        return {prop.key: prop.value for prop in proto.metadata_props}
    except ImportError:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return dict(session.get_modelmeta().custom_metadata_map)
    except Exception as exc:  # onnx.load raises DecodeError and friends for non-ONNX bytes
        raise WeightsFormatError(f"{path}: not a readable ONNX file ({type(exc).__name__}: {exc})") from exc


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
        meta = read_metadata(self.path)
        if METADATA_KEY not in meta:
            raise WeightsFormatError(f"{self.path}: not an ONNX file exported by detectkit (no {METADATA_KEY} metadata)")
        try:
            self.names = {int(k): str(v) for k, v in json.loads(meta["names"]).items()}
            self.label_offset = int(meta.get("label_offset", "0"))
            self.imgsz = int(meta["imgsz"])
            self.min_size = float(meta.get("min_size", meta["imgsz"]))
            self.max_size = float(meta.get("max_size", meta["imgsz"]))
            fixed = [int(v) for v in meta.get("fixed_size", "").split(",") if v.strip()]
            self.fixed_size = (fixed[1], fixed[0]) if len(fixed) == 2 else None  # (height, width)
            self.score_thresh = float(meta.get("score_thresh", "0"))
            self.nms_iou = float(meta.get("nms_iou", "1"))
            self.max_det = int(meta.get("max_det", "100"))
        except (KeyError, ValueError) as exc:
            raise WeightsFormatError(f"{self.path}: detectkit ONNX metadata is incomplete or malformed ({exc})") from exc
        self.builder = meta.get("builder", "")
        self.quantization = meta.get("quantization", "none")
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
            warnings.warn(message, stacklevel=4)

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
        boxes = outputs["boxes"].astype(np.float32).reshape(-1, 4)
        scores = outputs["scores"].astype(np.float32).reshape(-1)
        labels = outputs["labels"].astype(np.int64).reshape(-1) - self.label_offset
        keep = scores >= options.conf
        if options.classes is not None:
            keep &= np.isin(labels, np.asarray(options.classes, dtype=np.int64))
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        if options.iou < self.nms_iou and len(boxes) > 1:
            import torch
            from torchvision.ops import batched_nms

            kept = batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(labels), options.iou)
            boxes, scores, labels = boxes[kept.numpy()], scores[kept.numpy()], labels[kept.numpy()]
        order = np.argsort(-scores, kind="stable")[: options.max_det]
        return Detections(
            xyxy=boxes[order], confidence=scores[order], class_id=labels[order], names=self.names, image_shape=shape
        )
