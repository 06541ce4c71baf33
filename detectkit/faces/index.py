"""Nearest-identity search over L2-normalised vectors: exact (NumPy) and approximate (faiss).

Both indexes hold vectors grouped by *owner* (an identity id; an identity may have
several vectors) and answer "which owners are most similar to this query", where an
owner's similarity is the best cosine similarity over its vectors.

* :class:`ExactIndex`: one matrix product (``vectors @ queries.T``), the per-owner
  maximum with ``np.maximum.reduceat`` and a partial sort. For one query this is a
  matrix-vector product: memory-bandwidth bound, no faster exact method exists.
* :class:`FaissIndex` (extra ``faiss``): ``IndexFlatIP`` (exact, same results as
  :class:`ExactIndex`) below ``exact_below`` vectors, ``IndexIVFFlat`` (inverted lists
  over k-means cells, ``nprobe`` cells searched) above it.

Example:
    >>> import numpy as np
    >>> from detectkit.faces.index import ExactIndex
    >>> vectors = np.eye(3, dtype=np.float32)
    >>> index = ExactIndex(vectors, owners=np.array([7, 7, 9]))
    >>> owners, sims = index.search(np.array([[0, 0.6, 0.8]], np.float32), k=2)
    >>> owners.tolist(), np.round(sims.astype(float), 2).tolist()
    ([[9, 7]], [[0.8, 0.6]])
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ModelError

__all__ = ["ExactIndex", "FaissIndex", "make_index", "faiss_available"]

_BLOCK = 1 << 24  # most similarity scores held at once (64 MB of float32)


def faiss_available() -> bool:
    """Whether ``import faiss`` works.

    Example:
        >>> isinstance(faiss_available(), bool)
        True
    """
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def _as_queries(queries: np.ndarray, dim: int) -> np.ndarray:
    queries = np.asarray(queries, dtype=np.float32)
    if queries.ndim == 1:
        queries = queries[None, :]
    if queries.ndim != 2 or queries.shape[1] != dim:
        raise ModelError(f"query vectors must have shape (M, {dim}), got {queries.shape}")
    return np.ascontiguousarray(queries)


def _sorted_by_owner(vectors: np.ndarray, owners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    vectors = np.asarray(vectors, dtype=np.float32)
    owners = np.asarray(owners, dtype=np.int64).reshape(-1)
    if vectors.ndim != 2 or len(vectors) != len(owners):
        raise ModelError(f"vectors {vectors.shape} and owners {owners.shape} do not match")
    if len(owners) > 1 and np.any(owners[1:] < owners[:-1]):
        order = np.argsort(owners, kind="stable")
        vectors, owners = vectors[order], owners[order]
    return np.ascontiguousarray(vectors), owners


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Row indices of the k largest values in each column of ``scores`` (G, M), best first: (k, M)."""
    g = scores.shape[0]
    if k >= g:
        return np.argsort(-scores, axis=0, kind="stable")
    if k == 1:
        return np.argmax(scores, axis=0)[None, :]
    part = np.argpartition(-scores, k - 1, axis=0)[:k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=0), axis=0, kind="stable")
    return np.take_along_axis(part, order, axis=0)


