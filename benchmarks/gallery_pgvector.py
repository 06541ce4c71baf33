"""Identification on a PostgreSQL + pgvector gallery against SQLite + NumPy and faiss, in one run.

For each gallery size N (synthetic vectors, one per identity, the generator of
``benchmarks/gallery_search.py``: 64-d structure + noise, queries = a stored vector mixed
with fresh noise to cosine ~0.75) it measures, single-query searches (p50 / p99) through
the public ``Gallery`` API, and recall@1 against exact search:

* ``SQLite + NumPy``: ``Gallery("g.db")`` (vectors cached in memory, exact matrix-vector search);
* ``faiss``: ``FaissIndex`` (flat below 50k vectors, IVF above; in-process);
* ``pgvector HNSW``: ``Gallery(url, index="hnsw")`` at ``ef_search`` 40 (pgvector's default)
  and 100: the query goes to the server, which walks the model's HNSW index (m 16,
  ef_construction 64);
* ``pgvector exact scan``: ``Gallery(url, index="scan")``: the server's sequential scan;
* ``PostgreSQL + NumPy``: ``Gallery(url)`` (vectors loaded from the server once, then as SQLite).

Also: load time (``Gallery.add_many``: one transaction; COPY on PostgreSQL), HNSW index
build time (built after the load, as for a migration; ``maintenance_work_mem`` set so the
graph fits), and table / index sizes on disk.

The server: ``--url postgresql://...`` or, by default, a ``pgserver`` (PostgreSQL 16 +
pgvector 0.6, default settings: shared_buffers 128 MB) started in a temporary folder.

Run:  python benchmarks/gallery_pgvector.py --sizes 10000 100000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import machine, table  # noqa: E402
from benchmarks.gallery_search import ms, queries_near, synthetic, timed  # noqa: E402
from detectkit.faces.model_key import ModelKey  # noqa: E402
from detectkit.faces.gallery import Gallery  # noqa: E402
from detectkit.faces.gallery_postgres import index_name  # noqa: E402
from detectkit.faces.index import ExactIndex, FaissIndex, faiss_available  # noqa: E402

HEADERS = ["gallery", "search", "ms per query p50 / p99", "server ms p50", "recall@1 vs exact", "load / build", "on disk"]


def mb(n: float) -> str:
    return f"{n / 2**20:,.0f} MB"


def recall(outputs: list, truth: np.ndarray) -> str:
    return f"{np.mean([names[0, 0] == f'id{t}' for (names, _), t in zip(outputs, truth)]):.3f}"


def server_ms(store, queries: np.ndarray, key: ModelKey, kind: str, ef: int | None) -> str:
    """p50 of the server's own execution time (EXPLAIN ANALYZE), without the client round trips."""
    import re

    times = []
    for q in queries:
        plan = store.explain(q, key, kind=kind, ef_search=ef, analyze=True)
        times.append(float(re.search(r"Execution Time: ([0-9.]+) ms", plan).group(1)))
    return f"{np.percentile(times, 50):.3f}"


