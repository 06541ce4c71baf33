"""Live streams: each source runs the library's video pipeline once, in its own thread, for any number of viewers.

:class:`LiveStream` owns one source. Its thread builds a
:class:`~detectkit.video.Pipeline` in live mode (newest frames only) and runs it with a
callback sink that keeps only the **latest** result: the annotated frame as JPEG and
its objects and identities as one JSON message (:class:`Latest`). Viewers (MJPEG, SSE)
wait for the next one and send it; a slow viewer skips frames, a viewer that leaves
just stops waiting, so viewers cost no model time and nothing queues up.

A source that cannot be opened, or is lost for longer than the pipeline's own
reconnection allows, is shown as ``failed`` with the reason and retried with
exponential backoff (``retry_backoff`` doubling up to ``max_backoff``); the server
stays up. :meth:`LiveStream.gallery_changed` makes every tracked face be identified
again at the next frame, so a person enrolled while the stream runs is named without a
restart (the recogniser's gallery reloads its search index itself after a write).

Example:
    >>> import numpy as np
    >>> from detectkit.serve.streams import LiveStream
    >>> frames = [np.full((48, 64, 3), 40 * i, np.uint8) for i in range(3)]
    >>> stream = LiveStream("demo", frames, loop=True, fps=50).start()
    >>> first = stream.latest.wait(0, timeout=20.0); later = stream.latest.wait(first.seq, timeout=20.0)
    >>> later.seq > first.seq, later.jpeg[:2] == b"\\xff\\xd8", stream.status()["state"]
    (True, True, 'running')
    >>> stream.stop()
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..errors import ModelError
from .http_errors import NotFound
from .sources import STREAM_NAME, open_live_source

__all__ = ["LiveStream", "StreamHub", "Latest", "Published", "frame_message"]

logger = logging.getLogger("detectkit.serve")


@dataclass(frozen=True)
class Published:
    """One processed frame as viewers get it: ``seq`` counts frames published by the stream."""

    seq: int
    jpeg: bytes
    message: str
    time: float = field(default_factory=time.time)


class Latest:
    """The newest :class:`Published` frame, and a way for threads and asyncio tasks to wait for the next.

    Example:
        >>> latest = Latest(); latest.publish(b"jpeg", "{}").seq, latest.wait(0, timeout=0.1).jpeg
        (1, b'jpeg')
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Published | None = None
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    @property
    def item(self) -> Published | None:
        """The newest frame (``None`` before the first)."""
        return self._item

    def publish(self, jpeg: bytes, message: str) -> Published:
        """Replace the newest frame and wake every waiter."""
        with self._cond:
            seq = 1 if self._item is None else self._item.seq + 1
            self._item = Published(seq, jpeg, message)
            self._cond.notify_all()
            waiters = list(self._waiters)
        for loop, event in waiters:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that viewer's loop is gone
                pass
        return self._item

    def wait(self, after: int, timeout: float) -> Published | None:
        """Block until a frame newer than ``after`` is there (``None`` after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._item is None or self._item.seq <= after:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            return self._item

    async def next(self, after: int, timeout: float) -> Published | None:
        """The asyncio form of :meth:`wait`: no thread is held while a viewer waits."""
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        entry = (loop, event)
        with self._cond:
            if self._item is not None and self._item.seq > after:
                return self._item
            self._waiters.add(entry)
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            return None
        finally:
            with self._cond:
                self._waiters.discard(entry)
        item = self._item
        return item if item is not None and item.seq > after else None

    @property
    def waiting(self) -> int:
        """How many asyncio viewers wait right now."""
        with self._cond:
            return len(self._waiters)


def _boxes(detections: Any) -> list[dict[str, Any]]:
    out = []
    for box in detections.to_dict()["detections"]:
        box.pop("embedding", None)
        box.pop("landmarks", None)
        out.append(box)
    return out


def frame_message(name: str, result: Any, stats: Any) -> dict[str, Any]:
    """The JSON sent to the live list for one frame: objects, faces (with identities), FPS and latency."""
    faces = result.faces
    return {
        "stream": name,
        "frame": int(result.index),
        "time": round(time.time(), 3),
        "fps": round(float(stats.fps), 2),
        "latency_ms": None if result.latency is None else round(1000.0 * result.latency, 1),
        "dropped": int(stats.frames_dropped),
        "image_shape": [int(result.image.shape[0]), int(result.image.shape[1])],
        "objects": _boxes(result.detections),
        "faces": [] if faces is None else _boxes(faces),
    }


class _ForgetIdentities:
    """A pipeline stage, placed before the face stage: clears the per-track names when the gallery changed."""

    name = "gallery-sync"

    def __init__(self, face_stage: Any) -> None:
        self.face_stage = face_stage
        self.changed = threading.Event()

    def __call__(self, results: list[Any]) -> None:
        if self.changed.is_set():
            self.changed.clear()
            tracks = getattr(self.face_stage, "tracks", None)
            if tracks is not None:
                tracks.tracks.clear()  # every face track is identified again in this frame


class LiveStream:
    """One source, run once in a background thread, its newest frame kept for viewers.

    Args:
        name: the stream's name in URLs (:data:`~detectkit.serve.sources.STREAM_NAME`).
        source: what ``--source`` gave (camera index, file, URL, image folder), or an iterable of images.
        detector: a :class:`~detectkit.Detector` shared with the REST API (``None``: no objects).
        recognizer: a :class:`~detectkit.FaceRecognizer` shared with the REST API (``None``: no faces).
        track: track objects (ByteTrack).
        face_identity: ``"track"`` or ``"frame"`` (see :class:`~detectkit.video.pipeline.FaceStage`).
        loop: play files again at their end (a live view of a file never ends).
        fps: the pace of a looped file (default: its own frame rate).
        jpeg_quality: of the MJPEG frames.
        retry_backoff, max_backoff: seconds before the first retry of a failed source, and the most.
        pipeline_options: more :class:`~detectkit.video.Pipeline` options.
    """

    def __init__(
        self,
        name: str,
        source: Any,
        *,
        detector: Any = None,
        recognizer: Any = None,
        track: bool = False,
        face_identity: str = "track",
        loop: bool = True,
        fps: float | None = None,
        jpeg_quality: int = 80,
        retry_backoff: float = 1.0,
        max_backoff: float = 30.0,
        pipeline_options: dict[str, Any] | None = None,
    ) -> None:
        if not STREAM_NAME.match(name):
            raise ModelError(f"stream name {name!r}: use letters, digits, '_' or '-' (at most 64)")
        if face_identity not in ("track", "frame"):
            raise ModelError(f"face_identity must be 'track' or 'frame', not {face_identity!r}")
        self.name = name
        self.spec = source
        self.detector = detector
        self.recognizer = recognizer
        self.track = track
        self.face_identity = face_identity
        self.loop = loop
        self.fps = fps
        self.jpeg_quality = int(jpeg_quality)
        self.retry_backoff = float(retry_backoff)
        self.max_backoff = float(max_backoff)
        self.pipeline_options = dict(pipeline_options or {})
        self.latest = Latest()
        self.state = "starting"
        self.error: str | None = None
        self.attempts = 0
        self.failures = 0
        self.next_retry: float | None = None
        self.source_name = str(source) if isinstance(source, (str, int)) else f"<{type(source).__name__}>"
        self._stop = threading.Event()
        self._pipeline: Any = None
        self._sync: _ForgetIdentities | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"detectkit-serve[{name}]", daemon=True)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "LiveStream":
        """Start the background thread (once)."""
        if self._thread.ident is None:
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the pipeline and the thread."""
        self._stop.set()
        with self._lock:
            pipeline = self._pipeline
        if pipeline is not None:
            pipeline.close()
        if self._thread.ident is not None:
            self._thread.join(timeout)
        self.state = "stopped"

    def gallery_changed(self) -> None:
        """Someone was enrolled, renamed or removed: identify every face track again."""
        sync = self._sync
        if sync is not None:
            sync.changed.set()

    def status(self) -> dict[str, Any]:
        """State (``starting``, ``running``, ``stalled``, ``failed``, ``stopped``), error, FPS and counters."""
        item = self.latest.item
        state = self.state
        age = None if item is None else time.time() - item.time
        if state == "running" and age is not None and age > 5.0:
            state = "stalled"  # the pipeline is reconnecting a lost camera or stream
        with self._lock:
            pipeline = self._pipeline
        stats = pipeline.stats if pipeline is not None else None
        return {
            "name": self.name,
            "source": self.source_name,
            "state": state,
            "error": self.error,
            "attempts": self.attempts,
            "failures": self.failures,
            "retry_in_s": None if self.next_retry is None else round(max(0.0, self.next_retry - time.monotonic()), 1),
            "frames": 0 if item is None else item.seq,
            "fps": 0.0 if stats is None else round(float(stats.fps), 2),
            "last_frame_age_s": None if age is None else round(age, 2),
            "viewers": self.latest.waiting,
        }

    # ------------------------------------------------------------------ the thread
    def _make_pipeline(self) -> Any:
        from ..video.pipeline import FaceStage, Pipeline

        source = open_live_source(self.spec, loop=self.loop, fps=self.fps)
        stages: list[Any] = []
        self._sync = None
        if self.recognizer is not None:
            face_stage = FaceStage(self.recognizer, identity=self.face_identity)
            self._sync = _ForgetIdentities(face_stage)
            stages = [self._sync, face_stage]
        options = {"retry_for": 15.0, **self.pipeline_options}
        return Pipeline(source, detector=self.detector, track=self.track, mode="live", stages=stages,
                        report=lambda message: logger.warning("stream %s: %s", self.name, message), **options)

    def _publish(self, result: Any, image: np.ndarray | None) -> bool:
        import cv2

        if self._stop.is_set():
            return False
        if image is None:
            image = result.image
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if ok:
            stats = self._pipeline.stats if self._pipeline is not None else None
            message = json.dumps(frame_message(self.name, result, stats), ensure_ascii=False) if stats else "{}"
            self.latest.publish(encoded.tobytes(), message)
            if self.state != "running":
                self.state, self.error = "running", None
        return True

    def _run(self) -> None:
        from ..video.sinks import CallbackSink

        delay = self.retry_backoff
        while not self._stop.is_set():
            self.attempts += 1
            self.next_retry = None
            before = self.latest.item.seq if self.latest.item else 0
            try:
                pipeline = self._make_pipeline()
                with self._lock:
                    if self._stop.is_set():
                        break
                    self._pipeline = pipeline
                pipeline.run(CallbackSink(self._publish), summary=False)
                if self._stop.is_set():
                    break
                why = "the source ended"
            except Exception as exc:  # noqa: BLE001 - any failure of a source: shown, then retried
                if self._stop.is_set():
                    break
                why = f"{type(exc).__name__}: {exc}"
            self.failures += 1
            self.state, self.error = "failed", why
            logger.warning("stream %s failed (%s); retrying in %.1f s", self.name, why, delay)
            if (self.latest.item.seq if self.latest.item else 0) > before:
                delay = self.retry_backoff  # it had worked: start the backoff again
            self.next_retry = time.monotonic() + delay
            if self._stop.wait(delay):
                break
            delay = min(delay * 2.0, self.max_backoff)
        self.next_retry = None


