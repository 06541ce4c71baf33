"""Runtimes: where a model runs (PyTorch, onnxruntime, OpenVINO) and the conversions between them.

* :mod:`.choice`: the runtime names (``"auto"``, ``"torch"``, ``"onnx"``, ``"openvino"``) and the
  order they are tried in for a spec and a device;
* :mod:`.auto`: :func:`load_on_runtime`, which loads a detector on that runtime, converting into
  the cache and falling back with a warning;
* :mod:`.cache`: the conversion cache (weights digest, input size, precision, converter version);
* :mod:`.convert`: :func:`to_openvino` (both families, fp32 or NNCF int8) and ``onnx_to_openvino``;
* :mod:`.openvino_files`, :mod:`.openvino_backend`: OpenVINO model folders and the detector backends;
* :mod:`.face_nets`: MTCNN and FaceNet on OpenVINO.

Nothing here is imported by ``import detectkit``; OpenVINO and NNCF come with ``pip install detectkit[openvino]``.

Example:
    >>> from detectkit.runtimes import RUNTIMES
    >>> RUNTIMES
    ('auto', 'torch', 'onnx', 'openvino')
"""

from __future__ import annotations

from typing import Any

from .choice import RUNTIMES, check_runtime, runtime_plan

__all__ = ["RUNTIMES", "check_runtime", "runtime_plan", "load_on_runtime", "to_openvino", "use_openvino", "describe_runtime"]


def __getattr__(name: str) -> Any:
    if name in ("load_on_runtime", "describe_runtime"):
        from . import auto

        return getattr(auto, name)
    if name == "to_openvino":
        from .convert import to_openvino

        return to_openvino
    if name == "use_openvino":
        from .face_nets import use_openvino

        return use_openvino
    raise AttributeError(name)
