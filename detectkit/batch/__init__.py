"""Batch inference over archives of images and videos on a Ray cluster (``pip install detectkit[ray]``).

``run_batch(sources, out, model=..., actors=N)`` (or ``detectkit batch SOURCES... --out DIR``)
fans the frames of every source out over Ray actors and writes one JSON lines file per
source, each line the frame's ``detectkit run --json`` line, plus a manifest (a rerun
resumes) and a summary. Ray is imported only when a batch runs.

Modules: :mod:`~detectkit.batch.specs` (what each actor builds), :mod:`~detectkit.batch.plan`
(sources and chunks), :mod:`~detectkit.batch.worker` (a chunk through the pipeline; the
actor), :mod:`~detectkit.batch.store` (outputs, manifest, resume),
:mod:`~detectkit.batch.summary` (the outcome), :mod:`~detectkit.batch.runner` (``run_batch``).

Example:
    >>> from detectkit.batch import ModelSpec
    >>> ModelSpec(model="yolov8n_int8.onnx").splittable
    True
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "run_batch": "detectkit.batch.runner",
    "connect": "detectkit.batch.runner",
    "ModelSpec": "detectkit.batch.specs",
    "build_models": "detectkit.batch.specs",
    "BatchSummary": "detectkit.batch.summary",
    "SourceSummary": "detectkit.batch.summary",
    "expand_sources": "detectkit.batch.plan",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'detectkit.batch' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
