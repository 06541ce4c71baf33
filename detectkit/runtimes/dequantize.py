"""Float YOLO weights back from an int8 ultralytics ONNX export (onnxruntime dynamic quantisation).

An ultralytics YOLO detect export (batch norms folded into the convolutions) quantised by
onnxruntime's ``quantize_dynamic`` keeps every convolution weight as uint8 with a scale and zero
point (per tensor or per output channel) and its bias in float. :func:`dequantize_yolo_onnx`
builds the architecture the file's metadata name (``description`` "Ultralytics YOLOv8n ...",
``names``, checked against the first convolution's width), writes each ``(q - zero_point) * scale``
into its convolution and turns every batch norm into "add the folded bias" (weight 1, mean 0,
variance 1 - eps), so the ``.pt`` computes what the ONNX graph computes: the COCO network with
8-bit-rounded weights, which OpenVINO then runs in fp32 or re-quantises with NNCF (OpenVINO reading
the int8 ONNX itself is slower than onnxruntime and less exact). :func:`dequantized_weights` keeps
one such ``.pt`` per ONNX file under the runtimes cache, keyed by the file's SHA-256.

Other files (no ultralytics detect metadata, another architecture, float weights) are refused
with a :class:`~detectkit.errors.WeightsFormatError` naming the file.

Example:
    >>> meta = {"description": "Ultralytics YOLOv8s model trained on coco.yaml", "names": "{0: 'person'}"}
    >>> yolo_config_for(meta, first_width=32)
    'yolov8s.yaml'
    >>> yolo_config_for({**meta, "description": "Ultralytics YOLO11n model"}, first_width=16)
    'yolo11n.yaml'
"""

from __future__ import annotations

import ast
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from ..errors import WeightsFormatError

__all__ = ["dequantize_yolo_onnx", "dequantized_weights", "yolo_config_for", "is_dequantizable_yolo_onnx", "onnx_imgsz"]

FIRST_CONV_WIDTH = {
    "yolov8": {"n": 16, "s": 32, "m": 48, "l": 64, "x": 80},
    "yolo11": {"n": 16, "s": 32, "m": 64, "l": 64, "x": 96},
}
"""Output channels of ``model.0.conv`` for each scale of the architectures this module rebuilds."""

_NAME = re.compile(r"\bYOLO(v8|11)([nsmlx])?\b", re.IGNORECASE)


def yolo_config_for(meta: dict[str, str], first_width: int, source: str = "the ONNX file") -> str:
    """The ultralytics ``.yaml`` an export's metadata and first convolution width name.

    Raises:
        WeightsFormatError: not an ultralytics YOLOv8 / YOLO11 detect export, or a width that fits no scale.

    Example:
        >>> yolo_config_for({"description": "Ultralytics YOLOv8m model", "names": "{0: 'cat'}"}, first_width=48)
        'yolov8m.yaml'
    """
    if meta.get("task", "detect") != "detect" or "names" not in meta:
        raise WeightsFormatError(f"{source}: not an ultralytics YOLO detect export (no detect task and class names in its metadata)")
    match = _NAME.search(meta.get("description", ""))
    if match is None:
        raise WeightsFormatError(
            f"{source}: its description {meta.get('description', '')!r} names no YOLOv8 or YOLO11 model; "
            f"only those can be rebuilt as float weights"
        )
    family = "yolov8" if match.group(1).lower() == "v8" else "yolo11"
    widths = FIRST_CONV_WIDTH[family]
    scale = (match.group(2) or "").lower()
    if not scale:
        fitting = [s for s, width in widths.items() if width == first_width]
        if len(fitting) != 1:
            raise WeightsFormatError(f"{source}: a {family} whose first convolution has {first_width} channels fits no single scale")
        scale = fitting[0]
    if widths[scale] != first_width:
        raise WeightsFormatError(
            f"{source}: the metadata say {family}{scale} but the first convolution has {first_width} channels "
            f"({family}{scale} has {widths[scale]})"
        )
    return f"{family}{scale}.yaml"


def _read(onnx_path: Path) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    import onnx
    from onnx import numpy_helper

    try:
        graph = onnx.load(str(onnx_path))
    except Exception as exc:
        raise WeightsFormatError(f"{onnx_path}: not a readable ONNX file ({type(exc).__name__}: {exc})") from exc
    meta = {p.key: p.value for p in graph.metadata_props}
    tensors = {t.name: numpy_helper.to_array(t) for t in graph.graph.initializer}
    return meta, tensors


def is_dequantizable_yolo_onnx(path: str | os.PathLike) -> bool:
    """True for an int8 ultralytics YOLO detect export whose metadata name a YOLOv8 / YOLO11 model.

    Example:
        >>> is_dequantizable_yolo_onnx("no/such/file.onnx")
        False
    """
    from ..detection.onnx_backend import read_metadata

    try:
        meta = read_metadata(path)
    except Exception:
        return False
    return meta.get("task", "detect") == "detect" and "names" in meta and _NAME.search(meta.get("description", "")) is not None


