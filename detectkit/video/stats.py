"""Statistics of a video pipeline run: per-stage time, throughput, latency, dropped and bad frames.

Everything here is bounded in memory (latencies live in a fixed-size ring, events in a
short deque), so a pipeline that runs for days keeps a flat footprint. The object is
shared by the pipeline's threads and guarded by a lock.

Example:
    >>> from detectkit.video.stats import PipelineStats
    >>> stats = PipelineStats()
    >>> stats.add_stage("detect", 0.050, frames=2)
    >>> stats.add_latency(0.080); stats.add_latency(0.120)
    >>> stats.stage_ms()["detect"], round(stats.latency.percentile(50) * 1000)
    (25.0, 100)
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["PipelineStats", "RingBuffer", "StageTime"]


class RingBuffer:
    """The last ``size`` float samples (a fixed NumPy ring), plus the count and sum of all of them.

    Example:
        >>> ring = RingBuffer(3)
        >>> for v in (1.0, 2.0, 3.0, 4.0): ring.add(v)
        >>> ring.values().tolist(), ring.count, ring.mean_all, ring.last
        ([2.0, 3.0, 4.0], 4, 2.5, 4.0)
    """

    def __init__(self, size: int = 10_000) -> None:
        if size < 1:
            raise ValueError(f"RingBuffer size must be at least 1, got {size}")
        self._data = np.zeros(int(size), np.float64)
        self.count = 0
        self.total = 0.0

    def add(self, value: float) -> None:
        """Record one sample."""
        self._data[self.count % len(self._data)] = value
        self.count += 1
        self.total += value

    def values(self) -> np.ndarray:
        """The samples kept, oldest first."""
        n = min(self.count, len(self._data))
        if self.count <= len(self._data):
            return self._data[:n].copy()
        start = self.count % len(self._data)
        return np.concatenate([self._data[start:], self._data[:start]])

    @property
    def last(self) -> float:
        """The latest sample (NaN when none), without copying the ring."""
        return float(self._data[(self.count - 1) % len(self._data)]) if self.count else float("nan")

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile of the samples kept (NaN when there are none)."""
        values = self.values()
        return float(np.percentile(values, q)) if len(values) else float("nan")

    @property
    def mean_all(self) -> float:
        """Mean over every sample ever added (NaN when none)."""
        return self.total / self.count if self.count else float("nan")


@dataclass
class StageTime:
    """Time spent in one stage: ``seconds`` over ``frames`` frames in ``calls`` calls (batches)."""

    seconds: float = 0.0
    frames: int = 0
    calls: int = 0

    @property
    def ms_per_frame(self) -> float:
        """Milliseconds per frame (NaN before the first frame)."""
        return 1000.0 * self.seconds / self.frames if self.frames else float("nan")


