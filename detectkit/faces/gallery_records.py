"""What a gallery store holds and hands back, and the interface every store implements.

* :class:`Identity`: an enrolled person as the API returns it;
* :class:`EmbeddingRecord` / :class:`PersonRecord`: a person with every stored vector, as a
  store dumps them (for export) and loads them (for import);
* :class:`GalleryStore`: the storage interface behind :class:`~detectkit.faces.Gallery`.
  Each method is one transaction; the inputs are already checked
  (:mod:`detectkit.faces.gallery_checks`). SQLite (:mod:`~detectkit.faces.gallery_sqlite`)
  and PostgreSQL + pgvector (:mod:`~detectkit.faces.gallery_postgres`) implement it;
  :mod:`~detectkit.faces.gallery_store` picks one by the location's URL scheme.

Example:
    >>> person = Identity("Ann", {"desk": 4}, 0.0, 1.0, {"toy@v1 (2-d)": 2})
    >>> person.n_embeddings, person.to_dict()["embeddings"]
    (2, {'toy@v1 (2-d)': 2})
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Hashable, Literal, Protocol, Sequence

import numpy as np

from .model_key import ModelKey

__all__ = ["Identity", "EmbeddingRecord", "PersonRecord", "GalleryStore", "OnConflict", "ON_CONFLICT"]

OnConflict = Literal["error", "skip", "merge", "replace"]
ON_CONFLICT = ("error", "skip", "merge", "replace")


@dataclass(frozen=True)
class Identity:
    """An enrolled person: name, metadata and how many embeddings each model has of them.

    Example:
        >>> from detectkit.faces import Gallery
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


@dataclass(frozen=True)
class EmbeddingRecord:
    """One stored vector: its model key, the unit float32 vector, where it came from and when."""

    model: ModelKey
    vector: np.ndarray  # (dim,) float32, unit length
    source: str | None
    created_at: float


@dataclass(frozen=True)
class PersonRecord:
    """A person with every stored vector (what export writes and import reads); ``metadata`` is JSON text."""

    name: str
    metadata: str
    created_at: float
    updated_at: float
    embeddings: tuple[EmbeddingRecord, ...] = ()


class GalleryStore(Protocol):
    """The storage engine behind :class:`~detectkit.faces.Gallery`: one transaction per call.

    ``location`` names the store in messages (a file path, or a URL without its password);
    a missing person is a :class:`~detectkit.errors.GalleryError` naming it, as is every
    engine error (with "nothing was changed" for a failed write).
    """

    location: Any
    search_kinds: tuple[str, ...]  # searches the engine runs itself (e.g. ("hnsw", "scan")), besides loading vectors

    def close(self) -> None: ...

    def version(self) -> Hashable:
        """A token that changes whenever any process commits a change."""

    def add(self, name: str, vectors: np.ndarray, model: ModelKey, *, meta: str | None,
            sources: Sequence[str | None] | None, replace: bool) -> int:
        """Create or update the person and add the vectors; returns their count of ``model``."""

    def add_many(self, people: dict[str, np.ndarray], model: ModelKey, *, replace: bool) -> None:
        """Several people in one transaction."""

    def remove(self, name: str) -> int: ...

    def rename(self, old: str, new: str) -> None: ...

    def set_metadata(self, name: str, meta: str) -> None: ...

    def count(self) -> int: ...

    def contains(self, name: str) -> bool: ...

    def names(self) -> list[str]: ...

    def identities(self) -> list[Identity]: ...

    def get(self, name: str) -> Identity: ...

    def models(self) -> dict[ModelKey, int]: ...

    def vectors(self, model: ModelKey, name: str | None = None) -> tuple[Hashable, np.ndarray, list[str], np.ndarray]:
        """``(version, owner ids (N,), owner names (N,), (N, dim) float32)`` of ``model``, one consistent snapshot."""

    def dump(self) -> list[PersonRecord]: ...

    def load_people(self, people: Sequence[PersonRecord], on_conflict: OnConflict, source: str = "the import") -> dict[str, int]:
        """Import ``people`` in one transaction; returns ``{"identities", "embeddings", "skipped"}``."""

    def integrity_check(self) -> str: ...