class StreamHub:
    """The server's live streams by name.

    Example:
        >>> hub = StreamHub(); hub.names()
        []
    """

    def __init__(self) -> None:
        self.streams: dict[str, LiveStream] = {}

    def add(self, stream: LiveStream) -> LiveStream:
        """Add a stream (not started).

        Raises:
            ModelError: the name is taken.
        """
        if stream.name in self.streams:
            raise ModelError(f"two sources are named {stream.name!r}: name them with --source NAME=SOURCE")
        self.streams[stream.name] = stream
        return stream

    def get(self, name: str) -> LiveStream:
        """The stream called ``name``.

        Raises:
            NotFound: no such stream.
        """
        stream = self.streams.get(name)
        if stream is None:
            known = ", ".join(sorted(self.streams)) or "none"
            raise NotFound(f"no stream named {name!r} (streams: {known})")
        return stream

    def names(self) -> list[str]:
        """Stream names, in the order they were added."""
        return list(self.streams)

    def start(self) -> None:
        """Start every stream's thread."""
        for stream in self.streams.values():
            stream.start()

    def stop(self) -> None:
        """Stop every stream."""
        for stream in self.streams.values():
            stream.stop()

    def gallery_changed(self) -> None:
        """Tell every stream that the gallery changed."""
        for stream in self.streams.values():
            stream.gallery_changed()
