"""Draw `Detections` on BGR images with OpenCV (Hershey fonts: nothing is downloaded).

Boxes are coloured by class, or by track when a track id is present, from a fixed
palette, so a class or a track keeps its colour from frame to frame. Labels show the
class name and confidence, ``#track``, and for faces the identity with its similarity
(``unknown`` when nobody in the gallery matched).

Example:
    >>> import numpy as np
    >>> from detectkit import Detections
    >>> from detectkit.video.annotate import Annotator
    >>> image = np.zeros((120, 160, 3), np.uint8)
    >>> d = Detections(np.array([[10, 10, 100, 100]]), [0.9], [0], {0: "person"})
    >>> out = Annotator().draw(image, d)
    >>> out.shape, bool(out.any()), bool(image.any())
    ((120, 160, 3), True, False)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..detections import Detections

__all__ = ["Annotator", "color_for", "PALETTE"]

# 20 well-separated BGR colours (Tableau-like), readable with white or black text.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148),
    (75, 86, 140), (194, 119, 227), (127, 127, 127), (34, 189, 188), (207, 190, 23),
    (232, 199, 174), (120, 187, 255), (138, 223, 152), (150, 152, 255), (213, 176, 197),
    (148, 156, 196), (210, 182, 247), (199, 199, 199), (141, 219, 219), (229, 218, 158),
)
UNKNOWN_FACE = (0, 0, 230)
KNOWN_FACE = (0, 180, 0)


def color_for(key: int) -> tuple[int, int, int]:
    """A stable palette colour for a class id or track id.

    Example:
        >>> color_for(3) == color_for(3) != color_for(4)
        True
    """
    return PALETTE[int(key) % len(PALETTE)]


@dataclass
class Annotator:
    """Draws boxes, labels, track ids, face identities and landmarks.

    Args:
        thickness: box line width in pixels (``None``: scaled to the image size).
        font_scale: label text scale (``None``: scaled to the image size).
        show_confidence: append the confidence to class labels.
        show_landmarks: draw face landmarks when present.
    """

    thickness: int | None = None
    font_scale: float | None = None
    show_confidence: bool = True
    show_landmarks: bool = True

    def draw(self, image: np.ndarray, detections: Detections, *, copy: bool = True) -> np.ndarray:
        """Return the image with ``detections`` drawn (a copy unless ``copy=False``)."""
        import cv2

        canvas = image.copy() if copy else image
        height, width = canvas.shape[:2]
        scale = max(height, width) / 1000.0
        thickness = self.thickness or max(1, int(round(2 * scale + 0.5)))
        font_scale = self.font_scale or max(0.4, 0.6 * scale)
        text_thickness = max(1, thickness // 2)
        for i in range(len(detections)):
            x1, y1, x2, y2 = (int(round(v)) for v in detections.xyxy[i])
            color = self._color(detections, i)
            cv2.rectangle(canvas, (x1, y1), (x2, y2), color, thickness, cv2.LINE_AA)
            label = self.label(detections, i)
            if label:
                _text_box(canvas, label, (x1, y1), color, font_scale, text_thickness)
            if self.show_landmarks and detections.landmarks is not None:
                for x, y in detections.landmarks[i]:
                    if np.isfinite(x) and np.isfinite(y):
                        cv2.circle(canvas, (int(x), int(y)), max(1, thickness), (0, 255, 255), -1, cv2.LINE_AA)
        return canvas

    def label(self, detections: Detections, i: int) -> str:
        """The text drawn above box ``i``."""
        parts: list[str] = []
        if detections.tracker_id is not None and detections.tracker_id[i] >= 0:
            parts.append(f"#{int(detections.tracker_id[i])}")
        if detections.identity is not None:
            name = detections.identity[i]
            similarity = None if detections.similarity is None else float(detections.similarity[i])
            if name is None:
                parts.append("unknown")
            elif similarity is not None and np.isfinite(similarity):
                parts.append(f"{name} {similarity:.2f}")
            else:
                parts.append(str(name))
            return " ".join(parts)
        name = detections.names.get(int(detections.class_id[i]), str(int(detections.class_id[i])))
        parts.append(f"{name} {detections.confidence[i]:.2f}" if self.show_confidence else name)
        return " ".join(parts)

    def _color(self, detections: Detections, i: int) -> tuple[int, int, int]:
        if detections.identity is not None:
            return UNKNOWN_FACE if detections.identity[i] is None else KNOWN_FACE
        if detections.tracker_id is not None and detections.tracker_id[i] >= 0:
            return color_for(int(detections.tracker_id[i]))
        return color_for(int(detections.class_id[i]))

    def draw_text_lines(
        self, image: np.ndarray, lines: Sequence[str], *, copy: bool = False, corner: str = "top-left"
    ) -> np.ndarray:
        """Overlay lines of text in a corner (FPS, latency...): ``"top-left"`` or ``"bottom-left"``.

        Example:
            >>> import numpy as np
            >>> out = Annotator().draw_text_lines(np.zeros((100, 200, 3), np.uint8), ["FPS 30"], corner="bottom-left")
            >>> bool(out[:50].any()), bool(out[50:].any())
            (False, True)
        """
        import cv2

        if corner not in ("top-left", "bottom-left"):
            raise ValueError(f"corner must be 'top-left' or 'bottom-left', not {corner!r}")
        canvas = image.copy() if copy else image
        scale = max(canvas.shape[:2]) / 1000.0
        font_scale = self.font_scale or max(0.45, 0.6 * scale)
        y = 4
        if corner == "bottom-left":
            line_height = cv2.getTextSize("Ag", cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
            y = max(0, canvas.shape[0] - len(lines) * (line_height[0][1] + line_height[1] + 8) - 4)
        for line in lines:
            y = _text_box(canvas, line, (4, y), (32, 32, 32), font_scale, 1, below=True)
        return canvas


def _text_box(
    canvas: np.ndarray,
    text: str,
    anchor: tuple[int, int],
    color: tuple[int, int, int],
    font_scale: float,
    thickness: int,
    below: bool = False,
) -> int:
    """Draw ``text`` on a filled box at ``anchor``; returns the y just under the box."""
    import cv2

    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), baseline = cv2.getTextSize(text, font, font_scale, thickness)
    x, y = anchor
    pad = 3
    top = y if below else y - th - baseline - 2 * pad
    if top < 0:
        top = y  # no room above the box: draw inside it
    left = min(max(0, x), max(0, canvas.shape[1] - tw - 2 * pad))
    bottom = top + th + baseline + 2 * pad
    cv2.rectangle(canvas, (left, top), (left + tw + 2 * pad, bottom), color, -1)
    brightness = 0.114 * color[0] + 0.587 * color[1] + 0.299 * color[2]
    ink = (0, 0, 0) if brightness > 150 else (255, 255, 255)
    cv2.putText(canvas, text, (left + pad, bottom - baseline - pad), font, font_scale, ink, thickness, cv2.LINE_AA)
    return bottom + 2
