"""Where frames come from: a webcam, a video file, an RTSP/HTTP stream, an image folder or glob,
or any Python iterable of images.

:func:`open_source` turns what the user typed into a :class:`VideoSource`. A source is read
by one thread (:class:`FrameReader`), which stamps each frame with its index and the time
it was captured and puts it in a :class:`FrameBuffer`:

* in **live** mode the buffer keeps only the newest frame(s); older ones are dropped and
  counted, so inference always works on what the camera sees now, never on a backlog
  (the lag of yolov5 issue 8160 and opencv issue 13145). A lost camera or stream is
  opened again with exponential backoff, and each loss and return is reported.
* in **file** mode nothing is dropped and order is kept; the buffer is bounded, so the
  reader waits for inference instead of filling memory.

Unreadable frames (a corrupt image in a folder, a bad item in an iterable, a frame the
decoder rejects in the middle of a file) are skipped and counted.

Example:
    >>> import numpy as np
    >>> from detectkit.video.sources import open_source
    >>> source = open_source([np.zeros((48, 64, 3), np.uint8)] * 3)
    >>> source.open(); frames = list(iter(source.read, None)); source.close()
    >>> [f.index for f in frames], frames[0].image.shape, source.info.kind
    ([0, 1, 2], (48, 64, 3), 'iterable')
"""

from __future__ import annotations

import contextlib
import glob
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from ..errors import ImageError, SourceError
from ..images import IMAGE_SUFFIXES, find_images, load_image

__all__ = [
    "Frame",
    "SourceInfo",
    "VideoSource",
    "CaptureSource",
    "ImageFolderSource",
    "IterableSource",
    "FrameBuffer",
    "FrameReader",
    "CorruptFrame",
    "SourceLost",
    "open_source",
    "VIDEO_SUFFIXES",
    "STREAM_SCHEMES",
]

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".3gp")
STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")


@dataclass
class Frame:
    """One frame: the BGR image, its index in the source, and when it was captured.

    Attributes:
        image: ``HxWx3`` uint8 BGR.
        index: 0-based position in the source; in live mode dropped frames leave gaps.
        timestamp: ``time.perf_counter()`` when the frame arrived from the source (the start of its latency;
            a source may supply its own capture time).
        position: seconds into the media, where the source knows it (video files).
        name: the file the frame came from (image folders).
    """

    image: np.ndarray
    index: int
    timestamp: float
    position: float | None = None
    name: str | None = None

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``."""
        return int(self.image.shape[1]), int(self.image.shape[0])


@dataclass
class SourceInfo:
    """What is known about a source: ``kind`` is webcam, file, stream, images or iterable.

    ``fps``, ``size`` (width, height) and ``frame_count`` are ``None`` when unknown.
    """

    name: str
    kind: str
    live: bool
    fps: float | None = None
    size: tuple[int, int] | None = None
    frame_count: int | None = None


# FFmpeg (inside OpenCV) prints its own error lines ("Connection refused") to stderr at every try to
# open a dead stream; its level is read once, when OpenCV first opens a capture. Quiet unless the
# user set it: detectkit reports a lost stream itself, once per outage.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """OpenCV's own warnings off while a stream is opened (restored after)."""
    try:
        from cv2.utils import logging as cv_logging

        before = cv_logging.getLogLevel()
        cv_logging.setLogLevel(cv_logging.LOG_LEVEL_ERROR)
    except (ImportError, AttributeError):  # pragma: no cover - an OpenCV without utils.logging
        yield
        return
    try:
        yield
    finally:
        cv_logging.setLogLevel(before)


class CorruptFrame(Exception):
    """Raised by :meth:`VideoSource.read` for one unreadable frame: skip it and read on."""


class SourceLost(SourceError):
    """Raised by :meth:`VideoSource.read` when a live device or stream stopped delivering."""


