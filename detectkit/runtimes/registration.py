"""Registers the OpenVINO detector backend (``BACKENDS``), the runtime loader (``RUNTIME_LOADERS``) and the OpenVINO exporter (``deploy.onnx.EXPORTERS``).

:mod:`detectkit.detection.registry` imports this module by name on its first lookup
(``PLUGIN_MODULES``); nothing heavy is imported here (OpenVINO loads when a model does).

Example:
    >>> from detectkit.detection.registry import find_backend
    >>> find_backend("best_openvino_model/best.xml").name
    'openvino'
"""

from __future__ import annotations

import os
from typing import Any

from ..deploy.onnx import EXPORTERS
from ..detection.registry import RUNTIME_LOADERS, register_backend
from .openvino_backend import claims_openvino
from .openvino_files import model_kind

__all__ = ["OPENVINO_PRIORITY"]

OPENVINO_PRIORITY = 40
"""Asked before every built-in entry that reads files (an OpenVINO folder is claimed by no other)."""


def _load(spec: Any, device: Any, **_: Any) -> Any:
    from .openvino_backend import load_openvino_backend

    return load_openvino_backend(os.fspath(spec), device)


register_backend("openvino", family=model_kind, claims=claims_openvino, load=_load, priority=OPENVINO_PRIORITY)


def _load_on_runtime(model: Any, device: Any, **options: Any) -> Any:
    from .auto import load_on_runtime

    return load_on_runtime(model, device, **options)


def _export_openvino(model: Any, **options: Any) -> Any:
    from .export_openvino import export_openvino

    return export_openvino(model, **options)


RUNTIME_LOADERS.register("runtimes", _load_on_runtime)
EXPORTERS.register("openvino", _export_openvino)
