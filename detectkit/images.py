"""Every image that enters detectkit goes through here.

:func:`load_image` turns a path, raw bytes, a PIL image, a NumPy array (BGR by
default, RGB on request, greyscale, RGBA, 16-bit or float) or a torch tensor into
one form: a C-contiguous ``HxWx3`` ``uint8`` **BGR** array (OpenCV's convention).
EXIF orientation is honoured for files and bytes. Anything that cannot be read
raises :class:`~detectkit.errors.ImageError` naming the input and the reason.

Documented conversions:

* greyscale / 1-channel -> the grey value copied into B, G and R;
* RGBA / BGRA / LA -> alpha dropped (the colour channels are kept as they are);
* 16-bit -> the high byte (``v >> 8``); 32-bit integer -> scaled by its maximum;
* float -> ``[0, 1]`` scaled to ``[0, 255]`` (values above 1 are taken as ``[0, 255]``);
* images smaller than ``MIN_SIDE`` pixels on a side, or with more than ``max_pixels``
  pixels (default ``MAX_PIXELS``, env ``DETECTKIT_MAX_PIXELS``) are refused.

Example:
    >>> import numpy as np
    >>> from detectkit.images import load_image
    >>> rgb = np.zeros((32, 48, 3), np.uint8); rgb[..., 0] = 255  # pure red, RGB order
    >>> bgr = load_image(rgb, color="rgb")
    >>> bgr.shape, bgr[0, 0].tolist()
    ((32, 48, 3), [0, 0, 255])
"""

from __future__ import annotations

import glob
import io
import os
import warnings
from pathlib import Path
from typing import Any, Iterable, Literal, Union

import numpy as np

from .errors import ImageError

__all__ = [
    "ImageInput",
    "load_image",
    "describe",
    "find_images",
    "IMAGE_SUFFIXES",
    "MIN_SIDE",
    "MAX_PIXELS",
]

ImageInput = Union[str, os.PathLike, bytes, bytearray, memoryview, np.ndarray, Any]
"""What :func:`load_image` accepts: path, bytes, PIL image, ndarray, torch tensor."""

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm", ".gif")
MIN_SIDE = 8
"""Smallest accepted width or height, in pixels."""
MAX_PIXELS = 100_000_000
"""Largest accepted image, in pixels (width x height): 100 megapixels."""


def _max_pixels(max_pixels: int | None) -> int:
    if max_pixels is not None:
        return int(max_pixels)
    return int(os.environ.get("DETECTKIT_MAX_PIXELS", MAX_PIXELS))


def describe(source: Any) -> str:
    """A short human name for an image input, used in error messages.

    Example:
        >>> describe(b"abc")
        '<3 bytes>'
    """
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    if isinstance(source, np.ndarray):
        return f"<array shape={source.shape} dtype={source.dtype}>"
    filename = getattr(source, "filename", None)
    if filename:
        return str(filename)
    return f"<{type(source).__name__}>"


def load_image(
    source: ImageInput,
    *,
    color: Literal["bgr", "rgb"] = "bgr",
    max_pixels: int | None = None,
) -> np.ndarray:
    """Read any supported image input as a ``HxWx3`` uint8 BGR array.

    Args:
        source: a path, bytes, a PIL image, a NumPy array or a CHW torch tensor.
        color: channel order of *array* inputs (``"bgr"``, OpenCV's, by default;
            ``"rgb"`` for arrays from PIL, matplotlib or scikit-image). Tensors are
            always taken as RGB (torchvision's convention); files need no hint.
        max_pixels: refuse larger images (default ``MAX_PIXELS``).

    Returns:
        A C-contiguous uint8 array of shape ``(H, W, 3)`` in BGR order. A uint8
        BGR array that is already in that form is returned as is, not copied.

    Raises:
        ImageError: missing, empty, corrupt, truncated, non-image, too small or too large input.

    Example:
        >>> import skimage.data
        >>> load_image(skimage.data.astronaut(), color="rgb").shape
        (512, 512, 3)
    """
    if color not in ("bgr", "rgb"):
        raise ValueError(f"color must be 'bgr' or 'rgb', not {color!r}")
    limit = _max_pixels(max_pixels)
    if isinstance(source, (str, os.PathLike)):
        image = _decode_file(Path(source), limit)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        image = _decode_bytes(bytes(source), describe(source), limit)
    elif isinstance(source, np.ndarray):
        image = _from_array(source, color == "rgb", describe(source))
    elif _is_pil(source):
        image = _from_pil(source, describe(source))
    elif _is_tensor(source):
        image = _from_tensor(source)
    else:
        raise ImageError(
            f"cannot read an image from {describe(source)}: expected a path, bytes, a PIL image, "
            "a NumPy array or a torch tensor"
        )
    _check_size(image.shape[0], image.shape[1], describe(source), limit)
    return image


# --------------------------------------------------------------------------- files and bytes
def _decode_file(path: Path, limit: int) -> np.ndarray:
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image (use find_images() to list its images)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    return _decode_bytes(data, str(path), limit)


