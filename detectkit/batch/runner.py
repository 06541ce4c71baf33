"""``run_batch``: images, folders, globs and videos fanned out over a Ray cluster.

How the work is spread, and why plain actors and a task queue rather than Ray Data:

* The driver expands the sources (:mod:`~detectkit.batch.plan`), probes each video's frame
  count, and cuts every source into chunks of consecutive frames. A video chunk is a
  seek plus a read in the actor, so decoding is spread over the actors too, and only
  JSON text comes back (no frames cross the object store).
* ``actors`` Ray actors (:class:`~detectkit.batch.worker.ChunkWorker`) each build their
  own Detector/FaceRecognizer from a :class:`~detectkit.batch.specs.ModelSpec`; CPU
  actors get ``num_cpus`` = their share of the cluster and as many torch/OpenCV threads
  (one each when there are as many actors as cores; on a local cluster each is pinned
  to its own cores, which ONNX Runtime's pool follows); GPU actors get
  ``num_gpus=gpus_per_actor`` and run on ``cuda``.
* The driver keeps two chunks queued per actor (one running, one waiting, so an actor
  never idles on a round trip) and takes results as they finish (``ray.wait``). Chunks of
  a source are written to its ``.part`` file in order (:mod:`~detectkit.batch.store`),
  renamed when the last is in, and the manifest updated: per-source ordered JSON lines,
  resumable at source granularity, one failing file marks only its source failed.

Ray Data (``map_batches`` over an actor pool) was the other candidate. It streams rows in
blocks of its own sizing; rows keep their input order only with
``DataContext.execution_options.preserve_order``, which makes every operator hand blocks on
in input order (one slow block holds back all behind it); its writers write a file per
block, not per source, so "this source is complete" would have to be rebuilt from row
counts; and its failure budget is per block (``max_errored_blocks``), not per file. The
task queue above gives per-source order, atomic per-source outputs and per-file failures
directly, with the same actor-pool scheduling and without shipping frames between operators.

Usage:
    summary = run_batch(["archive/", "photos/*.jpg"], "out/", model="yolov8n_int8.onnx", actors=2)
    print(summary.table()); open("out/archive-xxxxxxxx.jsonl") ...
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from typing import Any, Callable, Sequence

from ..errors import DetectKitError, ModelError
from .plan import Chunk, SourcePlan, chunk_source, expand_sources, probe_video
from .specs import ModelSpec
from .store import BatchStore, SourceWriter
from .summary import BatchSummary, SourceSummary

__all__ = ["run_batch", "connect", "DEFAULT_CHUNK_FRAMES", "QUEUED_PER_ACTOR"]

DEFAULT_CHUNK_FRAMES = 64
"""Frames (or images) per chunk: large enough that a seek and a task round trip are noise,
small enough that two actors share a short clip."""

QUEUED_PER_ACTOR = 2


def connect(address: str | None = None, *, num_cpus: int | None = None) -> bool:
    """Connect to a Ray cluster at ``address``, or start a local one; ``True`` when it was started here.

    A local cluster gets ``num_cpus`` (default: the cores this process may use), no
    dashboard, warnings only, on 127.0.0.1; an already initialised Ray (``ray.init`` by the caller) is used as it is.

    Usage:
        connect("ray://head:10001")  # a running cluster;  connect()  # a local one
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Ray starts workers at nice 15; a local batch runs at the priority `detectkit run` has (export it to change)
    os.environ.setdefault("RAY_worker_niceness", "0")
    import ray

    if ray.is_initialized():
        return False
    quiet = {"logging_level": logging.WARNING, "log_to_driver": False, "configure_logging": True}
    if address:
        ray.init(address=address, **quiet)
        return False
    cpus = num_cpus or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    ray.init(num_cpus=cpus, include_dashboard=False, _node_ip_address="127.0.0.1", **quiet)
    return True


