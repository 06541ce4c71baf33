"""Face crops for FaceNet: the box plus a margin, resized to 160x160, standardised.

This is the preprocessing facenet-pytorch's ``MTCNN`` + ``extract_face`` apply
before ``InceptionResnetV1`` (and that its LFW evaluation used): the margin is given
in pixels *of the output crop* and added around the detected box, the box is clipped
to the image, the region is resized with ``cv2.INTER_AREA``, and pixel values go
through ``fixed_image_standardization``: ``(x - 127.5) / 128``. FaceNet was trained on
such box crops, not on landmark-warped faces, so the landmarks are not used to warp.

Example:
    >>> import numpy as np
    >>> from detectkit.faces.align import crop_faces
    >>> image = np.full((100, 120, 3), 255, np.uint8)
    >>> crops = crop_faces(image, np.array([[20, 10, 80, 90]], np.float32))
    >>> crops.shape, crops.dtype, float(crops.max())
    ((1, 3, 160, 160), dtype('float32'), 0.99609375)
"""

from __future__ import annotations

import numpy as np

__all__ = ["crop_faces", "crop_boxes", "fixed_image_standardization", "DEFAULT_MARGIN", "IMAGE_SIZE"]

IMAGE_SIZE = 160
"""FaceNet's input side, in pixels."""
DEFAULT_MARGIN = 14
"""Margin in output pixels; facenet-pytorch's LFW evaluation notebook uses ``MTCNN(image_size=160, margin=14)``."""


def fixed_image_standardization(pixels: np.ndarray) -> np.ndarray:
    """``(x - 127.5) / 128``: FaceNet's input scaling (facenet-pytorch's function of the same name).

    Example:
        >>> fixed_image_standardization(np.array([0.0, 127.5, 255.0])).tolist()
        [-0.99609375, 0.0, 0.99609375]
    """
    return (np.asarray(pixels, dtype=np.float32) - 127.5) / 128.0


def crop_boxes(
    xyxy: np.ndarray, image_shape: tuple[int, int], *, image_size: int = IMAGE_SIZE, margin: int = DEFAULT_MARGIN
) -> np.ndarray:
    """Integer crop rectangles ``(x1, y1, x2, y2)``: each box plus the margin, clipped to the image.

    Same arithmetic as facenet-pytorch's ``extract_face``. A box that falls outside
    the image still gets a 1-pixel rectangle inside it, so every box has a crop.

    Example:
        >>> crop_boxes(np.array([[20, 10, 80, 90]]), (100, 120)).tolist()
        [[17, 6, 82, 93]]
    """
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    height, width = int(image_shape[0]), int(image_shape[1])
    mx = margin * (xyxy[:, 2] - xyxy[:, 0]) / (image_size - margin)
    my = margin * (xyxy[:, 3] - xyxy[:, 1]) / (image_size - margin)
    x1 = np.maximum(xyxy[:, 0] - mx / 2, 0)
    y1 = np.maximum(xyxy[:, 1] - my / 2, 0)
    x2 = np.minimum(xyxy[:, 2] + mx / 2, width)
    y2 = np.minimum(xyxy[:, 3] + my / 2, height)
    rects = np.stack([x1, y1, x2, y2], axis=1)
    rects = np.nan_to_num(rects, nan=0.0).astype(np.int64)  # int() truncation, as in extract_face
    rects[:, 0] = np.clip(rects[:, 0], 0, width - 1)
    rects[:, 1] = np.clip(rects[:, 1], 0, height - 1)
    rects[:, 2] = np.clip(np.maximum(rects[:, 2], rects[:, 0] + 1), 1, width)
    rects[:, 3] = np.clip(np.maximum(rects[:, 3], rects[:, 1] + 1), 1, height)
    return rects


def crop_faces(
    image: np.ndarray,
    xyxy: np.ndarray,
    *,
    image_size: int = IMAGE_SIZE,
    margin: int = DEFAULT_MARGIN,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Standardised RGB crops ``(N, 3, image_size, image_size)`` float32 of the boxes in a BGR image.

    Args:
        image: ``HxWx3`` uint8 BGR.
        xyxy: ``(N, 4)`` boxes in the image's pixels.
        image_size: output side.
        margin: margin in output pixels around each box.
        out: optional preallocated ``(N, 3, S, S)`` float32 array to fill.

    Example:
        >>> crop_faces(np.zeros((50, 50, 3), np.uint8), np.zeros((0, 4))).shape
        (0, 3, 160, 160)
    """
    import cv2

    rects = crop_boxes(xyxy, image.shape[:2], image_size=image_size, margin=margin)
    if out is None:
        out = np.empty((len(rects), 3, image_size, image_size), np.float32)
    elif out.shape != (len(rects), 3, image_size, image_size) or out.dtype != np.float32:
        raise ValueError(f"out must be a ({len(rects)}, 3, {image_size}, {image_size}) float32 array, got {out.shape} {out.dtype}")
    for i, (x1, y1, x2, y2) in enumerate(rects):
        face = cv2.resize(image[y1:y2, x1:x2], (image_size, image_size), interpolation=cv2.INTER_AREA)
        out[i] = face[:, :, ::-1].transpose(2, 0, 1)  # BGR HWC -> RGB CHW
    out -= 127.5
    out /= 128.0
    return out
