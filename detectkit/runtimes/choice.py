"""Which runtime a model runs on: ``"auto"``, ``"torch"``, ``"onnx"`` or ``"openvino"``.

``runtime_plan`` turns the user's choice, the device and what the model file is into the
runtimes to try, in order:

* ``"auto"`` on CUDA or MPS: the model's own runtime (PyTorch, half precision on CUDA, as before);
* ``"auto"`` on the CPU: OpenVINO first (converted once and cached), then the model's own runtime;
  an int8 ONNX file (onnxruntime's dynamic quantisation) stays on onnxruntime, where it is faster
  and right; a model with no weights file (an untrained builder or ``.yaml``) stays on PyTorch;
* ``"torch"``, ``"onnx"``, ``"openvino"``: that runtime only, converting the model when needed.

Example:
    >>> runtime_plan("auto", "cpu", "torch")
    ['openvino', 'torch']
    >>> runtime_plan("auto", "cuda", "torch")
    ['torch']
    >>> runtime_plan("auto", "cpu", "onnx-int8")
    ['onnx']
    >>> runtime_plan("onnx", "cpu", "torch")
    ['onnx']
"""

from __future__ import annotations

from typing import Any

from ..errors import ModelError

__all__ = ["RUNTIMES", "check_runtime", "runtime_plan"]

RUNTIMES = ("auto", "torch", "onnx", "openvino")

SOURCES = ("torch", "onnx", "onnx-int8", "openvino", "untrained", "other")
"""What a model spec is: PyTorch weights, a float ONNX file, an int8 ONNX file, an OpenVINO model,
a model without a weights file, or something only its own backend runs (a classical detector)."""


def check_runtime(runtime: str) -> str:
    """``runtime`` lower-cased, or a ModelError naming the choices.

    Example:
        >>> check_runtime("OpenVINO")
        'openvino'
    """
    text = str(runtime).lower()
    if text not in RUNTIMES:
        raise ModelError(f"runtime {runtime!r}: choose one of {', '.join(RUNTIMES)}")
    return text


def _native(source: str) -> str:
    return {"onnx": "onnx", "onnx-int8": "onnx", "openvino": "openvino"}.get(source, "torch")


def runtime_plan(runtime: str, device: Any, source: str) -> list[str]:
    """The runtimes to try, in order (see the module docstring)."""
    runtime = check_runtime(runtime)
    kind = getattr(device, "type", str(device).split(":")[0])
    if source in ("untrained", "other"):
        if runtime not in ("auto", "torch"):
            raise ModelError(f"runtime={runtime!r} needs a model with a weights file (this one runs on its own backend only)")
        return ["torch"]
    if runtime == "auto":
        if kind != "cpu" or source in ("onnx-int8", "openvino"):
            return [_native(source)]
        return ["openvino", _native(source)]
    if source == "openvino" and runtime != "openvino":
        raise ModelError(f"runtime={runtime!r}: an OpenVINO model runs on OpenVINO only")
    if source.startswith("onnx") and runtime == "torch":
        raise ModelError("runtime='torch': an ONNX file has no PyTorch weights; use runtime='onnx' or 'openvino'")
    if source == "onnx-int8" and runtime == "openvino":
        raise ModelError(
            "runtime='openvino': this ONNX file is int8 (onnxruntime dynamic quantisation), which OpenVINO runs slower "
            "and less accurately; convert the float weights instead"
        )
    return [runtime]
