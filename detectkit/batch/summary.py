"""The result of a batch run: per source frames, objects, errors, and the throughput.

Example:
    >>> s = BatchSummary(actors=2)
    >>> s.add(SourceSummary("clip-1", "clip.mp4", "video", "done", frames=50, objects=120, seconds=2.0))
    >>> s.add(SourceSummary("bad-2", "bad.mp4", "video", "failed", error="bad.mp4: could not open"))
    >>> s.seconds = 2.5
    >>> s.frames, s.failed, round(s.fps, 1)
    (50, 1, 20.0)
    >>> print(s.table().splitlines()[0])
    source    kind   status  frames  objects  faces  corrupt  error
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["SourceSummary", "BatchSummary"]


@dataclass
class SourceSummary:
    """One source's outcome: ``status`` is ``done``, ``skipped`` (done by an earlier run) or ``failed``."""

    id: str
    name: str
    kind: str
    status: str
    frames: int = 0
    objects: int = 0
    faces: int = 0
    corrupt: int = 0
    error: str | None = None
    messages: list[str] = field(default_factory=list)
    seconds: float = 0.0
    output: str | None = None


@dataclass
class BatchSummary:
    """Every source's outcome, and the run's throughput (frames processed in this run / wall seconds).

    ``startup_seconds``: of ``seconds``, the time until every actor had built its models
    (a local cluster's start included); ``cpu_seconds``: CPU time the actors spent on chunks.
    """

    sources: list[SourceSummary] = field(default_factory=list)
    seconds: float = 0.0
    startup_seconds: float = 0.0
    cpu_seconds: float = 0.0
    actors: int = 0
    address: str | None = None

    def add(self, source: SourceSummary) -> None:
        """Record a source's outcome."""
        self.sources.append(source)

    @property
    def frames(self) -> int:
        """Frames processed in this run (skipped sources not counted)."""
        return sum(s.frames for s in self.sources if s.status != "skipped")

    @property
    def failed(self) -> int:
        """How many sources failed."""
        return sum(s.status == "failed" for s in self.sources)

    @property
    def fps(self) -> float:
        """Frames per second of wall time over the whole run (models' start-up included)."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def by_id(self) -> dict[str, SourceSummary]:
        """Sources by id."""
        return {s.id: s for s in self.sources}

    def as_dict(self) -> dict[str, Any]:
        """Plain form (``summary.json``)."""
        return {
            "frames": self.frames,
            "seconds": round(self.seconds, 3),
            "startup_seconds": round(self.startup_seconds, 3),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "fps": round(self.fps, 3),
            "actors": self.actors,
            "address": self.address,
            "failed": self.failed,
            "sources": [asdict(s) for s in self.sources],
        }

    def table(self) -> str:
        """A text table, one row per source, and a total line."""
        rows = [("source", "kind", "status", "frames", "objects", "faces", "corrupt", "error")]
        for s in self.sources:
            error = (s.error or "").splitlines()[0][:80] if s.error else ""
            rows.append((s.name, s.kind, s.status, str(s.frames), str(s.objects), str(s.faces), str(s.corrupt), error))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
        done = sum(s.status == "done" for s in self.sources)
        skipped = sum(s.status == "skipped" for s in self.sources)
        lines.append(
            f"{len(self.sources)} sources: {done} done, {skipped} skipped (done before), {self.failed} failed; "
            f"{self.frames} frames in {self.seconds:.1f} s = {self.fps:.2f} frames/s with {self.actors} actors"
        )
        return "\n".join(lines)