class VideoSource:
    """Base class of every source: ``open()``, then ``read()`` until it returns ``None``, then ``close()``.

    Subclasses implement :meth:`_open`, :meth:`_read` and :meth:`_close`; this class numbers
    and timestamps frames and checks that each is a usable image. ``reconnectable`` sources
    (cameras, streams) may be opened again after :class:`SourceLost`.
    """

    reconnectable = False

    def __init__(self, info: SourceInfo) -> None:
        self.info = info
        self._next_index = 0
        self.is_open = False

    def open(self) -> None:
        """Open the source (again, after a loss); raises :class:`SourceError` when it cannot."""
        self._open()
        self.is_open = True

    def close(self) -> None:
        """Release the device or file. Safe to call more than once."""
        if self.is_open:
            self.is_open = False
            self._close()

    def read(self) -> Frame | None:
        """The next frame, or ``None`` at the end.

        Raises:
            CorruptFrame: this frame could not be read; the next one may be fine.
            SourceLost: a live source stopped delivering (see ``reconnectable``).
        """
        item = self._read()
        # The capture time is when the frame arrived: a read blocks until the camera delivers,
        # and that wait is not the frame's age.
        stamp = time.perf_counter()
        if item is None:
            return None
        index = self._next_index
        self._next_index += 1
        image, meta = item if isinstance(item, tuple) else (item, {})
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or image.size == 0:
            raise CorruptFrame(f"{self.info.name}: frame {index} is not a BGR uint8 image")
        return Frame(image, index, meta.pop("timestamp", stamp), **meta)

    @property
    def next_index(self) -> int:
        """The index the next frame read will have (frames skipped or unreadable included)."""
        return self._next_index

    def skip_index(self) -> int:
        """Count an unreadable frame (keeps later indices true to the source); returns its index."""
        index = self._next_index
        self._next_index += 1
        return index

    def __enter__(self) -> "VideoSource":
        self.open()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.info.name!r}, kind={self.info.kind}, live={self.info.live})"

    # subclasses ---------------------------------------------------------
    def _open(self) -> None:
        raise NotImplementedError

    def _read(self) -> np.ndarray | tuple[np.ndarray, dict[str, Any]] | None:
        raise NotImplementedError

    def _close(self) -> None:
        pass


