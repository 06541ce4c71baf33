"""What ``--source`` means to the server: ``[NAME=]SPEC``, and files that play in a loop at their own speed.

A camera index or a stream URL is opened by :func:`detectkit.video.sources.open_source`
as it is. A video file or an image folder is wrapped in :class:`LoopingSource`: a live
source that plays it again from the start at its end, paced at its frame rate, so a
file makes a live view that never ends (and never races through the file faster than
it was filmed).

Example:
    >>> from detectkit.serve.sources import parse_source
    >>> parse_source("door=rtsp://cam/1?a=b"), parse_source("0"), parse_source("rtsp://cam/1?a=b", 2)
    (('door', 'rtsp://cam/1?a=b'), ('camera0', '0'), ('source2', 'rtsp://cam/1?a=b'))
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from ..video.sources import SourceInfo, VideoSource, open_source

__all__ = ["parse_source", "open_live_source", "LoopingSource", "STREAM_NAME"]

STREAM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
"""A stream name: letters, digits, ``_`` and ``-`` (it goes into URLs)."""


def parse_source(text: str, position: int = 0) -> tuple[str, str]:
    """``NAME=SPEC`` -> ``(NAME, SPEC)``; a bare SPEC gets a name (``camera0``, the file's stem, ``sourceN``).

    Raises:
        ModelError: an empty spec, or a name that is not a :data:`STREAM_NAME`.
    """
    name, sep, spec = text.partition("=")
    if not sep or "://" in name or "/" in name or "\\" in name or ":" in name:
        name, spec = "", text
    spec = spec.strip()
    if not spec:
        raise ModelError(f"--source {text!r}: nothing to open (give NAME=SOURCE or SOURCE)")
    if not name:
        if spec.isdigit():
            name = f"camera{int(spec)}"
        elif "://" not in spec and STREAM_NAME.match(Path(spec).stem or ""):
            name = Path(spec).stem
        else:
            name = f"source{position}"
    if not STREAM_NAME.match(name):
        raise ModelError(f"--source {text!r}: the name {name!r} must be letters, digits, '_' or '-' (at most 64)")
    return name, spec


class LoopingSource(VideoSource):
    """A finite source played for ever, live: at its end it is opened again; frames come at ``fps``.

    Args:
        inner: a finite :class:`VideoSource` (a video file, an image folder).
        fps: frames per second (default: the file's own, else 10).

    Example:
        >>> import tempfile, cv2, numpy as np
        >>> from detectkit.video.sources import ImageFolderSource
        >>> folder = tempfile.mkdtemp()
        >>> for i in range(2): _ = cv2.imwrite(f"{folder}/{i}.png", np.full((16, 16, 3), 10 * i, np.uint8))
        >>> loop = LoopingSource(ImageFolderSource(folder), fps=1000)
        >>> loop.open(); [int(loop.read().image[0, 0, 0]) for _ in range(5)], loop.info.live, loop.loops
        ([0, 10, 0, 10, 0], True, 2)
    """

    def __init__(self, inner: VideoSource, *, fps: float | None = None) -> None:
        super().__init__(SourceInfo(name=inner.info.name, kind=inner.info.kind, live=True, size=inner.info.size))
        self.inner = inner
        self._fps = fps
        self._due = 0.0
        self._frames: list[Any] | None = None
        self.loops = 0

    def _open(self) -> None:
        self.inner.open()
        self.info.fps = float(self._fps or self.inner.info.fps or 10.0)
        self.info.size = self.inner.info.size
        self._due = time.perf_counter()

    def _read(self) -> tuple[np.ndarray, dict[str, Any]] | None:
        frame = self.inner.read()
        if frame is None:  # the end: from the start again
            self.loops += 1
            self.inner.close()
            self.inner.open()
            frame = self.inner.read()
            if frame is None:
                return None  # an empty file: nothing to loop
        wait = self._due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        self._due = max(self._due + 1.0 / self.info.fps, time.perf_counter() - 1.0 / self.info.fps)
        return frame.image, {"position": frame.position, "name": frame.name}

    def _close(self) -> None:
        self.inner.close()


def open_live_source(spec: Any, *, loop: bool = True, fps: float | None = None) -> VideoSource:
    """A live :class:`VideoSource` for ``spec``: cameras and streams as they are, files looped (see the module docstring).

    Raises:
        SourceError: nothing there.
    """
    source = open_source(spec)
    if source.info.live or not loop:
        return source
    return LoopingSource(source, fps=fps)
