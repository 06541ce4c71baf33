"""The gallery's SQL, shared by the SQLite and PostgreSQL stores: one statement set, two engines.

:class:`SQLStore` implements every :class:`~detectkit.faces.gallery_records.GalleryStore`
method with portable SQL (``INSERT ... ON CONFLICT ... RETURNING`` runs on SQLite >= 3.35
and PostgreSQL alike), written with ``?`` placeholders. An engine subclass supplies the
connection and transactions (:meth:`SQLStore._transact`), how a vector is stored
(:meth:`SQLStore._encode` / :meth:`SQLStore._decode`), row locks (``FOR UPDATE`` where the
engine has them) and what happens when a model key first appears (PostgreSQL builds its
HNSW index). Writers never read-then-insert a person: the identity row is an upsert that
holds the person's row lock until commit, so concurrent enrolments of one person (from
any number of processes or hosts) take turns instead of colliding on the unique name.

Example:
    >>> import numpy as np
    >>> from detectkit.faces.gallery_sqlite import SQLiteStore
    >>> from detectkit.faces.model_key import ModelKey
    >>> store = SQLiteStore(":memory:")
    >>> store.add("Ann", np.eye(2, dtype=np.float32), ModelKey("toy", "v1", 2), meta=None, sources=None, replace=False)
    2
    >>> store.names(), store.count()
    (['Ann'], 1)
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Hashable, Iterable, Sequence, TypeVar

import numpy as np

from ..errors import GalleryError
from .model_key import ModelKey
from .gallery_records import ON_CONFLICT, EmbeddingRecord, Identity, OnConflict, PersonRecord

__all__ = ["SQLStore"]

T = TypeVar("T")

_UPSERT_IDENTITY = (
    "INSERT INTO identities(name, metadata, created_at, updated_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (name) DO UPDATE SET updated_at = excluded.updated_at, metadata = COALESCE(?, identities.metadata) "
    "RETURNING id"
)
_INSERT_EMBEDDING = (
    "INSERT INTO embeddings(identity_id, model_name, model_version, dim, vector, source, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_MODEL = "model_name = ? AND model_version = ? AND dim = ?"


def _key(model: ModelKey) -> tuple[str, str, int]:
    return model.name, model.version, int(model.dim)


class SQLStore:
    """Portable gallery SQL over an engine's connection (see the module docstring); subclass it per engine."""

    location: Any = "?"
    search_kinds: tuple[str, ...] = ()
    _for_update = ""  # " FOR UPDATE" where the engine locks selected rows
    _unique_errors: tuple[type[BaseException], ...] = ()

    # ------------------------------------------------------------------ engine hooks
    def _transact(self, body: Callable[[Any], T], *, write: bool) -> T:
        """Run ``body(cursor)`` in one transaction (all of it commits, or none); engine errors -> GalleryError."""
        raise NotImplementedError

    def _q(self, sql: str) -> str:
        """The engine's spelling of a ``?``-placeholder statement."""
        return sql

    def _encode(self, vector: np.ndarray) -> Any:
        """A unit float32 vector as the engine stores it."""
        raise NotImplementedError

    def _decode(self, stored: Sequence[Any], dim: int) -> np.ndarray:
        """Stored vectors (as :meth:`_encode` made them) -> ``(N, dim)`` float32."""
        raise NotImplementedError

    def _model_seen(self, cur: Any, model: ModelKey) -> None:
        """Inside a write transaction, before vectors of ``model`` are inserted (e.g. build its index)."""

    def _changed(self, cur: Any) -> None:
        """The last statement of every write transaction (e.g. bump a change counter)."""

    def version(self) -> Hashable:
        raise NotImplementedError

    # ------------------------------------------------------------------ helpers
    def _write(self, body: Callable[[Any], T], models: Iterable[ModelKey] = ()) -> T:
        def run(cur: Any) -> T:
            for model in models:
                self._model_seen(cur, model)
            result = body(cur)
            self._changed(cur)
            return result

        return self._transact(run, write=True)

    def _one(self, cur: Any, sql: str, args: Sequence[Any] = ()) -> Any:
        row = cur.execute(self._q(sql), tuple(args)).fetchone()
        return None if row is None else row[0]

    def _identity_id(self, cur: Any, name: str, *, lock: bool = False) -> int | None:
        found = self._one(cur, "SELECT id FROM identities WHERE name = ?" + (self._for_update if lock else ""), (name,))
        return None if found is None else int(found)

    def _missing(self, name: str) -> GalleryError:
        return GalleryError(f"{self.location}: no identity named {name!r}")

    def _upsert(self, cur: Any, name: str, meta: str | None, created: float, updated: float) -> int:
        return int(self._one(cur, _UPSERT_IDENTITY, (name, meta or "{}", created, updated, meta)))

    def _insert(self, cur: Any, identity: int, rows: Sequence[EmbeddingRecord]) -> None:
        if rows:
            cur.executemany(
                self._q(_INSERT_EMBEDDING),
                [(identity, r.model.name, r.model.version, r.model.dim, self._encode(r.vector), r.source, r.created_at) for r in rows],
            )

    @staticmethod
    def _records(vectors: np.ndarray, model: ModelKey, sources: Sequence[str | None] | None, now: float) -> list[EmbeddingRecord]:
        return [EmbeddingRecord(model, v, None if sources is None else sources[i], now) for i, v in enumerate(vectors)]

    # ------------------------------------------------------------------ writing
    def add(self, name: str, vectors: np.ndarray, model: ModelKey, *, meta: str | None,
            sources: Sequence[str | None] | None, replace: bool) -> int:
        """Create or update ``name`` and add ``vectors`` (checked, unit length); returns their count of ``model``."""
        now = time.time()

        def body(cur: Any) -> int:
            identity = self._upsert(cur, name, meta, now, now)
            if replace:
                cur.execute(self._q(f"DELETE FROM embeddings WHERE identity_id = ? AND {_MODEL}"), (identity, *_key(model)))
            self._insert(cur, identity, self._records(vectors, model, sources, now))
            return int(self._one(cur, f"SELECT COUNT(*) FROM embeddings WHERE identity_id = ? AND {_MODEL}", (identity, *_key(model))))

        return self._write(body, (model,))

    def add_many(self, people: dict[str, np.ndarray], model: ModelKey, *, replace: bool) -> None:
        """Several people in one transaction (in name order, so concurrent bulk writers never deadlock)."""
        now = time.time()

        def body(cur: Any) -> None:
            for name in sorted(people):
                identity = self._upsert(cur, name, None, now, now)
                if replace:
                    cur.execute(self._q(f"DELETE FROM embeddings WHERE identity_id = ? AND {_MODEL}"), (identity, *_key(model)))
                self._insert(cur, identity, self._records(people[name], model, None, now))

        self._write(body, (model,))

    def remove(self, name: str) -> int:
        """Delete ``name`` and their embeddings; returns how many embeddings went."""

        def body(cur: Any) -> int:
            identity = self._identity_id(cur, name, lock=True)
            if identity is None:
                raise self._missing(name)
            count = int(self._one(cur, "SELECT COUNT(*) FROM embeddings WHERE identity_id = ?", (identity,)))
            cur.execute(self._q("DELETE FROM embeddings WHERE identity_id = ?"), (identity,))
            cur.execute(self._q("DELETE FROM identities WHERE id = ?"), (identity,))
            return count

        return self._write(body)

    def rename(self, old: str, new: str) -> None:
        """Rename ``old`` to ``new`` (taken names refused, also when another writer takes it meanwhile)."""
        taken = GalleryError(f"{self.location}: cannot rename {old!r} to {new!r}: that name is taken")

        def body(cur: Any) -> None:
            identity = self._identity_id(cur, old, lock=True)
            if identity is None:
                raise self._missing(old)
            if old == new:
                return
            if self._identity_id(cur, new) is not None:
                raise taken
            try:
                cur.execute(self._q("UPDATE identities SET name = ?, updated_at = ? WHERE id = ?"), (new, time.time(), identity))
            except self._unique_errors as exc:
                raise taken from exc

        self._write(body)

    def set_metadata(self, name: str, meta: str) -> None:
        """Replace ``name``'s metadata (JSON text)."""

        def body(cur: Any) -> None:
            cursor = cur.execute(self._q("UPDATE identities SET metadata = ?, updated_at = ? WHERE name = ?"), (meta, time.time(), name))
            if cursor.rowcount == 0:
                raise self._missing(name)

        self._write(body)

    def load_people(self, people: Sequence[PersonRecord], on_conflict: OnConflict, source: str = "the import") -> dict[str, int]:
        """Import ``people`` in one transaction; a name clash with ``on_conflict="error"`` imports nothing."""
        if on_conflict not in ON_CONFLICT:
            raise GalleryError(f"on_conflict must be 'error', 'skip', 'merge' or 'replace', not {on_conflict!r}")
        now = time.time()
        models = sorted({e.model for p in people for e in p.embeddings}, key=str)

        def body(cur: Any) -> dict[str, int]:
            counts = {"identities": 0, "embeddings": 0, "skipped": 0}
            if on_conflict == "error":
                clashes = sorted(p.name for p in people if self._identity_id(cur, p.name) is not None)
                if clashes:
                    shown = ", ".join(repr(n) for n in clashes[:5])
                    raise GalleryError(
                        f"{source}: {len(clashes)} of its people are already in {self.location} ({shown}); nothing "
                        "imported. Choose on_conflict='skip', 'merge' or 'replace'"
                    )
            for person in sorted(people, key=lambda p: p.name):
                identity = self._identity_id(cur, person.name, lock=True)
                if identity is not None and on_conflict == "skip":
                    counts["skipped"] += 1
                    continue
                if identity is not None and on_conflict == "replace":
                    cur.execute(self._q("DELETE FROM embeddings WHERE identity_id = ?"), (identity,))
                    cur.execute(self._q("DELETE FROM identities WHERE id = ?"), (identity,))
                    identity = None
                if identity is None:
                    identity = self._upsert(cur, person.name, person.metadata, person.created_at or now, person.updated_at or now)
                else:
                    cur.execute(self._q("UPDATE identities SET updated_at = ? WHERE id = ?"), (now, identity))
                self._insert(cur, identity, person.embeddings)
                counts["identities"] += 1
                counts["embeddings"] += len(person.embeddings)
            return counts

        return self._write(body, models)

    # ------------------------------------------------------------------ reading
    def count(self) -> int:
        return self._transact(lambda cur: int(self._one(cur, "SELECT COUNT(*) FROM identities")), write=False)

    def contains(self, name: str) -> bool:
        return self._transact(lambda cur: self._identity_id(cur, name) is not None, write=False)

    def names(self) -> list[str]:
        return self._transact(
            lambda cur: [r[0] for r in cur.execute(self._q("SELECT name FROM identities ORDER BY name")).fetchall()], write=False
        )

    def identities(self) -> list[Identity]:
        def body(cur: Any) -> list[Identity]:
            counts: dict[int, dict[str, int]] = {}
            for identity, name, version, dim, n in cur.execute(
                self._q("SELECT identity_id, model_name, model_version, dim, COUNT(*) FROM embeddings "
                        "GROUP BY identity_id, model_name, model_version, dim")
            ).fetchall():
                counts.setdefault(int(identity), {})[str(ModelKey(name, version, int(dim)))] = int(n)
            rows = cur.execute(self._q("SELECT id, name, metadata, created_at, updated_at FROM identities ORDER BY name")).fetchall()
            return [Identity(name, json.loads(meta), c, u, counts.get(int(i), {})) for i, name, meta, c, u in rows]

        return self._transact(body, write=False)

    def get(self, name: str) -> Identity:
        def body(cur: Any) -> Identity:
            row = cur.execute(
                self._q("SELECT id, name, metadata, created_at, updated_at FROM identities WHERE name = ?"), (name,)
            ).fetchone()
            if row is None:
                raise self._missing(name)
            counts = cur.execute(
                self._q("SELECT model_name, model_version, dim, COUNT(*) FROM embeddings WHERE identity_id = ? "
                        "GROUP BY model_name, model_version, dim"),
                (row[0],),
            ).fetchall()
            return Identity(row[1], json.loads(row[2]), row[3], row[4], {str(ModelKey(n, v, int(d))): int(c) for n, v, d, c in counts})

        return self._transact(body, write=False)

    def models(self) -> dict[ModelKey, int]:
        rows = self._transact(
            lambda cur: cur.execute(
                self._q("SELECT model_name, model_version, dim, COUNT(*) FROM embeddings GROUP BY model_name, model_version, dim")
            ).fetchall(),
            write=False,
        )
        return {ModelKey(n, v, int(d)): int(c) for n, v, d, c in rows}

    def vectors(self, model: ModelKey, name: str | None = None) -> tuple[Hashable, np.ndarray, list[str], np.ndarray]:
        """``(version, owner ids, owner names, (N, dim) float32)`` of ``model`` (one person's, or all), one snapshot."""
        sql = (
            "SELECT e.identity_id, i.name, e.vector FROM embeddings e JOIN identities i ON i.id = e.identity_id "
            "WHERE e.model_name = ? AND e.model_version = ? AND e.dim = ?"
        )
        args: list[Any] = [model.name, model.version, model.dim]
        if name is not None:
            sql += " AND i.name = ?"
            args.append(name)

        def body(cur: Any) -> tuple[Hashable, list[Any]]:
            version = self.version_in(cur)
            return version, cur.execute(self._q(sql + " ORDER BY e.identity_id, e.id"), tuple(args)).fetchall()

        version, rows = self._transact(body, write=False)
        owners = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        return version, owners, [r[1] for r in rows], self._decode([r[2] for r in rows], model.dim)

    def version_in(self, cur: Any) -> Hashable:
        """:meth:`version`, read inside a transaction that is already open."""
        return self.version()

    def dump(self) -> list[PersonRecord]:
        """Every person with every vector, in name order (one snapshot)."""

        def body(cur: Any) -> tuple[list[Any], list[Any]]:
            people = cur.execute(self._q("SELECT id, name, metadata, created_at, updated_at FROM identities ORDER BY name")).fetchall()
            rows = cur.execute(
                self._q("SELECT identity_id, model_name, model_version, dim, vector, source, created_at FROM embeddings ORDER BY id")
            ).fetchall()
            return people, rows

        people, rows = self._transact(body, write=False)
        by_identity: dict[int, list[EmbeddingRecord]] = {}
        for identity, name, version, dim, stored, source, created in rows:
            vector = self._decode([stored], int(dim))[0]
            by_identity.setdefault(int(identity), []).append(EmbeddingRecord(ModelKey(name, version, int(dim)), vector, source, created))
        return [PersonRecord(name, meta, c, u, tuple(by_identity.get(int(i), ()))) for i, name, meta, c, u in people]
