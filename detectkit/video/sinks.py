"""Where processed frames go: an OpenCV window, a video file, JSON lines, or your callback.

A sink has three calls: ``open(info)`` once with the source's :class:`SourceInfo`,
``write(result, image)`` per frame (``image`` is the annotated frame, or ``None`` for sinks
whose ``needs_image`` is false), and ``close()``, which the pipeline always calls, after an
error or Ctrl-C too, so files are complete: a video file is finalised (playable), a JSON
lines file holds whole lines only. ``write`` returning ``False`` stops the pipeline (the
window does that on ``q`` or Esc).

Every failure to open or write an output is an :class:`~detectkit.errors.OutputError` naming
it (a folder that cannot be made, a parent that is a file, no permission, a full disk);
``open`` checks that files can be written, so a bad output fails before the first frame.
A closed stdout (``--json - | head``) is :class:`PipeClosed`, which the command line ends
quietly on, as Unix tools do.

Example:
    >>> from detectkit.video.sinks import make_sink
    >>> type(make_sink("out.mp4")).__name__, type(make_sink("out.jsonl")).__name__
    ('VideoWriterSink', 'JsonLinesSink')
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable

import numpy as np

from ..errors import OutputError

if TYPE_CHECKING:  # pragma: no cover
    from .frame_result import FrameResult
    from .sources import SourceInfo

__all__ = [
    "Sink",
    "PipeClosed",
    "VideoWriterSink",
    "JsonLinesSink",
    "WindowSink",
    "CallbackSink",
    "make_sink",
    "letterbox",
    "display_available",
    "FOURCC_BY_SUFFIX",
]

FOURCC_BY_SUFFIX = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "XVID"}
JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")


class PipeClosed(OutputError):
    """stdout (or another pipe) was closed by the reader (``| head``): stop quietly, nothing is wrong."""


def output_error(target: object, what: str, exc: OSError) -> OutputError:
    """The :class:`OutputError` for an ``OSError`` on an output (:class:`PipeClosed` for a closed pipe).

    Example:
        >>> import errno
        >>> str(output_error("out.jsonl", "write the JSON lines file", OSError(errno.ENOSPC, "No space left on device")))
        'out.jsonl: cannot write the JSON lines file (No space left on device)'
    """
    import errno

    if isinstance(exc, BrokenPipeError) or getattr(exc, "errno", None) == errno.EPIPE:
        return PipeClosed(f"{target}: the reader closed the pipe")
    reason = exc.strerror or str(exc) or type(exc).__name__
    return OutputError(f"{target}: cannot {what} ({reason})")


def file_in_the_way(folder: Path) -> Path | None:
    """The nearest existing ancestor of ``folder`` (itself included) when it is not a folder, else ``None``.

    Example:
        >>> import tempfile
        >>> f = Path(tempfile.mkdtemp()) / "a.txt"; _ = f.write_text("x")
        >>> file_in_the_way(f / "sub" / "deeper") == f
        True
    """
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            return None if candidate.is_dir() else candidate
    return None


def check_writable(path: Path, what: str) -> None:
    """Make ``path``'s folder and check the file can be written, leaving no new file behind.

    Raises:
        OutputError: the folder cannot be made (a parent is a file, no permission), ``path`` is a
            folder, or the file cannot be opened for writing.

    Example:
        >>> import tempfile
        >>> check_writable(Path(tempfile.mkdtemp()) / "sub" / "out.mp4", "write the video")
    """
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give a file name to {what}")
    blocking = file_in_the_way(path.parent)
    if blocking is not None:
        raise OutputError(f"{path}: cannot {what}: {blocking} is a file, not a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        existed = path.exists()
        with open(path, "ab"):
            pass
        if not existed:
            path.unlink()
    except OSError as exc:
        raise output_error(path, what, exc) from exc


class Sink:
    """Base class (and protocol) of sinks; see the module docstring."""

    needs_image = True

    def open(self, info: "SourceInfo") -> None:
        """Called once before the first frame."""

    def write(self, result: "FrameResult", image: np.ndarray | None) -> bool | None:
        """Take one frame; return ``False`` to stop the pipeline."""
        raise NotImplementedError

    def close(self) -> None:
        """Finish outputs. Called exactly once per ``open``, whatever happened."""


def letterbox(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Fit ``image`` into ``size`` (width, height), keeping its aspect ratio, padded with black.

    Example:
        >>> import numpy as np
        >>> letterbox(np.full((100, 100, 3), 255, np.uint8), (200, 100)).shape
        (100, 200, 3)
    """
    import cv2

    width, height = size
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    scale = min(width / w, height / h)
    new_w, new_h = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    canvas = np.zeros((height, width, 3), np.uint8)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = resized
    return canvas


