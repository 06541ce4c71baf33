"""Uploads: a cap on the request body, and photos decoded by the library with the server's pixel limit.

:class:`BodyLimit` answers 413 before the application sees a body larger than the limit
(by its ``Content-Length``, or by counting a chunked body as it arrives), so a hostile
upload is neither parsed nor spooled to disk. Photos are decoded by
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

import json
from typing import Any

import numpy as np

from ..errors import ImageError
from ..images import load_image

__all__ = ["BodyLimit", "decode_photo", "is_too_large", "UploadTooLarge"]


class UploadTooLarge(Exception):
    """The body went over the limit while it was being received."""


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


class BodyLimit:
    """ASGI middleware: 413 for a request body over ``max_bytes``.

    Args:
        app: the application behind it.
        max_bytes: the largest body accepted.
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = int(max_bytes)

    def _message(self, size: str) -> bytes:
        detail = f"request body of {size} is over the limit of {self.max_bytes:,} bytes"
        return json.dumps({"detail": detail, "error": "RequestTooLarge"}).encode()

    async def _refuse(self, send: Any, size: str) -> None:
        body = self._message(size)
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope.get("headers", ()):
            if key.lower() == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = -1
                if length > self.max_bytes:
                    await self._refuse(send, f"{length:,} bytes")
                    return
        received = 0
        over = False  # the body went over the limit: whatever the application answers becomes a 413
        replaced = False

        async def counting_receive() -> dict[str, Any]:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    over = True
                    raise UploadTooLarge()
            return message

        async def guarded_send(message: dict[str, Any]) -> None:
            nonlocal replaced
            if over:  # a parser turned our exception into its own error response: answer 413 instead
                if message["type"] == "http.response.start" and not replaced:
                    replaced = True
                    await self._refuse(send, f"more than {self.max_bytes:,} bytes")
                return
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except UploadTooLarge:
            if not replaced:
                await self._refuse(send, f"more than {self.max_bytes:,} bytes")
