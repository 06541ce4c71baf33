"""What the routes share: the settings, the models and the streams of one server.

Example:
    >>> from detectkit.serve.context import ServeContext
    >>> from detectkit.serve.settings import ServeSettings
    >>> ServeContext(ServeSettings(token="t" * 32)).describe()["detector"] is None   # no objects detected here
    True
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from typing import Any, Iterator

from .http_errors import Unavailable
from .settings import ServeSettings
from .streams import StreamHub

__all__ = ["ServeContext"]


@dataclass
class ServeContext:
    """The server's parts: one Detector and one FaceRecognizer, shared by the API and every stream."""

    settings: ServeSettings
    detector: Any = None
    recognizer: Any = None
    hub: StreamHub = field(default_factory=StreamHub)

    def __post_init__(self) -> None:
        self._model_slots = threading.BoundedSemaphore(self.settings.api_model_slots)

    @contextlib.contextmanager
    def model_call(self) -> Iterator[None]:
        """Hold one of the API's model slots (see ``ServeSettings.api_model_slots``) while a model runs."""
        with self._model_slots:
            yield

    def need_detector(self) -> Any:
        """The detector, or :class:`Unavailable` (503)."""
        if self.detector is None:
            raise Unavailable("this server detects no objects (it was started with --model none)")
        return self.detector

    def need_recognizer(self) -> Any:
        """The face recogniser, or :class:`Unavailable` (503)."""
        if self.recognizer is None:
            raise Unavailable("this server has no face gallery (start it with --gallery FILE)")
        return self.recognizer

    def describe(self) -> dict[str, Any]:
        """Which models run here (for ``/api/info``)."""
        recognizer = self.recognizer
        return {
            "detector": None if self.detector is None else getattr(self.detector, "model_name", type(self.detector).__name__),
            "classes": None if self.detector is None else {int(k): v for k, v in self.detector.names.items()},
            "faces": None if recognizer is None else {
                "model": str(recognizer.embedder.key),
                "threshold": recognizer.threshold,
                "gallery": str(recognizer.gallery.path),
            },
            "streams": self.hub.names(),
            "limits": {
                "max_upload_bytes": self.settings.max_upload_bytes,
                "max_pixels": self.settings.max_pixels,
                "max_files": self.settings.max_files,
                "max_top_k": self.settings.max_top_k,
            },
        }