class CaptureSource(VideoSource):
    """An OpenCV ``VideoCapture``: a webcam index, a video file, or an RTSP/HTTP URL.

    Args:
        spec: camera index (``0``), file path, or stream URL.
        width, height, fps: requested camera settings (webcams; ignored when unsupported).
        max_bad_reads: in a file, this many failed reads in a row before the known end
            are taken as the end (each counted as a corrupt frame).
        start: in a file, the first frame to read (a seek).
        stride: in a file, read every ``stride``-th frame (the others are grabbed, not converted);
            frame indices stay the file's own.
        timeout: streams: seconds to open, and seconds without a frame, before the stream
            counts as lost (OpenCV's FFmpeg/GStreamer back-ends otherwise wait 30 s, blocked).
        opener: makes the capture object (default ``cv2.VideoCapture``); tests pass a fake.

    Usage:
        CaptureSource(0).info.kind -> 'webcam'; CaptureSource("rtsp://cam/stream").info.live -> True
    """

    def __init__(
        self,
        spec: int | str | os.PathLike,
        *,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        max_bad_reads: int = 25,
        start: int = 0,
        stride: int = 1,
        timeout: float = 5.0,
        opener: Callable[..., Any] | None = None,
    ) -> None:
        if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit()):
            kind, target, name = "webcam", int(spec), f"camera {int(spec)}"
        elif isinstance(spec, str) and spec.lower().startswith(STREAM_SCHEMES):
            kind, target, name = "stream", spec, _redact(spec)
        else:
            path = Path(spec)
            if not path.is_file():
                raise SourceError(f"{path}: no such video file")
            kind, target, name = "file", str(path), str(path)
        super().__init__(SourceInfo(name=name, kind=kind, live=kind != "file"))
        self.reconnectable = kind != "file"
        self.target = target
        self.requested = {"width": width, "height": height, "fps": fps}
        self.max_bad_reads = int(max_bad_reads)
        if (start or stride != 1) and kind != "file":
            raise SourceError(f"{name}: start= and stride= apply to video files only")
        if stride < 1 or start < 0:
            raise ValueError(f"stride must be >= 1 and start >= 0, got stride={stride}, start={start}")
        self.start, self.stride = int(start), int(stride)
        self.timeout = float(timeout)
        self._opener = opener
        self._cap: Any = None
        self._bad_in_a_row = 0

    def _open(self) -> None:
        import cv2

        if self._opener is not None:
            cap = self._opener(self.target)
        elif self.info.kind == "stream":  # a dead stream must not block a read for long
            ms = int(1000 * self.timeout)
            with _quiet_opencv():  # a refused connection is reported once per outage, by the reader
                cap = cv2.VideoCapture(self.target, cv2.CAP_ANY, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms])
        else:
            cap = cv2.VideoCapture(self.target)
        if cap is None or not cap.isOpened():
            if cap is not None:
                cap.release()
            hint = {
                "webcam": "is a camera connected, and not in use by another program?",
                "stream": "is the address right and the stream up?",
                "file": "is it a video file OpenCV can decode?",
            }[self.info.kind]
            raise SourceError(f"{self.info.name}: could not open ({hint})")
        if self.info.kind == "webcam":
            # Keep the driver's own queue short: a deep one is the other half of webcam lag.
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
            if self.requested["width"]:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.requested["width"])
            if self.requested["height"]:
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.requested["height"])
            if self.requested["fps"]:
                cap.set(cv2.CAP_PROP_FPS, self.requested["fps"])
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.info.fps = fps if 0 < fps < 1000 else None
        self.info.size = (width, height) if width > 0 and height > 0 else None
        self.info.frame_count = count if self.info.kind == "file" and count > 0 else None
        self._cap = cap
        self._bad_in_a_row = 0
        if self.start:
            cap.set(cv2.CAP_PROP_POS_FRAMES, self.start)
            self._next_index = self.start

    def _read(self) -> tuple[np.ndarray, dict[str, Any]] | None:
        import cv2

        if self.stride > 1 and self._next_index > self.start:
            for _ in range(self.stride - 1):  # the frames in between: decoded by grab(), never converted
                if not self._cap.grab():
                    return None
                self._next_index += 1
        ok, image = self._cap.read()
        if ok and image is not None and image.size:
            self._bad_in_a_row = 0
            meta: dict[str, Any] = {}
            if self.info.kind == "file":
                msec = self._cap.get(cv2.CAP_PROP_POS_MSEC)
                meta["position"] = float(msec) / 1000.0 if msec and msec > 0 else None
            return image, meta
        if self.info.kind != "file":
            raise SourceLost(f"{self.info.name}: no frame from the {self.info.kind}")
        count = self.info.frame_count
        self._bad_in_a_row += 1
        if count is not None and self._next_index < count - 1 and self._bad_in_a_row <= self.max_bad_reads:
            index = self.skip_index()
            raise CorruptFrame(f"{self.info.name}: frame {index} of {count} could not be decoded")
        return None  # the end of the file (or too many bad frames in a row to go on)

    def _close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class ImageFolderSource(VideoSource):
    """Image files played as frames, in sorted order: a folder (searched recursively), a glob, or a list.

    Usage:
        ImageFolderSource("photos/*.jpg", fps=5)
    """

    def __init__(self, paths: str | os.PathLike | Iterable[str | os.PathLike], *, fps: float | None = None) -> None:
        try:
            files = find_images(paths)
        except ImageError as exc:
            raise SourceError(str(exc)) from exc
        name = str(paths) if isinstance(paths, (str, os.PathLike)) else f"{len(files)} images"
        super().__init__(SourceInfo(name=name, kind="images", live=False, fps=fps, frame_count=len(files)))
        self.files = files
        self._position = 0

    def _open(self) -> None:
        self._position = 0
        self._next_index = 0

    def _read(self) -> tuple[np.ndarray, dict[str, Any]] | None:
        if self._position >= len(self.files):
            return None
        path = self.files[self._position]
        self._position += 1
        try:
            image = load_image(path)
        except ImageError as exc:
            self.skip_index()
            raise CorruptFrame(str(exc)) from exc
        if self.info.size is None:
            self.info.size = (image.shape[1], image.shape[0])
        return image, {"name": str(path)}


