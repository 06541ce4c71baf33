"""dlib's aligned face chip (``get_face_chip``, 150x150, padding 0.25) from five landmarks, without dlib.

dlib's ``get_face_chip_details`` maps its 5-point landmarks (two corners of each eye and
the base of the nose) onto a fixed template by a least-squares similarity transform
(``find_similarity_transform``, Umeyama's method), then ``extract_image_chip`` samples
the rotated rectangle bilinearly, using a 2x image pyramid first when the face is more
than twice the chip's size. This module does the same with NumPy and OpenCV.

MTCNN gives other points (eye centres, nose tip, mouth corners), so they have their
own template, :data:`MTCNN_TEMPLATE`: the mean position of MTCNN's five points inside
dlib's own chips, measured on the 400 LFW gallery photos (not on the verification
pairs) by ``benchmarks/faces_dlib.py template``. A chip from MTCNN's points with it
lands the face where dlib's network expects it.

Example:
    >>> import numpy as np
    >>> from detectkit.faces.dlib_chip import face_chips, template_points
    >>> points = template_points(MTCNN_TEMPLATE, 150, 0.25)[None] * 1.2 + 10  # a face 1.2x chip size
    >>> image = np.zeros((250, 250, 3), np.uint8)
    >>> face_chips(image, points).shape
    (1, 150, 150, 3)
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "DLIB_5POINT_TEMPLATE",
    "MTCNN_TEMPLATE",
    "CHIP_SIZE",
    "CHIP_PADDING",
    "template_points",
    "similarity_transform",
    "chip_transform",
    "extract_chip",
    "face_chips",
]

CHIP_SIZE = 150
CHIP_PADDING = 0.25
"""``compute_face_descriptor``'s defaults (face_recognition uses the same)."""

DLIB_5POINT_TEMPLATE = np.array(
    [
        [0.8595674595992, 0.2134981538014],
        [0.6460604764104, 0.2289674387677],
        [0.1205750620789, 0.2137274526848],
        [0.3340850613712, 0.2290642403242],
        [0.4901123135679, 0.6277975316475],
    ]
)
"""dlib's ``get_face_chip_details`` template for ``shape_predictor_5_face_landmarks`` (unpadded unit square)."""

MTCNN_TEMPLATE = np.array(
    [
        [0.2288, 0.2090],
        [0.7706, 0.2091],
        [0.4996, 0.5379],
        [0.2620, 0.8097],
        [0.7360, 0.8102],
    ]
)
"""MTCNN's five points (left eye, right eye, nose, left and right mouth corner, in image terms) in
the same unpadded unit square: the mean over dlib's own chips of 389 LFW gallery photos (the 400 of
``gallery_identities.txt`` where HOG and MTCNN found the same central face; spread 0.037 of the square,
about 4 chip pixels), from ``python benchmarks/faces_dlib.py template``."""


