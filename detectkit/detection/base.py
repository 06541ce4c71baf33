"""What every detection backend implements, and the options they all honour.

The thresholds mean the same on every backend:

* ``conf``: keep boxes with confidence >= ``conf``;
* ``iou``: class-wise non-maximum suppression merges boxes of the same class whose
  IoU is above ``iou``;
* ``classes``: keep only these class ids (applied before ``max_det``);
* ``max_det``: keep at most this many boxes per image, highest confidence first;
* ``imgsz``: the longest side the image is resized to for the model (``None``: the model's own default).

Example:
    >>> PredictOptions(conf=0.5).conf
    0.5
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Protocol, Sequence

import numpy as np

from ..detections import Detections

__all__ = ["PredictOptions", "Backend"]


@dataclass(frozen=True)
class PredictOptions:
    """Thresholds and sizes for one prediction call (see the module docstring)."""

    conf: float = 0.25
    iou: float = 0.45
    classes: tuple[int, ...] | None = None
    max_det: int = 300
    imgsz: int | None = None
    half: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.conf <= 1.0:
            raise ValueError(f"conf must be in [0, 1], got {self.conf}")
        if not 0.0 <= self.iou <= 1.0:
            raise ValueError(f"iou must be in [0, 1], got {self.iou}")
        if self.max_det < 1:
            raise ValueError(f"max_det must be at least 1, got {self.max_det}")
        if self.imgsz is not None and self.imgsz < 32:
            raise ValueError(f"imgsz must be at least 32 pixels, got {self.imgsz}")

    def updated(self, **changes: Any) -> "PredictOptions":
        """A copy with some fields changed (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


class Backend(Protocol):
    """A loaded model that turns a batch of BGR uint8 images into one ``Detections`` each."""

    family: str
    names: dict[int, str]
    device: Any

    def predict(self, images: Sequence[np.ndarray], options: PredictOptions) -> list[Detections]:
        """Run the model on a batch; boxes in each input image's own pixels."""
        ...