class IterableSource(VideoSource):
    """Any iterable of images: BGR arrays, paths, PIL images, tensors, or :class:`Frame` objects.

    Items :func:`~detectkit.images.load_image` cannot read are skipped and counted as corrupt.
    Arrays are taken as BGR unless ``color="rgb"``.

    Args:
        frames: the iterable (a list, a generator, ...); iterated once, from the reader thread.
        fps: the frame rate, when it means something (kept for video files written from it).
        live: treat it as a live feed (a generator that blocks until the next frame).
        color: channel order of array items.

    Example:
        >>> import numpy as np
        >>> IterableSource((np.zeros((32, 32, 3), np.uint8) for _ in range(2)), fps=10).info.fps
        10
    """

    def __init__(self, frames: Iterable[Any], *, fps: float | None = None, live: bool = False, color: str = "bgr", name: str | None = None) -> None:
        count = len(frames) if hasattr(frames, "__len__") else None  # type: ignore[arg-type]
        super().__init__(SourceInfo(name=name or f"<{type(frames).__name__}>", kind="iterable", live=live, fps=fps, frame_count=count))
        self._frames = frames
        self._iterator: Iterator[Any] | None = None
        self.color = color

    def _open(self) -> None:
        if self._iterator is None:
            self._iterator = iter(self._frames)

    def _read(self) -> tuple[np.ndarray, dict[str, Any]] | None:
        assert self._iterator is not None, "open() the source first"
        try:
            item = next(self._iterator)
        except StopIteration:
            return None
        meta: dict[str, Any] = {}
        if isinstance(item, Frame):
            meta = {"timestamp": item.timestamp, "position": item.position, "name": item.name}
            item = item.image
        if item is None:
            index = self.skip_index()
            raise CorruptFrame(f"{self.info.name}: item {index} is None")
        try:
            image = load_image(item, color=self.color)  # type: ignore[arg-type]
        except ImageError as exc:
            index = self.skip_index()
            raise CorruptFrame(f"{self.info.name}: item {index}: {exc}") from exc
        if self.info.size is None:
            self.info.size = (image.shape[1], image.shape[0])
        return image, meta

    def _close(self) -> None:
        close = getattr(self._iterator, "close", None)
        if close is not None:  # a generator: run its finally blocks now
            close()


def _redact(url: str) -> str:
    """A URL without its password, for messages: rtsp://user:***@host/path."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.split("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


def open_source(spec: Any, **options: Any) -> VideoSource:
    """Make a :class:`VideoSource` from what the user gave.

    * an int or a digit string -> that webcam;
    * ``rtsp://``, ``http(s)://``, ... -> a stream;
    * a file with a video suffix (or any file that is not an image) -> a video file;
    * a folder, a glob pattern or an image file -> images played in sorted order;
    * a :class:`VideoSource` -> itself; any other iterable -> :class:`IterableSource`.

    ``options`` go to the source's constructor (``fps=``, ``width=``...).

    Raises:
        SourceError: nothing there (the message names what was tried).

    Example:
        >>> open_source("0").info.kind, open_source("rtsp://u:pw@cam/1").info.name
        ('webcam', 'rtsp://u:***@cam/1')
    """
    if isinstance(spec, VideoSource):
        return spec
    if isinstance(spec, (int, np.integer)) or (isinstance(spec, str) and spec.strip().isdigit()):
        return CaptureSource(int(spec), **options)
    if isinstance(spec, (str, os.PathLike)):
        text = os.fspath(spec)
        if text.lower().startswith(STREAM_SCHEMES):
            return CaptureSource(text, **options)
        path = Path(text)
        if path.is_dir() or glob.has_magic(text):
            return ImageFolderSource(text, **options)
        if path.is_file():
            if path.suffix.lower() in IMAGE_SUFFIXES:
                return ImageFolderSource(text, **options)
            return CaptureSource(text, **options)
        raise SourceError(f"{text}: no such file, folder or camera (give a video file, an image folder or glob, a camera index, or a URL)")
    if isinstance(spec, np.ndarray) and spec.ndim == 3:
        return IterableSource([spec], **options)
    if hasattr(spec, "__iter__"):
        return IterableSource(spec, **options)
    raise SourceError(f"cannot read frames from {type(spec).__name__}: give a path, a camera index, a URL or an iterable of images")


# --------------------------------------------------------------------------- buffering
class FrameBuffer:
    """A bounded hand-over between one producer and one consumer thread.

    With ``drop_oldest=True`` (live mode) a full buffer makes room by dropping its oldest
    frame, so the producer never waits and the consumer always gets the newest frames;
    ``dropped`` counts them. With ``drop_oldest=False`` (file mode) a full buffer makes the
    producer wait: nothing is lost, order is kept, and memory stays bounded.

    Example:
        >>> buffer = FrameBuffer(2, drop_oldest=True)
        >>> for i in range(5): buffer.put(i)
        True
        True
        True
        True
        True
        >>> buffer.get(4), buffer.dropped
        ([3, 4], 3)
    """

    def __init__(self, capacity: int, *, drop_oldest: bool) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = int(capacity)
        self.drop_oldest = drop_oldest
        self.dropped = 0
        self.high_water = 0
        self._items: deque[Any] = deque()
        self._cond = threading.Condition()
        self._ended = False  # the producer is done: no more items will come
        self._closed = False  # the consumer is gone: producers stop

    def put(self, item: Any, timeout: float = 0.1) -> bool:
        """Hand over one item; returns ``False`` once the buffer is closed (stop producing)."""
        with self._cond:
            if self.drop_oldest:
                if len(self._items) >= self.capacity:
                    self._items.popleft()
                    self.dropped += 1
            else:
                while len(self._items) >= self.capacity and not self._closed:
                    self._cond.wait(timeout)
                    self._check_main()
            if self._closed:
                return False
            self._items.append(item)
            self.high_water = max(self.high_water, len(self._items))
            self._cond.notify_all()
            return True

    def get(self, max_items: int = 1, *, fill: bool = False, timeout: float = 0.1) -> list[Any] | None:
        """Take up to ``max_items``, oldest first.

        Waits until at least one item is there (up to ``timeout``: then ``[]``). With
        ``fill=True`` it waits on until ``max_items`` are there (or the buffer is full), or
        the producer ended.
        Returns ``None`` when the producer ended and everything was taken, or on close.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if self._closed:
                    return None
                have = len(self._items)
                if have >= min(max_items, self.capacity) or (have and (not fill or self._ended)):
                    break
                if self._ended and not have:
                    return None
                left = deadline - time.monotonic()
                self._check_main()
                if left <= 0:
                    if have and fill:
                        deadline = time.monotonic() + timeout  # a partial batch: keep filling
                        continue
                    return []
                self._cond.wait(left)
            taken = [self._items.popleft() for _ in range(min(max_items, len(self._items)))]
            self._cond.notify_all()
            return taken

    def _check_main(self) -> None:
        # The interpreter is shutting down with the pipeline never closed (its owner vanished):
        # let both sides go, or Python would wait for ever on these non-daemon threads.
        if not threading.main_thread().is_alive():
            self._closed = True

    def end(self) -> None:
        """The producer is finished: consumers drain what is left, then get ``None``."""
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def close(self) -> None:
        """Stop both sides now: producers' ``put`` returns ``False``, consumers' ``get`` ``None``."""
        with self._cond:
            self._closed = True
            self._items.clear()
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)