def template_points(template: np.ndarray, size: int = CHIP_SIZE, padding: float = CHIP_PADDING) -> np.ndarray:
    """The template in chip pixels: ``(padding + p) / (2 padding + 1) * size``, as dlib computes it.

    Example:
        >>> template_points(DLIB_5POINT_TEMPLATE)[4].round(2).tolist()
        [74.01, 87.78]
    """
    return (padding + np.asarray(template, np.float64)) / (2 * padding + 1) * size


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) ``src -> dst`` as a 2x3 matrix.

    Umeyama's method, via scikit-image's ``SimilarityTransform``, as dlib's ``find_similarity_transform``.

    Example:
        >>> src = np.array([[0, 0], [1, 0], [0, 1]], float)
        >>> similarity_transform(src, src * 2 + 3).round(6).tolist()
        [[2.0, 0.0, 3.0], [0.0, 2.0, 3.0]]
    """
    from skimage.transform import SimilarityTransform

    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    if hasattr(SimilarityTransform, "from_estimate"):  # scikit-image >= 0.26
        tform = SimilarityTransform.from_estimate(src, dst)
        ok = bool(tform)
    else:  # pragma: no cover - older scikit-image
        tform = SimilarityTransform()
        ok = tform.estimate(src, dst)
    if not ok or not np.all(np.isfinite(tform.params)):
        raise ValueError("landmarks are degenerate (all in one place): no similarity transform")
    return tform.params[:2].copy()


def chip_transform(
    landmarks: np.ndarray,
    template: np.ndarray = MTCNN_TEMPLATE,
    size: int = CHIP_SIZE,
    padding: float = CHIP_PADDING,
) -> np.ndarray:
    """The 2x3 affine map from chip pixels to image pixels that ``extract_image_chip`` samples with.

    dlib turns the similarity into a rotated rectangle ``size * scale`` wide centred on the
    chip centre's image point, built with ``centered_drect`` (which spans ``width - 1``), and
    maps the chip's corner pixels onto that rectangle's corners; this reproduces it (for a face
    already at chip scale, that is the similarity shifted by half a pixel).

    Example:
        >>> pts = template_points(DLIB_5POINT_TEMPLATE)
        >>> (chip_transform(pts, DLIB_5POINT_TEMPLATE).round(6) + 0.0).tolist()
        [[1.0, 0.0, 0.5], [0.0, 1.0, 0.5]]
    """
    m = similarity_transform(template_points(template, size, padding), landmarks)
    scale = float(np.hypot(m[0, 0], m[1, 0]))
    angle = float(np.arctan2(m[1, 0], m[0, 0]))
    centre = m[:, :2] @ np.array([size / 2.0, size / 2.0]) + m[:, 2]
    step = (size * scale - 1.0) / (size - 1.0)  # chip pixel -> image pixel along the rectangle
    c, s = np.cos(angle) * step, np.sin(angle) * step
    linear = np.array([[c, -s], [s, c]])
    offset = centre - linear @ np.array([(size - 1) / 2.0, (size - 1) / 2.0])
    return np.concatenate([linear, offset[:, None]], axis=1)


def extract_chip(image: np.ndarray, transform: np.ndarray, size: int = CHIP_SIZE) -> np.ndarray:
    """One ``size x size`` chip of an image (any channel order kept) through a chip->image 2x3 map.

    Bilinear sampling, black outside the image; when the map shrinks by more than 2x the
    image is halved first (``cv2.pyrDown``) as often as dlib's pyramid would be.

    Example:
        >>> extract_chip(np.full((40, 40, 3), 9, np.uint8), np.array([[1.0, 0, 5], [0, 1.0, 5]]), 20)[0, 0].tolist()
        [9, 9, 9]
    """
    import cv2

    m = np.asarray(transform, np.float64).copy()
    scale = float(np.hypot(m[0, 0], m[1, 0]))
    # dlib: go down a level while the chip's rectangle, halved, still has more pixels than the chip
    while scale / 2.0 > 1.0 and min(image.shape[:2]) >= 4:
        image = cv2.pyrDown(image)
        m = m / 2.0  # pyrDown keeps the even pixels: new x = old x / 2
        scale /= 2.0
    return cv2.warpAffine(
        image, m, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT, borderValue=0,
    )


def face_chips(
    image: np.ndarray,
    landmarks: np.ndarray,
    *,
    template: np.ndarray = MTCNN_TEMPLATE,
    size: int = CHIP_SIZE,
    padding: float = CHIP_PADDING,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Aligned chips ``(N, size, size, 3)`` uint8 (channel order of ``image``) from ``(N, K, 2)`` landmarks.

    Args:
        image: ``HxWx3`` uint8.
        landmarks: one row of K points per face, in the order of ``template``.
        template: :data:`MTCNN_TEMPLATE` (default) or :data:`DLIB_5POINT_TEMPLATE` for dlib's predictor.
        out: an ``(N, size, size, 3)`` uint8 array to fill.

    Example:
        >>> face_chips(np.zeros((50, 50, 3), np.uint8), np.zeros((0, 5, 2))).shape
        (0, 150, 150, 3)
    """
    landmarks = np.asarray(landmarks, np.float64).reshape(-1, len(template), 2)
    if out is None:
        out = np.empty((len(landmarks), size, size, 3), np.uint8)
    elif out.shape != (len(landmarks), size, size, 3) or out.dtype != np.uint8:
        raise ValueError(f"out must be a ({len(landmarks)}, {size}, {size}, 3) uint8 array, got {out.shape} {out.dtype}")
    for i, points in enumerate(landmarks):
        out[i] = extract_chip(image, chip_transform(points, template, size, padding), size)
    return out
