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

import math
import numbers
from dataclasses import dataclass, replace
from typing import Any, Protocol, Sequence

import numpy as np

from ..detections import Detections
from ..errors import ModelError

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
        """Refuse options no backend can honour, with a :class:`~detectkit.errors.ModelError`.

        Example:
            >>> PredictOptions(conf=2)
            Traceback (most recent call last):
            ...
            detectkit.errors.ModelError: conf must be a number in [0, 1], got 2
        """
        for name in ("conf", "iou"):
            value = getattr(self, name)
            if not _is_number(value) or not 0.0 <= float(value) <= 1.0:
                raise ModelError(f"{name} must be a number in [0, 1], got {value!r}")
        if not _is_int(self.max_det) or self.max_det < 1:
            raise ModelError(f"max_det must be a whole number of at least 1, got {self.max_det!r}")
        if self.imgsz is not None and (not _is_int(self.imgsz) or self.imgsz < 32):
            raise ModelError(f"imgsz must be a whole number of pixels, at least 32, got {self.imgsz!r}")

    def updated(self, **changes: Any) -> "PredictOptions":
        """A copy with some fields changed (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isnan(float(value))


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


class Backend(Protocol):
    """A loaded model that turns a batch of BGR uint8 images into one ``Detections`` each."""

    family: str
    names: dict[int, str]
    device: Any

    def predict(self, images: Sequence[np.ndarray], options: PredictOptions) -> list[Detections]:
        """Run the model on a batch; boxes in each input image's own pixels."""
        ...
