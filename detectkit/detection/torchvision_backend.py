"""torchvision's detection models (Faster R-CNN, RetinaNet, FCOS, SSD, SSDlite, Mask/Keypoint R-CNN boxes).

Three ways to get one:

* a builder name with COCO weights: ``"fasterrcnn_resnet50_fpn"`` (weights found by
  :mod:`detectkit.weights`, class names from the weights' metadata, torchvision's COCO ids);
* a builder name with ``weights=None``: untrained (tests, training from scratch);
* a detectkit checkpoint (see :mod:`detectkit.checkpoint`): fine-tuned weights and class names,
  class ids 0-based in the checkpoint's ``classes``.

Example:
    >>> import torch
    >>> backend = TorchvisionBackend("fasterrcnn_mobilenet_v3_large_320_fpn", torch.device("cpu"), weights=None)
    >>> backend.names[1]
    'person'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..checkpoint import Checkpoint, load_checkpoint
from ..detections import Detections
from ..errors import ModelError, WeightsFormatError
from ..user_warnings import warn_user
from ..weights import load_torch_file, resolve_weights
from .base import PredictOptions
from .postprocess import filtered_detections, strict_threshold

__all__ = ["TorchvisionBackend", "detection_builders", "build_model", "coco_names", "preprocess", "set_box_thresholds"]


def detection_builders() -> list[str]:
    """Names of torchvision's detection model builders.

    Example:
        >>> "fasterrcnn_resnet50_fpn" in detection_builders()
        True
    """
    import torchvision
    from torchvision.models import detection

    return sorted(torchvision.models.list_models(module=detection))


def _categories(builder: str) -> list[str]:
    from torchvision.models import get_model_weights

    if builder not in detection_builders():
        raise ModelError(f"unknown torchvision detection builder {builder!r}; known: {', '.join(detection_builders())}")
    return list(get_model_weights(builder).DEFAULT.meta["categories"])


def coco_names(builder: str) -> dict[int, str]:
    """``{label: name}`` for a builder's COCO weights (from the weights' own metadata; no download).

    Example:
        >>> coco_names("fasterrcnn_resnet50_fpn")[1]
        'person'
    """
    return {i: name for i, name in enumerate(_categories(builder)) if name not in ("__background__", "N/A")}


def build_model(builder: str, num_classes: int, **kwargs: Any) -> Any:
    """An untrained torchvision detector with ``num_classes`` outputs (background included).

    No weights are downloaded: neither the detector's nor the backbone's.
    """
    import torchvision

    if builder not in detection_builders():
        raise ModelError(f"unknown torchvision detection builder {builder!r}; known: {', '.join(detection_builders())}")
    kwargs.setdefault("weights_backbone", None)
    return torchvision.models.get_model(builder, weights=None, num_classes=num_classes, **kwargs)


def set_box_thresholds(model: Any, *, score: float, nms_iou: float, per_image: int) -> None:
    """Set a torchvision detector's own box thresholds (R-CNNs keep them on ``roi_heads``; RetinaNet,
    FCOS and SSD on the model): the one place both prediction and export set them.

    Example:
        >>> model = build_model("fasterrcnn_mobilenet_v3_large_320_fpn", 3)
        >>> set_box_thresholds(model, score=0.5, nms_iou=0.4, per_image=10)
        >>> model.roi_heads.score_thresh, model.roi_heads.nms_thresh, model.roi_heads.detections_per_img
        (0.5, 0.4, 10)
    """
    holder = getattr(model, "roi_heads", model)
    holder.score_thresh = score
    holder.nms_thresh = nms_iou
    holder.detections_per_img = per_image


def preprocess(image: np.ndarray, device: Any) -> Any:
    """BGR uint8 HWC array -> RGB float CHW tensor in [0, 1] on ``device`` (converted there)."""
    import torch

    tensor = torch.from_numpy(np.ascontiguousarray(image)).to(device, non_blocking=True)
    # reorder in uint8 (cheap), into the contiguous CHW layout torchvision's transform expects
    return tensor.permute(2, 0, 1).flip(0).contiguous().float().div_(255.0)


class TorchvisionBackend:
    """A torchvision detection model behind detectkit's backend interface."""

    family = "torchvision"

    def __init__(
        self,
        spec: str | os.PathLike | Checkpoint,
        device: Any,
        *,
        weights: str | os.PathLike | None = "DEFAULT",
        builder_kwargs: dict[str, Any] | None = None,
    ) -> None:
        import torch

        self.device = device
        self.checkpoint: Checkpoint | None = None
        if not isinstance(spec, Checkpoint) and Path(os.fspath(spec)).is_file():
            spec = load_checkpoint(spec)
        if isinstance(spec, Checkpoint):
            ckpt = self.checkpoint = spec
            self.builder = ckpt.builder
            self.model = build_model(ckpt.builder, len(ckpt.classes) + 1, **ckpt.builder_kwargs)
            _load_state(self.model, ckpt.state_dict, ckpt.path or Path("<checkpoint>"))
            self.names = {i: name for i, name in enumerate(ckpt.classes)}
            self.label_offset = 1  # torchvision label 1 is classes[0]
            self.default_imgsz: int | None = ckpt.imgsz
            self.source = str(ckpt.path)
        else:
            text = os.fspath(spec)
            self.builder = text
            self.names = coco_names(text)
            self.model = build_model(text, len(_categories(text)), **(builder_kwargs or {}))
            self.label_offset = 0
            self.default_imgsz = None
            self.source = text
            if weights is not None:
                path = resolve_weights(text if weights == "DEFAULT" else weights, family="torchvision")
                _load_state(self.model, load_torch_file(path, what="state dict"), path)
                self.source = str(path)
        _boxes_only(self.model)
        self.model.eval().to(device)
        self._torch = torch
        self._base_size = _transform_size(self.model)
        self._warned_fixed = False

    def torch_module(self) -> Any:
        """The ``torch.nn.Module`` this backend runs (in eval mode, on ``device``): for export and for
        scoring a model being trained; prediction goes through :meth:`predict`."""
        return self.model

    # ------------------------------------------------------------------ thresholds
    def _apply(self, options: PredictOptions) -> int:
        """Set the model's own thresholds; returns how many boxes to ask for before class filtering."""
        per_image = options.max_det if options.classes is None else max(options.max_det, 1000)
        # torchvision keeps score > score_thresh; the post-filter then keeps score >= conf
        set_box_thresholds(self.model, score=strict_threshold(options.conf), nms_iou=options.iou, per_image=per_image)
        transform = self.model.transform
        size = options.imgsz or self.default_imgsz
        if size is None:
            transform.min_size, transform.max_size, transform.fixed_size = self._base_size
        elif self._base_size[2] is not None:  # SSD: anchors made for one fixed input size
            if not self._warned_fixed:
                warn_user(f"{self.builder} takes a fixed {self._base_size[2][0]}x{self._base_size[2][1]} input; imgsz={size} is ignored")
                self._warned_fixed = True
        else:
            transform.min_size, transform.max_size = (size,), size
        return per_image

    def predict(self, images: Sequence[np.ndarray], options: PredictOptions) -> list[Detections]:
        torch = self._torch
        self._apply(options)
        tensors = [preprocess(image, self.device) for image in images]
        autocast = torch.autocast("cuda", dtype=torch.float16) if options.half and self.device.type == "cuda" else _null()
        with torch.inference_mode(), autocast:
            outputs = self.model(tensors)
        results = []
        for image, output in zip(images, outputs):
            results.append(
                filtered_detections(
                    output["boxes"].float().cpu().numpy(),
                    output["scores"].float().cpu().numpy(),
                    (output["labels"] - self.label_offset).cpu().numpy(),
                    options,
                    self.names,
                    image.shape[:2],
                )
            )
        return results


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def _boxes_only(model: Any) -> None:
    """Drop Mask/Keypoint R-CNN's mask and keypoint branches: detectkit returns boxes, and torchvision
    skips a branch whose pooler is ``None`` (``RoIHeads.has_mask()`` / ``has_keypoint()``)."""
    heads = getattr(model, "roi_heads", None)
    if heads is None:
        return
    for prefix in ("mask", "keypoint"):
        if getattr(heads, f"{prefix}_roi_pool", None) is not None:
            setattr(heads, f"{prefix}_roi_pool", None)
            setattr(heads, f"{prefix}_head", None)
            setattr(heads, f"{prefix}_predictor", None)


def _transform_size(model: Any) -> tuple[tuple[int, ...], int, Any]:
    transform = model.transform
    return tuple(transform.min_size), transform.max_size, getattr(transform, "fixed_size", None)


def _load_state(model: Any, state: Any, path: Path) -> None:
    if not isinstance(state, dict) or not state:
        raise WeightsFormatError(f"{path}: expected a state dict (a mapping of parameter names to tensors)")
    if "model" in state and isinstance(state["model"], dict):  # torchvision reference-script checkpoints
        state = state["model"]
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        first = str(exc).strip().splitlines()
        detail = next((line.strip() for line in first if "size mismatch" in line), first[0] if first else "")
        raise WeightsFormatError(f"{path}: weights do not fit {type(model).__name__}: {detail}") from exc
    problems = []
    if result.missing_keys:
        problems.append(f"{len(result.missing_keys)} missing (e.g. {result.missing_keys[0]})")
    if result.unexpected_keys:
        problems.append(f"{len(result.unexpected_keys)} unexpected (e.g. {result.unexpected_keys[0]})")
    if problems:
        raise WeightsFormatError(
            f"{path}: weights do not fit {type(model).__name__}: parameters " + "; ".join(problems)
        )
