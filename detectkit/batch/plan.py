"""What a batch run will do: the sources a command line names, and the chunks each is cut into.

Each SOURCE argument gives:

* every video file it is or holds (a folder is searched recursively, a glob is expanded):
  one source each, cut into chunks of ``chunk_frames`` frames (a chunk is a seek and a
  read of that many frames, so chunks of one video run on different actors);
* the images it is or holds: **one** source, in the order ``detectkit run ARG`` plays
  them (so its JSON lines are the same), cut into chunks of ``chunk_frames`` images.

A source's id names its output file: the file or folder name and a short hash of its
absolute path (two ``clip.mp4`` in two folders do not collide).

Example:
    >>> plan = Chunk("a1b2", "video", "clip.mp4", start=64, frames=32)
    >>> plan.start, plan.frames
    (64, 32)
    >>> source_id("/data/cam 1/clip.mp4")[:9]
    'clip.mp4-'
"""

from __future__ import annotations

import glob
import hashlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ..errors import SourceError

__all__ = ["SourcePlan", "Chunk", "expand_sources", "source_id", "fingerprint", "chunk_source"]


@dataclass
class SourcePlan:
    """One source of a batch run: a video file or a list of images.

    Attributes:
        id: output file stem (see :func:`source_id`).
        kind: ``"video"`` or ``"images"``.
        name: the path (video) or the argument the images came from, as the user gave it.
        files: the images, in play order (``kind == "images"``).
        frames: frames expected (the container's count for a video, ``None`` when unknown),
            after ``stride`` and ``max_frames``.
        error: why the source cannot be read (set when probing failed; the source is skipped).
    """

    id: str
    kind: str
    name: str
    files: list[str] = field(default_factory=list)
    frames: int | None = None
    error: str | None = None

    def fingerprint(self) -> list:
        """Size and modification time of what is read: a changed file is done again on a rerun."""
        return fingerprint([self.name] if self.kind == "video" else self.files)


@dataclass(frozen=True)
class Chunk:
    """A run of consecutive frames of one source, the unit of work sent to an actor.

    ``start`` is the first frame (video: frame index in the file; images: position in the
    list); ``frames`` how many to process (``None``: to the end of the video).
    ``files`` carries the chunk's images for an image source.
    """

    source: str
    kind: str
    path: str
    start: int = 0
    frames: int | None = None
    index: int = 0
    files: tuple[str, ...] = ()
    stride: int = 1


def source_id(path: str | os.PathLike) -> str:
    """A stable, collision-free file stem for a source: its base name and 8 hex digits of its absolute path.

    Example:
        >>> source_id("photos/") == source_id("photos"), source_id("a/x.mp4") != source_id("b/x.mp4")
        (True, True)
    """
    text = os.fspath(path)
    absolute = os.path.abspath(text.rstrip("/\\") or text)
    base = os.path.basename(absolute) or "root"
    base = "".join(c if c.isalnum() or c in "._-" else "_" for c in base)[:80]
    return f"{base}-{hashlib.sha1(absolute.encode('utf-8')).hexdigest()[:8]}"


def fingerprint(files: Iterable[str]) -> list:
    """``[count, total bytes, newest mtime]`` of files (missing files count as 0 bytes).

    Example:
        >>> fingerprint([])
        [0, 0, 0]
    """
    count = size = newest = 0
    for name in files:
        count += 1
        try:
            stat = os.stat(name)
        except OSError:
            continue
        size += stat.st_size
        newest = max(newest, stat.st_mtime_ns)
    return [count, size, newest]


def _is_video(path: Path) -> bool:
    from ..video.sources import VIDEO_SUFFIXES

    return path.suffix.lower() in VIDEO_SUFFIXES


def _images(argument: str) -> SourcePlan:
    from ..images import find_images

    files = [str(p) for p in find_images(argument)]
    return SourcePlan(source_id(argument), "images", argument, files=files, frames=len(files))


