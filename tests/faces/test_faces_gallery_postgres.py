"""The PostgreSQL + pgvector gallery beyond what both engines share: server search (HNSW and
exact scan) against NumPy, one HNSW index per model key and the planner using it, schemas
that are not galleries, and moving galleries SQLite <-> PostgreSQL (API and CLI)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from detectkit.cli import main
from detectkit.errors import GalleryError
from detectkit.faces import Gallery, ModelKey
from detectkit.faces.gallery_postgres import index_name
from detectkit.faces.gallery_sqlite import SCHEMA_VERSION
from detectkit.faces.gallery_store import redact
from gallery_backends import postgres_url, schema_url  # noqa: F401  (fixture)

KEY = ModelKey("toy-model", "0123456789abcdef", 32)
SMALL = ModelKey("tiny", "v1", 8)


def unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture()
def url(postgres_url, request) -> str:
    return schema_url(postgres_url, "p_" + "".join(c for c in request.node.name if c.isalnum()).lower()[:40])


def _enrol(gallery: Gallery, vectors: np.ndarray, owners: np.ndarray, key: ModelKey) -> None:
    for owner in np.unique(owners):
        gallery.add(f"id{owner:03d}", vectors[owners == owner], key)


def test_server_search_hnsw_and_scan_agree_with_numpy(url):
    rng = np.random.default_rng(0)
    vectors, owners = unit(rng, 600, 32), rng.integers(0, 200, 600)
    queries = unit(rng, 60, 32)
    with Gallery(url) as exact:
        _enrol(exact, vectors, owners, KEY)
        want_names, want_sims = exact.search_arrays(queries, KEY, top_k=3)
    with Gallery(url, index="scan") as scan:
        names, sims = scan.search_arrays(queries, KEY, top_k=3)
        assert names.tolist() == want_names.tolist()  # exact in the server: the same people, same order
        np.testing.assert_allclose(sims, want_sims, atol=1e-5)
    with Gallery(url, index="hnsw", index_options={"ef_search": 200}) as hnsw:
        names, sims = hnsw.search_arrays(queries, KEY, top_k=3)
        recall = float(np.mean(names[:, 0] == want_names[:, 0]))
        assert recall >= 0.95, recall  # approximate, but ef_search 200 over 600 vectors misses almost nothing
        hit = names[:, 0] == want_names[:, 0]
        np.testing.assert_allclose(sims[hit, 0], want_sims[hit, 0], atol=1e-5)
        # people, not vectors: top_k lists distinct names, each with their best vector's similarity
        assert all(len(set(row)) == 3 for row in names.tolist())
        with pytest.raises(GalleryError, match="holds embeddings of toy-model@0123456789abcdef"):
            hnsw.search(unit(rng, 1, 8), SMALL)


def test_each_model_key_has_its_own_hnsw_index_and_the_planner_uses_it(url):
    rng = np.random.default_rng(1)
    with Gallery(url) as gallery:
        gallery.add("Ann", unit(rng, 2, 32), KEY)
        gallery.add("Ann", unit(rng, 1, 8), SMALL)
        gallery.add_many([(f"p{i}", unit(rng, 1, 8)) for i in range(50)], SMALL)
        store = gallery.store
        rows = store._transact(lambda cur: cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s", (store.schema,)).fetchall(), write=False)
        indexes = {name for name, definition in rows if "USING hnsw" in definition}
        assert indexes == {index_name(KEY), index_name(SMALL)}
        assert index_name(SMALL) in store.explain(unit(rng, 1, 8)[0], SMALL, kind="hnsw")
        assert index_name(SMALL) not in store.explain(unit(rng, 1, 8)[0], SMALL, kind="scan")
        assert store.create_index(SMALL, m=8, ef_construction=32) >= 0.0
        assert index_name(SMALL) in store.explain(unit(rng, 1, 8)[0], SMALL, kind="hnsw")
        sizes = store.sizes()
        assert sizes["embeddings"] > 0 and sizes[index_name(SMALL)] > 0
        assert gallery.integrity_check() == "ok"


def test_schemas_that_are_not_galleries(postgres_url, tmp_path):
    import psycopg

    plain_url = postgres_url
    with psycopg.connect(plain_url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS billing CASCADE")
        conn.execute("CREATE SCHEMA billing")
        conn.execute("CREATE TABLE billing.invoices (id integer)")
    with pytest.raises(GalleryError, match=r"not a detectkit gallery \(its tables: invoices\)"):
        Gallery(schema_url(plain_url, "billing"))
    with pytest.raises(GalleryError, match="no such gallery"):
        Gallery(schema_url(plain_url, "nobody_here"), create=False)
    newer = schema_url(plain_url, "from_the_future")
    Gallery(newer).close()
    with psycopg.connect(plain_url, autocommit=True) as conn:
        conn.execute("INSERT INTO from_the_future.schema_version VALUES (%s, 0, 'detectkit 99')", (SCHEMA_VERSION + 1,))
    with pytest.raises(GalleryError, match="newer detectkit"):
        Gallery(newer)
    with pytest.raises(GalleryError, match="schema 'bad;name'"):
        Gallery(schema_url(plain_url, "bad;name"))
    with pytest.raises(GalleryError, match="cannot connect to the gallery server"):
        Gallery("postgresql://nobody@127.0.0.1:1/none", timeout=2)
    with pytest.raises(GalleryError, match="no gallery store for 'mongodb://'.*postgresql, sqlite"):
        Gallery("mongodb://host/db")
    with pytest.raises(GalleryError, match="index='hnsw' is a search in a PostgreSQL server"):
        Gallery(tmp_path / "local.db", index="hnsw")
    assert not (tmp_path / "local.db").exists()  # refused before any file is made
    with pytest.raises(GalleryError, match=":\\*\\*\\*@"):  # a password never reaches a message
        Gallery("postgresql://me:s3cret@127.0.0.1:1/none", timeout=2)


def test_export_import_round_trip_sqlite_postgres_both_ways(url, tmp_path):
    rng = np.random.default_rng(2)
    local = Gallery(tmp_path / "local.db")
    local.add("Alice", unit(rng, 3, 32), KEY, metadata={"team": "red"}, sources=["a1", "a2", "a3"])
    local.add("Bob", unit(rng, 1, 8), SMALL)
    local.add("Zoë", unit(rng, 2, 32), KEY)

    def same(a: Gallery, b: Gallery) -> None:
        assert [p.to_dict() | {"updated_at": 0} for p in a.identities()] == [p.to_dict() | {"updated_at": 0} for p in b.identities()]
        for key in (KEY, SMALL):
            names_a, vectors_a = a.embeddings(key)
            names_b, vectors_b = b.embeddings(key)
            assert names_a == names_b
            np.testing.assert_array_equal(vectors_a, vectors_b)  # float32 kept bit for bit

    assert local.export(url) == redact(url)  # SQLite -> PostgreSQL, one transaction (password hidden)
    with Gallery(url) as remote:
        same(local, remote)
        assert remote.store.dump()[0].embeddings[0].source == "a1"
        for name in ("back.json", "back.db"):  # PostgreSQL -> JSON file / SQLite file
            target = remote.export(tmp_path / name)
            with Gallery(tmp_path / f"again-{name}.db") as again:
                assert again.import_from(target) == {"identities": 3, "embeddings": 6, "skipped": 0}
                same(remote, again)
        with pytest.raises(GalleryError, match="already in.*'Alice'.*nothing imported"):
            remote.import_from(tmp_path / "local.db")
        assert remote.import_from(tmp_path / "local.db", on_conflict="merge")["embeddings"] == 6
        assert remote.get("Alice").n_embeddings == 6
    with Gallery(tmp_path / "pulled.db") as pulled:  # a gallery URL as the import source
        assert pulled.import_from(url)["identities"] == 3
        assert pulled.get("Alice").n_embeddings == 6


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_on_a_postgresql_gallery(url, tmp_path, capsys, astronaut, facenet_file):
    """Every ``detectkit faces`` command takes ``--db postgresql://...``; export/import move it to SQLite and back."""
    import cv2

    photo = tmp_path / "eileen.png"
    cv2.imwrite(str(photo), cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA))
    model = ["--db", url, "--weights", str(facenet_file), "--device", "cpu"]
    code, out, _ = run(capsys, "faces", "enroll", "Eileen Collins", str(photo), "--meta", "role=pilot", *model)
    assert code == 0 and "1 face(s) enrolled" in out
    code, out, _ = run(capsys, "faces", "verify", str(photo), "Eileen Collins", *model)
    assert code == 0 and out.startswith(f"{photo}: yes, Eileen Collins (similarity 1.000")
    code, out, _ = run(capsys, "faces", "identify", str(photo), "--json", *model)
    assert json.loads(out)["faces"][0]["identity"] == "Eileen Collins"
    assert run(capsys, "faces", "rename", "Eileen Collins", "Eileen", "--db", url)[0] == 0
    local = tmp_path / "copy.db"
    code, out, _ = run(capsys, "faces", "export", str(local), "--db", url)
    assert code == 0 and "exported 1 people" in out
    code, out, _ = run(capsys, "faces", "list", "--db", str(local), "--json")
    listed = json.loads(out)
    assert [p["name"] for p in listed] == ["Eileen"] and listed[0]["metadata"] == {"role": "pilot"}
    code, out, _ = run(capsys, "faces", "remove", "Eileen", "--db", url)
    assert code == 0 and "removed Eileen (1 embeddings)" in out
    code, out, _ = run(capsys, "faces", "list", "--db", url)
    assert code == 0 and "nobody enrolled" in out
    code, out, _ = run(capsys, "faces", "import", str(local), "--db", url)
    assert code == 0 and "imported 1 people" in out
    code, out, _ = run(capsys, "faces", "verify", str(photo), "Eileen", *model)
    assert code == 0
    code, _, err = run(capsys, "faces", "import", str(photo), "--db", url)
    assert code == 1 and "neither a gallery database nor a gallery JSON export" in err


def test_a_dropped_connection_is_reopened(url):
    """The server ends the gallery's session (a restart, a failover): reads carry on; a write in
    flight is reported, and the next one goes through on a new connection."""
    import psycopg

    rng = np.random.default_rng(3)
    with Gallery(url) as gallery:
        gallery.add("Ann", unit(rng, 1, 32), KEY)
        conninfo = gallery.store._conninfo

        def kill_session() -> None:
            pid = gallery.store._conn.info.backend_pid
            with psycopg.connect(conninfo, autocommit=True) as admin:
                assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0] is True
            time.sleep(0.2)

        kill_session()
        assert gallery.names() == ["Ann"]  # the read ran again on a new session
        kill_session()
        with pytest.raises(GalleryError, match="lost the connection to the server, the write may not have been saved"):
            gallery.add("Bob", unit(rng, 1, 32), KEY)
        assert gallery.add("Bob", unit(rng, 1, 32), KEY) == 1
        assert gallery.names() == ["Ann", "Bob"]
