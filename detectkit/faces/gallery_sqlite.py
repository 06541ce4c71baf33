"""The SQLite gallery store: one file (or ``":memory:"``) holding identities and embeddings.

The file holds:

* ``schema_version``: the layout version; a file from a newer detectkit is refused;
* ``identities``: a unique name and JSON metadata per person;
* ``embeddings``: float32 vectors as BLOBs, each with the model name, model version
  (weights digest) and dimension that made it.

Durability and concurrency: WAL journal, ``synchronous=FULL``, and every write is one
``BEGIN IMMEDIATE`` transaction, so writers in several processes take turns (waiting up to
``timeout`` seconds), readers never see a half-written enrolment, and a process killed at
any point loses only the enrolment it had not finished. ``PRAGMA data_version`` (other
connections' commits) with a counter of this connection's writes is the change token the
gallery's search cache follows.

Example:
    >>> store = SQLiteStore(":memory:")
    >>> store.count(), store.integrity_check()
    (0, 'ok')
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

import numpy as np

from ..errors import GalleryError
from .gallery_sql import SQLStore

__all__ = ["SQLiteStore", "SCHEMA_VERSION", "APPLICATION_ID", "SQLITE_HEADER"]

T = TypeVar("T")

SCHEMA_VERSION = 1
APPLICATION_ID = int.from_bytes(b"DKgl", "big")  # PRAGMA application_id marks the file as a detectkit gallery
SQLITE_HEADER = b"SQLite format 3\x00"

_SCHEMA = f"""
CREATE TABLE schema_version (
    version INTEGER NOT NULL,
    created_at REAL NOT NULL,
    created_by TEXT NOT NULL
);
CREATE TABLE identities (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    metadata TEXT NOT NULL DEFAULT '{{}}',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE embeddings (
    id INTEGER PRIMARY KEY,
    identity_id INTEGER NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    model_name TEXT NOT NULL,
    model_version TEXT NOT NULL,
    dim INTEGER NOT NULL CHECK (dim > 0),
    vector BLOB NOT NULL CHECK (length(vector) = 4 * dim),
    source TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX embeddings_by_identity ON embeddings(identity_id);
CREATE INDEX embeddings_by_model ON embeddings(model_name, model_version, dim, identity_id);
PRAGMA application_id = {APPLICATION_ID};
"""


def is_sqlite_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a file that starts with SQLite's header.

    Example:
        >>> import tempfile, pathlib
        >>> note = pathlib.Path(tempfile.mkdtemp()) / "note.txt"; _ = note.write_text("hi")
        >>> is_sqlite_file(note)
        False
    """
    try:
        with open(path, "rb") as handle:
            return handle.read(16) == SQLITE_HEADER
    except OSError:
        return False


class SQLiteStore(SQLStore):
    """A gallery in an SQLite file (see the module docstring).

    Args:
        path: the file (created with its folder when missing), or ``":memory:"``.
        create: create the file when it does not exist (``False``: a missing file is an error).
        timeout: seconds to wait for another process's write to finish.

    Raises:
        GalleryError: not a gallery, a gallery from a newer detectkit, unreadable or locked.
    """

    _unique_errors = (sqlite3.IntegrityError,)

    def __init__(self, path: str | os.PathLike = ":memory:", *, create: bool = True, timeout: float = 30.0) -> None:
        text = os.fspath(path)
        if text.startswith("sqlite://"):
            text = text[len("sqlite://"):] or ":memory:"
        self.location: Path | str = text if text == ":memory:" else Path(text).expanduser()
        self.timeout = float(timeout)
        self._lock = threading.RLock()
        self._writes = 0
        self._conn: sqlite3.Connection | None = self._connect(create)

    # ------------------------------------------------------------------ opening
    def _connect(self, create: bool) -> sqlite3.Connection:
        where = self.location
        if isinstance(where, Path):
            if where.is_dir():
                raise GalleryError(f"{where}: is a folder, not a gallery file")
            if where.exists():
                if where.stat().st_size > 0:
                    try:
                        with open(where, "rb") as handle:
                            header = handle.read(16)
                    except OSError as exc:
                        raise GalleryError(f"{where}: cannot be read ({exc.strerror or exc})") from exc
                    if header != SQLITE_HEADER:
                        raise GalleryError(f"{where}: not a detectkit gallery (not an SQLite database)")
            elif not create:
                raise GalleryError(f"{where}: no such gallery file")
            else:
                try:
                    where.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise GalleryError(f"{where}: cannot create its folder ({exc.strerror or exc})") from exc
        try:
            conn = sqlite3.connect(str(where), timeout=self.timeout, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise GalleryError(f"{where}: cannot open the gallery ({exc})") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            if isinstance(where, Path):
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise GalleryError(f"{where}: could not switch the gallery to WAL mode (got {mode})")
            conn.execute("PRAGMA synchronous = FULL")
            self._prepare_schema(conn)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise GalleryError(f"{where}: not a usable detectkit gallery ({exc})") from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def _prepare_schema(self, conn: sqlite3.Connection) -> None:
        where = self.location
        tables = self._tables(conn)
        if not tables:
            conn.execute("BEGIN IMMEDIATE")  # another process may be creating it right now
            try:
                if not self._tables(conn):
                    for statement in _SCHEMA.split(";"):  # not executescript(): it would COMMIT first
                        if statement.strip():
                            conn.execute(statement)
                    from .. import __version__

                    conn.execute(
                        "INSERT INTO schema_version(version, created_at, created_by) VALUES (?, ?, ?)",
                        (SCHEMA_VERSION, time.time(), f"detectkit {__version__}"),
                    )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            tables = self._tables(conn)
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if "schema_version" not in tables or app_id not in (0, APPLICATION_ID):
            shown = ", ".join(sorted(tables)[:5])
            raise GalleryError(f"{where}: an SQLite database, but not a detectkit gallery (its tables: {shown})")
        row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        version = row[0] if row else None
        if not isinstance(version, int) or version < 1:
            raise GalleryError(f"{where}: damaged gallery (no schema version recorded)")
        if version > SCHEMA_VERSION:
            raise GalleryError(
                f"{where}: gallery schema version {version} comes from a newer detectkit; this one reads "
                f"versions up to {SCHEMA_VERSION}. Upgrade detectkit to use this gallery"
            )
        missing = {"identities", "embeddings"} - tables
        if missing:
            raise GalleryError(f"{where}: damaged gallery (missing tables: {', '.join(sorted(missing))})")

    @staticmethod
    def _tables(conn: sqlite3.Connection) -> set[str]:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        return {r[0] for r in rows}

    # ------------------------------------------------------------------ engine hooks
    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise GalleryError(f"{self.location}: the gallery is closed")
        return self._conn

    def _transact(self, body: Callable[[Any], T], *, write: bool) -> T:
        with self._lock:
            conn = self._db
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            except sqlite3.OperationalError as exc:
                raise GalleryError(
                    f"{self.location}: could not lock the gallery for writing within {self.timeout:g} s ({exc})"
                ) from exc
            try:
                result = body(conn)
                conn.execute("COMMIT")
                return result
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                what = "write failed, nothing was changed" if write else "read failed"
                raise GalleryError(f"{self.location}: {what} ({exc})") from exc
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            finally:
                if write:
                    self._writes += 1

    def _encode(self, vector: np.ndarray) -> bytes:
        return np.ascontiguousarray(vector, dtype="<f4").tobytes()

    def _decode(self, stored: Sequence[Any], dim: int) -> np.ndarray:
        return np.frombuffer(b"".join(stored), dtype="<f4").reshape(len(stored), dim).astype(np.float32)

    def version(self) -> tuple[int, int]:
        """``(PRAGMA data_version, writes through this store)``: changes with every commit of any process."""
        with self._lock:
            return int(self._db.execute("PRAGMA data_version").fetchone()[0]), self._writes

    # ------------------------------------------------------------------ the rest
    def close(self) -> None:
        """Close the connection (closing twice is fine)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` result (``"ok"`` for a sound file)."""
        with self._lock:
            return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])

    def backup_to(self, target: Path) -> None:
        """Copy the whole file to ``target`` with SQLite's online backup (a consistent snapshot)."""
        with self._lock:
            destination = sqlite3.connect(str(target))
            try:
                self._db.backup(destination)
                destination.execute("PRAGMA journal_mode = DELETE")
            finally:
                destination.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.location)!r})"