class ExactIndex:
    """Exact cosine search with NumPy (see the module docstring).

    Args:
        vectors: ``(N, D)`` float32 L2-normalised vectors.
        owners: ``(N,)`` owner id of each vector (sorted here if needed).
    """

    kind = "exact"

    def __init__(self, vectors: np.ndarray, owners: np.ndarray) -> None:
        self.vectors, owners = _sorted_by_owner(vectors, owners)
        self.dim = self.vectors.shape[1]
        if len(owners):
            self.starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
        else:
            self.starts = np.zeros(0, np.int64)
        self.owner_ids = owners[self.starts]
        self._grouped = len(self.starts) != len(owners)

    def __len__(self) -> int:
        return len(self.vectors)

    def search(self, queries: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Best ``k`` owners per query: ``(owners (M, k) int64, similarities (M, k) float32)``.

        Fewer than ``k`` owners: the rest is padded with owner ``-1`` and similarity NaN.

        Example:
            >>> index = ExactIndex(np.eye(2, dtype=np.float32), np.array([5, 6]))
            >>> owners, sims = index.search(np.array([1.0, 0.0], np.float32), k=3)
            >>> owners.tolist(), sims.tolist()
            ([[5, 6, -1]], [[1.0, 0.0, nan]])
        """
        queries = _as_queries(queries, self.dim)
        m, k = len(queries), max(1, int(k))
        owners = np.full((m, k), -1, np.int64)
        sims = np.full((m, k), np.nan, np.float32)
        if len(self.vectors) == 0 or m == 0:
            return owners, sims
        step = max(1, _BLOCK // len(self.vectors))
        for start in range(0, m, step):
            block = queries[start : start + step]
            if len(block) == 1:  # BLAS matrix-vector product: the memory-bandwidth bound
                scores = (self.vectors @ block[0])[:, None]
            else:
                scores = self.vectors @ block.T  # (N, m)
            if self._grouped:
                scores = np.maximum.reduceat(scores, self.starts, axis=0)  # (G, m): best vector per owner
            best = _top_k(scores, k)  # (k', m)
            kk = best.shape[0]
            owners[start : start + len(block), :kk] = self.owner_ids[best].T
            sims[start : start + len(block), :kk] = np.take_along_axis(scores, best, axis=0).T
        np.clip(sims, -1.0, 1.0, out=sims)  # rounding can put a vector's similarity with itself at 1.0000001
        return owners, sims


class FaissIndex:
    """faiss search (extra ``faiss``): exact ``IndexFlatIP`` when small, ``IndexIVFFlat`` when large.

    Args:
        vectors, owners: as for :class:`ExactIndex`.
        exact_below: use the exact flat index below this many vectors.
        nlist: IVF cells (default ``4 * sqrt(N)``, at most 65536).
        nprobe: IVF cells searched per query (default 32): more is slower and more exact.
        train_size: vectors sampled to train the k-means cells (default ``30 * nlist``).
        niter: k-means iterations (default 10; faiss' own default is 25; training time grows with it).
        seed: sampling seed, so an index is rebuilt the same.

    Example:
        >>> import numpy as np
        >>> if faiss_available():
        ...     index = FaissIndex(np.eye(4, dtype=np.float32), np.arange(4))
        ...     print(index.search(np.eye(4, dtype=np.float32)[:1], 1)[0].tolist())
        ... else:
        ...     print([[0]])
        [[0]]
    """

    def __init__(
        self,
        vectors: np.ndarray,
        owners: np.ndarray,
        *,
        exact_below: int = 50_000,
        nlist: int | None = None,
        nprobe: int = 32,
        train_size: int | None = None,
        niter: int = 10,
        seed: int = 0,
    ) -> None:
        try:
            import faiss
        except ImportError as exc:
            raise ModelError("faiss is not installed: pip install 'detectkit[faiss]' (or use index='exact')") from exc
        self.vectors, self.owners = _sorted_by_owner(vectors, owners)
        n, self.dim = self.vectors.shape
        if n < exact_below:
            self.kind = "faiss-flat"
            self.index = faiss.IndexFlatIP(self.dim)
        else:
            self.kind = "faiss-ivf"
            nlist = int(nlist or min(65536, max(16, int(4 * math.sqrt(n)))))
            quantizer = faiss.IndexFlatIP(self.dim)
            index = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
            sample = int(train_size or min(n, 30 * nlist))
            rng = np.random.default_rng(seed)
            train = self.vectors if sample >= n else self.vectors[np.sort(rng.choice(n, sample, replace=False))]
            index.cp.seed = seed
            index.cp.niter = int(niter)
            index.train(train)
            index.nprobe = min(int(nprobe), nlist)
            self.index = index
            self._quantizer = quantizer  # keep the quantizer alive as long as the index
        if n:
            self.index.add(self.vectors)
        self.n_owners = len(np.unique(self.owners))

    def __len__(self) -> int:
        return len(self.vectors)

    @property
    def nprobe(self) -> int | None:
        return getattr(self.index, "nprobe", None)

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        if hasattr(self.index, "nprobe"):
            self.index.nprobe = int(value)

    def search(self, queries: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Best ``k`` owners per query, as :meth:`ExactIndex.search` returns them."""
        queries = _as_queries(queries, self.dim)
        m, k = len(queries), max(1, int(k))
        owners = np.full((m, k), -1, np.int64)
        sims = np.full((m, k), np.nan, np.float32)
        n = len(self.vectors)
        if n == 0 or m == 0:
            return owners, sims
        want = min(k, self.n_owners)
        fetch = min(n, max(4 * k, 16))
        todo = np.arange(m)
        while len(todo):
            scores, ids = self.index.search(queries[todo], fetch)
            unfinished = []
            for row, q in enumerate(todo):
                found: dict[int, float] = {}
                for score, i in zip(scores[row], ids[row]):
                    if i < 0:
                        break
                    owner = int(self.owners[i])
                    if owner not in found:  # results come best first: the first hit is the owner's best
                        found[owner] = float(score)
                        if len(found) == k:
                            break
                if len(found) < want and fetch < n and ids[row][-1] >= 0:
                    unfinished.append(q)
                    continue
                for j, (owner, score) in enumerate(found.items()):
                    owners[q, j], sims[q, j] = owner, score
            todo = np.asarray(unfinished, dtype=np.int64)
            fetch = min(n, fetch * 4)
        np.clip(sims, -1.0, 1.0, out=sims)
        return owners, sims


def make_index(kind: str, vectors: np.ndarray, owners: np.ndarray, **options: Any) -> ExactIndex | FaissIndex:
    """``"exact"`` -> :class:`ExactIndex`; ``"faiss"`` -> :class:`FaissIndex` (``options`` passed on).

    Example:
        >>> make_index("exact", np.eye(2, dtype=np.float32), np.arange(2)).kind
        'exact'
    """
    if kind == "exact":
        return ExactIndex(vectors, owners)
    if kind == "faiss":
        return FaissIndex(vectors, owners, **options)
    raise ModelError(f"unknown index {kind!r}: use 'exact' or 'faiss'")
