"""Identification latency against gallery size: exact NumPy search, faiss, a per-row Python loop.

For each gallery size N (synthetic unit vectors, one per identity) it times single-query
searches (p50 / p99 over the queries) of:

* ``matvec``: the plain ``X @ q`` plus ``argmax``: the memory-bandwidth bound of exact search;
* ``exact``: detectkit's :class:`ExactIndex` (what ``Gallery(index="exact")`` searches with);
* ``gallery``: a whole ``Gallery.search_arrays`` call on an SQLite gallery (change check,
  names) for sizes up to ``--gallery-max``;
* ``faiss``: detectkit's :class:`FaissIndex` (flat below 50k vectors, IVF above), with
  recall@1 against the exact answer and the build time;
* ``python loop``: one cosine distance per stored row in a Python loop, the way deepface's
  ``find()`` scans its pickle (without its pandas ``iterrows`` overhead), on
  ``--loop-queries`` queries; for sizes above ``--loop-max`` it is extrapolated linearly
  from the largest measured size (marked ``~``).

Synthetic data: real face embeddings are not isotropic (their intrinsic dimension is a few
tens; Gong, Boddeti & Jain, CVPR 2019), and approximate search relies on that structure.
Vectors are ``0.9 * u + 0.436 * r`` normalised, ``u`` uniform on the unit sphere of a random
64-d subspace, ``r`` isotropic noise; a query is a stored vector mixed with fresh noise to
cosine ~0.75 (a new photo of an enrolled person). Exact search cost does not depend on the
data; faiss recall does (``--isotropic`` uses plain random vectors to show it).

Run:  python benchmarks/gallery_search.py --sizes 1000 100000 1000000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import machine, table  # noqa: E402
from detectkit.faces.embedder import ModelKey  # noqa: E402
from detectkit.faces.gallery import Gallery  # noqa: E402
from detectkit.faces.index import ExactIndex, FaissIndex, faiss_available  # noqa: E402


def synthetic(n: int, dim: int, rng: np.random.Generator, isotropic: bool, chunk: int = 100_000) -> np.ndarray:
    out = np.empty((n, dim), np.float32)
    basis = np.linalg.qr(rng.standard_normal((dim, 64)))[0].T.astype(np.float32)  # (64, dim) orthonormal rows
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        noise = rng.standard_normal((m, dim), dtype=np.float32)
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        if isotropic:
            block = noise
        else:
            u = rng.standard_normal((m, 64), dtype=np.float32) @ basis
            u /= np.linalg.norm(u, axis=1, keepdims=True)
            block = 0.9 * u + 0.436 * noise
        out[start : start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def queries_near(vectors: np.ndarray, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    picked = rng.choice(len(vectors), count, replace=False)
    noise = rng.standard_normal((count, vectors.shape[1]), dtype=np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    q = 0.75 * vectors[picked] + 0.66 * noise
    return q / np.linalg.norm(q, axis=1, keepdims=True), picked


def timed(fn, queries: np.ndarray) -> tuple[np.ndarray, list]:
    out, times = [], []
    for q in queries:
        t = time.perf_counter()
        out.append(fn(q))
        times.append(time.perf_counter() - t)
    return np.array(times) * 1000.0, out


def python_loop(rows: list, q: np.ndarray) -> int:
    """deepface find()'s scan: a cosine distance per stored row, in Python."""
    best, best_distance = -1, np.inf
    for i, row in enumerate(rows):
        distance = 1 - np.dot(row, q) / (np.linalg.norm(row) * np.linalg.norm(q))
        if distance < best_distance:
            best, best_distance = i, distance
    return best