def _cause(exc: BaseException) -> str:
    """The message of the error inside a Ray task error (not Ray's traceback)."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):  # the exception the task raised
        text = str(cause).strip().splitlines()
        return f"{type(cause).__name__}: {text[0] if text else ''}".rstrip(": ")
    text = str(exc).strip().splitlines()  # the actor died (a crash inside a decoder, out of memory)
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _start_actors(spec: ModelSpec, actors: int | None, gpus_per_actor: float | None, cpus_per_actor: int | None, pin: bool) -> list[Any]:
    import ray

    from .worker import worker_class

    resources = ray.cluster_resources()
    cpus, gpus = float(resources.get("CPU", 1)), float(resources.get("GPU", 0))
    use_gpu = gpus > 0 and not str(spec.device).startswith("cpu")
    if use_gpu:
        share = float(gpus_per_actor or 1.0)
        count = int(actors or max(1, int(gpus / share)))
        options = {"num_cpus": 1, "num_gpus": share}
        threads, device = 1, "cuda"
    else:
        count = int(actors or max(1, int(cpus)))
        per_actor = int(cpus_per_actor or max(1, int(cpus // count)))
        options = {"num_cpus": min(float(per_actor), cpus / count)}
        threads, device = per_actor, None
    cores = sorted(os.sched_getaffinity(0)) if pin and hasattr(os, "sched_getaffinity") else []
    Worker = worker_class()
    handles = []
    for rank in range(count):
        mine = [cores[(rank * threads + i) % len(cores)] for i in range(threads)] if cores and not use_gpu else None
        handles.append(Worker.options(max_restarts=4, max_task_retries=0, **options).remote(spec, threads, mine, device))
    try:
        ray.get([h.ready.remote() for h in handles])
    except Exception as exc:  # the models could not be built: the same for every file, so the run ends
        cause = getattr(exc, "cause", None)
        for handle in handles:
            ray.kill(handle)
        if isinstance(cause, DetectKitError):
            raise cause
        raise ModelError(f"the batch workers could not build their models: {_cause(exc)}") from exc
    return handles


def _model_spec(spec: ModelSpec | None, options: dict[str, Any]) -> ModelSpec:
    if spec is not None and options:
        raise TypeError(f"give spec= or model options ({', '.join(sorted(options))}), not both")
    if spec is not None:
        return spec
    if "classes" in options and options["classes"] is not None:
        options["classes"] = tuple(options["classes"])
    return ModelSpec(**options)


def run_batch(
    sources: Sequence[str | os.PathLike] | str | os.PathLike,
    out: str | os.PathLike,
    *,
    spec: ModelSpec | None = None,
    address: str | None = None,
    actors: int | None = None,
    gpus_per_actor: float | None = None,
    cpus_per_actor: int | None = None,
    chunk_frames: int | None = DEFAULT_CHUNK_FRAMES,
    stride: int = 1,
    max_frames: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    **model_options: Any,
) -> BatchSummary:
    """Process every frame of every source on a Ray cluster; one JSON lines file per source in ``out``.

    Args:
        sources: video files, image files, folders (searched recursively: each video in it is a
            source, its images together one source) and globs.
        out: the output folder: ``<source id>.jsonl`` per source (each line the frame's
            ``detectkit run --json`` line), ``manifest.json``, ``summary.json``.
        spec: what each actor builds (or give its fields as keywords: ``model=``, ``conf=``, ``faces=``...).
        address: a running Ray cluster (``None``: a local cluster with this machine's cores).
        actors: how many workers (default: one per CPU of the cluster, or per GPU share).
        gpus_per_actor: GPU share of each actor when the cluster has GPUs (default 1; 0.25: four per GPU).
        cpus_per_actor: CPU actors: cores (and torch/OpenCV threads) each (default: the cluster's CPUs / actors).
        chunk_frames: frames per unit of work (``None``: whole sources). Tracking (``track=True``,
            ``face_identity="track"``) needs a video in one piece and ignores it.
        stride: video files: every ``stride``-th frame (as ``detectkit run --stride``).
        max_frames: per source, at most this many frames.
        progress: show a tqdm progress bar (frames) on stderr.
        log: where the summary table and failures are reported (default: nowhere; the CLI prints).

    Returns:
        The :class:`~detectkit.batch.summary.BatchSummary` (also written to ``summary.json``).

    Raises:
        ModelError, WeightsNotFoundError, GalleryError: the workers cannot build their models.
        OutputError: ``out`` cannot be written, or holds a run made with other options.

    Example:
        >>> import tempfile  # a source that is not there is reported, and nothing else stops
        >>> summary = run_batch(["no/such/clip.mp4"], tempfile.mkdtemp(), model="yolov8n_int8.onnx", progress=False)
        >>> summary.failed, summary.sources[0].error
        (1, 'no/such/clip.mp4: no such file, folder or glob')

    Usage:
        run_batch(["clips/", "photos/*.jpg"], "out", model="yolov8n_int8.onnx", conf=0.3, actors=2).fps
    """
    import ray
    from tqdm.auto import tqdm

    say = log or (lambda message: None)
    model = _model_spec(spec, model_options)
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if chunk_frames is not None and chunk_frames < 1:
        raise ValueError(f"chunk_frames must be >= 1 (or None: whole sources), got {chunk_frames}")
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    model = _resolve_auto(model)
    split = chunk_frames if model.splittable else None
    config = {**model.to_dict(), "stride": stride, "max_frames": max_frames}
    store = BatchStore(out, config)
    started = time.perf_counter()
    summary = BatchSummary(address=address)

    plans = expand_sources(sources)
    todo: list[SourcePlan] = []
    for plan in plans:
        if plan.error is None and plan.kind == "video":
            probe_video(plan, stride=stride, max_frames=max_frames)
        entry = SourceSummary(plan.id, plan.name, plan.kind, "pending")
        if plan.error is not None:
            entry.status, entry.error = "failed", plan.error
            store.fail(plan.id, _entry(entry))
            say(f"skipped {plan.name}: {plan.error}")
        elif store.is_done(plan.id, plan.fingerprint()):
            previous = store.sources[plan.id]
            entry.status, entry.output = "skipped", str(store.output(plan.id))
            entry.frames, entry.objects, entry.faces, entry.corrupt = (int(previous.get(k, 0)) for k in ("frames", "objects", "faces", "corrupt"))
        else:
            todo.append(plan)
        summary.add(entry)
    entries = summary.by_id()

    chunks: deque[Chunk] = deque(c for plan in todo for c in chunk_source(plan, chunk_frames=split, stride=stride, max_frames=max_frames))
    if not chunks:
        summary.seconds = time.perf_counter() - started
        store.write_summary(summary.as_dict())
        return summary

    started_here = connect(address)
    try:
        workers = _start_actors(model, actors, gpus_per_actor, cpus_per_actor, pin=_local(address))
        summary.actors = len(workers)
        summary.startup_seconds = time.perf_counter() - started
        total = sum(p.frames for p in todo) if all(p.frames is not None for p in todo) else None  # type: ignore[misc]
        with tqdm(total=total, unit="frame", desc="detectkit batch", disable=not progress, dynamic_ncols=True) as bar:
            dispatch = _Dispatch(workers, store, entries, {p.id: p for p in todo}, bar, say)
            try:
                dispatch.run(chunks)
            finally:
                summary.cpu_seconds = dispatch.cpu_seconds
        for handle in workers:
            ray.kill(handle)
    finally:
        if started_here:
            ray.shutdown()
    summary.seconds = time.perf_counter() - started
    store.write_summary(summary.as_dict())
    say(summary.table())
    return summary


class _Dispatch:
    """The driver's loop: keep ``QUEUED_PER_ACTOR`` chunks queued on each actor, write results in order as they come."""

    def __init__(self, workers: list[Any], store: BatchStore, entries: dict[str, SourceSummary], plans: dict[str, SourcePlan],
                 bar: Any, say: Callable[[str], None]) -> None:
        self.workers, self.store, self.entries, self.plans, self.bar, self.say = workers, store, entries, plans, bar, say
        self.writers: dict[str, SourceWriter] = {}
        self.expected = {source: 0 for source in plans}
        self.received = {source: 0 for source in plans}
        self.first_seen: dict[str, float] = {}
        self.load = [0] * len(workers)
        self.inflight: dict[Any, tuple[int, Chunk]] = {}
        self.cpu_seconds = 0.0

    def run(self, chunks: deque[Chunk]) -> None:
        """Process every chunk; on an interrupt the unfinished sources keep their ``.part`` files (redone on a rerun)."""
        import ray

        for chunk in chunks:
            self.expected[chunk.source] += 1
        try:
            while chunks or self.inflight:
                self._submit(chunks)
                if not self.inflight:
                    break
                ready, _ = ray.wait(list(self.inflight), num_returns=1)
                for ref in ready:
                    self._collect(ref)
        finally:
            for writer in self.writers.values():
                writer.close()

    def _submit(self, chunks: deque[Chunk]) -> None:
        while chunks:
            rank = min(range(len(self.workers)), key=self.load.__getitem__)
            if self.load[rank] >= QUEUED_PER_ACTOR:
                return
            chunk = chunks.popleft()
            if self.entries[chunk.source].status == "failed":
                continue
            self.first_seen.setdefault(chunk.source, time.perf_counter())
            self.inflight[self.workers[rank].process.remote(chunk)] = (rank, chunk)
            self.load[rank] += 1

    def _collect(self, ref: Any) -> None:
        import ray

        rank, chunk = self.inflight.pop(ref)
        self.load[rank] -= 1
        entry = self.entries[chunk.source]
        try:
            result = ray.get(ref)
        except ray.exceptions.RayError as exc:  # the task raised, or the actor died (a crash in a decoder)
            self._fail(chunk.source, _cause(exc))
            return
        if entry.status == "failed":  # an earlier chunk of this source failed
            return
        writer = self.writers.get(chunk.source)
        if writer is None:
            writer = self.writers[chunk.source] = self.store.writer(chunk.source)
        writer.add(chunk.index, result.lines)
        self.cpu_seconds += result.cpu_seconds
        entry.status = "running"
        entry.frames += result.frames
        entry.objects += result.objects
        entry.faces += result.faces
        entry.corrupt += result.corrupt
        entry.messages.extend(result.messages)
        self.bar.update(result.frames)
        self.received[chunk.source] += 1
        if self.received[chunk.source] == self.expected[chunk.source]:
            entry.status, entry.output = "done", str(self.store.output(chunk.source))
            entry.seconds = time.perf_counter() - self.first_seen[chunk.source]
            self.store.finish(self.writers.pop(chunk.source), _entry(entry), fingerprint=self.plans[chunk.source].fingerprint())
            if entry.corrupt:
                self.say(f"{entry.name}: {entry.corrupt} unreadable frames skipped ({'; '.join(entry.messages[:3])})")

    def _fail(self, source: str, error: str) -> None:
        entry = self.entries[source]
        if entry.status == "failed":
            return
        entry.status, entry.error = "failed", error
        self.store.fail(source, _entry(entry), self.writers.pop(source, None))
        self.say(f"failed {entry.name}: {error}")


def _resolve_auto(spec: ModelSpec) -> ModelSpec:
    """``model="auto"`` resolved once, in the driver: every actor loads the same file, and none is a clear error here."""
    import dataclasses

    from ..errors import WeightsNotFoundError

    if spec.model is None or str(spec.model).lower() != "auto":
        return spec
    from ..factories import auto_model

    messages: list[str] = []
    found = auto_model(log=messages.append)
    if found is None:
        raise WeightsNotFoundError("\n".join(messages) or "no detector weights found")
    return dataclasses.replace(spec, model=found)


def _local(address: str | None) -> bool:
    """Whether the cluster in use is this machine alone (then actors are pinned to cores)."""
    if address:
        return False
    import ray

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    return len(nodes) == 1


def _entry(entry: SourceSummary) -> dict[str, Any]:
    return {
        "source": entry.name,
        "kind": entry.kind,
        "frames": entry.frames,
        "objects": entry.objects,
        "faces": entry.faces,
        "corrupt": entry.corrupt,
        "error": entry.error,
        "messages": entry.messages[:20],
        "seconds": round(entry.seconds, 3),
    }
