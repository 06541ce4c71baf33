"""``export(..., format="openvino")``: a detector of either family to an OpenVINO model folder.

The conversion is :func:`detectkit.runtimes.convert.to_openvino` (YOLO through ultralytics'
exporter; torchvision through detectkit's ONNX export and ``openvino.convert_model``; ``int8``:
NNCF post-training quantisation calibrated on up to 300 images of ``data``). When ``data`` has
labelled boxes and ``log`` is given, the model's mAP on its val split is measured by detectkit's
evaluator before (the source model) and after (the OpenVINO model), and logged.

Usage:
    export_openvino("yolov8n.pt", int8=True, data="coco128.yaml", log=print)
      mAP50-95 on coco128.yaml (val): before 0.419, after 0.412 (openvino int8)
      -> yolov8n_int8_openvino_model
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

__all__ = ["export_openvino", "compare_map"]


def compare_map(before: Any, after: Any, data: Any, log: Callable[[str], None], *, imgsz: int | None = None) -> tuple[float, float] | None:
    """mAP50-95 of two models on ``data``'s val split, logged as one line; ``None`` when it has no boxes.

    Usage:
        compare_map("best.pt", "best_openvino_model", "data.yaml", print)

    Example (data without boxes: nothing to score, so no model is even loaded):
        >>> from detectkit.training.data_model import DetectionDataset, Sample
        >>> unlabelled = DetectionDataset(["cat"], [Sample(Path(f"{i}.jpg"), [], [], 64, 64) for i in range(5)])
        >>> said = []
        >>> compare_map("absent.pt", "absent_openvino_model", unlabelled, said.append), said[0].split(": ", 1)[1]
        (None, 'no labelled boxes in its val split, so no mAP before/after')
    """
    from ..detection import Detector
    from ..training.datasets import load_splits
    from ..training.evaluate import evaluate

    _, val = load_splits(data)
    if not any(len(sample) for sample in val.samples):
        log(f"{data}: no labelled boxes in its val split, so no mAP before/after")
        return None
    scores = []
    for model in (before, after):
        scores.append(evaluate(Detector(model, device="cpu", imgsz=imgsz), val).map)
    log(f"mAP50-95 on {data} (val, {len(val)} images): before {scores[0]:.3f}, after {scores[1]:.3f}")
    return scores[0], scores[1]


def export_openvino(
    model: str | os.PathLike,
    *,
    imgsz: int | None = None,
    int8: bool = False,
    out: str | os.PathLike | None = None,
    data: Any = None,
    weights: Any = "DEFAULT",
    log: Callable[[str], None] | None = None,
) -> Path:
    """Write an OpenVINO folder for ``model`` (see the module docstring); returns the folder.

    Raises:
        ModelError: int8 without ``data``, or the conversion failed.
        WeightsFormatError: ``model`` is an ONNX file (convert the float weights).
    """
    from .convert import to_openvino

    folder = to_openvino(model, out, imgsz=imgsz, int8=int8, data=data, weights=weights)
    if log is not None and data is not None:
        compare_map(os.fspath(model), folder, data, log, imgsz=imgsz)
    return folder
