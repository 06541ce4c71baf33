"""``export()``: a detector of either family to ONNX, runnable by ``Detector(path.onnx)`` with onnxruntime.

* YOLO (``.pt`` / known YOLO names): ultralytics' exporter (fixed ``imgsz`` square input, its own
  metadata; ``Detector`` runs it through ultralytics' ONNX backend). ``int8=True`` quantises with
  onnxruntime's static quantisation on calibration images from ``data`` (ultralytics' recipe),
  which is why YOLO int8 needs ``data``.
* torchvision (a detectkit checkpoint, or a builder name with its COCO weights): ``torch.onnx.export``
  (the TorchScript-based exporter, opset 17) of the whole model, pre- and post-processing
  included, with the image height and width left dynamic (any input size; the graph resizes
  to the checkpoint's ``imgsz`` itself, as the PyTorch model does). Classes, builder, image size
  and the thresholds baked into the graph go into the ONNX ``metadata_props`` (see
  :mod:`detectkit.detection.model_metadata`), which is how ``Detector`` recognises the file.
  ``int8=True`` adds onnxruntime's dynamic int8 quantisation of the fully connected layers
  (``MatMul``/``Gemm``: Faster R-CNN's box head; no calibration data needed), written beside
  the float file as ``*_int8.onnx``. One difference from the PyTorch model: the graph keeps every
  region proposal (``rpn_score_thresh=0``; the mobilenet-320 builders drop proposals scored below
  0.05, which a traced graph cannot follow), so it can return a few more low-score boxes.

Usage:
    from detectkit import export, Detector
    path = export("runs/exp/weights/best.pt", format="onnx")      # -> runs/exp/weights/best.onnx
    Detector(path)("photo.jpg")
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path
from typing import Any

from ..detection.model_metadata import METADATA_KEY, ExportMetadata, read_onnx_metadata, write_onnx_metadata
from ..detection.registry import family_of
from ..errors import DetectKitError, ModelError, WeightsFormatError
from ..registry import BuiltinRegistry, Registry

__all__ = ["export", "export_torchvision_onnx", "quantize_int8", "EXPORT_FORMATS", "EXPORTERS"]

EXPORT_FORMATS = ("onnx", "openvino", "engine")
EXPORTERS: Registry[Any] = BuiltinRegistry("export format", builtins=("detectkit.runtimes.registration",))
"""Formats other than ONNX: ``exporter(model, *, imgsz, int8, out, data, weights, log) -> Path``
(``"engine"`` here; ``"openvino"`` is registered by :mod:`detectkit.runtimes.registration`)."""
EXPORT_SCORE_THRESH = 0.001
"""The lowest score a torchvision ONNX graph keeps (``Detector``'s ``conf`` filters above it)."""


def quantize_int8(source: str | os.PathLike, target: str | os.PathLike) -> Path:
    """onnxruntime dynamic int8 quantisation of an ONNX file's MatMul/Gemm weights (metadata kept).

    Usage:
        quantize_int8("best.onnx", "best_int8.onnx")
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source, target = Path(source), Path(target)
    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"])
    meta = read_onnx_metadata(source)
    if METADATA_KEY in meta:
        meta = ExportMetadata.from_dict(meta, source).with_quantization("int8-dynamic").to_dict()
    write_onnx_metadata(target, meta, replace_all=True)
    return target


def export_torchvision_onnx(
    model: str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    imgsz: int | None = None,
    opset: int = 17,
    weights: Any = "DEFAULT",
    max_det: int = 300,
    nms_iou: float = 0.5,
) -> Path:
    """Export a torchvision detector (detectkit checkpoint or builder name) to ONNX; see the module docstring.

    Args:
        model: a detectkit checkpoint path or a torchvision builder name.
        out: the ``.onnx`` path (default: beside the checkpoint, or ``<builder>.onnx``).
        imgsz: the longest side the graph resizes to (default: the checkpoint's, or the builder's own).
        opset: ONNX opset (at least 11, which torchvision's detection ops need).
        weights: for a builder name: ``"DEFAULT"`` (COCO weights, found offline first) or ``None``.
        max_det: most boxes the graph returns per image.
        nms_iou: the graph's class-wise NMS IoU.

    Usage:
        export_torchvision_onnx("runs/exp/weights/best.pt", imgsz=320)
    """
    import torch

    from ..detection.torchvision_backend import TorchvisionBackend, set_box_thresholds

    if opset < 11:
        raise ModelError(f"opset {opset}: torchvision detection models need ONNX opset 11 or newer")
    backend = TorchvisionBackend(model, torch.device("cpu"), weights=weights)
    net = backend.torch_module().eval()
    size = imgsz or backend.default_imgsz
    transform = net.transform
    if size is not None and getattr(transform, "fixed_size", None) is None:
        transform.min_size, transform.max_size = (int(size),), int(size)
    size = int(size or max(getattr(transform, "fixed_size", None) or (transform.max_size,)))
    set_box_thresholds(net, score=EXPORT_SCORE_THRESH, nms_iou=nms_iou, per_image=max_det)
    rpn_thresh = float(getattr(getattr(net, "rpn", None), "score_thresh", 0.0) or 0.0)
    if rpn_thresh:
        # a proposal score threshold (the mobilenet-320 builders' 0.05) makes the traced graph fail on images
        # where it drops proposals (a Reshape fixed at trace time); the graph keeps them all, as the other builders do
        net.rpn.score_thresh = 0.0
    if out is None:
        base = Path(os.fspath(model))
        out = base.with_suffix(".onnx") if base.is_file() else Path(f"{base.name}.onnx")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    example = torch.rand(3, size, size)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer warnings about Python control flow torchvision knows of
            torch.onnx.export(
                _OneImage(net), (example,), str(tmp), dynamo=False, opset_version=int(opset),
                input_names=["image"], output_names=["boxes", "labels", "scores"],
                dynamic_axes={"image": {1: "height", 2: "width"}, "boxes": {0: "n"}, "labels": {0: "n"}, "scores": {0: "n"}},
            )
        fixed = getattr(transform, "fixed_size", None)
        metadata = ExportMetadata(
            builder=backend.builder, names=dict(backend.names), label_offset=backend.label_offset, imgsz=size,
            min_size=transform.min_size[-1], max_size=transform.max_size,
            fixed_size=(int(fixed[1]), int(fixed[0])) if fixed else None,  # torchvision's fixed_size is (width, height)
            score_thresh=EXPORT_SCORE_THRESH, nms_iou=nms_iou, max_det=max_det, quantization="none",
            extra={"source": str(backend.source), "rpn_score_thresh": f"0 (PyTorch model: {rpn_thresh})"},
        )
        write_onnx_metadata(tmp, metadata.to_dict())
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _one_image_module() -> Any:
    import torch

    class OneImage(torch.nn.Module):
        """One CHW image in; (boxes, labels, scores) out, in that order for every detector family
        (their output dicts differ in key order)."""

        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, image: Any) -> tuple[Any, Any, Any]:
            result = self.model([image])[0]
            return result["boxes"], result["labels"], result["scores"]

    return OneImage


def _OneImage(model: Any) -> Any:
    return _one_image_module()(model)


def _export_yolo(model: str, out: Path | None, imgsz: int | None, int8: bool, data: Any, opset: int | None) -> Path:
    from .._ultralytics_env import import_ultralytics, keep_torch_threads
    from ..detection.ultralytics_backend import looks_like_yolo_config
    from ..weights import resolve_weights
    from ..training.ultralytics_trainer import offline_ultralytics

    ultralytics = import_ultralytics()
    source = model if looks_like_yolo_config(model) and not Path(model).is_file() else str(resolve_weights(model, family="ultralytics"))
    try:
        with keep_torch_threads():
            yolo = ultralytics.YOLO(source, task="detect")
    except DetectKitError:
        raise  # refused (untrusted) or missing: the message names the file
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsFormatError(f"{source}: ultralytics could not load this model ({reason})") from exc
    try:
        import onnxslim  # noqa: F401

        simplify = True
    except ImportError:
        simplify = False  # ultralytics would try to pip install it
    args: dict[str, Any] = dict(format="onnx", simplify=simplify, verbose=False)
    if imgsz:
        args["imgsz"] = int(imgsz)
    if opset:
        args["opset"] = int(opset)
    if int8:
        if data is None:
            raise ModelError("YOLO int8 export calibrates on images: pass data= (a dataset) for the calibration set")
        from ..training.convert import to_ultralytics_yaml
        from ..training.datasets import load_splits

        train, val = load_splits(data)
        work = Path(out or source).parent / f".{Path(source).stem}_calibration"
        args.update(quantize=8, data=str(to_ultralytics_yaml(train, val, work)))
    with offline_ultralytics(), keep_torch_threads():
        try:
            written = Path(yolo.export(**args))
        except Exception as exc:
            raise ModelError(f"ultralytics could not export {model} to ONNX ({type(exc).__name__}: {exc})") from exc
    if out is not None and int8:
        out = out.with_name(f"{out.stem}_int8.onnx")  # as for torchvision: the float file's name + _int8
    if out is not None and written.resolve() != out.resolve():
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(written), out)
        return out
    return written


def export(
    model: str | os.PathLike,
    format: str = "onnx",
    *,
    imgsz: int | None = None,
    int8: bool = False,
    out: str | os.PathLike | None = None,
    opset: int | None = None,
    data: Any = None,
    weights: Any = "DEFAULT",
    log: Any = None,
    trust: bool = False,
) -> Path:
    """Export a detector (either family) for deployment; returns the written file.

    Args:
        model: a YOLO ``.pt`` (or known YOLO name), a detectkit checkpoint, or a torchvision builder name.
        format: ``"onnx"``, ``"openvino"`` (a model folder; :mod:`detectkit.runtimes.export_openvino`) or
            ``"engine"`` (TensorRT, YOLO on a CUDA machine; :mod:`detectkit.deploy.engine`).
        imgsz: YOLO: the fixed square input size; torchvision: the longest side the graph resizes to
            (default: the model's training size).
        int8: quantise to int8 (see the module docstring); returns the int8 file, named like the float one
            with ``_int8`` added (torchvision writes both).
        out: output path (default: beside the model file, same name, ``.onnx``).
        opset: ONNX opset (default: 17 for torchvision, ultralytics' choice for YOLO).
        data: YOLO int8 only: the calibration dataset.
        weights: torchvision builder names only: ``"DEFAULT"`` (COCO weights) or ``None``.
        log: ``"openvino"`` with a labelled ``data``: where the mAP before and after goes (e.g. ``print``).
        trust: let the model file run code while it is read (see :mod:`detectkit.trust`); off: a
            pickle that is not a checkpoint of known classes is refused.

    Raises:
        ModelError: an unknown format, or export failed.
        WeightsFormatError: the model file is not a checkpoint, or would run code (untrusted).

    Usage:
        export("runs/exp/weights/best.pt")                 -> runs/exp/weights/best.onnx
        export("yolo11n.pt", imgsz=320, int8=True, data="shapes/data.yaml")
    """
    if format.lower() not in EXPORT_FORMATS:
        raise ModelError(f"format {format!r}: detectkit exports {', '.join(EXPORT_FORMATS)}")
    from ..trust import trusting

    if format.lower() != "onnx":
        with trusting(trust):
            return EXPORTERS.get(format.lower())(model, imgsz=imgsz, int8=int8, out=out, data=data, weights=weights, log=log)
    text = os.fspath(model)
    target = Path(out) if out is not None else None
    if Path(text).suffix.lower() == ".onnx":
        raise WeightsFormatError(f"{text}: is already an ONNX file")
    with trusting(trust):
        if family_of(text) == "ultralytics":
            return _export_yolo(text, target, imgsz, int8, data, opset)
        written = export_torchvision_onnx(text, target, imgsz=imgsz, opset=opset or 17, weights=weights)
    if int8:
        return quantize_int8(written, written.with_name(f"{written.stem}_int8.onnx"))
    return written


def _export_engine(model: Any, *, imgsz: Any = None, int8: bool = False, out: Any = None, data: Any = None, **_: Any) -> Path:
    from .engine import export_engine

    return export_engine(model, imgsz=imgsz, out=out, data=data, int8=int8)


EXPORTERS.register("engine", _export_engine)
