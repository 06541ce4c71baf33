"""Helpers shared by the benchmark scripts: machine description and table printing."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Sequence

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DETECTKIT_SHARED", REPO.parent / "shared"))


def cpu_model() -> str:
    """The CPU's model name as ``lscpu`` gives it (``platform.processor()`` where lscpu is missing)."""
    cpu = platform.processor() or "cpu"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5).stdout
        cpu = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration, subprocess.SubprocessError):
        pass
    return cpu


def machine() -> str:
    """'Intel Xeon ... , 2 cores, no GPU, torch 2.x' for the benchmark header."""
    import torch

    cpu = cpu_model()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} cores, {gpu}, torch {torch.__version__}, Python {platform.python_version()}"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (the same one the comparison report writes)."""
    from detectkit.compare.report import markdown_table

    return markdown_table(headers, rows)


def box_iou(a, b):
    """IoU matrix (len(a), len(b)) of two xyxy box arrays, as NumPy (torchvision.ops.box_iou)."""
    import numpy as np
    import torch
    from torchvision.ops import box_iou as _box_iou

    return _box_iou(torch.as_tensor(np.asarray(a, np.float32)).reshape(-1, 4),
                    torch.as_tensor(np.asarray(b, np.float32)).reshape(-1, 4)).numpy()