def dequantize_yolo_onnx(onnx_path: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write a YOLO ``.pt`` holding the dequantised weights of an int8 ultralytics ONNX export; returns ``out``.

    Raises:
        WeightsFormatError: not an int8 ultralytics YOLOv8 / YOLO11 detect export (the message names the file).

    Usage:
        dequantize_yolo_onnx("../shared/weights/yolov8n_int8.onnx", "weights/yolov8n-coco-int8.pt")
    """
    import torch

    from .._ultralytics_env import import_ultralytics, keep_torch_threads

    source, target = Path(onnx_path), Path(out)
    meta, tensors = _read(source)
    quantised = [k for k in tensors if k.endswith(".weight_quantized")]
    if not quantised:
        raise WeightsFormatError(f"{source}: no int8 convolution weights (*.weight_quantized); not an onnxruntime int8 export")
    first = tensors.get("model.0.conv.weight_quantized")
    if first is None:
        raise WeightsFormatError(f"{source}: no int8 first convolution (model.0.conv); not an ultralytics YOLO export")
    config = yolo_config_for(meta, int(first.shape[0]), str(source))
    try:
        names = ast.literal_eval(meta["names"])
    except (ValueError, SyntaxError) as exc:
        raise WeightsFormatError(f"{source}: its 'names' metadata is not a class dict") from exc
    if not isinstance(names, dict) or not names:
        raise WeightsFormatError(f"{source}: its 'names' metadata is not a class dict")

    ultralytics = import_ultralytics()
    from ultralytics.nn.tasks import DetectionModel

    with keep_torch_threads():
        yolo = ultralytics.YOLO(config, task="detect")
        net = DetectionModel(config, nc=len(names), verbose=False)
        yolo.model = net
        modules = dict(net.named_modules())
        loaded = 0
        with torch.no_grad():
            for key in quantised:
                prefix = key.removesuffix(".weight_quantized")  # "model.0.conv" (Conv+BN) or "model.22.cv2.0.2" (plain conv)
                conv = modules.get(prefix)
                if not isinstance(conv, torch.nn.Conv2d):
                    raise WeightsFormatError(f"{source}: {prefix} is no convolution of {config}")
                q = tensors[key].astype(np.float32)
                zero = tensors[prefix + ".weight_zero_point"].astype(np.float32)
                scale = tensors[prefix + ".weight_scale"].astype(np.float32)
                if zero.ndim == 1 and zero.size > 1:  # per output channel
                    zero, scale = zero.reshape(-1, 1, 1, 1), scale.reshape(-1, 1, 1, 1)
                weight = (q - zero) * scale
                if tuple(conv.weight.shape) != weight.shape:
                    raise WeightsFormatError(f"{source}: {prefix} is {weight.shape}, {config} has {tuple(conv.weight.shape)}")
                conv.weight.copy_(torch.from_numpy(weight))
                bias = tensors.get(prefix + ".bias")
                if conv.bias is not None:
                    if bias is None:
                        raise WeightsFormatError(f"{source}: {prefix} has no bias")
                    conv.bias.copy_(torch.from_numpy(np.array(bias, dtype=np.float32)))
                elif not prefix.endswith(".dfl.conv"):  # ultralytics Conv: conv (no bias) then bn = "add the folded bias"
                    bn = modules.get(prefix.removesuffix(".conv") + ".bn")
                    if bn is None or bias is None:
                        raise WeightsFormatError(f"{source}: {prefix} has no folded bias for {config}")
                    bn.weight.fill_(1.0)
                    bn.bias.copy_(torch.from_numpy(np.array(bias, dtype=np.float32)))
                    bn.running_mean.zero_()
                    bn.running_var.fill_(1.0 - bn.eps)
                loaded += 1
        convs = sum(1 for m in net.modules() if isinstance(m, torch.nn.Conv2d))
        if loaded != convs:
            raise WeightsFormatError(f"{source}: {loaded} int8 convolutions for the {convs} of {config}")
        net.names = {int(k): str(v) for k, v in names.items()}
        net.nc = len(names)
        net.args = {**getattr(net, "args", {}), "imgsz": _imgsz(meta)}
        net.eval()
        target.parent.mkdir(parents=True, exist_ok=True)
        yolo.save(target)
    return target


def _imgsz(meta: dict[str, str]) -> int:
    try:
        value = ast.literal_eval(meta.get("imgsz", "640"))
    except (ValueError, SyntaxError):
        return 640
    return int(max(value) if isinstance(value, (list, tuple)) else value)


def dequantized_weights(onnx_path: str | os.PathLike) -> Path:
    """The cached float ``.pt`` of an int8 ultralytics ONNX export, rebuilt once per file content.

    Lives at ``<runtimes cache>/dequantized/<sha256[:16]>.pt`` (written to a temporary name, then
    renamed, so an interrupted rebuild leaves nothing half-written).

    Usage:
        dequantized_weights("../shared/weights/yolov8n_int8.onnx")  # -> ~/.cache/detectkit/openvino/dequantized/3f2a....pt
    """
    from .cache import openvino_cache_dir, weights_digest

    source = Path(onnx_path)
    folder = openvino_cache_dir() / "dequantized"
    target = folder / f"{weights_digest(source)[:16]}.pt"
    if target.is_file() and target.stat().st_size > 0:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=".dequantized-", suffix=".pt", dir=folder)
    os.close(handle)
    try:
        dequantize_yolo_onnx(source, tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return target


def onnx_imgsz(onnx_path: str | os.PathLike) -> int:
    """The square input size an ultralytics ONNX export was made for (640 when its metadata say nothing).

    Example:
        >>> onnx_imgsz("no/such/file.onnx")
        640
    """
    from ..detection.onnx_backend import read_metadata

    try:
        return _imgsz(read_metadata(onnx_path))
    except Exception:
        return 640