class FrameReader:
    """The thread that reads a source into a :class:`FrameBuffer`.

    Counts into ``stats`` (a :class:`~detectkit.video.stats.PipelineStats`): frames read,
    corrupt frames, reconnections; dropped frames are counted by the buffer. In live mode a
    lost source is opened again with exponential backoff (``backoff`` seconds, doubling, at
    most ``max_backoff``) until it comes back, the reader is stopped, or ``retry_for``
    seconds passed without a frame (``None``: retry for ever).

    Args:
        source: an opened :class:`VideoSource`; the reader closes it when it ends.
        buffer: where frames go.
        stats: counters to update.
        reconnect: reopen a lost live source.
        report: called with a message for each fault (lost source, reconnection, corrupt frame).
        max_frames: stop after reading this many frames.
        pace: deliver a recorded source (a video file, ``info.live`` false) at its frame rate, as a
            camera would: what live mode does with a file, so that it shows what a camera would show.

    At the end of a file that announces more frames than it delivered, ``stats.frames_missing``
    says how many, and a message is reported.
    """

    def __init__(
        self,
        source: VideoSource,
        buffer: FrameBuffer,
        stats: Any,
        *,
        reconnect: bool = True,
        backoff: float = 0.25,
        max_backoff: float = 5.0,
        retry_for: float | None = 60.0,
        report: Callable[[str], None] | None = None,
        max_frames: int | None = None,
        pace: bool = False,
    ) -> None:
        self.source = source
        self.pace = pace
        self.max_frames = max_frames
        self.buffer = buffer
        self.stats = stats
        self.reconnect = reconnect and source.reconnectable
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.retry_for = retry_for
        self.report = report or (lambda message: None)
        self.error: BaseException | None = None
        self.ended_reason = ""
        self._stop = threading.Event()
        self._lost_since: float | None = None  # when the source was lost, until a frame comes again
        self._delay = backoff
        self._corrupt_run = 0  # unreadable frames since the last good one
        # A read from a network stream can block inside OpenCV for its own timeout and cannot be
        # interrupted: that thread alone is a daemon, so a dead stream never holds the process.
        self.thread = threading.Thread(
            target=self._run, name=f"detectkit-reader[{source.info.name}]", daemon=source.info.kind == "stream"
        )

    def start(self) -> None:
        """Start reading (in the thread)."""
        self.thread.start()

    def stop(self) -> None:
        """Ask the thread to finish (it closes the source); see :meth:`join`."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; returns ``True`` when it has ended."""
        if self.thread.ident is not None:
            self.thread.join(timeout)
        return not self.thread.is_alive()

    def _check_length(self) -> None:
        """At the end of a file: count (and report) the frames it announced but did not deliver."""
        announced = self.source.info.frame_count
        if self.source.info.kind != "file" or not announced:
            return
        last_good = self.source.next_index - self._corrupt_run  # unreadable frames at the very end are missing too
        missing = announced - last_good
        if missing > 1:  # containers round their frame count; one frame is not a truncation
            self.stats.frames_missing = missing
            self._say(f"{self.source.info.name}: the last frame read is {last_good - 1}, but the file announces "
                      f"{announced} frames: {missing} are missing (the file is truncated or damaged)")

    def _run(self) -> None:
        fps = self.source.info.fps
        period = 1.0 / fps if self.pace and not self.source.info.live and fps else None
        paced_from = time.perf_counter()
        try:
            while not self._stop.is_set():
                try:
                    frame = self.source.read()
                except CorruptFrame as exc:
                    self._corrupt_run += 1
                    self.stats.count("frames_corrupt")
                    self._say(f"skipped a corrupt frame: {exc}", event=self.stats.frames_corrupt <= 10)
                    continue
                except SourceLost as exc:
                    if not self.reconnect or not self._reopen(str(exc)):
                        self.ended_reason = f"source lost: {exc}"
                        break
                    continue
                if frame is None:
                    self.ended_reason = "end of source"
                    self._check_length()
                    break
                if self._lost_since is not None:
                    self._say(f"{self.source.info.name}: frames again after {time.monotonic() - self._lost_since:.1f} s")
                    self._lost_since, self._delay = None, self.backoff
                self._corrupt_run = 0
                self.stats.count("frames_read")
                if period is not None:  # a file in live mode: delivered at its frame rate, as a camera would
                    due = paced_from + (self.stats.frames_read - 1) * period
                    if self._stop.wait(max(0.0, due - time.perf_counter())):
                        break
                    paced_from = max(paced_from, time.perf_counter() - (self.stats.frames_read - 1) * period)  # late: no burst
                if not self.buffer.put(frame):
                    break
                self.stats.frames_dropped = self.buffer.dropped
                if self.max_frames is not None and self.stats.frames_read >= self.max_frames:
                    self.ended_reason = f"read the {self.max_frames} frames asked for"
                    break
        except BaseException as exc:  # noqa: BLE001 - handed to the pipeline, which raises it
            self.error = exc
            self.ended_reason = f"reader failed: {type(exc).__name__}: {exc}"
        finally:
            self.stats.frames_dropped = self.buffer.dropped
            self.source.close()
            self.buffer.end()

    def _reopen(self, why: str) -> bool:
        """Open the lost source again, waiting longer after each failure; ``False``: give up."""
        if self._lost_since is None:
            self._lost_since = time.monotonic()
            self._say(f"{why}; reconnecting")
        self.source.close()
        attempt = 0
        while not self._stop.is_set():
            if self.retry_for is not None and time.monotonic() - self._lost_since > self.retry_for:
                self._say(f"{self.source.info.name}: gave up after {self.retry_for:.0f} s without frames")
                return False
            if self._stop.wait(self._delay):
                return False
            attempt += 1
            # Doubles also when the source opens but gives no frame (a camera that opens, then fails).
            self._delay = min(self._delay * 2, self.max_backoff)
            try:
                self.source.open()
            except SourceError:
                continue
            self.stats.count("reconnects")
            # an event, not a report: one outage is reported once ("lost"), then "frames again" or "gave up"
            self.stats.event(f"{self.source.info.name}: reopened after {time.monotonic() - self._lost_since:.1f} s")
            return True
        return False

    def _say(self, message: str, event: bool = True) -> None:
        if event:
            self.stats.event(message)
        self.report(message)
