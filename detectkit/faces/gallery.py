"""`Gallery`: enrolled identities and their face embeddings, in SQLite or PostgreSQL.

``Gallery(location)`` is the API; the storage engine behind it is picked by the location
(:mod:`detectkit.faces.gallery_store`):

* a file path (or ``":memory:"`` for a throw-away gallery): one SQLite file, WAL journal,
  one ``BEGIN IMMEDIATE`` transaction per write (:mod:`detectkit.faces.gallery_sqlite`);
* ``postgresql://user@host/db``: PostgreSQL with pgvector, shared by many writers on many
  hosts, with an HNSW index per model key (:mod:`detectkit.faces.gallery_postgres`).

Both hold a unique name and JSON metadata per person and, per embedding, the model name,
model version (weights digest) and dimension that made it. Search only ever compares
vectors of the caller's model key; a gallery enrolled with another model is refused.
Every write (an enrolment, a removal, an import) is one transaction: readers never see a
half-written enrolment, and a process killed at any point loses only the enrolment it had
not finished. Names, metadata and vectors are checked here
(:mod:`detectkit.faces.gallery_checks`), so both engines refuse the same input with the
same errors.

Search (``index=``): ``"exact"`` cosine similarity with NumPy, or ``"faiss"`` (extra
``faiss``), over the model's vectors loaded into memory (cached per model key, reloaded
when any process committed a change; see :mod:`detectkit.faces.index`); on PostgreSQL
also ``"hnsw"`` (the server's pgvector HNSW index, approximate) or ``"scan"`` (the
server's exact scan), which load nothing into this process. Export and import (JSON,
SQLite files, other galleries) live in :mod:`detectkit.faces.gallery_io`.

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

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Hashable, Iterable, Literal, Mapping, Sequence

import numpy as np

from ..errors import GalleryError
from . import gallery_io
from .gallery_checks import MAX_METADATA_BYTES, MAX_NAME_LENGTH, check_model, check_vectors, metadata_json, validate_name
from .gallery_records import GalleryStore, Identity, OnConflict
from .gallery_sqlite import SCHEMA_VERSION
from .gallery_store import open_store, scheme_of
from .index import ExactIndex, FaissIndex, make_index
from .model_key import ModelKey

__all__ = [
    "Gallery",
    "Identity",
    "Match",
    "validate_name",
    "SCHEMA_VERSION",
    "MAX_NAME_LENGTH",
    "MAX_METADATA_BYTES",
    "INDEX_KINDS",
]

INDEX_KINDS = ("exact", "faiss", "hnsw", "scan")
_metadata_json = metadata_json  # the recogniser checks enrolment metadata before any work with it


@dataclass(frozen=True)
class Match:
    """One candidate identity for a face: its name and cosine similarity."""

    name: str
    similarity: float


@dataclass
class _Cached:
    version: Hashable
    index: ExactIndex | FaissIndex
    names: dict[int, str]


class Gallery:
    """A persistent store of identities and face embeddings (see the module docstring).

    Args:
        path: an SQLite file (created with its folder when missing), ``":memory:"``, or a
            ``postgresql://`` URL (extra ``postgres``; ``?schema=NAME``, default ``detectkit``).
        create: create the file (schema) when it does not exist (``False``: an error).
        index: ``"exact"`` (NumPy) or ``"faiss"`` (extra ``faiss``) search in this process;
            ``"hnsw"`` or ``"scan"`` in the PostgreSQL server.
        index_options: passed to :class:`detectkit.faces.index.FaissIndex` (``nprobe``,
            ``nlist``...), or to the server search (``ef_search`` for ``"hnsw"``).
        timeout: seconds to wait for another process's write to finish (and for the server).
        read_only: open an SQLite gallery for reading only (writes raise GalleryError). A file
            or folder this process may not write is opened this way by itself.

    Raises:
        GalleryError: not a gallery, a gallery from a newer detectkit, unreadable, locked,
            unreachable, or a server search asked of an SQLite gallery.

    Thread safety: one Gallery may be used from several threads (locks serialise them).

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
        index: Literal["exact", "faiss", "hnsw", "scan"] = "exact",
        index_options: Mapping[str, Any] | None = None,
        timeout: float = 30.0,
        read_only: bool = False,
    ) -> None:
        if index not in INDEX_KINDS:
            raise GalleryError(f"unknown index {index!r}: use 'exact', 'faiss', 'hnsw' or 'scan'")
        if index == "faiss":
            from .index import faiss_available

            if not faiss_available():
                raise GalleryError("index='faiss' needs faiss: pip install 'detectkit[faiss]' (or use index='exact')")
        server_search = index in ("hnsw", "scan")
        if server_search and scheme_of(path) == "sqlite":
            raise GalleryError(
                f"index={index!r} is a search in a PostgreSQL server (pgvector); {os.fspath(path)} is an SQLite gallery: "
                "use index='exact' or 'faiss', or a postgresql:// gallery"
            )
        self.index_kind = index
        self.index_options = dict(index_options or {})
        self.timeout = float(timeout)
        self._lock = threading.RLock()
        self._cache: dict[ModelKey, _Cached] = {}
        self.store: GalleryStore = open_store(path, create=create, timeout=timeout, read_only=read_only)
        if server_search and index not in self.store.search_kinds:
            self.store.close()
            raise GalleryError(f"{self.store.location}: this gallery store cannot search with index={index!r}")
        self.path: Path | str = self.store.location

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Close the database connection (the gallery cannot be used afterwards).

        Example:
            >>> g = Gallery(":memory:"); g.close(); g.close()  # closing twice is fine
        """
        with self._lock:
            self.store.close()
            self._cache.clear()

    def __enter__(self) -> "Gallery":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Gallery({str(self.path)!r}, index={self.index_kind!r})"

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
        model = check_model(model)
        vectors = check_vectors(embeddings, model)
        meta = None if metadata is None else metadata_json(metadata)
        if sources is not None and len(sources) != len(vectors):
            raise GalleryError(f"{len(sources)} sources for {len(vectors)} embeddings")
        return self.store.add(name, vectors, model, meta=meta, sources=sources, replace=replace)

    def add_many(self, people: Iterable[tuple[str, np.ndarray]], model: ModelKey, *, replace: bool = False) -> int:
        """Bulk-add ``(name, (K, D) vectors)`` pairs in ONE transaction (all or nothing); returns how many people.

        Meant for migrations and large imports; enrolment (:meth:`add`) commits per person.

        Example:
            >>> g = Gallery(":memory:"); key = ModelKey("toy", "v1", 2)
            >>> g.add_many([("A", np.array([[1.0, 0.0]])), ("B", np.array([[0.0, 1.0]]))], key)
            2
        """
        model = check_model(model)
        checked: dict[str, list[np.ndarray]] = {}
        for name, vectors in people:
            clean = validate_name(name)
            checked.setdefault(clean, []).append(check_vectors(vectors, model, what=f"embeddings of {clean!r}"))
        self.store.add_many({name: np.concatenate(blocks) for name, blocks in checked.items()}, model, replace=replace)
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
        return self.store.remove(validate_name(name))

    def rename(self, old: str, new: str) -> None:
        """Rename a person (their embeddings follow).

        Raises:
            GalleryError: ``old`` does not exist or ``new`` is taken.

        Example:
            >>> g = Gallery(":memory:"); _ = g.add("Ann", np.eye(2)[:1], ModelKey("toy", "v1", 2))
            >>> g.rename("Ann", "Anna"); g.names()
            ['Anna']
        """
        self.store.rename(validate_name(old), validate_name(new))

    def set_metadata(self, name: str, metadata: Mapping[str, Any]) -> None:
        """Replace a person's metadata (a JSON-serialisable dict).

        Example:
            >>> g = Gallery(":memory:"); _ = g.add("Ann", np.eye(2)[:1], ModelKey("toy", "v1", 2))
            >>> g.set_metadata("Ann", {"team": "blue"}); g.get("Ann").metadata
            {'team': 'blue'}
        """
        self.store.set_metadata(validate_name(name), metadata_json(metadata))

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return self.store.count()

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            clean = validate_name(name)
        except GalleryError:
            return False
        return self.store.contains(clean)

    def names(self) -> list[str]:
        """All names, sorted.

        Example:
            >>> g = Gallery(":memory:"); key = ModelKey("toy", "v1", 2)
            >>> _ = g.add_many([("Bo", np.eye(2)[:1]), ("Ann", np.eye(2)[1:])], key)
            >>> g.names(), len(g), "Bo" in g
            (['Ann', 'Bo'], 2, True)
        """
        return self.store.names()

    def identities(self) -> list[Identity]:
        """Every person with metadata and embedding counts per model, sorted by name.

        Example:
            >>> g = Gallery(":memory:"); _ = g.add("Ann", np.eye(2), ModelKey("toy", "v1", 2))
            >>> [(p.name, p.n_embeddings) for p in g.identities()]
            [('Ann', 2)]
        """
        return self.store.identities()

    def get(self, name: str) -> Identity:
        """One person.

        Raises:
            GalleryError: no such person.

        Example:
            >>> g = Gallery(":memory:"); _ = g.add("Ann", np.eye(2), ModelKey("toy", "v1", 2))
            >>> g.get(" Ann ").name
            'Ann'
        """
        return self.store.get(validate_name(name))

    def models(self) -> dict[ModelKey, int]:
        """The model keys present and how many embeddings each has.

        Example:
            >>> g = Gallery(":memory:"); _ = g.add("Ann", np.eye(2), ModelKey("toy", "v1", 2))
            >>> g.models()
            {ModelKey(name='toy', version='v1', dim=2): 2}
        """
        return self.store.models()

    def embeddings(self, model: ModelKey, name: str | None = None) -> tuple[list[str], np.ndarray]:
        """The stored vectors of ``model`` (of one person, or everyone): ``(names per row, (K, D) float32)``.

        Example:
            >>> g = Gallery(":memory:"); key = ModelKey("toy", "v1", 2)
            >>> _ = g.add("Ann", np.array([[3.0, 4.0]]), key)
            >>> names, vectors = g.embeddings(key)
            >>> names, vectors.tolist()
            (['Ann'], [[0.6000000238418579, 0.800000011920929]])
        """
        model = check_model(model)
        _, _, names, matrix = self.store.vectors(model, None if name is None else validate_name(name))
        return names, matrix

    def integrity_check(self) -> str:
        """The engine's own check (``"ok"`` for a sound gallery; SQLite's ``PRAGMA integrity_check``).

        Example:
            >>> Gallery(":memory:").integrity_check()
            'ok'
        """
        return self.store.integrity_check()

    # ------------------------------------------------------------------ search
    def _refuse_other_models(self, model: ModelKey) -> None:
        others = [key for key in self.store.models() if key != model]
        if others:
            shown = ", ".join(str(k) for k in others[:3])
            raise GalleryError(
                f"{self.path}: the gallery holds embeddings of {shown} only, not of {model}; vectors of "
                "different models cannot be compared. Re-enrol the people with this model, or use the "
                "model they were enrolled with"
            )

    def _index(self, model: ModelKey) -> _Cached:
        with self._lock:
            cached = self._cache.get(model)
            if cached is not None and cached.version == self.store.version():
                return cached
            version, owners, names, vectors = self.store.vectors(model)
            if not len(owners):
                self._refuse_other_models(model)
            index = make_index(self.index_kind, vectors, owners, **self.index_options)
            cached = _Cached(version, index, dict(zip(owners.tolist(), names)))
            self._cache = {model: cached}  # one model at a time: the cache never holds stale keys
            return cached

    def search_arrays(self, queries: np.ndarray, model: ModelKey, top_k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Best ``top_k`` names per query as arrays: ``(names (M, k) object, None-padded; similarities (M, k) float32, NaN-padded)``.

        Queries are L2-normalised here, so similarities are cosine similarities whatever
        their length (the stored vectors are normalised when added).

        Raises:
            GalleryError: queries of another dimension than ``model``'s, NaN, infinite or
                all-zero queries, or a gallery that holds only other models' embeddings.

        Example:
            >>> g = Gallery(":memory:"); key = ModelKey("toy", "v1", 2)
            >>> _ = g.add("A", np.array([[3.0, 4.0]]), key)
            >>> names, sims = g.search_arrays(np.array([[6.0, 8.0], [0.0, 2.0]]), key, top_k=2)
            >>> names.tolist(), np.round(sims.astype(float), 2).tolist()
            ([['A', None], ['A', None]], [[1.0, nan], [0.8, nan]])
        """
        model = check_model(model)
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
        k = max(1, int(top_k))
        if self.index_kind in ("hnsw", "scan"):
            names, sims = self.store.search(queries, model, k, kind=self.index_kind, **self.index_options)  # type: ignore[attr-defined]
            if len(queries) and all(n is None for n in names[:, 0]):
                self._refuse_other_models(model)
            return names, sims
        cached = self._index(model)
        owners, sims = cached.index.search(queries, k)
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
    def export(self, path: str | os.PathLike) -> Path | str:
        """Write the whole gallery to ``path``: JSON when it ends in ``.json``, a gallery URL, else an SQLite copy.

        See :func:`detectkit.faces.gallery_io.export_store`; read back by :meth:`import_from`.

        Example:
            >>> import tempfile, pathlib
            >>> folder = pathlib.Path(tempfile.mkdtemp())
            >>> g = Gallery(":memory:"); _ = g.add("Ann", np.eye(2), ModelKey("toy", "v1", 2))
            >>> copy = Gallery(":memory:")
            >>> copy.import_from(g.export(folder / "people.json"))
            {'identities': 1, 'embeddings': 2, 'skipped': 0}
        """
        return gallery_io.export_store(self.store, path)

    def import_from(self, path: str | os.PathLike, *, on_conflict: OnConflict = "error") -> dict[str, int]:
        """Add the people of an exported gallery (JSON, SQLite file, or a gallery URL) in one transaction.

        Args:
            path: a file written by :meth:`export` (or any gallery file or URL).
            on_conflict: when a name already exists: ``"error"`` (default; nothing is
                imported), ``"skip"`` that person, ``"merge"`` their embeddings into the
                existing person, or ``"replace"`` the existing person.

        Returns:
            Counts: ``{"identities": ..., "embeddings": ..., "skipped": ...}``.

        Raises:
            GalleryError: unreadable or malformed file, this gallery's own file, a read-only
                gallery, or a name conflict with ``on_conflict="error"``; the gallery is unchanged.

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
        gallery_io.refuse_itself(self.store, path)
        people = gallery_io.read_people(path)
        return gallery_io.import_people(self.store, people, on_conflict=on_conflict, source=str(path))
