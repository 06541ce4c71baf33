"""Face crops: box crops for FaceNet (box + margin, resized, standardised), and landmark-aligned chips.

This is the preprocessing facenet-pytorch's ``MTCNN`` + ``extract_face`` apply
before ``InceptionResnetV1`` (and that its LFW evaluation used): the margin is given
in pixels *of the output crop* and added around the detected box, the box is clipped
to the image, the region is resized with ``cv2.INTER_AREA``, and pixel values go
through ``fixed_image_standardization``: ``(x - 127.5) / 128``. FaceNet was trained on
such box crops, not on landmark-warped faces, so the landmarks are not used to warp.

Embedders trained on aligned faces (ArcFace-style ONNX models, dlib's ResNet) describe
their chip with a landmark template in a :class:`~detectkit.faces.embedders.CropSpec`;
:func:`align_faces` warps each face's five landmarks (``Detections.landmarks``, ``(N, 5, 2)``:
eyes, nose, mouth corners, as MTCNN gives them) onto the template by a similarity
transform (least squares, scikit-image's ``SimilarityTransform``) with ``cv2.warpAffine``.

Example:
    >>> import numpy as np
    >>> from detectkit.faces.align import crop_faces
    >>> image = np.full((100, 120, 3), 255, np.uint8)
    >>> crops = crop_faces(image, np.array([[20, 10, 80, 90]], np.float32))
    >>> crops.shape, crops.dtype, float(crops.max())
    ((1, 3, 160, 160), dtype('float32'), 0.99609375)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .embedders import CropSpec

__all__ = [
    "crop_faces",
    "crop_boxes",
    "box_crops",
    "align_faces",
    "similarity_transforms",
    "fixed_image_standardization",
    "ARCFACE_TEMPLATE",
    "DEFAULT_MARGIN",
    "IMAGE_SIZE",
]

IMAGE_SIZE = 160
"""FaceNet's input side, in pixels."""
DEFAULT_MARGIN = 14
"""Margin in output pixels; facenet-pytorch's LFW evaluation notebook uses ``MTCNN(image_size=160, margin=14)``."""
ARCFACE_TEMPLATE = tuple(
    (x / 112.0, y / 112.0)
    for x, y in ((38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366), (41.5493, 92.3655), (70.7299, 92.2041))
)
"""ArcFace's five-point template (insightface's ``arcface_dst`` for 112x112 chips), as fractions of the side:
left eye, right eye, nose tip, left and right mouth corners (MTCNN's landmark order)."""


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


def _boxes_of(faces: Any) -> np.ndarray:
    xyxy = getattr(faces, "xyxy", faces)
    return np.asarray(xyxy, np.float32).reshape(-1, 4)


def box_crops(image: np.ndarray, faces: Any, spec: "CropSpec", out: np.ndarray | None = None) -> np.ndarray:
    """:func:`crop_faces` at ``spec.size`` with ``spec.margin`` for ``Detections`` or ``(N, 4)`` boxes.

    Example:
        >>> from detectkit.faces.embedders import CropSpec
        >>> box_crops(np.zeros((50, 50, 3), np.uint8), np.array([[5, 5, 40, 40]]), CropSpec(64, margin=4)).shape
        (1, 3, 64, 64)
    """
    return crop_faces(image, _boxes_of(faces), image_size=spec.size, margin=spec.margin, out=out)


def similarity_transforms(landmarks: np.ndarray, template: np.ndarray) -> np.ndarray:
    """``(N, 2, 3)`` affine matrices of the least-squares similarity (rotation, scale, shift) from each
    face's landmarks ``(N, K, 2)`` onto ``template`` ``(K, 2)`` (both in pixels).

    Example:
        >>> dst = np.array([[10, 10], [20, 10], [15, 20]], np.float32)
        >>> (similarity_transforms((dst * 2 + 3)[None], dst).round(3) + 0.0).tolist()
        [[[0.5, 0.0, -1.5], [0.0, 0.5, -1.5]]]
    """
    from skimage.transform import SimilarityTransform

    landmarks = np.asarray(landmarks, np.float64)
    template = np.asarray(template, np.float64).reshape(-1, 2)
    if landmarks.ndim != 3 or landmarks.shape[1:] != template.shape:
        raise ValueError(f"landmarks must have shape (N, {len(template)}, 2) to match the template, got {landmarks.shape}")
    out = np.empty((len(landmarks), 2, 3), np.float64)
    for i, points in enumerate(landmarks):
        if hasattr(SimilarityTransform, "from_estimate"):  # scikit-image >= 0.26
            transform = SimilarityTransform.from_estimate(points, template)
            ok = bool(transform)
        else:  # pragma: no cover - older scikit-image
            transform = SimilarityTransform()
            ok = transform.estimate(points, template)
        if not ok or not np.all(np.isfinite(transform.params)):
            raise ValueError(f"face {i}: its landmarks {points.round(1).tolist()} give no similarity transform (degenerate)")
        out[i] = transform.params[:2]
    return out


def align_faces(image: np.ndarray, landmarks: np.ndarray, spec: "CropSpec", out: np.ndarray | None = None) -> np.ndarray:
    """Chips ``(N, S, S, 3)`` uint8 BGR: each face warped so its landmarks land on ``spec``'s template.

    ``spec.size`` is the side ``S``; the template (fractions of the side) is placed with
    ``spec.padding`` (see :meth:`~detectkit.faces.embedders.CropSpec.template_pixels`).
    Pixels from outside the image are black. ``out``: a ``(N, S, S, 3)`` uint8 array to fill.

    Example:
        >>> from detectkit.faces.embedders import CropSpec
        >>> spec = CropSpec(112, template=ARCFACE_TEMPLATE)
        >>> image = np.full((200, 200, 3), 7, np.uint8)
        >>> chips = align_faces(image, (spec.template_pixels() + 40)[None], spec)
        >>> chips.shape, int(chips[0, 56, 56, 0])
        ((1, 112, 112, 3), 7)
    """
    import cv2

    if spec.template is None:
        raise ValueError(f"{spec} has no landmark template: use box_crops for box crops")
    landmarks = np.asarray(landmarks, np.float32)
    if landmarks.ndim == 2:
        landmarks = landmarks[None]
    size = spec.size
    if out is None:
        out = np.empty((len(landmarks), size, size, 3), np.uint8)
    elif out.shape != (len(landmarks), size, size, 3) or out.dtype != np.uint8:
        raise ValueError(f"out must be a ({len(landmarks)}, {size}, {size}, 3) uint8 array, got {out.shape} {out.dtype}")
    if len(landmarks):
        matrices = similarity_transforms(landmarks, spec.template_pixels())
        for i, matrix in enumerate(matrices):
            out[i] = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    return out
