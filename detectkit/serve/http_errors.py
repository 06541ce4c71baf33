"""Library errors as HTTP answers: the status says what kind, the body carries the library's message.

=====================================  ======
error                                  status
=====================================  ======
``ImageError`` (unreadable upload)     400
``NotFound`` (unknown person/stream)   404
``Conflict`` (name taken), any other   409
``GalleryError`` (another model's
embeddings, gallery locked)
over the upload or pixel limit         413
``FaceError``, ``ModelError``,         422
``BadParameter``, ``ValueError``
``SourceError``                        502
``Unavailable`` (no model loaded)      503
=====================================  ======

Names are checked (422) and people looked up (404) by the routes before the gallery is
asked, so the gallery's own errors that remain are conflicts with its state.

The body is ``{"detail": message, "error": class name}`` (plus ``"report"`` for a
refused enrolment: every photo and why).

Example:
    >>> from detectkit.errors import ImageError
    >>> from detectkit.serve.http_errors import status_for
    >>> status_for(ImageError("a.jpg: file is empty (0 bytes)")), status_for(NotFound("no stream 'x'"))
    (400, 404)
"""

from __future__ import annotations

import logging
from typing import Any

from ..errors import DetectKitError, FaceError, GalleryError, ImageError, ModelError, SourceError
from .uploads import is_too_large

__all__ = ["NotFound", "Conflict", "BadParameter", "Unavailable", "status_for", "error_body", "install_error_handlers"]

logger = logging.getLogger("detectkit.serve")


class NotFound(DetectKitError, LookupError):
    """The person, stream or page asked for does not exist."""


class Conflict(DetectKitError):
    """The request conflicts with what the gallery holds (a name taken, another model's embeddings)."""


class BadParameter(DetectKitError, ValueError):
    """A request parameter the library refuses (an invalid name, a list too long)."""


class Unavailable(DetectKitError):
    """The server was started without the model this request needs."""


def status_for(error: BaseException) -> int:
    """The HTTP status of a library error (see the module docstring)."""
    if isinstance(error, ImageError):
        return 413 if is_too_large(error) else 400
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, (Conflict, GalleryError)):
        return 409
    if isinstance(error, Unavailable):
        return 503
    if isinstance(error, (FaceError, ModelError, ValueError)):
        return 422
    if isinstance(error, SourceError):
        return 502
    return 500


def error_body(error: BaseException) -> dict[str, Any]:
    """``{"detail", "error"}`` (and the enrolment ``report`` of a :class:`FaceError`)."""
    body: dict[str, Any] = {"detail": str(error).strip() or type(error).__name__, "error": type(error).__name__}
    report = getattr(error, "report", None)
    if report is not None and hasattr(report, "to_dict"):
        body["report"] = report.to_dict()
    return body


def install_error_handlers(app: Any) -> None:
    """Register the mapping on a FastAPI app."""
    from fastapi.responses import JSONResponse

    async def handle(request: Any, error: Exception) -> JSONResponse:
        status = status_for(error)
        if status >= 500:
            logger.warning("%s %s: %s: %s", request.method, request.url.path, type(error).__name__, error)
        return JSONResponse(error_body(error), status_code=status)

    for kind in (DetectKitError, ValueError):
        app.add_exception_handler(kind, handle)
