"""Gallery: persistence, removal, renames, model-mismatch refusal, bad files, export/import,
concurrent processes, a writer killed at random points, faiss against exact search.

The tests that take ``where`` run twice: on SQLite and on a real PostgreSQL + pgvector
(see ``gallery_backends.py``; those cases skip, saying why, when no server can be had)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from detectkit.errors import GalleryError
from detectkit.faces import Gallery, ModelKey
from detectkit.faces.gallery import MAX_NAME_LENGTH, SCHEMA_VERSION, validate_name
from detectkit.faces.gallery_io import export_dict
from detectkit.faces.index import ExactIndex, FaissIndex, faiss_available
from gallery_backends import backend, postgres_url, where  # noqa: F401  (fixtures)

KEY = ModelKey("toy-model", "0123456789abcdef", 8)
OTHER = ModelKey("toy-model", "fedcba9876543210", 8)
REPO = Path(__file__).resolve().parents[2]


def unit(rng: np.random.Generator, n: int, dim: int = 8) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_persistence_across_reopen_and_search(tmp_path, backend, where):
    rng = np.random.default_rng(0)
    alice, bob = unit(rng, 3), unit(rng, 2)
    path = tmp_path / "sub" / "people.db" if backend == "sqlite" else where("people")
    with Gallery(path) as gallery:
        assert gallery.add("Alice", alice, KEY, metadata={"team": "red"}, sources=["a1", "a2", "a3"]) == 3
        assert gallery.add("Bob", bob, KEY) == 2
    with Gallery(path, create=False) as gallery:
        assert gallery.names() == ["Alice", "Bob"] and len(gallery) == 2 and "Alice" in gallery
        person = gallery.get("Alice")
        assert person.metadata == {"team": "red"} and person.embeddings == {str(KEY): 3}
        names, stored = gallery.embeddings(KEY, "Alice")
        np.testing.assert_allclose(stored, alice, atol=1e-7)
        # each of Alice's vectors finds Alice first, with similarity 1; top_k lists both people
        for query in alice:
            best, second = gallery.search(query, KEY, top_k=2)[0]
            assert best.name == "Alice" and best.similarity == pytest.approx(1.0, abs=1e-6)
            assert second.name == "Bob" and second.similarity == pytest.approx(float(np.max(bob @ query)), abs=1e-6)
        assert gallery.integrity_check() == "ok"
    if backend == "sqlite":
        with contextlib.closing(sqlite3.connect(path)) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_person_similarity_is_the_best_over_their_embeddings(where):
    gallery = Gallery(where("g"))
    e = np.eye(8, dtype=np.float32)
    gallery.add("A", e[[0, 1]], KEY)
    gallery.add("B", e[[2]], KEY)
    query = np.zeros(8, np.float32)
    query[[1, 2]] = [0.8, 0.6]
    names, sims = gallery.search_arrays(query, KEY, top_k=5)
    assert names[0].tolist() == ["A", "B", None, None, None]
    np.testing.assert_allclose(sims[0, :2], [0.8, 0.6], atol=1e-6)
    assert np.isnan(sims[0, 2:]).all()
    # similarities are cosine: the query's length does not matter
    longer, sims_longer = gallery.search_arrays(5 * query, KEY, top_k=2)
    assert longer[0].tolist() == ["A", "B"]
    np.testing.assert_allclose(sims_longer[0], [0.8, 0.6], atol=1e-6)
    for bad in (np.zeros(8, np.float32), np.full(8, np.nan, np.float32)):
        with pytest.raises(GalleryError, match="NaN, infinite or all-zero"):
            gallery.search(bad, KEY)


def test_remove_rename_metadata_and_replace(where):
    rng = np.random.default_rng(1)
    gallery = Gallery(where("g"))
    gallery.add("Alice", unit(rng, 2), KEY)
    gallery.add("Bob", unit(rng, 1), KEY)
    assert gallery.remove("Alice") == 2 and gallery.names() == ["Bob"]
    with pytest.raises(GalleryError, match="no identity named 'Alice'"):
        gallery.remove("Alice")
    with pytest.raises(GalleryError, match="no identity named 'Alice'"):
        gallery.get("Alice")
    gallery.rename("Bob", "Robert")
    assert gallery.names() == ["Robert"]
    gallery.add("Carol", unit(rng, 1), KEY)
    with pytest.raises(GalleryError, match="taken"):
        gallery.rename("Carol", "Robert")
    with pytest.raises(GalleryError, match="no identity named 'Nobody'"):
        gallery.rename("Nobody", "X")
    gallery.set_metadata("Carol", {"badge": 7})
    assert gallery.get("Carol").metadata == {"badge": 7}
    assert gallery.add("Carol", unit(rng, 3), KEY) == 4
    assert gallery.add("Carol", unit(rng, 1), KEY, replace=True) == 1
    query = gallery.embeddings(KEY, "Robert")[1][0]
    assert gallery.search(query, KEY)[0][0].name == "Robert"  # the cache followed the rename


def test_names_are_validated(where):
    assert validate_name("  Zoë  ") == "Zoë"
    assert validate_name("Ana\u0301") == "An\u00e1"  # NFC
    for bad, why in [
        ("", "empty"), ("   ", "empty"), ("a" * (MAX_NAME_LENGTH + 1), "at most 128"), ("a\nb", "U\\+000A"),
        ("tab\there", "U\\+0009"), ("esc\x1b[31m", "U\\+001B"), ("rtl\u202eoverride", "U\\+202E"), ("iso\u2067late", "U\\+2067"), (None, "string"),
    ]:
        with pytest.raises(GalleryError, match=why):
            validate_name(bad)
    gallery = Gallery(where("g"))
    with pytest.raises(GalleryError, match="empty"):
        gallery.add(" ", unit(np.random.default_rng(0), 1), KEY)
    assert len(gallery) == 0 and "" not in gallery


def test_bad_vectors_and_metadata_write_nothing(where):
    rng = np.random.default_rng(2)
    gallery = Gallery(where("g"))
    gallery.add("Alice", unit(rng, 1), KEY)
    bad_inputs = [
        (unit(rng, 1, dim=4), "4-d"),
        (np.full((1, 8), np.nan, np.float32), "NaN"),
        (np.zeros((1, 8), np.float32), "all-zero"),
        (np.zeros((0, 8), np.float32), "K >= 1"),
    ]
    for vectors, why in bad_inputs:
        with pytest.raises(GalleryError, match=why):
            gallery.add("Bob", vectors, KEY)
    with pytest.raises(GalleryError, match="JSON"):
        gallery.add("Bob", unit(rng, 1), KEY, metadata={"when": object()})
    with pytest.raises(GalleryError, match="sources"):
        gallery.add("Bob", unit(rng, 2), KEY, sources=["only one"])
    assert gallery.names() == ["Alice"] and gallery.models() == {KEY: 1}


def test_other_models_vectors_are_never_compared(where):
    rng = np.random.default_rng(3)
    gallery = Gallery(where("g"))
    gallery.add("Alice", unit(rng, 2), KEY)
    with pytest.raises(GalleryError, match=r"holds embeddings of toy-model@0123456789abcdef \(8-d\) only"):
        gallery.search(unit(rng, 1), OTHER)
    with pytest.raises(GalleryError, match=r"needs \(M, 16\)"):
        gallery.search(unit(rng, 1, dim=8), ModelKey("big", "v", 16))
    # a person enrolled with both models is found by each, each with its own vectors only
    gallery.add("Bob", unit(rng, 1), OTHER)
    assert [m.name for m in gallery.search(unit(rng, 1), OTHER, top_k=5)[0]] == ["Bob"]
    assert [m.name for m in gallery.search(unit(rng, 1), KEY, top_k=5)[0]] == ["Alice"]
    assert Gallery(where("empty")).search(unit(rng, 1), KEY) == [[]]  # empty gallery: no match, no error


def test_files_that_are_not_galleries(tmp_path):
    text = tmp_path / "notes.db"
    text.write_text("hello")
    with pytest.raises(GalleryError, match="notes.db: not a detectkit gallery"):
        Gallery(text)
    assert text.read_text() == "hello"
    other = tmp_path / "other.sqlite"
    with contextlib.closing(sqlite3.connect(other)) as conn, conn:
        conn.execute("CREATE TABLE invoices(id INTEGER)")
    with pytest.raises(GalleryError, match="not a detectkit gallery.*invoices"):
        Gallery(other)
    with pytest.raises(GalleryError, match="no such gallery"):
        Gallery(tmp_path / "missing.db", create=False)
    with pytest.raises(GalleryError, match="is a folder"):
        Gallery(tmp_path)
    newer = tmp_path / "newer.db"
    Gallery(newer).close()
    with contextlib.closing(sqlite3.connect(newer)) as conn, conn:
        conn.execute("INSERT INTO schema_version VALUES (?, 0, 'detectkit 99')", (SCHEMA_VERSION + 1,))
    with pytest.raises(GalleryError, match="newer detectkit"):
        Gallery(newer)
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    with Gallery(empty) as gallery:  # an empty file becomes a gallery
        assert len(gallery) == 0


def test_two_connections_see_each_others_writes(where):
    """The search cache follows other connections' commits (PRAGMA data_version; PostgreSQL's generation row)."""
    rng = np.random.default_rng(4)
    path = where("shared")
    reader, writer = Gallery(path), Gallery(path)
    writer.add("Alice", unit(rng, 1), KEY)
    query = unit(rng, 1)
    assert [m.name for m in reader.search(query, KEY, top_k=3)[0]] == ["Alice"]
    writer.add("Bob", unit(rng, 1), KEY)
    assert sorted(m.name for m in reader.search(query, KEY, top_k=3)[0]) == ["Alice", "Bob"]
    writer.remove("Alice")
    assert [m.name for m in reader.search(query, KEY, top_k=3)[0]] == ["Bob"]
    reader.close()
    writer.close()


def test_export_import_json_and_sqlite(tmp_path, where):
    rng = np.random.default_rng(5)
    source = Gallery(where("a"))
    source.add("Alice", unit(rng, 2), KEY, metadata={"x": 1}, sources=["p1", "p2"])
    source.add("Bob", unit(rng, 1), OTHER)
    for name in ("export.json", "export.db"):
        target_file = source.export(tmp_path / name)
        copy = Gallery(where(f"copy{name[-4:]}"))
        assert copy.import_from(target_file) == {"identities": 2, "embeddings": 3, "skipped": 0}
        assert [i.to_dict()["embeddings"] for i in copy.identities()] == [i.to_dict()["embeddings"] for i in source.identities()]
        assert copy.get("Alice").metadata == {"x": 1}
        np.testing.assert_array_equal(copy.embeddings(KEY)[1], source.embeddings(KEY)[1])
    data = json.loads((tmp_path / "export.json").read_text())
    assert data["format"] == "detectkit-gallery" and data["identities"][0]["embeddings"][0]["model_version"] == KEY.version

    target = Gallery(where("target"))
    target.add("Alice", unit(rng, 1), KEY)
    with pytest.raises(GalleryError, match="already in.*'Alice'.*nothing imported"):
        target.import_from(tmp_path / "export.json")
    assert target.names() == ["Alice"]  # nothing half-imported
    assert target.import_from(tmp_path / "export.json", on_conflict="skip")["skipped"] == 1
    assert target.get("Alice").n_embeddings == 1 and "Bob" in target
    target.import_from(tmp_path / "export.json", on_conflict="merge")
    assert target.get("Alice").n_embeddings == 3
    target.import_from(tmp_path / "export.json", on_conflict="replace")
    assert target.get("Alice").n_embeddings == 2 and target.get("Alice").metadata == {"x": 1}


def test_malformed_imports_change_nothing(tmp_path, where):
    rng = np.random.default_rng(6)
    good = Gallery(":memory:")
    good.add("Alice", unit(rng, 1), KEY)
    good.add("Bob", unit(rng, 1), KEY)
    data = export_dict(good.store)
    target = Gallery(where("target"))
    target.add("Zed", unit(rng, 1), KEY)
    cases = {
        "format": ({**data, "format": "other"}, "not a detectkit gallery export"),
        "name": ({**data, "identities": [data["identities"][0], {**data["identities"][1], "name": "bad\nname"}]}, "identity #2"),
        "vector": (
            {**data, "identities": [{**data["identities"][0], "embeddings": [{**data["identities"][0]["embeddings"][0], "vector": "AAAA"}]}]},
            "8-d vector of 3 bytes",
        ),
        "newer": ({**data, "schema_version": SCHEMA_VERSION + 1}, "newer detectkit"),
    }
    for name, (content, why) in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(content))
        with pytest.raises(GalleryError, match=why):
            target.import_from(path)
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(GalleryError, match="neither a gallery database nor"):
        target.import_from(tmp_path / "junk.json")
    assert target.names() == ["Zed"]


# --------------------------------------------------------------------------- processes
_WRITER = textwrap.dedent(
    """
    import sys, numpy as np
    from detectkit.faces.gallery import Gallery
    from detectkit.faces.model_key import ModelKey
    path, prefix, count, per = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    key = ModelKey("toy-model", "0123456789abcdef", 8)
    rng = np.random.default_rng(abs(hash(prefix)) % 1000)
    gallery = Gallery(path, timeout=60)
    print("ready", flush=True)
    for i in range(count):
        v = rng.standard_normal((per, 8)).astype(np.float32)
        gallery.add(f"{prefix}{i}", v, key, metadata={"i": i})
        print(f"{prefix}{i}", flush=True)  # printed only after the enrolment committed
    gallery.close()
    """
)


def _writer(path: Path | str, prefix: str, count: int, per: int = 3) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path), prefix, str(count), str(per)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def test_concurrent_readers_and_writers(where):
    """Two writer processes at once, and readers that never see a half-written enrolment."""
    path = where("busy")
    Gallery(path).close()
    writers = [_writer(path, "p", 25), _writer(path, "q", 25)]
    seen_partial, errors, rounds = [], [], [0]
    stop = threading.Event()

    def read() -> None:
        try:
            with Gallery(path) as gallery:
                query = np.ones(8, np.float32)
                while not stop.is_set():
                    for person in gallery.identities():
                        if person.n_embeddings != 3:
                            seen_partial.append(person)
                    gallery.search(query, KEY, top_k=3) if len(gallery) else None
                    rounds[0] += 1
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for t in readers:
        t.start()
    outputs = [w.communicate(timeout=120) for w in writers]
    stop.set()
    for t in readers:
        t.join(timeout=30)
    for w, (out, err) in zip(writers, outputs):
        assert w.returncode == 0, err
    assert not errors and not seen_partial and rounds[0] > 0
    with Gallery(path) as gallery:
        assert len(gallery) == 50 and all(p.n_embeddings == 3 for p in gallery.identities())


def test_writer_killed_at_random_points_loses_no_returned_enrolment(where):
    """SIGKILL a process in the middle of enrolling, several times: every enrolment it reported
    (it prints after the commit) is there, complete, and the gallery opens and checks out."""
    path = where("killed")
    rng = np.random.default_rng(7)
    reported: list[str] = []
    unreported: set[str] = set()  # per round, the one enrolment that may have committed unreported
    for round_ in range(4):
        proc = _writer(path, f"r{round_}-", 100_000)
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + float(rng.uniform(0.05, 0.5))
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(line.strip() for line in proc.stdout))
        reader.start()
        while time.monotonic() < deadline:
            time.sleep(0.01)
        proc.kill()  # SIGKILL on POSIX (TerminateProcess on Windows): no clean-up runs
        proc.wait(timeout=30)
        reader.join(timeout=30)
        assert proc.returncode == (-signal.SIGKILL if os.name == "posix" else 1)
        reported += [line for line in lines if line]
        unreported.add(f"r{round_}-{len(lines)}")
        with Gallery(path) as gallery:  # opens after every kill
            assert gallery.integrity_check() == "ok"
            people = {p.name: p for p in gallery.identities()}
            missing = [name for name in reported if name not in people]
            assert not missing, f"{len(missing)} reported enrolments lost, e.g. {missing[:3]}"
            assert all(p.n_embeddings == 3 for p in people.values())  # none half-written
            assert set(people) - set(reported) <= unreported
    assert len(reported) > 4


# --------------------------------------------------------------------------- faiss
@pytest.mark.skipif(not faiss_available(), reason="faiss is not installed (extra 'faiss')")
def test_faiss_flat_gives_the_same_results_as_exact_search():
    rng = np.random.default_rng(8)
    vectors = unit(rng, 300, dim=64)
    owners = rng.integers(0, 120, 300)
    queries = unit(rng, 40, dim=64)
    exact_owners, exact_sims = ExactIndex(vectors, owners).search(queries, k=5)
    faiss_owners, faiss_sims = FaissIndex(vectors, owners).search(queries, k=5)
    np.testing.assert_array_equal(faiss_owners, exact_owners)
    np.testing.assert_allclose(faiss_sims, exact_sims, atol=1e-5)
    with Gallery(":memory:", index="faiss") as g_faiss, Gallery(":memory:") as g_exact:
        key = ModelKey("toy", "v", 64)
        for owner in np.unique(owners):
            g_faiss.add(f"id{owner}", vectors[owners == owner], key)
            g_exact.add(f"id{owner}", vectors[owners == owner], key)
        a, sa = g_faiss.search_arrays(queries, key, 3)
        b, sb = g_exact.search_arrays(queries, key, 3)
        assert a.tolist() == b.tolist()
        np.testing.assert_allclose(sa, sb, atol=1e-5)


@pytest.mark.skipif(not faiss_available(), reason="faiss is not installed (extra 'faiss')")
def test_faiss_ivf_finds_the_exact_best_on_clustered_vectors():
    """IVF (approximate) on 20k vectors with structure, queries near stored vectors: recall@1 >= 0.99."""
    rng = np.random.default_rng(9)
    dim, n = 64, 20_000
    centres = unit(rng, 200, dim)
    vectors = centres[rng.integers(0, 200, n)] + 0.35 * unit(rng, n, dim)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    picked = rng.choice(n, 200, replace=False)
    queries = vectors[picked] + 0.5 * unit(rng, 200, dim)
    index = FaissIndex(vectors, np.arange(n), exact_below=1000, nprobe=16)
    assert index.kind == "faiss-ivf"
    exact = ExactIndex(vectors, np.arange(n)).search(queries, 1)[0][:, 0]
    approx = index.search(queries, 1)[0][:, 0]
    assert np.mean(approx == exact) >= 0.99


def test_add_many_is_all_or_nothing(where):
    rng = np.random.default_rng(10)
    gallery = Gallery(where("g"))
    assert gallery.add_many([("A", unit(rng, 2)), ("B", unit(rng, 1)), ("A", unit(rng, 1))], KEY) == 2
    assert gallery.get("A").n_embeddings == 3 and gallery.get("B").n_embeddings == 1
    with pytest.raises(GalleryError, match="embeddings of 'D'.*NaN"):
        gallery.add_many([("C", unit(rng, 1)), ("D", np.full((1, 8), np.nan))], KEY)
    assert gallery.names() == ["A", "B"]
    gallery.add_many([("A", unit(rng, 1))], KEY, replace=True)
    assert gallery.get("A").n_embeddings == 1


def test_two_processes_enrolling_the_same_people_keep_both_sets(where):
    """Two writers enrol the same 15 names at once: the unique name never fails a write,
    and every person ends with both processes' vectors (3 + 3)."""
    path = where("same")
    Gallery(path).close()
    first, second = _writer(path, "same", 15), _writer(path, "same", 15)
    for proc in (first, second):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    with Gallery(path) as gallery:
        people = gallery.identities()
        assert len(people) == 15 and {p.n_embeddings for p in people} == {6}
        assert all(p.metadata == {"i": int(p.name[4:])} for p in people)


