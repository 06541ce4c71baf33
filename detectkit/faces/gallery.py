"""`Gallery`: enrolled identities and their face embeddings, persisted in SQLite.

One SQLite file (``":memory:"`` for a throw-away gallery) holds:

* ``schema_version``: the layout version; a file from a newer detectkit is refused;
* ``identities``: a unique name and JSON metadata per person;
* ``embeddings``: float32 vectors as BLOBs, each with the model name, model version
  (weights digest) and dimension that made it. Search only ever compares vectors of
  the caller's model key; a gallery enrolled with another model is refused.

Durability and concurrency: WAL journal, ``synchronous=FULL``, and every write (an
enrolment, a removal, an import) is one ``BEGIN IMMEDIATE`` transaction, so writers in
several processes take turns (waiting up to ``timeout`` seconds), readers never see a
half-written enrolment, and a process killed at any point loses only the enrolment it
had not finished. The search matrix is cached in memory per model key and reloaded
when the file changed (``PRAGMA data_version`` for other processes' commits, a
counter for this connection's).

Search is exact cosine similarity with NumPy (``index="exact"``) or through faiss
(``index="faiss"``, extra ``faiss``); see :mod:`detectkit.faces.index`.

Example:
    >>> import numpy as np
    >>> from detectkit.faces import Gallery, ModelKey
    >>> key = ModelKey("toy", "v1", 3)
    >>> gallery = Gallery(":memory:")
    >>> gallery.add("Alice", np.array([[1, 0, 0]], np.float32), key)
    1
    >>> gallery.add("Bob", np.array([[0, 1, 0], [0, 0.8, 0.6]], np.float32), key)
    2
    >>> [[(m.name, round(m.similarity, 2)) for m in row] for row in gallery.search(np.array([[0, 0.6, 0.8]]), key, top_k=2)]
    [[('Bob', 0.96), ('Alice', 0.0)]]
    >>> gallery.names()
    ['Alice', 'Bob']
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import sqlite3
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal, Mapping, Sequence

import numpy as np

from ..errors import GalleryError, ModelError
from .model_key import ModelKey
from .index import ExactIndex, FaissIndex, make_index

__all__ = [
    "Gallery",
    "Identity",
    "Match",
    "validate_name",
    "SCHEMA_VERSION",
    "MAX_NAME_LENGTH",
]

SCHEMA_VERSION = 1
APPLICATION_ID = int.from_bytes(b"DKgl", "big")  # PRAGMA application_id marks the file as a detectkit gallery
MAX_NAME_LENGTH = 128
MAX_METADATA_BYTES = 64 * 1024
EXPORT_FORMAT = "detectkit-gallery"
_SQLITE_HEADER = b"SQLite format 3\x00"

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


@dataclass(frozen=True)
class Match:
    """One candidate identity for a face: its name and cosine similarity."""

    name: str
    similarity: float


@dataclass(frozen=True)
class Identity:
    """An enrolled person: name, metadata and how many embeddings each model has of them.

    Example:
        >>> g = Gallery(":memory:"); key = ModelKey("toy", "v1", 2)
        >>> _ = g.add("Ann", np.array([[1.0, 0.0], [0.0, 1.0]]), key, metadata={"desk": 4})
        >>> ann = g.get("Ann")
        >>> ann.metadata, ann.embeddings, ann.n_embeddings
        ({'desk': 4}, {'toy@v1 (2-d)': 2}, 2)
    """

    name: str
    metadata: dict[str, Any]
    created_at: float
    updated_at: float
    embeddings: dict[str, int] = field(default_factory=dict)  # str(ModelKey) -> count

    @property
    def n_embeddings(self) -> int:
        """Embeddings of every model together."""
        return sum(self.embeddings.values())

    def to_dict(self) -> dict[str, Any]:
        """Plain Python (for JSON): name, metadata, times, embedding counts per model key."""
        return {
            "name": self.name,
            "metadata": self.metadata,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "embeddings": dict(self.embeddings),
        }


_BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Direction marks, embeddings, overrides and isolates: they reorder how a name is displayed."""


