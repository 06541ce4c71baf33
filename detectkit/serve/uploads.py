"""Uploads: photos decoded by the library with the server's pixel limit.

(The request body's size is capped by FastAPI's own ``max_body_size``, see
:func:`~detectkit.serve.app.create_app`: 413 by ``Content-Length``, or while a chunked body
arrives, before it is parsed or spooled to disk.) Photos are decoded by
:func:`detectkit.images.load_image` with ``max_pixels`` (the size is checked from the
image header, before the pixels are decoded); an :class:`~detectkit.errors.ImageError`
names the uploaded file.

Example:
    >>> from detectkit.serve.uploads import decode_photo
    >>> decode_photo(b"not an image", "a.jpg", max_pixels=1000)
    Traceback (most recent call last):
    ...
    detectkit.errors.ImageError: a.jpg: cannot be decoded as an image: a text file
"""

from __future__ import annotations

import numpy as np

from ..errors import ImageError
from ..images import load_image

__all__ = ["decode_photo", "is_too_large"]


def is_too_large(error: ImageError) -> bool:
    """Whether an :class:`ImageError` from ``load_image`` is the pixel limit (HTTP 413) rather than bad data (400).

    Example:
        >>> is_too_large(ImageError("x.png: image is 9x9 = 81 pixels, over the limit of 10 (raise it ...)"))
        True
    """
    return "over the limit of" in str(error) or "too large to decode safely" in str(error)


def decode_photo(data: bytes, filename: str, *, max_pixels: int) -> np.ndarray:
    """An uploaded photo as a BGR uint8 array; errors name ``filename``.

    Raises:
        ImageError: empty, corrupt, not an image, too small, or over ``max_pixels``.
    """
    try:
        return load_image(bytes(data), max_pixels=max_pixels)
    except ImageError as exc:
        message = str(exc)
        prefix = f"<{len(data)} bytes>"
        raise ImageError(filename + message[len(prefix):] if message.startswith(prefix) else f"{filename}: {message}") from None
