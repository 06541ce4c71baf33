"""Registers the OpenVINO detector backend in :data:`detectkit.detection.registry.BACKENDS`.

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

from ..detection.registry import register_backend
from .openvino_backend import claims_openvino
from .openvino_files import model_kind

__all__ = ["OPENVINO_PRIORITY"]

OPENVINO_PRIORITY = 40
"""Asked before every built-in entry that reads files (an OpenVINO folder is claimed by no other)."""


def _load(spec: Any, device: Any, **_: Any) -> Any:
    from .openvino_backend import load_openvino_backend

    return load_openvino_backend(os.fspath(spec), device)


register_backend("openvino", family=model_kind, claims=claims_openvino, load=_load, priority=OPENVINO_PRIORITY)