class VideoWriterSink(Sink):
    """Write annotated frames to a video file with OpenCV (``.mp4``: MPEG-4 part 2, ``.avi``: MJPEG).

    The file is opened at the first frame, with that frame's size and the source's frame
    rate (``fps`` overrides it; 25 when nobody knows). Frames of another size (a camera that
    switched resolution) are letterboxed into the first size and counted in ``resized``.
    From a live source, where frames are dropped to stay current, a frame is written again
    until the file's clock catches up with the capture clock (at most ``MAX_FILL_SECONDS`` per
    gap), so the file plays at the pace the scene happened instead of fast-forward; ``filled``
    counts those copies. Files (and ``stride``) are written frame for frame.
    ``close()`` finalises the file, so it plays even when the run ended with Ctrl-C.

    Args:
        path: the output file; its folder is created.
        fps: frame rate written in the file.
        fourcc: codec (default from the suffix, see ``FOURCC_BY_SUFFIX``).

    Usage:
        pipeline.run(VideoWriterSink("annotated.mp4"))
    """

    def __init__(self, path: str | os.PathLike, *, fps: float | None = None, fourcc: str | None = None) -> None:
        self.path = Path(path)
        self.fps = fps
        self.fourcc = fourcc or FOURCC_BY_SUFFIX.get(self.path.suffix.lower(), "mp4v")
        self.size: tuple[int, int] | None = None
        self.frames = 0
        self.resized = 0
        self.filled = 0
        self._writer: Any = None
        self._source_fps: float | None = None
        self._live = False
        self._t0: float | None = None

    MAX_FILL_SECONDS = 5.0

    def open(self, info: "SourceInfo") -> None:
        check_writable(self.path, "write the video")  # fails here, before the first frame
        self._source_fps = info.fps
        self._live = bool(info.live)

    def _start(self, width: int, height: int) -> None:
        import cv2

        check_writable(self.path, "write the video")
        fps = float(self.fps or self._source_fps or 25.0)
        writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*self.fourcc), fps, (width, height))
        if not writer.isOpened():
            raise OutputError(f"{self.path}: OpenCV could not open a {self.fourcc!r} video writer here (try a .avi or .mp4 name)")
        self._writer, self.size, self.fps = writer, (width, height), fps

    def write(self, result: "FrameResult", image: np.ndarray | None) -> bool:
        if image is None:
            raise OutputError(f"{self.path}: VideoWriterSink needs the frame image")
        if self._writer is None:
            self._start(image.shape[1], image.shape[0])
        assert self.size is not None
        if (image.shape[1], image.shape[0]) != self.size:
            image = letterbox(image, self.size)
            self.resized += 1
        copies = 1
        if self._live:
            fps = float(self.fps or 25.0)
            captured = result.frame.timestamp
            self._t0 = captured if self._t0 is None else self._t0
            due = int(round((captured - self._t0) * fps)) + 1  # frames the capture clock says exist by now
            copies = max(1, min(due - self.frames, int(self.MAX_FILL_SECONDS * fps)))
        for _ in range(copies):
            self._writer.write(image)
        self.frames += copies
        self.filled += copies - 1
        return True

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            # OpenCV's writer reports no write errors: a full disk shows as an empty or missing file
            if self.frames and (not self.path.is_file() or self.path.stat().st_size == 0):
                raise OutputError(f"{self.path}: the video could not be written (is the disk full?)")


