"""What a loaded detector backend runs on (``"openvino int8"``, ``"onnx fp32"``, ``"torch fp32"``), for summaries.

Example:
    >>> class Backend: runtime, precision = "openvino", "int8"
    >>> describe_runtime(Backend())
    'openvino int8'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import DetectKitError

__all__ = ["describe_runtime"]


def describe_runtime(backend: Any) -> str:
    """``"openvino int8"``, ``"torch fp32"``, ...: what a loaded backend runs on, for summaries.

    Example:
        >>> class B: runtime, precision = "openvino", "int8"
        >>> describe_runtime(B())
        'openvino int8'
    """
    source = str(getattr(backend, "source", ""))
    runtime = getattr(backend, "runtime", None) or ("onnx" if source.lower().endswith(".onnx") else "torch")
    precision = getattr(backend, "precision", None)
    if precision is None:
        quantised = getattr(backend, "quantization", "none") not in ("none", "")
        precision = "int8" if quantised or (source.lower().endswith(".onnx") and _is_int8_onnx(Path(source))) else "fp32"
        try:
            backend.precision = precision
        except AttributeError:
            pass
    return f"{runtime} {precision}"


def _is_int8_onnx(path: Path) -> bool:
    from ..detection.onnx_backend import read_metadata

    try:
        meta = read_metadata(path)
        if "quantization" in meta:
            return meta["quantization"] != "none"
        import onnx

        graph = onnx.load(str(path), load_external_data=False).graph
    except (DetectKitError, Exception):
        return False
    return any(node.op_type in ("DynamicQuantizeLinear", "ConvInteger", "MatMulInteger", "QLinearConv", "QuantizeLinear")
               for node in graph.node)