def test_a_writer_that_cannot_get_the_lock_fails_cleanly(backend, where):
    """Another client holds the write lock: ``add`` waits ``timeout`` seconds, then says so; nothing is written."""
    rng = np.random.default_rng(11)
    path = where("locked")
    with Gallery(path) as gallery:
        gallery.add("Alice", unit(rng, 1), KEY)
    if backend == "sqlite":
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
    else:
        import psycopg

        from detectkit.faces.gallery_postgres import parse_location

        conninfo, schema = parse_location(str(path))
        holder = psycopg.connect(conninfo)  # a transaction is open until commit/rollback
        holder.execute(f"LOCK TABLE {schema}.identities IN EXCLUSIVE MODE")
    try:
        with Gallery(path, timeout=0.5) as gallery:
            with pytest.raises(GalleryError, match="could not lock the gallery for writing within 0.5 s"):
                gallery.add("Bob", unit(rng, 1), KEY)
    finally:
        holder.rollback() if backend == "postgres" else holder.execute("ROLLBACK")
        holder.close()
    with Gallery(path) as gallery:
        assert gallery.names() == ["Alice"]
        gallery.add("Bob", unit(rng, 1), KEY)  # the lock is free again
        assert gallery.names() == ["Alice", "Bob"]


@pytest.mark.parametrize("top_k", [0, -1, True, 1.5, "2"])
def test_search_refuses_a_top_k_that_is_not_a_whole_number_of_at_least_one(top_k):
    from detectkit.errors import ModelError

    with Gallery(":memory:") as gallery:
        gallery.add("Alice", unit(np.random.default_rng(0), 1), KEY)
        with pytest.raises(ModelError, match="top_k must be a whole number of at least 1"):
            gallery.search_arrays(unit(np.random.default_rng(1), 1), KEY, top_k=top_k)
        names, _ = gallery.search_arrays(unit(np.random.default_rng(1), 1), KEY, top_k=np.int64(1))
        assert names.tolist() == [["Alice"]]


def test_server_search_of_an_empty_batch_finds_nothing_and_a_foreign_gallery_is_refused(postgres_url):
    """PostgreSQL's own search (``hnsw``/``scan``): no queries, no answer, even from a gallery enrolled
    with another model; a real query names the model it holds."""
    import uuid

    from gallery_backends import schema_url

    with Gallery(schema_url(postgres_url, f"t_{uuid.uuid4().hex[:10]}_foreign"), index="scan") as gallery:
        gallery.add("Bob", unit(np.random.default_rng(0), 2), OTHER)
        names, sims = gallery.search_arrays(np.zeros((0, 8), np.float32), KEY, top_k=2)
        assert names.shape == sims.shape == (0, 2)
        with pytest.raises(GalleryError, match="holds embeddings of .*fedcba98.* only"):
            gallery.search_arrays(unit(np.random.default_rng(1), 1), KEY)