class JsonLinesSink(Sink):
    """One JSON object per frame and line: frame index, times, detections and faces.

    Each line is written whole and flushed, so an interrupted run leaves only complete lines.

    Args:
        target: a path, ``"-"`` for stdout, or an open text file (not closed by the sink).

    Usage:
        pipeline.run(JsonLinesSink("detections.jsonl")); then: [json.loads(l) for l in open(...)]
    """

    needs_image = False

    def __init__(self, target: str | os.PathLike | IO[str]) -> None:
        self.target = target
        self.lines = 0
        self._handle: IO[str] | None = None
        self._owned = False

    def open(self, info: "SourceInfo") -> None:
        if isinstance(self.target, io.TextIOBase) or hasattr(self.target, "write"):
            self._handle = self.target  # type: ignore[assignment]
        elif str(self.target) == "-":
            self._handle = sys.stdout
        else:
            path = Path(self.target)  # type: ignore[arg-type]
            if path.is_dir():
                raise OutputError(f"{path}: is a folder; give a file name for the JSON lines")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._handle = open(path, "w", encoding="utf-8")
            except OSError as exc:
                raise output_error(path, "write the JSON lines file", exc) from exc
            self._owned = True
        self._failed = False

    def _name(self) -> str:
        return "stdout" if self._handle is sys.stdout or str(self.target) == "-" else str(getattr(self.target, "name", self.target))

    def write(self, result: "FrameResult", image: np.ndarray | None) -> bool:
        assert self._handle is not None, "open() the sink first"
        try:
            self._handle.write(result.to_json() + "\n")
            self._handle.flush()
        except OSError as exc:
            self._failed = True
            raise output_error(self._name(), "write the JSON lines file", exc) from exc
        self.lines += 1
        return True

    def close(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None and self._owned:
            try:
                handle.close()
            except OSError as exc:
                if not getattr(self, "_failed", False):  # the write that failed was reported already
                    raise output_error(self._name(), "finish the JSON lines file", exc) from exc


def display_available() -> tuple[bool, str]:
    """Whether an OpenCV window can open here: ``(ok, why_not)``.

    On Linux a display (``DISPLAY`` or ``WAYLAND_DISPLAY``) is needed, and OpenCV must be
    built with a GUI (not ``opencv-python-headless``).

    Example:
        >>> ok, why = display_available()
        >>> isinstance(ok, bool) and (ok or bool(why))
        True
    """
    import cv2

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False, "no display (DISPLAY is not set)"
    gui = [line for line in cv2.getBuildInformation().splitlines() if line.strip().startswith("GUI:")]
    if gui and gui[0].split(":", 1)[1].strip().upper() in ("NONE", "NO"):
        return False, "this OpenCV has no GUI (opencv-python-headless)"
    return True, ""


class WindowSink(Sink):
    """Show frames in an OpenCV window; ``q`` or Esc (or closing the window) stops the pipeline.

    Must run in the main thread on some systems (macOS): the pipeline calls sinks from the
    thread that called ``run()``.

    Usage:
        pipeline.run(WindowSink("detectkit"))
    """

    def __init__(self, title: str = "detectkit", *, max_size: tuple[int, int] | None = (1280, 720)) -> None:
        self.title = title
        self.max_size = max_size
        self._shown = False

    def open(self, info: "SourceInfo") -> None:
        import cv2

        ok, why = display_available()
        if not ok:  # checked first: OpenCV's Qt aborts the whole process when there is no display
            raise OutputError(f"cannot open a window: {why}; save to a file with --save instead")
        try:
            cv2.namedWindow(self.title, cv2.WINDOW_NORMAL)
        except cv2.error as exc:
            raise OutputError(
                "cannot open a window: this OpenCV has no GUI support or there is no display "
                f"(opencv-python-headless, or no DISPLAY); save to a file with --save instead ({str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__})"
            ) from exc

    def write(self, result: "FrameResult", image: np.ndarray | None) -> bool:
        import cv2

        if image is None:
            raise OutputError("WindowSink needs the frame image")
        if not self._shown and self.max_size is not None:
            h, w = image.shape[:2]
            scale = min(1.0, self.max_size[0] / w, self.max_size[1] / h)
            cv2.resizeWindow(self.title, int(w * scale), int(h * scale))
        cv2.imshow(self.title, image)
        self._shown = True
        key = cv2.waitKey(1) & 0xFF
        if key in (ord("q"), ord("Q"), 27):
            return False
        try:
            return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) >= 1
        except cv2.error:
            return False

    def close(self) -> None:
        import cv2

        try:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)
        except cv2.error:
            pass


class CallbackSink(Sink):
    """Call ``fn(result, image)`` for each frame; ``fn`` returning ``False`` stops the pipeline.

    Args:
        fn: the callback.
        needs_image: draw the annotated image for it (``False``: ``image`` is ``None``, cheaper).

    Usage:
        pipeline.run(CallbackSink(lambda result, image: print(result.index, result.detections.labels)))
    """

    def __init__(self, fn: Callable[["FrameResult", np.ndarray | None], Any], *, needs_image: bool = True) -> None:
        self.fn = fn
        self.needs_image = needs_image

    def write(self, result: "FrameResult", image: np.ndarray | None) -> bool:
        return self.fn(result, image) is not False


def make_sink(spec: Any) -> Sink:
    """A sink from a short spec: a :class:`Sink`, a callable, ``"window"``, a ``.jsonl`` or a video path.

    Raises:
        OutputError: a path whose suffix is neither JSON lines nor a known video container.

    Example:
        >>> type(make_sink("window")).__name__, type(make_sink(print)).__name__
        ('WindowSink', 'CallbackSink')
    """
    if isinstance(spec, Sink):
        return spec
    if isinstance(spec, str) and spec in ("window", "show"):
        return WindowSink()
    if isinstance(spec, (str, os.PathLike)):
        text = os.fspath(spec)
        suffix = Path(text).suffix.lower()
        if text == "-" or suffix in JSON_SUFFIXES:
            return JsonLinesSink(text)
        if suffix in FOURCC_BY_SUFFIX:
            return VideoWriterSink(text)
        raise OutputError(f"{text}: unknown output type; use .mp4/.avi/.mov/.mkv for video or .jsonl for JSON lines")
    if callable(spec):
        return CallbackSink(spec)
    raise OutputError(f"cannot use {type(spec).__name__} as a sink: give a Sink, a callable, 'window' or a file path")
