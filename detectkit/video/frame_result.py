"""`FrameResult`: what the video pipeline found in one frame (objects, faces, latency, your extras).

The pipeline's stages fill it in and its sinks write it out; it lives on its own so
both import it from here.

Example:
    >>> import numpy as np
    >>> from detectkit.video.frame_result import FrameResult
    >>> from detectkit.video.sources import Frame
    >>> FrameResult(Frame(np.zeros((4, 6, 3), np.uint8), 3, 0.0)).index
    3
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..detections import Detections
from .sources import Frame

__all__ = ["FrameResult"]


@dataclass
class FrameResult:
    """What the pipeline found in one frame.

    Attributes:
        frame: the :class:`~detectkit.video.sources.Frame` (image, index, capture time).
        detections: objects found (empty when the pipeline has no detector); ``tracker_id``
            is set when tracking is on.
        faces: faces found (``None`` when the pipeline has no face stage), with
            ``identity``/``similarity`` when a gallery is used and ``tracker_id`` per face.
        latency: seconds from capture to the hand-over to the sinks (or to the loop that iterates).
        extra: anything your own stages want to attach.
    """

    frame: Frame
    detections: Detections = field(default_factory=Detections.empty)
    faces: Detections | None = None
    latency: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def image(self) -> np.ndarray:
        """The frame's BGR image."""
        return self.frame.image

    @property
    def index(self) -> int:
        """The frame's index in the source."""
        return self.frame.index

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form, one JSON line per frame in :class:`~detectkit.video.sinks.JsonLinesSink`.

        Example:
            >>> import numpy as np
            >>> r = FrameResult(Frame(np.zeros((4, 6, 3), np.uint8), 7, 0.0))
            >>> r.to_dict()["frame"], r.to_dict()["image_shape"]
            (7, [4, 6])
        """
        out: dict[str, Any] = {"frame": self.index, "image_shape": [int(self.image.shape[0]), int(self.image.shape[1])]}
        if self.frame.position is not None:
            out["position_s"] = round(self.frame.position, 4)
        if self.frame.name is not None:
            out["name"] = self.frame.name
        if self.latency is not None:
            out["latency_ms"] = round(1000.0 * self.latency, 2)
        out["detections"] = self.detections.to_dict()["detections"]
        if self.faces is not None:
            out["faces"] = self.faces.to_dict()["detections"]
        return out

    def to_json(self) -> str:
        """One line of JSON (see :meth:`to_dict`)."""
        return json.dumps(self.to_dict(), ensure_ascii=False)