def validate_name(name: Any) -> str:
    """A clean identity name, or a :class:`GalleryError` saying what is wrong with it.

    Names are Unicode-normalised (NFC) and stripped of surrounding white space; they
    must then be non-empty, at most ``MAX_NAME_LENGTH`` characters, and free of control
    characters (tabs, newlines, escape sequences, line separators...).

    Example:
        >>> validate_name("  Zoë ")
        'Zoë'
        >>> validate_name("a\\nb")
        Traceback (most recent call last):
        ...
        detectkit.errors.GalleryError: invalid name 'a\\nb': contains control character U+000A
    """
    if not isinstance(name, str):
        raise GalleryError(f"invalid name {name!r}: a name must be a string, not {type(name).__name__}")
    clean = unicodedata.normalize("NFC", name).strip()
    if not clean:
        raise GalleryError(f"invalid name {name!r}: empty")
    if len(clean) > MAX_NAME_LENGTH:
        raise GalleryError(f"invalid name {clean[:20]!r}...: {len(clean)} characters, at most {MAX_NAME_LENGTH}")
    for char in clean:
        if unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp") or char in _BIDI_CONTROLS:
            raise GalleryError(f"invalid name {name!r}: contains control character U+{ord(char):04X}")
    return clean


def _metadata_json(metadata: Mapping[str, Any] | None) -> str:
    if metadata is None:
        return "{}"
    if not isinstance(metadata, Mapping):
        raise GalleryError(f"metadata must be a dict, not {type(metadata).__name__}")
    try:
        text = json.dumps(dict(metadata), ensure_ascii=False, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise GalleryError(f"metadata must be JSON-serialisable: {exc}") from exc
    if len(text.encode()) > MAX_METADATA_BYTES:
        raise GalleryError(f"metadata is {len(text.encode())} bytes as JSON, at most {MAX_METADATA_BYTES}")
    return text


def _check_vectors(vectors: Any, model: ModelKey, what: str = "embeddings") -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[0] == 0:
        raise GalleryError(f"{what}: expected a (K, {model.dim}) array with K >= 1, got shape {array.shape}")
    if array.shape[1] != model.dim:
        raise GalleryError(f"{what}: vectors are {array.shape[1]}-d but the model {model} makes {model.dim}-d vectors")
    if not np.all(np.isfinite(array)):
        raise GalleryError(f"{what}: contains NaN or infinite values")
    norms = np.linalg.norm(array, axis=1)
    if np.any(norms < 1e-6):
        raise GalleryError(f"{what}: contains an all-zero vector")
    return np.ascontiguousarray(array / norms[:, None], dtype="<f4")


def _check_model(model: Any) -> ModelKey:
    if not isinstance(model, ModelKey):
        raise GalleryError(f"model must be a ModelKey (e.g. FaceEmbedder.key), not {type(model).__name__}")
    if not model.name or not model.version or int(model.dim) < 1:
        raise GalleryError(f"invalid model key {model!r}")
    return model


@dataclass
class _Cached:
    version: tuple[int, int]
    index: ExactIndex | FaissIndex
    names: dict[int, str]


class Gallery:
    """A persistent store of identities and face embeddings (see the module docstring).

    Args:
        path: the SQLite file (created with its folder when missing), or ``":memory:"``.
        create: create the file when it does not exist (``False``: a missing file is an error).
        index: ``"exact"`` (NumPy) or ``"faiss"`` (extra ``faiss``) search.
        index_options: passed to :class:`detectkit.faces.index.FaissIndex` (``nprobe``, ``nlist``...).
        timeout: seconds to wait for another process's write to finish.

    Raises:
        GalleryError: not a gallery, a gallery from a newer detectkit, unreadable or locked.

    Thread safety: one Gallery may be used from several threads (a lock serialises them).

    Example:
        >>> with Gallery(":memory:") as g:
        ...     len(g)
        0
    """

    def __init__(
        self,
        path: str | os.PathLike = ":memory:",
        *,
        create: bool = True,
        index: Literal["exact", "faiss"] = "exact",
        index_options: Mapping[str, Any] | None = None,
        timeout: float = 30.0,
    ) -> None:
        if index not in ("exact", "faiss"):
            raise GalleryError(f"unknown index {index!r}: use 'exact' or 'faiss'")
        if index == "faiss":
            from .index import faiss_available

            if not faiss_available():
                raise GalleryError("index='faiss' needs faiss: pip install 'detectkit[faiss]' (or use index='exact')")
        self.index_kind = index
        self.index_options = dict(index_options or {})
        self.timeout = float(timeout)
        self._lock = threading.RLock()
        self._writes = 0
        self._cache: dict[ModelKey, _Cached] = {}
        text = os.fspath(path)
        self.path: Path | str = text if text == ":memory:" else Path(text).expanduser()
        self._conn = self._connect(create)

    # ------------------------------------------------------------------ opening
    def _connect(self, create: bool) -> sqlite3.Connection:
        where = self.path
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
                    if header != _SQLITE_HEADER:
                        raise GalleryError(f"{where}: not a detectkit gallery (not an SQLite database)")
            elif not create:
                raise GalleryError(f"{where}: no such gallery file")
            else:
                try:
                    where.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise GalleryError(f"{where}: cannot create its folder ({exc.strerror or exc})") from exc
        try:
            conn = sqlite3.connect(
                str(where), timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
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
        where = self.path
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

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Close the database connection (the gallery cannot be used afterwards).

        Example:
            >>> g = Gallery(":memory:"); g.close(); g.close()  # closing twice is fine
        """
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None  # type: ignore[assignment]
                self._cache.clear()

    def __enter__(self) -> "Gallery":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Gallery({str(self.path)!r}, index={self.index_kind!r})"

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise GalleryError(f"{self.path}: the gallery is closed")
        return self._conn

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One exclusive write transaction (``BEGIN IMMEDIATE``): all of it commits, or none of it."""
        with self._lock:
            conn = self._db
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise GalleryError(
                    f"{self.path}: could not lock the gallery for writing within {self.timeout:g} s ({exc})"
                ) from exc
            try:
                yield conn
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise GalleryError(f"{self.path}: write failed, nothing was changed ({exc})") from exc
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            finally:
                self._writes += 1
                self._cache.clear()

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: several SELECTs see one committed state, whatever other processes write."""
        with self._lock:
            conn = self._db
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    def _identity_id(self, conn: sqlite3.Connection, name: str) -> int | None:
        row = conn.execute("SELECT id FROM identities WHERE name = ?", (name,)).fetchone()
        return None if row is None else int(row[0])

    # ------------------------------------------------------------------ writing
    def add(
        self,
        name: str,
        embeddings: np.ndarray,
        model: ModelKey,
        *,
        metadata: Mapping[str, Any] | None = None,
        sources: Sequence[str | None] | None = None,
        replace: bool = False,
    ) -> int:
        """Add embeddings of one person (created if new) in one transaction.

        Args:
            name: the person's name (see :func:`validate_name`).
            embeddings: ``(K, D)`` vectors made by ``model`` (normalised here).
            model: the key of the embedder that made them.
            metadata: JSON-serialisable dict; replaces the stored metadata when given.
            sources: where each vector came from (file names), stored for reference.
            replace: first delete this person's embeddings of the same model.

        Returns:
            How many embeddings of ``model`` this person has now.

        Raises:
            GalleryError: bad name, metadata or vectors (nothing is written).

        Example:
            >>> g = Gallery(":memory:"); key = ModelKey("toy", "v1", 2)
            >>> g.add("Ann", np.array([[3.0, 4.0]]), key), g.add("Ann", np.array([[0.0, 1.0]]), key)
            (1, 2)
            >>> g.add("Ann", np.array([[1.0, 0.0]]), key, replace=True)
            1
        """
        name = validate_name(name)
        model = _check_model(model)
        vectors = _check_vectors(embeddings, model)
        meta = None if metadata is None else _metadata_json(metadata)
        if sources is not None and len(sources) != len(vectors):
            raise GalleryError(f"{len(sources)} sources for {len(vectors)} embeddings")
        with self._write() as conn:
            identity = self._store(conn, name, vectors, model, meta=meta, sources=sources, replace=replace)
            count = conn.execute(
                "SELECT COUNT(*) FROM embeddings WHERE identity_id = ? AND model_name = ? AND model_version = ? AND dim = ?",
                (identity, model.name, model.version, model.dim),
            ).fetchone()[0]
        return int(count)

    def _store(
        self,
        conn: sqlite3.Connection,
        name: str,
        vectors: np.ndarray,
        model: ModelKey,
        *,
        meta: str | None,
        sources: Sequence[str | None] | None,
        replace: bool,
    ) -> int:
        """Inside a write transaction: create or update the person, then insert checked vectors; returns their id."""
        now = time.time()
        identity = self._identity_id(conn, name)
        if identity is None:
            cursor = conn.execute(
                "INSERT INTO identities(name, metadata, created_at, updated_at) VALUES (?, ?, ?, ?)",
                (name, meta or "{}", now, now),
            )
            identity = int(cursor.lastrowid)
        else:
            conn.execute(
                "UPDATE identities SET updated_at = ?, metadata = COALESCE(?, metadata) WHERE id = ?",
                (now, meta, identity),
            )
        if replace:
            conn.execute(
                "DELETE FROM embeddings WHERE identity_id = ? AND model_name = ? AND model_version = ? AND dim = ?",
                (identity, model.name, model.version, model.dim),
            )
        conn.executemany(
            "INSERT INTO embeddings(identity_id, model_name, model_version, dim, vector, source, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (identity, model.name, model.version, model.dim, v.tobytes(), None if sources is None else sources[i], now)
                for i, v in enumerate(vectors)
            ],
        )
        return identity

    def add_many(self, people: Iterable[tuple[str, np.ndarray]], model: ModelKey, *, replace: bool = False) -> int:
        """Bulk-add ``(name, (K, D) vectors)`` pairs in ONE transaction (all or nothing); returns how many people.

        Meant for migrations and large imports; enrolment (:meth:`add`) commits per person.

        Example:
            >>> g = Gallery(":memory:"); key = ModelKey("toy", "v1", 2)
            >>> g.add_many([("A", np.array([[1.0, 0.0]])), ("B", np.array([[0.0, 1.0]]))], key)
            2
        """
        model = _check_model(model)
        checked: dict[str, list[np.ndarray]] = {}
        for name, vectors in people:
            clean = validate_name(name)
            checked.setdefault(clean, []).append(_check_vectors(vectors, model, what=f"embeddings of {clean!r}"))
        with self._write() as conn:
            for name, blocks in checked.items():
                self._store(conn, name, np.concatenate(blocks), model, meta=None, sources=None, replace=replace)
        return len(checked)

    def remove(self, name: str) -> int:
        """Delete a person and all their embeddings; returns how many embeddings went.

        Raises:
            GalleryError: no such person.

        Example:
            >>> g = Gallery(":memory:"); key = ModelKey("toy", "v1", 2)
            >>> _ = g.add("Ann", np.eye(2), key)
            >>> g.remove("Ann"), g.names()
            (2, [])
        """
        name = validate_name(name)
        with self._write() as conn:
            identity = self._identity_id(conn, name)
            if identity is None:
                raise GalleryError(f"{self.path}: no identity named {name!r}")
            count = conn.execute("SELECT COUNT(*) FROM embeddings WHERE identity_id = ?", (identity,)).fetchone()[0]
            conn.execute("DELETE FROM embeddings WHERE identity_id = ?", (identity,))
            conn.execute("DELETE FROM identities WHERE id = ?", (identity,))
        return int(count)

    def rename(self, old: str, new: str) -> None:
        """Rename a person (their embeddings follow).

        Raises:
            GalleryError: ``old`` does not exist or ``new`` is taken.

        Example:
            >>> g = Gallery(":memory:"); _ = g.add("Ann", np.eye(2)[:1], ModelKey("toy", "v1", 2))
            >>> g.rename("Ann", "Anna"); g.names()
            ['Anna']
        """
        old, new = validate_name(old), validate_name(new)
        with self._write() as conn:
            identity = self._identity_id(conn, old)
            if identity is None:
                raise GalleryError(f"{self.path}: no identity named {old!r}")
            if old == new:
                return
            if self._identity_id(conn, new) is not None:
                raise GalleryError(f"{self.path}: cannot rename {old!r} to {new!r}: that name is taken")
            conn.execute("UPDATE identities SET name = ?, updated_at = ? WHERE id = ?", (new, time.time(), identity))

    def set_metadata(self, name: str, metadata: Mapping[str, Any]) -> None:
        """Replace a person's metadata (a JSON-serialisable dict).

        Example:
            >>> g = Gallery(":memory:"); _ = g.add("Ann", np.eye(2)[:1], ModelKey("toy", "v1", 2))
            >>> g.set_metadata("Ann", {"team": "blue"}); g.get("Ann").metadata
            {'team': 'blue'}
        """
        name, meta = validate_name(name), _metadata_json(metadata)
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE identities SET metadata = ?, updated_at = ? WHERE name = ?", (meta, time.time(), name)
            )
            if cursor.rowcount == 0:
                raise GalleryError(f"{self.path}: no identity named {name!r}")

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM identities").fetchone()[0])

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            clean = validate_name(name)
        except GalleryError:
            return False
        with self._lock:
            return self._identity_id(self._db, clean) is not None

    def names(self) -> list[str]:
        """All names, sorted.

        Example:
            >>> g = Gallery(":memory:"); key = ModelKey("toy", "v1", 2)
            >>> _ = g.add_many([("Bo", np.eye(2)[:1]), ("Ann", np.eye(2)[1:])], key)
            >>> g.names(), len(g), "Bo" in g
            (['Ann', 'Bo'], 2, True)
        """
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT name FROM identities ORDER BY name")]

    def identities(self) -> list[Identity]:
        """Every person with metadata and embedding counts per model, sorted by name.

        Example:
            >>> g = Gallery(":memory:"); _ = g.add("Ann", np.eye(2), ModelKey("toy", "v1", 2))
            >>> [(p.name, p.n_embeddings) for p in g.identities()]
            [('Ann', 2)]
        """
        with self._snapshot() as conn:
            counts: dict[int, dict[str, int]] = {}
            for identity, name, version, dim, n in conn.execute(
                "SELECT identity_id, model_name, model_version, dim, COUNT(*) FROM embeddings "
                "GROUP BY identity_id, model_name, model_version, dim"
            ):
                counts.setdefault(identity, {})[str(ModelKey(name, version, dim))] = int(n)
            rows = conn.execute("SELECT id, name, metadata, created_at, updated_at FROM identities ORDER BY name").fetchall()
        return [
            Identity(name, json.loads(meta), created, updated, counts.get(identity, {}))
            for identity, name, meta, created, updated in rows
        ]

    def get(self, name: str) -> Identity:
        """One person.

        Raises:
            GalleryError: no such person.

        Example:
            >>> g = Gallery(":memory:"); _ = g.add("Ann", np.eye(2), ModelKey("toy", "v1", 2))
            >>> g.get(" Ann ").name
            'Ann'
        """
        clean = validate_name(name)
        with self._snapshot() as conn:
            row = conn.execute(
                "SELECT id, name, metadata, created_at, updated_at FROM identities WHERE name = ?", (clean,)
            ).fetchone()
            if row is None:
                raise GalleryError(f"{self.path}: no identity named {clean!r}")
            counts = conn.execute(
                "SELECT model_name, model_version, dim, COUNT(*) FROM embeddings WHERE identity_id = ? "
                "GROUP BY model_name, model_version, dim",
                (row[0],),
            ).fetchall()
        embeddings = {str(ModelKey(n, v, int(d))): int(c) for n, v, d, c in counts}
        return Identity(row[1], json.loads(row[2]), row[3], row[4], embeddings)

    def models(self) -> dict[ModelKey, int]:
        """The model keys present and how many embeddings each has.

        Example:
            >>> g = Gallery(":memory:"); _ = g.add("Ann", np.eye(2), ModelKey("toy", "v1", 2))
            >>> g.models()
            {ModelKey(name='toy', version='v1', dim=2): 2}
        """
        with self._lock:
            rows = self._db.execute(
                "SELECT model_name, model_version, dim, COUNT(*) FROM embeddings GROUP BY model_name, model_version, dim"
            ).fetchall()
        return {ModelKey(n, v, int(d)): int(c) for n, v, d, c in rows}

    def embeddings(self, model: ModelKey, name: str | None = None) -> tuple[list[str], np.ndarray]:
        """The stored vectors of ``model`` (of one person, or everyone): ``(names per row, (K, D) float32)``.

        Example:
            >>> g = Gallery(":memory:"); key = ModelKey("toy", "v1", 2)
            >>> _ = g.add("Ann", np.array([[3.0, 4.0]]), key)
            >>> names, vectors = g.embeddings(key)
            >>> names, vectors.tolist()
            (['Ann'], [[0.6000000238418579, 0.800000011920929]])
        """
        model = _check_model(model)
        query = (
            "SELECT i.name, e.vector FROM embeddings e JOIN identities i ON i.id = e.identity_id "
            "WHERE e.model_name = ? AND e.model_version = ? AND e.dim = ?"
        )
        args: list[Any] = [model.name, model.version, model.dim]
        if name is not None:
            query += " AND i.name = ?"
            args.append(validate_name(name))
        with self._lock:
            rows = self._db.execute(query + " ORDER BY e.identity_id, e.id", args).fetchall()
        matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), model.dim)
        return [r[0] for r in rows], matrix.astype(np.float32)

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` result (``"ok"`` for a sound file).

        Example:
            >>> Gallery(":memory:").integrity_check()
            'ok'
        """
        with self._lock:
            return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])

    # ------------------------------------------------------------------ search
    def _version(self) -> tuple[int, int]:
        return int(self._db.execute("PRAGMA data_version").fetchone()[0]), self._writes

    def _index(self, model: ModelKey) -> _Cached:
        with self._lock:
            version = self._version()
            cached = self._cache.get(model)
            if cached is not None and cached.version == version:
                return cached
            with self._snapshot() as conn:
                rows, others = self._load(conn, model)
            if not rows and others:
                shown = ", ".join(str(k) for k in others[:3])
                raise GalleryError(
                    f"{self.path}: the gallery holds embeddings of {shown} only, not of {model}; vectors of "
                    "different models cannot be compared. Re-enrol the people with this model, or use the "
                    "model they were enrolled with"
                )
            owners = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vectors = np.frombuffer(b"".join(r[2] for r in rows), dtype="<f4").reshape(len(rows), model.dim)
            names = {int(r[0]): r[1] for r in rows}
            # a read-only view of the joined blobs, not another copy (1M x 512 would be 2 GB more)
            index = make_index(self.index_kind, vectors.astype(np.float32, copy=False), owners, **self.index_options)
            cached = _Cached(version, index, names)
            self._cache = {model: cached}  # one model at a time: the cache never holds stale keys
            return cached

    def _load(self, conn: sqlite3.Connection, model: ModelKey) -> tuple[list[tuple[Any, ...]], list[ModelKey]]:
        rows = conn.execute(
            "SELECT e.identity_id, i.name, e.vector FROM embeddings e JOIN identities i ON i.id = e.identity_id "
            "WHERE e.model_name = ? AND e.model_version = ? AND e.dim = ? ORDER BY e.identity_id, e.id",
            (model.name, model.version, model.dim),
        ).fetchall()
        others: list[ModelKey] = []
        if not rows:
            found = conn.execute("SELECT DISTINCT model_name, model_version, dim FROM embeddings").fetchall()
            others = [ModelKey(n, v, int(d)) for n, v, d in found if ModelKey(n, v, int(d)) != model]
        return rows, others

    def search_arrays(self, queries: np.ndarray, model: ModelKey, top_k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Best ``top_k`` names per query as arrays: ``(names (M, k) object, None-padded; similarities (M, k) float32, NaN-padded)``.

        Queries are L2-normalised here, so similarities are cosine similarities whatever
        their length (the stored vectors are normalised when added).

        Raises:
            GalleryError: queries of another dimension than ``model``'s, NaN, infinite or
                all-zero queries, or a gallery that holds only other models' embeddings.
            ModelError: ``top_k`` below 1.

        Example:
            >>> g = Gallery(":memory:"); key = ModelKey("toy", "v1", 2)
            >>> _ = g.add("A", np.array([[3.0, 4.0]]), key)
            >>> names, sims = g.search_arrays(np.array([[6.0, 8.0], [0.0, 2.0]]), key, top_k=2)
            >>> names.tolist(), np.round(sims.astype(float), 2).tolist()
            ([['A', None], ['A', None]], [[1.0, nan], [0.8, nan]])
        """
        model = _check_model(model)
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
            raise ModelError(f"top_k must be a whole number of at least 1, got {top_k!r}")
        queries = np.asarray(queries, dtype=np.float32)
        if queries.ndim == 1:
            queries = queries[None, :]
        if queries.ndim != 2 or queries.shape[1] != model.dim:
            raise GalleryError(
                f"query embeddings have shape {queries.shape}, but {model} needs (M, {model.dim}); "
                "the embedder does not match this model key"
            )
        norms = np.linalg.norm(queries, axis=1, keepdims=True)
        if not np.all(np.isfinite(norms)) or np.any(norms < 1e-6):
            raise GalleryError("query embeddings contain NaN, infinite or all-zero vectors")
        queries = queries / norms
        cached = self._index(model)
        owners, sims = cached.index.search(queries, top_k)
        names = np.full(owners.shape, None, dtype=object)
        for (i, j), owner in np.ndenumerate(owners):
            if owner >= 0:
                names[i, j] = cached.names[int(owner)]
        return names, sims

    def search(self, queries: np.ndarray, model: ModelKey, top_k: int = 1) -> list[list[Match]]:
        """For each query vector, the ``top_k`` most similar people, best first.

        A person's similarity is the best cosine similarity over their embeddings.

        Example:
            >>> g = Gallery(":memory:"); key = ModelKey("toy", "v1", 2)
            >>> _ = g.add("A", np.array([[1.0, 0.0]]), key)
            >>> g.search(np.array([[0.0, 1.0]]), key)[0][0].name
            'A'
        """
        names, sims = self.search_arrays(queries, model, top_k)
        return [
            [Match(str(n), float(s)) for n, s in zip(row_names, row_sims) if n is not None]
            for row_names, row_sims in zip(names, sims)
        ]

    # ------------------------------------------------------------------ export / import
    def export(self, path: str | os.PathLike) -> Path:
        """Write the whole gallery to ``path``: JSON when it ends in ``.json``, else an SQLite copy.

        The JSON holds names, metadata and every embedding (base64 little-endian float32)
        with its model key. Both forms are read back by :meth:`import_from`. The file is
        written to a temporary name and renamed, so a failed export leaves nothing behind.

        Example:
            >>> import tempfile, pathlib
            >>> folder = pathlib.Path(tempfile.mkdtemp())
            >>> g = Gallery(":memory:"); _ = g.add("Ann", np.eye(2), ModelKey("toy", "v1", 2))
            >>> copy = Gallery(":memory:")
            >>> copy.import_from(g.export(folder / "people.json"))
            {'identities': 1, 'embeddings': 2, 'skipped': 0}
        """
        target = Path(path).expanduser()
        if target.is_dir():
            raise GalleryError(f"{target}: is a folder; give a file name ending in .json or .db")
        if isinstance(self.path, Path) and target.resolve() == self.path.resolve():
            raise GalleryError(f"{target}: is this gallery's own file; export to another file")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        try:
            if target.suffix.lower() == ".json":
                partial.write_text(json.dumps(self._export_dict(), ensure_ascii=False), encoding="utf-8")
            else:
                if partial.exists():
                    partial.unlink()
                with self._lock:
                    destination = sqlite3.connect(str(partial))
                    try:
                        self._db.backup(destination)
                        destination.execute("PRAGMA journal_mode = DELETE")
                    finally:
                        destination.close()
            os.replace(partial, target)
        except (OSError, sqlite3.Error) as exc:
            raise GalleryError(f"{target}: cannot write the export ({getattr(exc, 'strerror', None) or exc})") from exc
        finally:
            if partial.exists():
                partial.unlink()
        return target

    def _export_dict(self) -> dict[str, Any]:
        with self._snapshot() as conn:
            people = conn.execute("SELECT id, name, metadata, created_at, updated_at FROM identities ORDER BY name").fetchall()
            rows = conn.execute(
                "SELECT identity_id, model_name, model_version, dim, vector, source, created_at FROM embeddings ORDER BY id"
            ).fetchall()
        by_identity: dict[int, list[dict[str, Any]]] = {}
        for identity, name, version, dim, blob, source, created in rows:
            by_identity.setdefault(identity, []).append(
                {
                    "model_name": name,
                    "model_version": version,
                    "dim": dim,
                    "vector": base64.b64encode(blob).decode("ascii"),
                    "source": source,
                    "created_at": created,
                }
            )
        return {
            "format": EXPORT_FORMAT,
            "schema_version": SCHEMA_VERSION,
            "identities": [
                {"name": name, "metadata": json.loads(meta), "created_at": c, "updated_at": u, "embeddings": by_identity.get(i, [])}
                for i, name, meta, c, u in people
            ],
        }

    def import_from(
        self,
        path: str | os.PathLike,
        *,
        on_conflict: Literal["error", "skip", "merge", "replace"] = "error",
    ) -> dict[str, int]:
        """Add the people of an exported gallery (JSON or SQLite) in one transaction.

        Args:
            path: a file written by :meth:`export` (or any gallery file).
            on_conflict: when a name already exists: ``"error"`` (default; nothing is
                imported), ``"skip"`` that person, ``"merge"`` their embeddings into the
                existing person, or ``"replace"`` the existing person.

        Returns:
            Counts: ``{"identities": ..., "embeddings": ..., "skipped": ...}``.

        Raises:
            GalleryError: unreadable or malformed file, or a name conflict with
                ``on_conflict="error"``; the gallery is unchanged.

        Example:
            >>> import tempfile, pathlib
            >>> key = ModelKey("toy", "v1", 2)
            >>> g = Gallery(":memory:"); _ = g.add("Ann", np.eye(2), key)
            >>> exported = g.export(pathlib.Path(tempfile.mkdtemp()) / "people.db")
            >>> other = Gallery(":memory:"); _ = other.add("Ann", np.eye(2)[:1], key)
            >>> other.import_from(exported, on_conflict="merge"), other.get("Ann").n_embeddings
            ({'identities': 1, 'embeddings': 2, 'skipped': 0}, 3)
        """
        if on_conflict not in ("error", "skip", "merge", "replace"):
            raise GalleryError(f"on_conflict must be 'error', 'skip', 'merge' or 'replace', not {on_conflict!r}")
        people = _read_export(Path(path).expanduser())
        existing = set(self.names())
        clashes = sorted(p["name"] for p in people if p["name"] in existing)
        if clashes and on_conflict == "error":
            shown = ", ".join(repr(n) for n in clashes[:5])
            raise GalleryError(
                f"{path}: {len(clashes)} of its people are already in {self.path} ({shown}); nothing imported. "
                "Choose on_conflict='skip', 'merge' or 'replace'"
            )
        counts = {"identities": 0, "embeddings": 0, "skipped": 0}
        now = time.time()
        with self._write() as conn:
            for person in people:
                name = person["name"]
                identity = self._identity_id(conn, name)
                if identity is not None and on_conflict == "skip":
                    counts["skipped"] += 1
                    continue
                if identity is not None and on_conflict == "replace":
                    conn.execute("DELETE FROM embeddings WHERE identity_id = ?", (identity,))
                    conn.execute("DELETE FROM identities WHERE id = ?", (identity,))
                    identity = None
                if identity is None:
                    identity = int(
                        conn.execute(
                            "INSERT INTO identities(name, metadata, created_at, updated_at) VALUES (?, ?, ?, ?)",
                            (name, person["metadata"], person.get("created_at") or now, now),
                        ).lastrowid
                    )
                else:
                    conn.execute("UPDATE identities SET updated_at = ? WHERE id = ?", (now, identity))
                conn.executemany(
                    "INSERT INTO embeddings(identity_id, model_name, model_version, dim, vector, source, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(identity, *e) for e in person["embeddings"]],
                )
                counts["identities"] += 1
                counts["embeddings"] += len(person["embeddings"])
        return counts


def _read_export(path: Path) -> list[dict[str, Any]]:
    """People of an export file, validated: ``[{name, metadata (json text), embeddings: [(row...)]}]``."""
    if not path.is_file():
        raise GalleryError(f"{path}: no such file")
    with open(path, "rb") as handle:
        header = handle.read(16)
    if header == _SQLITE_HEADER:
        source = Gallery(path, create=False)
        try:
            data = source._export_dict()
        finally:
            source.close()
    else:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise GalleryError(f"{path}: neither a gallery database nor a gallery JSON export ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise GalleryError(f"{path}: not a detectkit gallery export (no \"format\": \"{EXPORT_FORMAT}\")")
    if int(data.get("schema_version", 0)) > SCHEMA_VERSION:
        raise GalleryError(f"{path}: export from a newer detectkit (schema {data['schema_version']}); upgrade detectkit")
    people, seen = [], set()
    for n, person in enumerate(data.get("identities") or []):
        where = f"{path}: identity #{n + 1}"
        try:
            name = validate_name(person.get("name"))
            if name in seen:
                raise GalleryError(f"duplicate name {name!r}")
            seen.add(name)
            meta = _metadata_json(person.get("metadata") or {})
            rows = []
            for e in person.get("embeddings") or []:
                key = _check_model(ModelKey(str(e["model_name"]), str(e["model_version"]), int(e["dim"])))
                blob = base64.b64decode(e["vector"], validate=True)
                if len(blob) != 4 * key.dim:
                    raise GalleryError(f"a {key.dim}-d vector of {len(blob)} bytes")
                vector = np.frombuffer(blob, dtype="<f4")
                if not np.all(np.isfinite(vector)) or not math.isclose(float(np.linalg.norm(vector)), 1.0, abs_tol=1e-3):
                    raise GalleryError("a vector that is not finite and unit-length")
                created = float(e.get("created_at") or time.time())
                rows.append((key.name, key.version, key.dim, blob, e.get("source"), created))
        except GalleryError as exc:
            raise GalleryError(f"{where}: {exc}") from exc
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise GalleryError(f"{where}: malformed entry ({type(exc).__name__}: {exc})") from exc
        people.append({"name": name, "metadata": meta, "created_at": person.get("created_at"), "embeddings": rows})
    return people