def ms(values: np.ndarray) -> str:
    return f"{np.percentile(values, 50):.3f} / {np.percentile(values, 99):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--loop-queries", type=int, default=3)
    parser.add_argument("--loop-max", type=int, default=100_000, help="largest size the Python loop runs on")
    parser.add_argument("--gallery-max", type=int, default=100_000, help="largest size also run through an SQLite Gallery")
    parser.add_argument("--nprobe", type=int, default=32)
    parser.add_argument("--isotropic", action="store_true", help="plain random unit vectors (no structure)")
    parser.add_argument("--no-faiss", action="store_true", help="leave faiss out")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import os

    blas = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or "default"
    print(f"# gallery search, {machine()}, BLAS threads: {blas}")
    print(f"# dim {args.dim}, {args.queries} single-vector queries per size, data: "
          f"{'isotropic random' if args.isotropic else '64-d structure + noise'}, faiss: {faiss_available()}")
    rows, loop_rate = [], None
    for n in args.sizes:
        rng = np.random.default_rng(args.seed + n)
        vectors = synthetic(n, args.dim, rng, args.isotropic)
        owners = np.arange(n)
        queries, _ = queries_near(vectors, args.queries, rng)

        bound, _ = timed(lambda q: int(np.argmax(vectors @ q)), queries)
        exact = ExactIndex(vectors, owners)
        exact_times, exact_out = timed(lambda q: exact.search(q, 1), queries)
        truth = np.array([o[0][0, 0] for o in exact_out])
        assert np.array_equal(truth, [int(np.argmax(vectors @ q)) for q in queries[:20]] + list(truth[20:]))
        bound_p50 = np.percentile(bound, 50)
        rows.append([f"{n:,}", "matvec + argmax (bound)", ms(bound), "1.00", "", ""])
        rows.append([f"{n:,}", "detectkit exact (NumPy)", ms(exact_times), f"{np.percentile(exact_times, 50) / bound_p50:.2f}", "1.000", ""])

        if n <= args.gallery_max:
            with tempfile.TemporaryDirectory() as tmp:
                key = ModelKey("bench", "v1", args.dim)
                gallery = Gallery(Path(tmp) / "g.db")
                gallery.add_many(((f"id{i}", vectors[i : i + 1]) for i in range(n)), key)  # one transaction
                gallery.search_arrays(queries[0], key, 1)  # first call loads the cache
                g_times, g_out = timed(lambda q: gallery.search_arrays(q, key, 1), queries)
                agree = np.mean([names[0, 0] == f"id{t}" for (names, _), t in zip(g_out, truth)])
                gallery.close()
            rows.append([f"{n:,}", "detectkit Gallery.search (SQLite-backed)", ms(g_times),
                         f"{np.percentile(g_times, 50) / bound_p50:.2f}", f"{agree:.3f}", ""])

        if faiss_available() and not args.no_faiss:
            t = time.perf_counter()
            index = FaissIndex(vectors, owners, nprobe=args.nprobe)
            build = time.perf_counter() - t
            f_times, f_out = timed(lambda q: index.search(q, 1), queries)
            recall = float(np.mean([o[0][0, 0] == e for o, e in zip(f_out, truth)]))
            what = f"faiss {index.kind}" + (f" (nlist {index.index.nlist}, nprobe {index.nprobe})" if index.kind == "faiss-ivf" else "")
            rows.append([f"{n:,}", what, ms(f_times), f"{np.percentile(f_times, 50) / bound_p50:.2f}", f"{recall:.3f}", f"{build:.1f} s"])
            del index

        if n <= args.loop_max:
            listed = list(vectors)
            l_times, l_out = timed(lambda q: python_loop(listed, q), queries[: args.loop_queries])
            assert all(o == e for o, e in zip(l_out, truth))
            loop_rate = np.percentile(l_times, 50) / n
            rows.append([f"{n:,}", f"Python loop per row ({args.loop_queries} queries)", ms(l_times),
                         f"{np.percentile(l_times, 50) / bound_p50:.0f}", "1.000", ""])
        elif loop_rate is not None:
            estimate = loop_rate * n
            rows.append([f"{n:,}", "Python loop per row (extrapolated)", f"~{estimate:.0f}", f"~{estimate / bound_p50:.0f}", "", ""])
        del vectors
        print(table(["gallery", "search", "ms per query p50 / p99", "x bound (p50)", "recall@1 vs exact", "build"], rows[-6:]),
              flush=True)
        print()
    print(table(["gallery", "search", "ms per query p50 / p99", "x bound (p50)", "recall@1 vs exact", "build"], rows))


if __name__ == "__main__":
    main()