def expand_sources(arguments: Iterable[str | os.PathLike]) -> list[SourcePlan]:
    """The sources that SOURCE arguments name (see the module docstring), in argument order.

    An argument that names nothing becomes a source with ``error`` set (reported, skipped),
    so one typo does not end a long run.

    Example:
        >>> [(s.kind, s.error) for s in expand_sources(["no/such/thing.mp4"])]
        [('video', 'no/such/thing.mp4: no such file, folder or glob')]
    """
    from ..images import IMAGE_SUFFIXES

    plans: list[SourcePlan] = []
    seen: set[str] = set()

    def add(plan: SourcePlan) -> None:
        if plan.id not in seen:
            seen.add(plan.id)
            plans.append(plan)

    for argument in arguments:
        text = os.fspath(argument)
        path = Path(text)
        if path.is_file():
            if path.suffix.lower() in IMAGE_SUFFIXES:
                add(_images(text))
            else:  # any other file is taken as a video, as `detectkit run` does
                add(SourcePlan(source_id(text), "video", text))
            continue
        if path.is_dir():
            candidates = sorted(p for p in path.glob("**/*") if p.is_file())
        elif glob.has_magic(text):
            candidates = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        else:
            add(SourcePlan(source_id(text), "video", text, error=f"{text}: no such file, folder or glob"))
            continue
        for video in (p for p in candidates if _is_video(p)):
            add(SourcePlan(source_id(video), "video", str(video)))
        if any(p.suffix.lower() in IMAGE_SUFFIXES for p in candidates):
            add(_images(text))
        elif not any(_is_video(p) for p in candidates):
            add(SourcePlan(source_id(text), "images", text, error=f"{text}: no images or videos found"))
    return plans


def probe_video(plan: SourcePlan, *, stride: int = 1, max_frames: int | None = None) -> SourcePlan:
    """Open a video once to learn its frame count (``plan.frames``), or set ``plan.error``.

    Example:
        >>> probe_video(SourcePlan("x", "video", "missing.mp4")).error
        'missing.mp4: no such video file'
    """
    from ..video.sources import CaptureSource

    try:
        source = CaptureSource(plan.name)
        source.open()
        count = source.info.frame_count
        source.close()
    except (SourceError, OSError) as exc:
        plan.error = str(exc)
        return plan
    frames = None if count is None else math.ceil(count / stride)
    if max_frames is not None:
        frames = max_frames if frames is None else min(frames, max_frames)
    plan.frames = frames
    return plan


def chunk_source(plan: SourcePlan, *, chunk_frames: int | None, stride: int = 1, max_frames: int | None = None) -> list[Chunk]:
    """Cut a source into chunks of ``chunk_frames`` frames (``None``: one chunk, the whole source).

    The last chunk of a video reads to the end of the file (a container's frame count can
    be short), or to ``max_frames``.

    Example:
        >>> plan = SourcePlan("c", "video", "c.mp4", frames=70)
        >>> [(c.start, c.frames) for c in chunk_source(plan, chunk_frames=32)]
        [(0, 32), (32, 32), (64, None)]
        >>> [(c.start, c.frames) for c in chunk_source(plan, chunk_frames=32, stride=2, max_frames=70)]
        [(0, 32), (64, 32), (128, 6)]
        >>> images = SourcePlan("i", "images", "d", files=["a.jpg", "b.jpg", "c.jpg"], frames=3)
        >>> [c.files for c in chunk_source(images, chunk_frames=2)]
        [('a.jpg', 'b.jpg'), ('c.jpg',)]
    """
    if plan.kind == "images":
        files = plan.files[: max_frames] if max_frames is not None else plan.files
        size = chunk_frames or max(1, len(files))
        return [
            Chunk(plan.id, "images", plan.name, start=i, frames=len(files[i : i + size]), index=n, files=tuple(files[i : i + size]))
            for n, i in enumerate(range(0, len(files), size))
        ]
    total = plan.frames
    if chunk_frames is None or total is None or total <= chunk_frames:
        return [Chunk(plan.id, "video", plan.name, start=0, frames=max_frames, index=0, stride=stride)]
    count = math.ceil(total / chunk_frames)
    chunks = []
    for n in range(count):
        last = n == count - 1
        frames = chunk_frames if not last else (max_frames - n * chunk_frames if max_frames is not None else None)
        chunks.append(Chunk(plan.id, "video", plan.name, start=n * chunk_frames * stride, frames=frames, index=n, stride=stride))
    return chunks
