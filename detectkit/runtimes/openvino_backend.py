"""Detector backends that run OpenVINO models on the CPU, for both families.

* YOLO (an ultralytics ``*_openvino_model`` folder, or its ``.xml``): ultralytics' own OpenVINO
  backend runs it, behind :class:`~detectkit.detection.ultralytics_backend.UltralyticsBackend`,
  so letterboxing, NMS and thresholds are exactly those of the PyTorch and ONNX YOLO paths.
* torchvision (a folder written by :func:`detectkit.runtimes.convert.to_openvino`): the same
  host-side resize, box mapping and threshold rules as the ONNX backend
  (:class:`~detectkit.detection.onnx_backend.OnnxTorchvisionBackend`), with an OpenVINO compiled
  model in place of the onnxruntime session.

Every backend here has ``runtime = "openvino"`` and ``precision`` (``"fp32"`` or ``"int8"``).

Usage:
    from detectkit import Detector
    Detector("runs/best_openvino_model")("photo.jpg")
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..detection.onnx_backend import OnnxTorchvisionBackend
from .._ultralytics_env import import_ultralytics, keep_torch_threads
from ..detection.ultralytics_backend import UltralyticsBackend, _exported_imgsz
from ..errors import WeightsFormatError
from .openvino_files import FOLDER_SUFFIX, find_xml, looks_like_openvino, model_kind, read_detectkit_info, read_model

__all__ = ["OpenVinoYoloBackend", "OpenVinoTorchvisionBackend", "load_openvino_backend", "claims_openvino", "precision_of"]


def precision_of(model: Any) -> str:
    """``"int8"`` when an ``openvino.Model`` holds quantise nodes (NNCF), else ``"fp32"``."""
    return "int8" if any(op.get_type_name() == "FakeQuantize" for op in model.get_ops()) else "fp32"


def claims_openvino(spec: Any) -> bool:
    """The detector-registry ``claims`` test: an OpenVINO ``.xml`` or model folder.

    Example:
        >>> claims_openvino("best_openvino_model/best.xml"), claims_openvino("best.pt")
        (True, False)
    """
    return looks_like_openvino(spec)


def load_openvino_backend(spec: str | os.PathLike, device: Any, **options: Any) -> Any:
    """Load an OpenVINO detector of either family (the folder or the ``.xml``).

    Raises:
        WeightsNotFoundError / WeightsFormatError: see :func:`detectkit.runtimes.openvino_files.find_xml`
        and :func:`~detectkit.runtimes.openvino_files.model_kind`.
    """
    if model_kind(spec) == "torchvision":
        return OpenVinoTorchvisionBackend(spec, device)
    return OpenVinoYoloBackend(spec, device)


class OpenVinoYoloBackend(UltralyticsBackend):
    """A YOLO OpenVINO export run by ultralytics' OpenVINO backend (CPU)."""

    runtime = "openvino"

    def __init__(self, spec: str | os.PathLike, device: Any) -> None:
        xml = find_xml(spec)
        folder = xml.parent
        if not folder.name.endswith(FOLDER_SUFFIX):
            raise WeightsFormatError(
                f"{xml}: a YOLO OpenVINO model must sit in a folder whose name ends in '{FOLDER_SUFFIX}' "
                f"(ultralytics reads the format from it); rename {folder.name!r}"
            )
        if not (folder / "metadata.yaml").is_file():
            raise WeightsFormatError(f"{folder}: metadata.yaml (class names, input size) is missing from this YOLO OpenVINO model")
        ultralytics = import_ultralytics()  # before any ultralytics import: quiet, no analytics
        from ultralytics.cfg import DEFAULT_CFG_DICT

        try:
            with keep_torch_threads():
                self.model = ultralytics.YOLO(str(folder), task="detect")
                names = self.model.names
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise WeightsFormatError(f"{folder}: ultralytics could not load this OpenVINO model ({reason})") from exc
        if getattr(self.model, "task", "detect") != "detect":
            raise WeightsFormatError(f"{folder}: is a YOLO '{self.model.task}' model; detectkit's Detector needs a 'detect' model")
        self.source = str(folder)
        self.device = _cpu(device)
        self.names = {int(k): str(v) for k, v in (names or {}).items()}
        self._device_arg = "cpu"
        self._fixed_imgsz = _exported_imgsz(self.model) or _metadata_imgsz(folder / "metadata.yaml")
        self._has_quantize = "quantize" in DEFAULT_CFG_DICT
        self.precision = precision_of(read_model(xml))
        self.xml = xml


class OpenVinoTorchvisionBackend(OnnxTorchvisionBackend):
    """A torchvision detector converted by detectkit to OpenVINO (see the module docstring)."""

    runtime = "openvino"

    def __init__(self, spec: str | os.PathLike, device: Any) -> None:  # noqa: D107 - replaces the ONNX loader
        import openvino as ov
        import torch

        self.path = find_xml(spec)
        self.source = str(self.path)
        model = read_model(self.path)
        meta = read_detectkit_info(model)
        if meta.get("family") != "torchvision":
            raise WeightsFormatError(f"{self.path}: not a torchvision detector converted by detectkit (no detectkit rt_info)")
        _apply_metadata(self, meta)
        self.precision = precision_of(model)
        self.device = _cpu(device)
        core = ov.Core()
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": torch.get_num_threads()}
        try:
            compiled = core.compile_model(model, "CPU", config)
        except Exception as exc:
            raise WeightsFormatError(f"{self.path}: OpenVINO could not compile it ({type(exc).__name__}: {exc})") from exc
        self.session = _CompiledSession(compiled)
        self.input_name = "image"
        self.output_names = ["boxes", "labels", "scores"]
        self._warned: set[str] = set()


class _CompiledSession:
    """An OpenVINO compiled model with onnxruntime's ``run(None, feed)`` call (outputs in graph order)."""

    def __init__(self, compiled: Any) -> None:
        self.compiled = compiled
        self.request = compiled.create_infer_request()

    def run(self, _names: Any, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        (tensor,) = feed.values()
        result = self.request.infer([np.ascontiguousarray(tensor)])
        return [np.asarray(result[output]) for output in self.compiled.outputs]


def _apply_metadata(backend: Any, meta: dict[str, str]) -> None:
    """The same fields the ONNX backend reads from its file's metadata (one schema: ``model_metadata``)."""
    from ..detection.model_metadata import ExportMetadata

    backend.metadata = parsed = ExportMetadata.from_dict(meta, backend.path)
    backend.names = dict(parsed.names)
    backend.label_offset = parsed.label_offset
    backend.imgsz = parsed.imgsz
    backend.min_size, backend.max_size, backend.fixed_size = parsed.min_size, parsed.max_size, parsed.fixed_size
    backend.score_thresh, backend.nms_iou, backend.max_det = parsed.score_thresh, parsed.nms_iou, parsed.max_det
    backend.builder = parsed.builder
    backend.quantization = parsed.quantization


def _cpu(device: Any) -> Any:
    import torch

    return torch.device("cpu")  # OpenVINO runs on the CPU here; ultralytics would send tensors to CUDA otherwise


def _metadata_imgsz(path: Any) -> int | None:
    """The fixed input size ultralytics wrote into an export's ``metadata.yaml`` (``None`` if absent)."""
    import yaml

    try:
        imgsz = (yaml.safe_load(path.read_text()) or {}).get("imgsz")
    except (OSError, yaml.YAMLError):
        return None
    if isinstance(imgsz, (list, tuple)) and imgsz:
        return int(max(imgsz))
    return int(imgsz) if isinstance(imgsz, int) else None
