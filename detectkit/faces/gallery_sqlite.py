"""The SQLite gallery store: one file (or ``":memory:"``) holding identities and embeddings.

The file holds:

* ``schema_version``: the layout version; a file from a newer detectkit is refused;
* ``identities``: a unique name and JSON metadata per person;
* ``embeddings``: float32 vectors as BLOBs, each with the model name, model version
  (weights digest) and dimension that made it.

Opening an existing file reads its schema first, on a read-only connection, and refuses a
foreign SQLite file (another application's database, a newer detectkit's gallery) before
anything is written: no WAL switch, no table created, the file and its ``-wal``/``-shm`` left
byte-identical. A gallery the process may not write (a read-only file or folder: a read-only
deployment, a gallery shipped with an application), or one opened with ``read_only=True``, is
read through a read-only connection (SQLite's ``mode=ro``; ``immutable=1`` for a WAL file no
writer has open, so nothing is created beside it) and every write is refused with a
GalleryError saying why.

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


def _why_not_writable(path: Path) -> str | None:
    """Why this process may not write the gallery at ``path`` (None: it may).

    SQLite writes the file and, in WAL mode, a ``-wal`` and ``-shm`` beside it, so the folder
    must be writable too unless both exist and are writable.
    """
    if not os.access(path, os.W_OK):
        return f"this process may not write {path.name} (permissions, or a read-only file system)"
    beside = [Path(f"{path}-wal"), Path(f"{path}-shm")]
    if not os.access(path.parent, os.W_OK | os.X_OK) and not all(p.exists() and os.access(p, os.W_OK) for p in beside):
        return f"this process may not write in {path.parent} (permissions, or a read-only file system), where SQLite keeps the gallery's journal"
    return None


def _immutable_uri(path: Path) -> str:
    return f"{path.resolve().as_uri()}?immutable=1"


def _read_only_uri(path: Path, header: bytes) -> str:
    """An SQLite URI that reads ``path`` without writing or creating anything.

    ``mode=ro`` takes part in locking, so it sees what live writers commit; but on a WAL file
    (header byte 18 is 2) with no ``-shm`` beside it, it would create ``-wal`` and ``-shm`` files
    (and leave them). No ``-shm`` means no process has the file open, so nothing can be missed by
    reading the file as it is (``immutable=1``).
    """
    wal = len(header) > 18 and header[18] == 2
    if wal and not Path(f"{path}-shm").exists():
        return _immutable_uri(path)
    return f"{path.resolve().as_uri()}?mode=ro"


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

    def __init__(
        self, path: str | os.PathLike = ":memory:", *, create: bool = True, timeout: float = 30.0, read_only: bool = False
    ) -> None:
        text = os.fspath(path)
        if text.startswith("sqlite://"):
            text = text[len("sqlite://"):] or ":memory:"
        self.location: Path | str = text if text == ":memory:" else Path(text).expanduser()
        self.timeout = float(timeout)
        self._lock = threading.RLock()
        self._writes = 0
        self.read_only: str | None = None  # why writes are refused (None: they are not)
        if read_only:
            if not isinstance(self.location, Path):
                raise GalleryError("read_only=True needs a gallery file, not ':memory:'")
            self.read_only = "it was opened with read_only=True"
        self._conn: sqlite3.Connection | None = self._connect(create)

    # ------------------------------------------------------------------ opening
    def _connect(self, create: bool) -> sqlite3.Connection:
        where = self.location
        header = b""
        if isinstance(where, Path):
            if where.is_dir():
                raise GalleryError(f"{where}: is a folder, not a gallery file")
            if where.exists():
                if self.read_only is None:
                    self.read_only = _why_not_writable(where)
                if where.stat().st_size > 0:
                    try:
                        with open(where, "rb") as handle:
                            header = handle.read(100)
                    except OSError as exc:
                        raise GalleryError(f"{where}: cannot be read ({exc.strerror or exc})") from exc
                    if header[:16] != SQLITE_HEADER:
                        raise GalleryError(f"{where}: not a detectkit gallery (not an SQLite database)")
                    if self.read_only is None:  # (a read-only connection checks the schema itself)
                        self._check_before_writing(where, header)
            elif not create or self.read_only is not None:
                raise GalleryError(f"{where}: no such gallery file")
            else:
                try:
                    where.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise GalleryError(f"{where}: cannot create its folder ({exc.strerror or exc})") from exc
            if self.read_only is not None:
                return self._connect_read_only(where, header)
        try:
            conn = sqlite3.connect(str(where), timeout=self.timeout, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise GalleryError(f"{where}: cannot open the gallery ({exc})") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            if isinstance(where, Path):
                self._check_schema(conn, allow_empty=True)  # again: another process may have changed it since
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

    def _check_before_writing(self, where: Path, header: bytes) -> None:
        """Refuse a foreign SQLite file through a read-only connection that changes nothing."""
        try:
            probe = sqlite3.connect(_read_only_uri(where, header), uri=True, timeout=self.timeout, check_same_thread=False)
        except sqlite3.Error as exc:
            raise GalleryError(f"{where}: cannot open the gallery ({exc})") from exc
        try:
            self._check_schema(probe, allow_empty=True)
        except sqlite3.DatabaseError:
            pass  # unreadable this way (or caught mid-checkpoint): the locked read before the WAL switch decides
        finally:
            probe.close()

    def _connect_read_only(self, where: Path, header: bytes) -> sqlite3.Connection:
        """A read-only connection (``mode=ro``, or ``immutable=1`` where SQLite would need to create files)."""
        attempts = list(dict.fromkeys([_read_only_uri(where, header), _immutable_uri(where)]))
        for n, uri in enumerate(attempts, start=1):
            try:
                conn = sqlite3.connect(uri, uri=True, timeout=self.timeout, isolation_level=None, check_same_thread=False)
            except sqlite3.Error as exc:
                raise GalleryError(f"{where}: cannot open the gallery read-only ({exc})") from exc
            try:
                conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
                if not self._check_schema(conn, allow_empty=True):
                    raise GalleryError(f"{where}: an empty database, not a gallery, and read-only: {self.read_only}")
                return conn
            except sqlite3.OperationalError as exc:
                conn.close()  # a WAL file whose -shm this process cannot make or write: read it as it is on disk
                if n == len(attempts):
                    raise GalleryError(f"{where}: cannot read the gallery read-only ({exc})") from exc
            except sqlite3.DatabaseError as exc:
                conn.close()
                raise GalleryError(f"{where}: not a usable detectkit gallery ({exc})") from exc
            except BaseException:
                conn.close()
                raise
        raise GalleryError(f"{where}: cannot open the gallery read-only")

    def _check_schema(self, conn: sqlite3.Connection, *, allow_empty: bool) -> bool:
        """Read-only checks of an open database: False for an empty one, True for a gallery; else GalleryError."""
        where = self.location
        tables = self._tables(conn)
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if app_id not in (0, APPLICATION_ID) or (tables and "schema_version" not in tables):
            shown = ", ".join(sorted(tables)[:5]) or "none"
            owner = f", application id {app_id}" if app_id not in (0, APPLICATION_ID) else ""
            raise GalleryError(f"{where}: an SQLite database, but not a detectkit gallery (its tables: {shown}{owner})")
        if not tables:
            if not allow_empty:
                raise GalleryError(f"{where}: damaged gallery (no tables)")
            return False
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
        return True

    def _prepare_schema(self, conn: sqlite3.Connection) -> None:
        if not self._tables(conn):
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
        self._check_schema(conn, allow_empty=False)

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
        if write and self.read_only is not None:
            raise GalleryError(f"{self.location}: read-only gallery: writes are refused because {self.read_only}")
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