def server(url: str | None):
    if url:
        return url, None
    import pgserver

    folder = Path(tempfile.mkdtemp(prefix="gallery-bench-pg-"))
    srv = pgserver.get_server(folder / "pgdata", cleanup_mode="delete")
    return srv.get_uri(), srv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--scan-queries", type=int, default=20, help="queries for the (slow) server scan")
    parser.add_argument("--url", default=os.environ.get("DETECTKIT_BENCH_POSTGRES"), help="a PostgreSQL server (default: pgserver)")
    parser.add_argument("--build-memory", default="4GB", help="maintenance_work_mem for the HNSW build")
    parser.add_argument("--no-local", action="store_true", help="PostgreSQL rows only (no SQLite, no faiss)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    url, srv = server(args.url)
    print(f"# gallery on PostgreSQL + pgvector vs SQLite + NumPy and faiss, {machine()}")
    print(f"# dim {args.dim}, {args.queries} single-vector queries per size ({args.scan_queries} for the server scan), "
          f"data: 64-d structure + noise, faiss: {faiss_available()}, server: {'pgserver' if srv else 'given URL'}")
    key = ModelKey("bench", "v1", args.dim)
    rows = []
    try:
        for n in args.sizes:
            rng = np.random.default_rng(args.seed + n)
            vectors = synthetic(n, args.dim, rng, isotropic=False)
            queries, _ = queries_near(vectors, args.queries, rng)
            exact = ExactIndex(vectors, np.arange(n))
            truth = np.array([exact.search(q, 1)[0][0, 0] for q in queries])
            del exact
            people = [(f"id{i}", vectors[i : i + 1]) for i in range(n)]
            size = f"{n:,}"

            if not args.no_local:
                with tempfile.TemporaryDirectory() as tmp:
                    path = Path(tmp) / "g.db"
                    start = time.perf_counter()
                    with Gallery(path) as gallery:
                        gallery.add_many(people, key)
                        load = time.perf_counter() - start
                        gallery.search_arrays(queries[0], key, 1)  # loads the cache
                        times, out = timed(lambda q: gallery.search_arrays(q, key, 1), queries)
                    rows.append([size, "SQLite + NumPy exact (Gallery)", ms(times), "", recall(out, truth), f"load {load:.1f} s", mb(path.stat().st_size)])
                print(table(HEADERS, rows[-1:]), flush=True)

            if faiss_available() and not args.no_local:
                start = time.perf_counter()
                index = FaissIndex(vectors, np.arange(n))
                build = time.perf_counter() - start
                times, out = timed(lambda q: index.search(q, 1), queries)
                hits = np.mean([o[0][0, 0] == t for o, t in zip(out, truth)])
                what = f"faiss {index.kind}" + (f" (nlist {index.index.nlist}, nprobe {index.nprobe})" if index.kind == "faiss-ivf" else "")
                rows.append([size, what, ms(times), "", f"{hits:.3f}", f"build {build:.1f} s", "in memory"])
                del index
                print(table(HEADERS, rows[-1:]), flush=True)

            where = f"{url}{'&' if '?' in url else '?'}schema=bench_{n}"
            with Gallery(where) as gallery:
                store = gallery.store
                store._transact(lambda cur: cur.execute("TRUNCATE identities, embeddings CASCADE"), write=True)
                store.drop_index(key)  # load first, build the graph once afterwards (as a migration would)
                start = time.perf_counter()
                gallery.add_many(people, key)
                load = time.perf_counter() - start
                build = store.create_index(key, maintenance_work_mem=args.build_memory)
                store._transact(lambda cur: cur.execute("ANALYZE embeddings"), write=True)
                sizes = store.sizes()
                table_bytes = sizes["embeddings"] + sizes["identities"]
                index_bytes = sizes[index_name(key)]
                other_bytes = sum(sizes.values()) - sizes["embeddings"] - sizes["identities"] - index_bytes - sizes.get("schema_version", 0) - sizes.get("gallery_state", 0)
            for ef in (40, 100):
                with Gallery(where, index="hnsw", index_options={"ef_search": ef}) as gallery:
                    gallery.search_arrays(queries[0], key, 1)
                    times, out = timed(lambda q: gallery.search_arrays(q, key, 1), queries)
                    own = server_ms(gallery.store, queries[: args.scan_queries], key, "hnsw", ef)
                extra = [f"load {load:.1f} s, HNSW build {build:.1f} s", f"tables {mb(table_bytes)}, HNSW {mb(index_bytes)}, btrees {mb(other_bytes)}"] if ef == 40 else ["", ""]
                rows.append([size, f"pgvector HNSW (ef_search {ef})", ms(times), own, recall(out, truth), *extra])
                print(table(HEADERS, rows[-1:]), flush=True)
            with Gallery(where, index="scan") as gallery:
                gallery.search_arrays(queries[0], key, 1)
                few = queries[: args.scan_queries]
                times, out = timed(lambda q: gallery.search_arrays(q, key, 1), few)
                own = server_ms(gallery.store, few[:5], key, "scan", None)
            rows.append([size, f"pgvector exact scan ({len(few)} queries)", ms(times), own, recall(out, truth[: len(few)]), "", ""])
            print(table(HEADERS, rows[-1:]), flush=True)
            with Gallery(where) as gallery:
                start = time.perf_counter()
                gallery.search_arrays(queries[0], key, 1)
                loaded = time.perf_counter() - start
                times, out = timed(lambda q: gallery.search_arrays(q, key, 1), queries)
            rows.append([size, "PostgreSQL + NumPy exact (Gallery)", ms(times), "", recall(out, truth), f"first search (load) {loaded:.1f} s", ""])
            print(table(HEADERS, rows[-1:]), flush=True)
            with Gallery(where) as gallery:  # leave the server small for the next size
                gallery.store._transact(lambda cur: cur.execute("TRUNCATE identities, embeddings CASCADE"), write=True)
            del vectors, people
            print()
    finally:
        if srv is not None:
            srv.cleanup()
    print(table(HEADERS, rows))


if __name__ == "__main__":
    main()
