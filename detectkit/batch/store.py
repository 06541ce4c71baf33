"""The output folder of a batch run: one JSON lines file per source, a manifest, a summary.

* ``<id>.jsonl`` holds a finished source's frames, in frame order. While the source is
  being processed its lines go to ``<id>.jsonl.part`` (chunks are written in order as
  they arrive; a chunk that comes early waits in memory), which is renamed when the
  last chunk is in: a ``.jsonl`` file is always whole.
* ``manifest.json`` (rewritten atomically after each source) records the options of the
  run and, per source, its status (``done`` or ``failed``), counts, the error, and the
  fingerprint (file count, size, mtime) of what was read.
* On a rerun, :meth:`BatchStore.is_done` says which sources to skip: done, output present,
  same fingerprint. A ``.part`` left by an interrupted run is redone from the start;
  failed sources are tried again.

Example:
    >>> import tempfile
    >>> store = BatchStore(tempfile.mkdtemp(), {"model": "m.onnx"})
    >>> writer = store.writer("clip-1234")
    >>> writer.add(1, ['{"frame": 2}']); writer.add(0, ['{"frame": 0}', '{"frame": 1}']); writer.written
    3
    >>> store.finish(writer, {"source": "clip.mp4", "frames": 3}, fingerprint=[1, 10, 0])
    >>> store.is_done("clip-1234", [1, 10, 0]), store.is_done("clip-1234", [1, 11, 0])
    (True, False)
    >>> open(store.output("clip-1234")).read().split()
    ['{"frame":', '0}', '{"frame":', '1}', '{"frame":', '2}']
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any

from ..errors import OutputError

__all__ = ["BatchStore", "SourceWriter", "MANIFEST", "SUMMARY"]

MANIFEST = "manifest.json"
SUMMARY = "summary.json"
MANIFEST_VERSION = 1


class SourceWriter:
    """Writes one source's chunks to its ``.part`` file in chunk order, whatever order they come in."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.part = path.with_name(path.name + ".part")
        self.written = 0
        self._next = 0
        self._waiting: dict[int, list[str]] = {}
        try:
            self._handle: IO[str] | None = open(self.part, "w", encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"{self.part}: cannot write ({exc.strerror or exc})") from exc

    def add(self, index: int, lines: list[str]) -> None:
        """Take chunk ``index``'s lines; writes every chunk that is now next in order."""
        self._waiting[index] = lines
        assert self._handle is not None, "this writer is closed"
        while self._next in self._waiting:
            block = self._waiting.pop(self._next)
            if block:
                self._handle.write("\n".join(block) + "\n")
            self.written += len(block)
            self._next += 1
        self._handle.flush()

    def commit(self) -> None:
        """Close the ``.part`` file and rename it to the final name (all chunks must be in)."""
        if self._waiting:
            raise OutputError(f"{self.path}: chunks {sorted(self._waiting)} came without chunk {self._next}")
        self.close()
        os.replace(self.part, self.path)

    def close(self) -> None:
        """Close without renaming (the ``.part`` stays, a rerun redoes the source)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def discard(self) -> None:
        """Close and delete the ``.part`` file (a failed source leaves no half output)."""
        self.close()
        try:
            self.part.unlink()
        except FileNotFoundError:
            pass


class BatchStore:
    """The output folder; see the module docstring.

    Args:
        folder: where outputs go (created).
        config: the run's options (a :meth:`ModelSpec.to_dict` and reading options); a folder
            holding a run made with other options is refused, so one folder never mixes models.

    Raises:
        OutputError: the folder cannot be written, its manifest is unreadable, or was made with other options.
    """

    def __init__(self, folder: str | os.PathLike, config: dict[str, Any]) -> None:
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{self.folder}: cannot create the output folder ({exc.strerror or exc})") from exc
        self.config = json.loads(json.dumps(config))
        self.manifest_path = self.folder / MANIFEST
        self.sources: dict[str, dict[str, Any]] = {}
        if self.manifest_path.exists():
            try:
                manifest = json.loads(self.manifest_path.read_text(encoding="utf-8"))
                previous, self.sources = manifest["config"], dict(manifest["sources"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise OutputError(f"{self.manifest_path}: unreadable batch manifest ({exc}); use another --out folder") from exc
            if previous != self.config:
                changed = sorted(k for k in set(previous) | set(self.config) if previous.get(k) != self.config.get(k))
                raise OutputError(
                    f"{self.folder}: holds a batch run made with other options ({', '.join(changed)}); "
                    "use another --out folder, or the same options to resume"
                )
        self._save()

    def output(self, source: str) -> Path:
        """The finished JSON lines file of a source."""
        return self.folder / f"{source}.jsonl"

    def is_done(self, source: str, fingerprint: list) -> bool:
        """Whether a source was finished by an earlier run over the same files."""
        entry = self.sources.get(source)
        return bool(entry and entry.get("status") == "done" and entry.get("fingerprint") == fingerprint and self.output(source).is_file())

    def writer(self, source: str) -> SourceWriter:
        """Start (again) writing a source: its ``.part`` file is made anew."""
        return SourceWriter(self.output(source))

    def finish(self, writer: SourceWriter, entry: dict[str, Any], *, fingerprint: list) -> None:
        """Rename a complete source's output into place and record it as done."""
        writer.commit()
        self.sources[writer.path.stem] = {**entry, "status": "done", "fingerprint": fingerprint, "output": writer.path.name}
        self._save()

    def fail(self, source: str, entry: dict[str, Any], writer: SourceWriter | None = None) -> None:
        """Record a source as failed (its partial output deleted); a rerun tries it again."""
        if writer is not None:
            writer.discard()
        try:
            self.output(source).unlink()  # an older complete output of a file that now fails
        except FileNotFoundError:
            pass
        self.sources[source] = {**entry, "status": "failed"}
        self._save()

    def write_summary(self, summary: dict[str, Any]) -> Path:
        """Write ``summary.json`` (atomically); returns its path."""
        path = self.folder / SUMMARY
        _write_atomic(path, json.dumps(summary, indent=2, ensure_ascii=False))
        return path

    def _save(self) -> None:
        text = json.dumps({"version": MANIFEST_VERSION, "config": self.config, "sources": self.sources}, indent=1, ensure_ascii=False)
        _write_atomic(self.manifest_path, text)


def _write_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from exc
