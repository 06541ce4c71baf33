"""One chunk of frames through the video pipeline, and the Ray actor that does it.

:func:`process_chunk` runs a chunk through :class:`~detectkit.video.pipeline.Pipeline` with
a :class:`~detectkit.video.sinks.JsonLinesSink`, exactly as ``detectkit run SOURCE --json``
does, so a frame's JSON line is made by the same code: a video chunk is the same
:class:`~detectkit.video.sources.CaptureSource` opened at the chunk's first frame (a seek),
an image chunk the same :class:`~detectkit.video.sources.ImageFolderSource` numbered from
the chunk's position. Corrupt frames are skipped and counted as in ``detectkit run``.

:class:`ChunkWorker` (made a Ray actor by :func:`worker_class`) builds its models once,
from a :class:`~detectkit.batch.specs.ModelSpec`, and then processes chunks.

Example:
    >>> import numpy as np, cv2, tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> for i in range(3):
    ...     _ = cv2.imwrite(os.path.join(folder, f"{i}.png"), np.full((32, 48, 3), 40 * i, np.uint8))
    >>> files = tuple(sorted(os.path.join(folder, f) for f in os.listdir(folder)))
    >>> from detectkit.batch.plan import Chunk
    >>> from detectkit.batch.specs import BuiltModels
    >>> brightness = lambda results: [r.extra.setdefault("mean", r.image.mean()) for r in results]
    >>> done = process_chunk(BuiltModels(pipeline_options={"stages": [brightness]}), Chunk("s", "images", folder, start=1, frames=2, files=files[1:]))
    >>> done.frames, [line["frame"] for line in map(__import__("json").loads, done.lines)]
    (2, [1, 2])
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass, field
from typing import Any

from .plan import Chunk
from .specs import BuiltModels, ModelSpec

__all__ = ["ChunkResult", "process_chunk", "ChunkWorker", "worker_class", "limit_threads"]


@dataclass
class ChunkResult:
    """What one chunk gave: its JSON lines (in frame order) and its counts.

    Attributes:
        source, index: which source and which of its chunks.
        lines: one JSON object per processed frame (the ``detectkit run --json`` line, without newline).
        frames: frames processed; ``objects``/``faces``: boxes found in them.
        corrupt: unreadable frames skipped; ``messages``: what was reported about them.
        seconds: wall time in the worker; ``cpu_seconds``: CPU time of the worker process meanwhile (all its threads).
    """

    source: str
    index: int
    lines: list[str] = field(default_factory=list)
    frames: int = 0
    objects: int = 0
    faces: int = 0
    corrupt: int = 0
    messages: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0


def _chunk_source(chunk: Chunk) -> Any:
    from ..video.sources import CaptureSource, ImageFolderSource

    if chunk.kind == "video":
        return CaptureSource(chunk.path, start=chunk.start, stride=chunk.stride)

    class ChunkImages(ImageFolderSource):  # the same reader, numbered from the chunk's position
        def _open(self) -> None:
            super()._open()
            self._next_index = chunk.start

    source = ChunkImages(list(chunk.files))
    source.info.name = chunk.path
    return source


def process_chunk(models: BuiltModels, chunk: Chunk) -> ChunkResult:
    """Run one chunk through the pipeline; returns its JSON lines and counts.

    Raises:
        SourceError: the chunk's file cannot be opened (the caller reports the source as failed).
    """
    from ..video.pipeline import Pipeline
    from ..video.sinks import CallbackSink, JsonLinesSink

    started, cpu = time.perf_counter(), time.process_time()
    result = ChunkResult(chunk.source, chunk.index)
    buffer = io.StringIO()
    options = dict(models.pipeline_options)

    def count(frame_result: Any, image: Any) -> None:
        result.objects += len(frame_result.detections)
        result.faces += len(frame_result.faces) if frame_result.faces is not None else 0

    pipeline = Pipeline(
        _chunk_source(chunk),
        detector=models.detector,
        faces=models.recognizer,
        mode="file",
        max_frames=chunk.frames,
        report=result.messages.append,
        overlay=False,
        **options,
    )
    stats = pipeline.run([JsonLinesSink(buffer), CallbackSink(count, needs_image=False)], summary=False)
    result.lines = buffer.getvalue().splitlines()
    result.frames = int(stats.frames_processed)
    result.corrupt = int(stats.frames_corrupt)
    result.seconds = time.perf_counter() - started
    result.cpu_seconds = time.process_time() - cpu
    return result


def limit_threads(threads: int, cores: list[int] | None = None) -> None:
    """Size this worker process's thread pools: torch, OpenCV, and (by CPU affinity) ONNX Runtime.

    ``cores``: pin the process to these CPU cores (Linux), which ONNX Runtime's default
    pool follows; used on a local cluster, where the driver knows the machine's cores.
    Only for a process of its own (an actor): torch's thread count stays so.
    """
    import cv2

    if cores and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, set(cores))
        except OSError:  # pragma: no cover - a container that forbids it
            pass
    try:
        import torch

        torch.set_num_threads(max(1, threads))
    except ImportError:  # pragma: no cover
        pass
    cv2.setNumThreads(max(1, threads))


class ChunkWorker:
    """Builds the models of a spec once, then processes chunks (the body of a batch actor).

    Args:
        spec: what to build.
        threads: threads for torch/OpenCV in this process (``None``: leave them).
        cores: CPU cores to pin the process to (see :func:`limit_threads`).
        device: the device for the models (``None``: the spec's).
    """

    def __init__(self, spec: ModelSpec, threads: int | None = None, cores: list[int] | None = None, device: str | None = None) -> None:
        if threads is not None:
            limit_threads(threads, cores)
        from .specs import build_models

        self.models = build_models(spec, device=device)
        self.pid = os.getpid()

    def process(self, chunk: Chunk) -> ChunkResult:
        """Process one chunk (see :func:`process_chunk`)."""
        return process_chunk(self.models, chunk)

    def ready(self) -> int:
        """The process id, once the models are built (the driver waits for this)."""
        return self.pid


def worker_class() -> Any:
    """:class:`ChunkWorker` as a Ray actor class (imports ray)."""
    import ray

    return ray.remote(ChunkWorker)
