"""The exceptions detectkit raises. Catch :class:`DetectKitError` to catch them all.

Each class also derives from the built-in exception a caller would expect
(``ValueError`` for bad input, ``FileNotFoundError`` for missing files), so code
written against the standard library keeps working.

Example:
    >>> from detectkit.errors import DetectKitError, ImageError
    >>> issubclass(ImageError, (DetectKitError, ValueError))
    True
"""

from __future__ import annotations

__all__ = [
    "DetectKitError",
    "ImageError",
    "WeightsError",
    "WeightsNotFoundError",
    "WeightsFormatError",
    "ChecksumError",
    "ModelError",
    "DatasetError",
    "GalleryError",
    "FaceError",
    "SourceError",
    "OutputError",
]


class DetectKitError(Exception):
    """Base class of every error detectkit raises on purpose."""


class ImageError(DetectKitError, ValueError):
    """An image could not be read: missing, empty, corrupt, not an image, or too large."""


class WeightsError(DetectKitError):
    """Base class for problems with model files."""


class WeightsNotFoundError(WeightsError, FileNotFoundError):
    """A model file was not found anywhere detectkit looked (and could not be downloaded)."""


class WeightsFormatError(WeightsError, ValueError):
    """A model file exists but is not what it should be (wrong format, wrong architecture)."""


class ChecksumError(WeightsFormatError):
    """A model file's SHA-256 does not match the one published for it."""


class ModelError(DetectKitError, ValueError):
    """A model name or option detectkit does not know, or options that do not fit together."""


class DatasetError(DetectKitError, ValueError):
    """A dataset is missing, malformed, or failed validation."""


class GalleryError(DetectKitError):
    """A face gallery could not be opened, read or written."""


class FaceError(DetectKitError, ValueError):
    """A face photo cannot be used: no face in it, or enrolment rejected every image (see ``.report``)."""

    def __init__(self, message: str, report: object | None = None) -> None:
        super().__init__(message)
        self.report = report


class SourceError(DetectKitError, OSError):
    """A video source could not be opened or was lost."""


class OutputError(DetectKitError, OSError):
    """An output (video file, JSON lines file, window) could not be opened or written."""