def _pil_open() -> Any:
    """PIL's own ``Image.open``.

    ultralytics replaces ``PIL.Image.open`` process-wide with a wrapper that, on an
    unidentified file, tries to pip-install a HEIF plugin; we want the plain error.
    """
    import sys

    from PIL import Image

    opener = Image.open
    if getattr(opener, "__module__", "PIL.Image") != "PIL.Image":
        opener = getattr(sys.modules.get("ultralytics.utils.patches"), "_image_open", opener)
    return opener


def _decode_bytes(data: bytes, name: str, limit: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    if len(data) == 0:
        raise ImageError(f"{name}: file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            pil = _pil_open()(io.BytesIO(data))
            width, height = pil.size
            _check_size(height, width, name, limit)
            pil.load()
    except ImageError:
        raise
    except UnidentifiedImageError as exc:
        head = data[:16]
        kind = "a text file" if _looks_like_text(data) else f"not a known image format (starts {head!r})"
        raise ImageError(f"{name}: cannot be decoded as an image: {kind}") from exc
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{name}: image is too large to decode safely ({exc})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{name}: corrupt or truncated image data ({exc})") from exc
    return _from_pil(pil, name, exif=True)


def _looks_like_text(data: bytes) -> bool:
    sample = data[:512]
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch >= 9 for ch in sample)


# --------------------------------------------------------------------------- in-memory objects
def _is_pil(obj: Any) -> bool:
    module = type(obj).__module__
    return module.startswith("PIL.") and hasattr(obj, "mode") and hasattr(obj, "size")


def _is_tensor(obj: Any) -> bool:
    return type(obj).__module__.startswith("torch") and hasattr(obj, "detach")


def _from_pil(pil: Any, name: str, exif: bool = True) -> np.ndarray:
    from PIL import ImageOps

    if exif:
        try:
            pil = ImageOps.exif_transpose(pil)
        except Exception:  # a malformed EXIF block must not make a readable image unreadable
            pass
    mode = pil.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        array = np.asarray(pil)
        return _from_array(array, False, name)
    if mode not in ("RGB", "L"):
        pil = pil.convert("RGB")  # P, PA, LA, RGBA, CMYK, YCbCr, 1 -> RGB (alpha dropped)
    array = np.asarray(pil)
    return _from_array(array, True, name)


def _from_tensor(tensor: Any) -> np.ndarray:
    array = tensor.detach().cpu().numpy()
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        array = np.transpose(array, (1, 2, 0))  # CHW -> HWC
    return _from_array(array, True, describe(tensor))


def _from_array(array: np.ndarray, rgb: bool, name: str) -> np.ndarray:
    import cv2

    if array.size == 0:
        raise ImageError(f"{name}: image has no pixels")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageError(f"{name}: expected HxW, HxWx3 or HxWx4 pixels, got shape {array.shape}")
    array = _to_uint8(array, name)
    if array.ndim == 2:
        return cv2.cvtColor(array, cv2.COLOR_GRAY2BGR)
    if array.shape[2] == 4:
        array = array[:, :, :3]
    if rgb:
        array = array[:, :, ::-1]
    return np.ascontiguousarray(array)


def _to_uint8(array: np.ndarray, name: str) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if array.dtype == np.uint16:
        return (array >> 8).astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer):
        top = max(int(array.max()), 1)
        if array.min() < 0:
            raise ImageError(f"{name}: negative pixel values in an integer image")
        if top <= 255:
            return array.astype(np.uint8)
        return (array.astype(np.float64) * (255.0 / top)).round().astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ImageError(f"{name}: image contains NaN or infinite values")
        scale = 255.0 if float(array.max()) <= 1.0 else 1.0
        return np.clip(array * scale, 0, 255).round().astype(np.uint8)
    raise ImageError(f"{name}: unsupported pixel type {array.dtype}")


def _check_size(height: int, width: int, name: str, limit: int) -> None:
    if height < MIN_SIDE or width < MIN_SIDE:
        raise ImageError(f"{name}: image is {width}x{height} pixels; at least {MIN_SIDE}x{MIN_SIDE} is needed")
    if height * width > limit:
        raise ImageError(
            f"{name}: image is {width}x{height} = {width * height:,} pixels, over the limit of {limit:,} "
            "(raise it with max_pixels= or DETECTKIT_MAX_PIXELS)"
        )


# --------------------------------------------------------------------------- listing files
def find_images(sources: Iterable[str | os.PathLike] | str | os.PathLike, recursive: bool = True) -> list[Path]:
    """Expand files, folders and glob patterns into a sorted list of image paths.

    Folders are searched for files with an image suffix (``IMAGE_SUFFIXES``),
    recursively by default. A file given explicitly is kept whatever its suffix.

    Raises:
        ImageError: a source that matches nothing.

    Example:
        >>> find_images([])
        []
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    found: list[Path] = []
    for source in sources:
        text = str(source)
        path = Path(text)
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            matches = sorted(p for p in path.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            matches = [path]
        elif glob.has_magic(text):
            matches = sorted(
                Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file() and Path(p).suffix.lower() in IMAGE_SUFFIXES
            )
        else:
            raise ImageError(f"{text}: no such file or folder")
        if not matches:
            raise ImageError(f"{text}: no images found (looked for {', '.join(IMAGE_SUFFIXES)})")
        found.extend(matches)
    unique: dict[Path, None] = dict.fromkeys(found)
    return list(unique)
