"""`Pipeline`: frames from a source, through batched stages (detector, tracker, faces), to sinks.

Three threads, handing over through bounded buffers:

* the **reader** reads the source (see :mod:`detectkit.video.sources`): in live mode it
  keeps only the newest frames and counts the ones it drops; in file mode it loses
  nothing and waits when inference is behind;
* the **worker** takes batches of ``batch_size`` frames and runs the stages on them, in
  order: object detection, tracking, faces, then your own stages;
* the thread that iterates the pipeline (or calls :meth:`Pipeline.run`) draws the frames
  and hands them to the sinks (a window must live in that thread on some systems).

Every thread is joined (with a timeout) when the pipeline ends, whatever ended it: end
of the source, a sink asking to stop (``q`` in the window), ``max_frames``, an error, or
Ctrl-C. Sinks are closed in all those cases, so a video file is always finalised.

Example:
    >>> import numpy as np
    >>> from detectkit.video import Pipeline
    >>> frames = [np.full((64, 96, 3), i, np.uint8) for i in range(5)]
    >>> def brightness(results):  # any callable over a batch of results is a stage
    ...     for r in results:
    ...         r.extra["mean"] = float(r.image.mean())
    >>> [r.extra["mean"] for r in Pipeline(frames, stages=[brightness])]
    [0.0, 1.0, 2.0, 3.0, 4.0]
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from ..errors import ModelError, SourceError
from .annotate import Annotator
from .frame_result import FrameResult
from .sinks import Sink, make_sink
from .sources import Frame, FrameBuffer, FrameReader, VideoSource, open_source
from .stats import PipelineStats

__all__ = ["Pipeline", "FrameResult", "DetectStage", "TrackStage", "FaceStage", "default_batch_size"]

logger = logging.getLogger("detectkit.video")

JOIN_TIMEOUT = 5.0
"""Seconds each thread is given to finish when the pipeline closes."""


# --------------------------------------------------------------------------- stages
class DetectStage:
    """Object detection on a batch: one ``detector.predict_arrays`` call per batch.

    Usage:
        DetectStage(Detector("yolo11n.pt"))(results)  -> fills result.detections
    """

    name = "detect"

    def __init__(self, detector: Any) -> None:
        if not hasattr(detector, "predict_arrays"):
            raise ModelError(f"detector must be a detectkit Detector (or have predict_arrays), not {type(detector).__name__}")
        self.detector = detector

    def __call__(self, results: list[FrameResult]) -> None:
        found = self.detector.predict_arrays([r.image for r in results])
        for result, detections in zip(results, found):
            if detections.image_shape is None:
                detections.image_shape = (int(result.image.shape[0]), int(result.image.shape[1]))
            result.detections = detections


class TrackStage:
    """Track objects across frames (ByteTrack): sets ``detections.tracker_id``.

    Usage:
        TrackStage(ByteTracker())(results)
    """

    name = "track"

    def __init__(self, tracker: Any = None) -> None:
        from .tracking import ByteTracker, TrackerConfig

        if tracker is None or tracker is True:
            tracker = ByteTracker()
        elif isinstance(tracker, TrackerConfig):
            tracker = ByteTracker(tracker)
        self.tracker = tracker

    def __call__(self, results: list[FrameResult]) -> None:
        for result in results:
            result.detections = self.tracker.update(result.detections, result.image.shape[:2])


class FaceStage:
    """Faces on a batch: detection, then identity per track (default), per frame, or none.

    Args:
        recognizer: a :class:`detectkit.FaceRecognizer` (or an object with its ``detect``,
            ``embed``, ``match`` and ``identify_arrays`` methods).
        identity: ``"track"``: identify each tracked face once, re-check now and then, vote
            (see :class:`~detectkit.video.face_tracks.FaceTrackIdentity`); ``"frame"``:
            identify every face in every frame; ``"none"``: detect faces only.
        options: passed to :class:`~detectkit.video.face_tracks.FaceTrackIdentity`.

    Usage:
        FaceStage(FaceRecognizer(gallery="faces.db"), identity="track")(results)
    """

    name = "faces"

    def __init__(self, recognizer: Any, *, identity: str = "track", **options: Any) -> None:
        if identity not in ("track", "frame", "none"):
            raise ModelError(f"face identity must be 'track', 'frame' or 'none', not {identity!r}")
        needs = ("detect", "embed", "match") if identity == "track" else ("identify_arrays",) if identity == "frame" else ("detect",)
        missing = [name for name in needs if not hasattr(recognizer, name)]
        if missing:
            raise ModelError(
                f"faces={type(recognizer).__name__} has no {', '.join(missing)}: face_identity={identity!r} needs a "
                "FaceRecognizer (a FaceDetector alone can only find faces: face_identity='none')"
            )
        self.recognizer = recognizer
        self.identity = identity
        self.tracks = None
        if identity == "track":
            from .face_tracks import FaceTrackIdentity

            self.tracks = FaceTrackIdentity(recognizer, **options)

    def __call__(self, results: list[FrameResult]) -> None:
        images = [r.image for r in results]
        if self.tracks is not None:
            faces = self.tracks.process(images)
        elif self.identity == "frame":
            faces = self.recognizer.identify_arrays(images)
        else:
            faces = self.recognizer.detect(images)
        for result, found in zip(results, faces):
            result.faces = found


def _stage_name(stage: Any) -> str:
    return str(getattr(stage, "name", None) or getattr(stage, "__name__", None) or type(stage).__name__)


def default_batch_size(detector: Any = None) -> int:
    """Frames per model call: the detector's own batch size (8 on CUDA, 1 on a CPU), else by device.

    On a CPU, batching does not speed YOLO up (measured: see docs/benchmarks.md), so 1 keeps
    latency lowest.

    Example:
        >>> default_batch_size() in (1, 8)
        True
    """
    size = getattr(detector, "batch_size", None)
    if size:
        return int(size)
    try:
        import torch

        return 8 if torch.cuda.is_available() else 1
    except ImportError:  # pragma: no cover
        return 1


# --------------------------------------------------------------------------- the pipeline
class Pipeline:
    """Run detection, tracking and face recognition over a video source, batched and threaded.

    Iterate over it for one :class:`FrameResult` per frame, or call :meth:`run` with sinks.

    Args:
        source: a webcam index, a video file, an RTSP/HTTP URL, an image folder or glob, an
            iterable of images, or a :class:`~detectkit.video.sources.VideoSource`.
        detector: a :class:`~detectkit.Detector`, or a model name/path to make one (``None``: no objects).
        faces: a :class:`detectkit.FaceRecognizer`, or a gallery path to make one (``None``: no faces).
        track: ``True`` (or a :class:`~detectkit.video.tracking.TrackerConfig`) to give objects track ids.
        batch_size: frames per model call (default: 1 in live mode, where a batch would be made of
            frames older than the newest; :func:`default_batch_size` in file mode).
        mode: ``"live"`` (newest frames only, drops counted, lost sources reconnected; a video file
            is delivered at its frame rate, as a camera would), ``"file"`` (every frame, in order),
            or ``"auto"``: live for webcams and streams.
        stages: more stages, run after the built-in ones: callables taking the list of
            :class:`FrameResult` of a batch and filling them in.
        face_identity: ``"track"``, ``"frame"`` or ``"none"`` (see :class:`FaceStage`).
        face_options: options of the per-track identity (``recheck_every``...).
        annotator: draws the frames for the sinks (default :class:`~detectkit.video.annotate.Annotator`).
        overlay: draw FPS and latency on the frames.
        max_frames: stop after this many frames.
        buffer_size: frames the reader may hold (default: ``batch_size`` live, ``4 * batch_size`` (>= 8) file).
        reconnect: reopen a lost camera or stream (default: in live mode).
        retry_for: give up on a lost source after this many seconds (``None``: never).
        report: called with each fault message (default: ``logging`` warning).

    Usage:
        for result in Pipeline("street.mp4", detector="yolo11n.pt", track=True):
            print(result.index, result.detections.labels)
        Pipeline(0, detector="yolo11n.pt", faces="faces.db").run("window")
    """

    def __init__(
        self,
        source: Any,
        *,
        detector: Any = None,
        faces: Any = None,
        track: Any = False,
        batch_size: int | None = None,
        mode: str = "auto",
        stages: Sequence[Callable[[list[FrameResult]], None]] = (),
        face_identity: str = "track",
        face_options: dict[str, Any] | None = None,
        annotator: Annotator | None = None,
        overlay: bool = True,
        max_frames: int | None = None,
        buffer_size: int | None = None,
        reconnect: bool | None = None,
        retry_for: float | None = 60.0,
        report: Callable[[str], None] | None = None,
    ) -> None:
        if mode not in ("auto", "live", "file"):
            raise ModelError(f"mode must be 'auto', 'live' or 'file', not {mode!r}")
        if max_frames is not None and (not isinstance(max_frames, int) or isinstance(max_frames, bool) or max_frames < 1):
            raise ModelError(f"max_frames must be a whole number of at least 1 (or None), got {max_frames!r}")
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise ModelError(f"batch_size must be at least 1, got {batch_size!r}")
        if retry_for is not None and not retry_for >= 0:
            raise ModelError(f"retry_for must be >= 0 seconds (or None: for ever), got {retry_for!r}")
        self.source: VideoSource = open_source(source)
        self.mode = mode if mode != "auto" else ("live" if self.source.info.live else "file")
        if isinstance(detector, (str, os.PathLike)):
            from ..detection import Detector

            detector = Detector(detector)
        if isinstance(faces, (str, os.PathLike)):
            faces = _recognizer_from_gallery(faces)
        self.detector = detector
        self.recognizer = faces
        # live: one frame, the newest, at a time (a batch of n would show frames up to n-1 camera periods old)
        self.batch_size = int(batch_size or (1 if self.mode == "live" else default_batch_size(detector)))
        if self.batch_size < 1:
            raise ModelError(f"batch_size must be at least 1, got {self.batch_size}")
        self.stages: list[Any] = []
        if detector is not None:
            self.stages.append(DetectStage(detector))
        if track:
            self.stages.append(TrackStage(None if track is True else track))
        if faces is not None:
            self.stages.append(FaceStage(faces, identity=face_identity, **(face_options or {})))
        self.stages.extend(stages)
        self.annotator = annotator or Annotator()
        self.overlay = overlay
        self.max_frames = max_frames
        live = self.mode == "live"
        capacity = max(buffer_size or (self.batch_size if live else max(8, 4 * self.batch_size)), self.batch_size)
        self.stats = PipelineStats(live=live)
        self.report = report or logger.warning
        self._frames = FrameBuffer(capacity, drop_oldest=live)
        self._out = FrameBuffer(1 if live else 2, drop_oldest=False)
        self._reader = FrameReader(
            self.source,
            self._frames,
            self.stats,
            reconnect=live if reconnect is None else reconnect,
            retry_for=retry_for,
            report=self.report,
            max_frames=None if live else max_frames,  # a file is read no further than asked
            pace=live,  # a video file in live mode comes at its frame rate, as from a camera
        )
        self._worker = threading.Thread(target=self._work, name="detectkit-worker")
        self._worker_error: BaseException | None = None
        self._started = False
        self._closed = False
        self._last_shape: tuple[int, ...] | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def threads(self) -> list[threading.Thread]:
        """The pipeline's own threads (for checks that none outlives it)."""
        return [self._reader.thread, self._worker]

    def start(self) -> "Pipeline":
        """Open the source and start the threads (iterating or :meth:`run` does this for you).

        Raises:
            SourceError: the source cannot be opened.
        """
        if self._started:
            return self
        if self._closed:
            raise RuntimeError("this Pipeline has been closed; make a new one")
        if not self.source.is_open:  # run() opens it first, to give the sinks its size and rate
            self.source.open()
        self._started = True
        self.stats.start()
        self._reader.start()
        self._worker.start()
        return self

    def close(self, timeout: float = JOIN_TIMEOUT) -> None:
        """Stop and join every thread (each given ``timeout`` seconds); safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        self._reader.stop()
        self._frames.close()
        self._out.close()
        if self._started:
            for thread in self.threads:
                if thread.ident is not None:
                    thread.join(timeout)
            alive = [t.name for t in self.threads if t.is_alive()]
            if alive:
                self.report(f"threads still running {timeout:.0f} s after the pipeline closed: {', '.join(alive)}")
        else:
            self.source.close()
        self.stats.stop()

    def __enter__(self) -> "Pipeline":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:  # a pipeline dropped half-way still stops its threads
        try:
            if self._started and not self._closed:
                self.close(timeout=1.0)
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    # ------------------------------------------------------------------ the worker thread
    def _work(self) -> None:
        fill = self.mode == "file"
        try:
            while True:
                frames = self._frames.get(self.batch_size, fill=fill)
                if frames is None:
                    break
                if not frames:
                    continue
                results = [FrameResult(frame) for frame in frames]
                for result in results:
                    self._check_size(result.frame)
                for stage in self.stages:
                    started = time.perf_counter()
                    stage(results)
                    self.stats.add_stage(_stage_name(stage), time.perf_counter() - started, len(results))
                for result in results:
                    if not self._out.put(result):
                        return
        except BaseException as exc:  # noqa: BLE001 - raised again in the consumer's thread
            self._worker_error = exc
        finally:
            self._out.end()

    def _check_size(self, frame: Frame) -> None:
        shape = frame.image.shape
        if self._last_shape is not None and shape != self._last_shape:
            self.stats.count("size_changes")
            message = f"frame {frame.index}: size changed from {self._last_shape[1]}x{self._last_shape[0]} to {shape[1]}x{shape[0]}"
            self.stats.event(message)
            if self.stats.size_changes <= 10:
                self.report(message)
        self._last_shape = shape

    # ------------------------------------------------------------------ consuming
    def _results(self) -> Iterator[FrameResult]:
        """Results in order, until the end, ``max_frames``, or close; does not close by itself."""
        self.start()
        while not self._closed:
            got = self._out.get(1, timeout=0.1)
            if got is None:
                break
            if got:
                yield got[0]
                if self.max_frames is not None and self.stats.frames_processed >= self.max_frames:
                    break

    def _delivered(self, result: FrameResult) -> None:
        result.latency = time.perf_counter() - result.frame.timestamp  # capture -> now
        self.stats.add_latency(result.latency)
        self.stats.count("frames_processed")

    def _raise_errors(self) -> None:
        if self._worker_error is not None:
            error, self._worker_error = self._worker_error, None
            raise error
        if self._reader.error is not None:
            error, self._reader.error = self._reader.error, None
            raise error
        if self._reader.ended_reason.startswith("source lost"):
            raise SourceError(self._reader.ended_reason[len("source lost: "):])

    def __iter__(self) -> Iterator[FrameResult]:
        """Yield one :class:`FrameResult` per frame; the pipeline closes when the loop ends."""
        try:
            for result in self._results():
                self._delivered(result)
                yield result
        finally:
            self.close()
        self._raise_errors()

    def render(self, result: FrameResult) -> np.ndarray:
        """The frame with its detections, faces and (when ``overlay``) FPS/latency drawn.

        The latency shown is this frame's age when its overlay is drawn.
        """
        image = self.annotator.draw(result.image, result.detections)
        if result.faces is not None and len(result.faces):
            self.annotator.draw(image, result.faces, copy=False)
        if self.overlay:
            age = time.perf_counter() - result.frame.timestamp
            lines = self.stats.overlay_lines(live=self.mode == "live", latency=age)
            self.annotator.draw_text_lines(image, lines, corner="bottom-left")
        return image

    def run(self, sink: Any = None, *, summary: bool = True, log: Callable[[str], None] = print) -> PipelineStats:
        """Process the whole source, handing every frame to the sinks; returns the statistics.

        Args:
            sink: one sink or a list: a :class:`~detectkit.video.sinks.Sink`, ``"window"``,
                a video path (``.mp4``, ``.avi``), a ``.jsonl`` path, or a callable
                ``fn(result, image)`` (see :func:`~detectkit.video.sinks.make_sink`).
            summary: print :meth:`PipelineStats.summary` at the end (through ``log``).

        Sinks are closed however the run ends (end of source, ``q``/Esc, an error, Ctrl-C),
        and a second Ctrl-C while they are being finalised is ignored.

        Usage:
            stats = Pipeline("in.mp4", detector="yolo11n.pt").run(["out.mp4", "out.jsonl"])
            stats.as_dict()["throughput_fps"]
        """
        sinks: list[Sink] = [make_sink(s) for s in _as_list(sink)]
        needs_image = any(s.needs_image for s in sinks)
        opened: list[Sink] = []
        try:
            if not self._started and not self._closed and not self.source.is_open:
                self.source.open()
            for s in sinks:  # every output is opened (and fails) before the first frame is read
                s.open(self.source.info)
                opened.append(s)
            self.start()
            for result in self._results():
                started = time.perf_counter()
                image = self.render(result) if needs_image else None
                drawn = time.perf_counter()
                self._delivered(result)  # its latency: capture -> handed to the sinks, drawing included
                keep = True
                for s in sinks:
                    keep = (s.write(result, image) is not False) and keep
                done = time.perf_counter()
                if needs_image:
                    self.stats.add_stage("draw", drawn - started)
                self.stats.add_stage("sink", done - drawn)
                if not keep:
                    self.stats.event(f"stopped by a sink at frame {result.index}")
                    break
        finally:
            with _sigint_deferred(self.report):
                errors = []
                for s in opened:
                    try:
                        s.close()
                    except Exception as exc:  # noqa: BLE001 - close the others, then report
                        errors.append(f"{type(s).__name__}: {exc}")
                self.close()
                for message in errors:
                    self.report(f"could not close an output: {message}")
                if summary and self._started:  # after Ctrl-C or an error too: what was done so far
                    log(self.stats.summary())
        self._raise_errors()
        return self.stats


def _as_list(sink: Any) -> list[Any]:
    if sink is None:
        return []
    if isinstance(sink, (list, tuple)):
        return list(sink)
    return [sink]


class _sigint_deferred:
    """While outputs are finalised, a Ctrl-C is noted instead of interrupting (main thread only)."""

    def __init__(self, report: Callable[[str], None]) -> None:
        self.report = report
        self.previous: Any = None

    def __enter__(self) -> None:
        if threading.current_thread() is threading.main_thread():
            def handler(signum: int, frame: Any) -> None:
                self.report("finishing the outputs; they will be complete in a moment")

            try:
                self.previous = signal.signal(signal.SIGINT, handler)
            except ValueError:  # pragma: no cover - not the main interpreter
                self.previous = None

    def __exit__(self, *exc: Any) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def _recognizer_from_gallery(gallery: Any) -> Any:
    """A FaceRecognizer over the gallery at ``gallery``."""
    try:
        from ..faces import FaceRecognizer
    except ImportError as exc:  # pragma: no cover - while the faces module is missing
        raise ModelError(f"face recognition is not available in this install ({exc})") from exc
    return FaceRecognizer(gallery=gallery)
