"""Where ../shared is, and a helper that skips a test with the reason when it is absent.

Import it as ``from shared_data import need_shared`` (a unique module name: ``conftest``
is ambiguous when several test folders have one).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DETECTKIT_SHARED", REPO.parent / "shared"))
SHARED_ONNX = SHARED / "weights" / "yolov8n_int8.onnx"


def need_shared(relative: str) -> Path:
    """Path inside ../shared, or skip the test with the reason."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"needs {path} (the shared data beside the repository), which is absent here")
    return path