class PipelineStats:
    """Counters and timings of one pipeline run, safe to update from several threads.

    Attributes:
        frames_read: frames the source delivered (corrupt ones not included).
        frames_processed: frames that went through every stage and reached the sinks.
        frames_dropped: frames a live source replaced before inference took them.
        frames_corrupt: unreadable frames that were skipped.
        size_changes: times the frame size changed mid-stream.
        reconnects: times a lost live source was opened again.
        frames_missing: frames a video file announces but did not deliver (a truncated file).
        latency: capture-to-sink seconds of recent frames (a :class:`RingBuffer`).
        events: recent faults and notices, as ``(seconds since start, message)``.
    """

    def __init__(self, latency_window: int = 10_000, fps_window: int = 30, *, live: bool = True) -> None:
        self._lock = threading.Lock()
        self.live = live
        self.started: float | None = None
        self.finished: float | None = None
        self.frames_read = 0
        self.frames_processed = 0
        self.frames_dropped = 0
        self.frames_corrupt = 0
        self.size_changes = 0
        self.reconnects = 0
        self.frames_missing = 0
        self.stages: dict[str, StageTime] = {}
        self.latency = RingBuffer(latency_window)
        self.events: deque[tuple[float, str]] = deque(maxlen=100)
        self._recent_outputs: deque[float] = deque(maxlen=fps_window)

    # ------------------------------------------------------------------ updates
    def start(self) -> None:
        """Mark the start of the run (the clock of throughput and events)."""
        with self._lock:
            self.started = time.perf_counter()
            self.finished = None

    def stop(self) -> None:
        """Mark the end of the run."""
        with self._lock:
            if self.finished is None:
                self.finished = time.perf_counter()

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to a counter (``frames_read``, ``frames_dropped``, ...)."""
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def add_stage(self, name: str, seconds: float, frames: int = 1) -> None:
        """Record ``seconds`` spent by stage ``name`` on ``frames`` frames in one call."""
        with self._lock:
            entry = self.stages.setdefault(name, StageTime())
            entry.seconds += seconds
            entry.frames += frames
            entry.calls += 1

    def add_latency(self, seconds: float) -> None:
        """Record one frame's capture-to-sink latency."""
        now = time.perf_counter()
        with self._lock:
            self.latency.add(seconds)
            self._recent_outputs.append(now)

    def event(self, message: str) -> None:
        """Remember a fault or notice (a lost camera, a reconnection, a size change)."""
        with self._lock:
            self.events.append((self.elapsed, message))

    # ------------------------------------------------------------------ reading
    @property
    def elapsed(self) -> float:
        """Seconds since :meth:`start` (to :meth:`stop` once stopped)."""
        if self.started is None:
            return 0.0
        end = self.finished if self.finished is not None else time.perf_counter()
        return end - self.started

    @property
    def throughput(self) -> float:
        """Frames processed per second over the whole run."""
        elapsed = self.elapsed
        return self.frames_processed / elapsed if elapsed > 0 else 0.0

    @property
    def fps(self) -> float:
        """Frames per second at the sink over the last few frames (the on-screen FPS)."""
        with self._lock:
            times = list(self._recent_outputs)
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    def stage_ms(self) -> dict[str, float]:
        """Milliseconds per frame spent in each stage, in the order stages first ran."""
        with self._lock:
            return {name: entry.ms_per_frame for name, entry in self.stages.items()}

    def as_dict(self) -> dict[str, Any]:
        """Everything as plain Python values (seconds and milliseconds as floats).

        Example:
            >>> PipelineStats().as_dict()["frames_processed"]
            0
        """
        latency_ms = {
            "mean": 1000.0 * self.latency.mean_all,
            "p50": 1000.0 * self.latency.percentile(50),
            "p99": 1000.0 * self.latency.percentile(99),
            "max": 1000.0 * float(self.latency.values().max()) if self.latency.count else float("nan"),
        }
        return {
            "elapsed_s": self.elapsed,
            "frames_read": self.frames_read,
            "frames_processed": self.frames_processed,
            "frames_dropped": self.frames_dropped,
            "frames_corrupt": self.frames_corrupt,
            "size_changes": self.size_changes,
            "reconnects": self.reconnects,
            "frames_missing": self.frames_missing,
            "throughput_fps": self.throughput,
            "latency_ms": latency_ms,
            "stage_ms_per_frame": self.stage_ms(),
            "events": [message for _, message in self.events],
        }

    def overlay_lines(
        self, live: bool = True, model_stages: tuple[str, ...] = ("detect", "track", "faces"), *, latency: float | None = None
    ) -> list[str]:
        """Short lines for the on-frame overlay.

        Live: FPS, capture-to-screen latency (``latency`` seconds, default the last frame's),
        frames dropped. File mode:
        FPS and the models' milliseconds per frame (a file frame's "latency" is mostly its
        wait in the read-ahead buffer, which says nothing).

        Example:
            >>> PipelineStats().overlay_lines()[0]
            'FPS --'
        """
        fps = self.fps
        lines = [f"FPS {fps:.1f}" if fps > 0 else "FPS --"]
        if live:
            if latency is None and self.latency.count:
                latency = self.latency.last
            if latency is not None:
                lines.append(f"latency {1000 * latency:.0f} ms")
            if self.frames_dropped:
                lines.append(f"dropped {self.frames_dropped}")
        else:
            stage_ms = self.stage_ms()
            model_ms = sum(ms for name, ms in stage_ms.items() if name in model_stages)
            if model_ms > 0:
                lines.append(f"models {model_ms:.0f} ms/frame")
        return lines

    def summary(self) -> str:
        """A short multi-line report, printed at the end of a run.

        Example:
            >>> print(PipelineStats().summary().splitlines()[0])
            frames: 0 processed, 0 read, 0 dropped, 0 corrupt in 0.0 s (0.0 FPS)
        """
        d = self.as_dict()
        lines = [
            f"frames: {d['frames_processed']} processed, {d['frames_read']} read, {d['frames_dropped']} dropped, "
            f"{d['frames_corrupt']} corrupt in {d['elapsed_s']:.1f} s ({d['throughput_fps']:.1f} FPS)"
        ]
        if self.latency.count:
            lat = d["latency_ms"]
            what = "latency capture->sink" if self.live else "time read->sink (file mode: mostly waiting in the read-ahead buffer)"
            lines.append(f"{what}: p50 {lat['p50']:.0f} ms, p99 {lat['p99']:.0f} ms, max {lat['max']:.0f} ms")
        if d["stage_ms_per_frame"]:
            stages = ", ".join(f"{name} {ms:.1f}" for name, ms in d["stage_ms_per_frame"].items())
            lines.append(f"ms per frame: {stages}")
        if self.reconnects or self.size_changes:
            lines.append(f"source: {self.reconnects} reconnects, {self.size_changes} size changes")
        if self.frames_missing:
            lines.append(f"source: {self.frames_missing} frames the file announces are missing (truncated or damaged file)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"PipelineStats({self.summary().splitlines()[0]})"
