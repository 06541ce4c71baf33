"""Gallery files that are not what they claim (issue 17, items 3-7): refused without a byte changed, or read without writing.

* a foreign SQLite file (another application's database, a newer detectkit's gallery) is refused
  before any write: the file and its ``-wal``/``-shm`` are byte-identical afterwards, and no file appears;
* a gallery the process may not write (read-only file or folder, or ``read_only=True``) opens for
  ``names()``/``search``/``get`` and refuses writes with a GalleryError that says why (permissions);
* a malformed or hostile export file (``"schema_version": "abc"``, wrong types, 100,000-deep json)
  is a GalleryError naming the file, and the gallery is unchanged;
* names made only of invisible characters are refused like empty ones;
* a gallery cannot import its own file (it would duplicate every embedding).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pytest

from detectkit.errors import GalleryError
from detectkit.faces import Gallery, ModelKey
from detectkit.faces.gallery import SCHEMA_VERSION, validate_name
from gallery_backends import backend, postgres_url, where  # noqa: F401  (fixtures)

KEY = ModelKey("toy-model", "0123456789abcdef", 4)
REPO = Path(__file__).resolve().parents[2]
DEEP = 100_000


def _unit(seed: int, n: int = 1) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, KEY.dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _state(path: Path) -> dict[str, str | None]:
    """SHA-256 of the file and its -wal/-shm (None: absent), and the folder's listing."""
    out: dict[str, Any] = {}
    for suffix in ("", "-wal", "-shm", "-journal"):
        part = Path(f"{path}{suffix}")
        out[suffix or "db"] = hashlib.sha256(part.read_bytes()).hexdigest() if part.exists() else None
    out["folder"] = sorted(p.name for p in path.parent.iterdir())
    return out


# ----------------------------------------------------------------------------- item 3: foreign SQLite files
def _foreign_rollback(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("CREATE TABLE invoices(id INTEGER PRIMARY KEY, total REAL)")
        conn.execute("INSERT INTO invoices(total) VALUES (12.5)")


def _foreign_wal(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        with conn:
            conn.execute("CREATE TABLE notes(body TEXT)")
            conn.execute("INSERT INTO notes VALUES ('keep me')")


def _foreign_with_a_schema_version_table(path: Path) -> None:
    """Another app that also keeps a ``schema_version`` table (but no identities/embeddings)."""
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("CREATE TABLE schema_version(version INTEGER, created_at REAL, created_by TEXT)")
        conn.execute("INSERT INTO schema_version VALUES (1, 0, 'other-app')")
        conn.execute("CREATE TABLE users(name TEXT)")


def _foreign_application_id_no_tables(path: Path) -> None:
    """An empty database another application has marked as its own (PRAGMA application_id)."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA application_id = 1234")
        conn.execute("PRAGMA user_version = 3")


def _newer_gallery(path: Path) -> None:
    Gallery(path).close()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        with conn:
            conn.execute("INSERT INTO schema_version VALUES (?, 0, 'detectkit 99')", (SCHEMA_VERSION + 1,))
        assert conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0] == "delete"  # as a copied/exported file is


FOREIGN = [
    pytest.param(_foreign_rollback, "not a detectkit gallery", id="rollback-journal-app"),
    pytest.param(_foreign_wal, "not a detectkit gallery", id="wal-app"),
    pytest.param(_foreign_with_a_schema_version_table, "missing tables", id="app-with-schema_version-table"),
    pytest.param(_foreign_application_id_no_tables, "not a detectkit gallery", id="app-id-of-another-app"),
    pytest.param(_newer_gallery, "newer detectkit", id="newer-gallery"),
]


@pytest.mark.parametrize("make, words", FOREIGN)
def test_a_foreign_sqlite_file_is_refused_byte_identical(tmp_path: Path, make: Callable[[Path], None], words: str) -> None:
    path = tmp_path / "other-app.db"
    make(path)
    before = _state(path)
    for opening in (lambda: Gallery(path), lambda: Gallery(path, create=False), lambda: Gallery(":memory:").import_from(path)):
        with pytest.raises(GalleryError, match=words) as caught:
            opening()
        assert str(path) in str(caught.value)
        assert _state(path) == before  # the file, its -wal/-shm, and the folder: nothing written, nothing made


def test_a_foreign_wal_file_that_another_process_holds_open_is_refused_unchanged(tmp_path: Path) -> None:
    """Its -wal and -shm exist (the other app is running): the database and its WAL stay byte-identical."""
    path = tmp_path / "live-app.db"
    _foreign_wal(path)
    with contextlib.closing(sqlite3.connect(path)) as other:
        with other:
            other.execute("INSERT INTO notes VALUES ('uncheckpointed')")  # lives in the -wal only
        before = _state(path)
        with pytest.raises(GalleryError, match="not a detectkit gallery"):
            Gallery(path)
        after = _state(path)
        assert {k: after[k] for k in ("db", "-wal", "folder")} == {k: before[k] for k in ("db", "-wal", "folder")}
        assert other.execute("SELECT body FROM notes ORDER BY rowid").fetchall() == [("keep me",), ("uncheckpointed",)]


def test_an_empty_sqlite_file_still_becomes_a_gallery(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA user_version = 0")  # a valid database with no tables and no application id
    with Gallery(path) as gallery:
        gallery.add("Ann", _unit(0), KEY)
    with Gallery(path) as gallery:
        assert gallery.names() == ["Ann"]


# ----------------------------------------------------------------------------- item 4: read-only galleries
def _gallery_with_people(path: Path) -> None:
    with Gallery(path) as gallery:
        gallery.add("Ann", _unit(1, 2), KEY, metadata={"desk": 4})
        gallery.add("Bob", _unit(2), KEY)


_READER = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from detectkit.errors import GalleryError
    from detectkit.faces import Gallery, ModelKey
    key = ModelKey("toy-model", "0123456789abcdef", 4)
    path, query, read_only = sys.argv[1], np.array(json.loads(sys.argv[2]), np.float32), sys.argv[3] == "1"
    out = {}
    with Gallery(path, **({"read_only": True} if read_only else {})) as gallery:
        out["names"] = gallery.names()
        out["match"] = [(m.name, round(m.similarity, 4)) for m in gallery.search(query, key, top_k=1)[0]]
        out["ann"] = gallery.get("Ann").metadata
        out["ann_vectors"] = int(gallery.embeddings(key, "Ann")[1].shape[0])
        out["refused"] = {}
        for what, write in {
            "add": lambda: gallery.add("Cy", query, key),
            "remove": lambda: gallery.remove("Bob"),
            "rename": lambda: gallery.rename("Bob", "Rob"),
            "set_metadata": lambda: gallery.set_metadata("Ann", {"desk": 5}),
        }.items():
            try:
                write()
                out["refused"][what] = None
            except GalleryError as exc:
                out["refused"][what] = str(exc)
        out["names_after"] = gallery.names()
    print(json.dumps(out))
    """
)


def _without_root_powers() -> list[str] | None:
    """A command prefix under which permission bits apply (root loses CAP_DAC_OVERRIDE); None when none works."""
    if os.name != "posix":
        return None
    if os.geteuid() != 0:
        return []  # permission bits already apply
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    prefix = [setpriv, "--bounding-set", "-dac_override,-dac_read_search,-fowner"]
    with tempfile.NamedTemporaryFile() as locked:
        os.chmod(locked.name, 0o444)
        probe = subprocess.run([*prefix, sys.executable, "-c", f"import os; print(os.access({locked.name!r}, os.W_OK))"],
                               capture_output=True, text=True)
    return prefix if probe.returncode == 0 and probe.stdout.strip() == "False" else None


@pytest.fixture()
def shared_tmp() -> Iterator[Path]:
    """A folder outside pytest's 0700 tmp tree (the child process may lack the powers to enter that one)."""
    folder = Path(tempfile.mkdtemp(prefix="detectkit-ro-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for part in [folder, *folder.rglob("*")]:
            with contextlib.suppress(OSError):
                part.chmod(0o755 if part.is_dir() else 0o644)
        shutil.rmtree(folder, ignore_errors=True)


def _read_as_reader(path: Path, prefix: list[str], read_only: bool = False) -> dict[str, Any]:
    query = _unit(1, 2)[0:1].tolist()
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([*prefix, sys.executable, "-c", _READER, str(path), json.dumps(query), "1" if read_only else "0"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _assert_read_and_refused(result: dict[str, Any], why: str) -> None:
    assert result["names"] == ["Ann", "Bob"] and result["names_after"] == ["Ann", "Bob"]
    assert result["match"][0][0] == "Ann" and result["match"][0][1] == pytest.approx(1.0, abs=1e-4)
    assert result["ann"] == {"desk": 4} and result["ann_vectors"] == 2
    for what, message in result["refused"].items():
        assert message is not None, f"{what} was allowed on a read-only gallery"
        assert "read-only" in message and "writes are refused" in message and why in message, message


@pytest.mark.parametrize("lock", ["file", "folder"])
def test_a_gallery_the_process_may_not_write_opens_read_only(shared_tmp: Path, lock: str) -> None:
    prefix = _without_root_powers()
    if prefix is None:
        pytest.skip("running as root without setpriv (util-linux) to drop CAP_DAC_OVERRIDE: permission bits "
                    "cannot be made to apply; the read_only=True test covers the read-only code path")
    folder = shared_tmp / "app"
    folder.mkdir(mode=0o755)
    path = folder / "people.db"
    _gallery_with_people(path)
    path.chmod(0o444)
    if lock == "folder":
        folder.chmod(0o555)
    before = _state(path)
    result = _read_as_reader(path, prefix)
    _assert_read_and_refused(result, "permission")
    assert _state(path) == before  # no -wal/-shm left behind, nothing written


def test_read_only_true_reads_and_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "gallery" / "people.db"
    _gallery_with_people(path)
    before = _state(path)
    _assert_read_and_refused(_read_as_reader(path, [], read_only=True), "read_only=True")
    assert _state(path) == before
    other = Gallery(":memory:")
    other.add("Dee", _unit(6), KEY)
    export = other.export(tmp_path / "out" / "dee.json")
    with Gallery(path, read_only=True) as gallery:
        with pytest.raises(GalleryError, match="read-only"):
            gallery.import_from(export)
        assert gallery.export(tmp_path / "out" / "copy.json").is_file()  # reading it all is allowed
    assert _state(path) == before
    with Gallery(path) as gallery:  # and it is still an ordinary, writable gallery
        gallery.add("Cy", _unit(3), KEY)
        assert gallery.names() == ["Ann", "Bob", "Cy"]


def test_a_read_only_gallery_sees_what_a_live_writer_committed(tmp_path: Path) -> None:
    """With the writer's -wal/-shm present, the read-only reader follows its commits (no stale snapshot)."""
    path = tmp_path / "people.db"
    _gallery_with_people(path)
    with Gallery(path) as writer, Gallery(path, read_only=True) as reader:
        assert reader.names() == ["Ann", "Bob"]
        writer.add("Cy", _unit(3), KEY)
        assert reader.names() == ["Ann", "Bob", "Cy"]
        assert reader.search(_unit(3), KEY)[0][0].name == "Cy"


def test_read_only_missing_file_is_not_created(tmp_path: Path) -> None:
    with pytest.raises(GalleryError, match="no such gallery"):
        Gallery(tmp_path / "missing.db", read_only=True)
    assert not (tmp_path / "missing.db").exists()


# ----------------------------------------------------------------------------- item 5: malformed export files
def _good_export(tmp_path: Path) -> dict[str, Any]:
    source = Gallery(":memory:")
    source.add("Ann", _unit(4, 2), KEY, metadata={"desk": 4})
    source.add("Bob", _unit(5), KEY)
    return json.loads(source.export(tmp_path / "good.json").read_text())


def _edit(path: tuple, value: Any) -> Callable[[dict], Any]:
    def change(data: dict) -> dict:
        where: Any = data
        for key in path[:-1]:
            where = where[key]
        where[path[-1]] = value
        return data
    return change


def _drop(path: tuple) -> Callable[[dict], Any]:
    def change(data: dict) -> dict:
        where: Any = data
        for key in path[:-1]:
            where = where[key]
        del where[path[-1]]
        return data
    return change


E = ("identities", 0, "embeddings", 0)
BAD_EXPORTS = [
    ("schema-version-text", _edit(("schema_version",), "abc"), "schema_version"),
    ("schema-version-list", _edit(("schema_version",), [1]), "schema_version"),
    ("schema-version-float", _edit(("schema_version",), 1.5), "schema_version"),
    ("schema-version-bool", _edit(("schema_version",), True), "schema_version"),
    ("schema-version-null", _edit(("schema_version",), None), "schema_version"),
    ("schema-version-zero", _edit(("schema_version",), 0), "schema_version"),
    ("schema-version-missing", _drop(("schema_version",)), "schema_version"),
    ("top-level-a-list", lambda d: [d], "not a detectkit gallery export"),
    ("top-level-a-string", lambda d: "detectkit-gallery", "not a detectkit gallery export"),
    ("format-a-list", _edit(("format",), ["detectkit-gallery"]), "not a detectkit gallery export"),
    ("identities-a-string", _edit(("identities",), "Ann"), "'identities'"),
    ("identities-a-dict", _edit(("identities",), {"name": "Ann"}), "'identities'"),
    ("identities-a-number", _edit(("identities",), 3), "'identities'"),
    ("identity-a-list", _edit(("identities", 0), ["Ann"]), "identity #1"),
    ("identity-null", _edit(("identities", 0), None), "identity #1"),
    ("name-null", _edit(("identities", 0, "name"), None), "identity #1"),
    ("name-a-number", _edit(("identities", 0, "name"), 7), "identity #1"),
    ("name-empty", _edit(("identities", 0, "name"), ""), "empty"),
    ("name-zero-width", _edit(("identities", 0, "name"), "\u200b\u2060"), "invisible"),
    ("name-bom", _edit(("identities", 0, "name"), "\ufeff"), "invisible"),
    ("name-newline", _edit(("identities", 0, "name"), "A\nnn"), "control character"),
    ("name-duplicate", _edit(("identities", 1, "name"), "Ann"), "duplicate"),
    ("metadata-a-list", _edit(("identities", 0, "metadata"), [1, 2]), "metadata"),
    ("metadata-a-string", _edit(("identities", 0, "metadata"), "desk 4"), "metadata"),
    ("embeddings-a-string", _edit(("identities", 0, "embeddings"), "AAAA"), "'embeddings'"),
    ("embeddings-a-dict", _edit(("identities", 0, "embeddings"), {"dim": 4}), "'embeddings'"),
    ("embedding-a-list", _edit(E, [1, 2, 3, 4]), "embedding #1"),
    ("embedding-null", _edit(E, None), "embedding #1"),
    ("model-name-missing", _drop((*E, "model_name")), "model_name"),
    ("model-name-null", _edit((*E, "model_name"), None), "model_name"),
    ("model-name-a-list", _edit((*E, "model_name"), ["toy"]), "model_name"),
    ("model-version-empty", _edit((*E, "model_version"), ""), "model_version"),
    ("dim-text", _edit((*E, "dim"), "abc"), "'dim'"),
    ("dim-float", _edit((*E, "dim"), 4.5), "'dim'"),
    ("dim-bool", _edit((*E, "dim"), True), "'dim'"),
    ("dim-negative", _edit((*E, "dim"), -4), "'dim'"),
    ("dim-huge", _edit((*E, "dim"), 10**30), "'dim'"),
    ("dim-wrong", _edit((*E, "dim"), 8), "8-d vector of 16 bytes"),
    ("vector-not-base64", _edit((*E, "vector"), "not base64!"), "vector"),
    ("vector-a-number", _edit((*E, "vector"), 12), "vector"),
    ("vector-a-list", _edit((*E, "vector"), [0.5, 0.5, 0.5, 0.5]), "vector"),
    ("vector-short", _edit((*E, "vector"), "AAAA"), "4-d vector of 3 bytes"),
    ("vector-nan", _edit((*E, "vector"), "AADAfwAAwH8AAMB/AADAfw=="), "not finite and unit-length"),
    ("vector-zero", _edit((*E, "vector"), "AAAAAAAAAAAAAAAAAAAAAA=="), "not finite and unit-length"),
]


@pytest.mark.parametrize("change, words", [pytest.param(c, w, id=i) for i, c, w in BAD_EXPORTS])
def test_a_malformed_export_is_a_gallery_error_and_changes_nothing(tmp_path: Path, change, words: str) -> None:
    data = change(copy.deepcopy(_good_export(tmp_path)))
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    target_path = tmp_path / "target.db"
    with Gallery(target_path) as target:
        target.add("Zed", _unit(9), KEY)
    before = _state(target_path)
    with Gallery(target_path) as target:
        for on_conflict in ("error", "merge"):
            with pytest.raises(GalleryError, match=words) as caught:
                target.import_from(path, on_conflict=on_conflict)
            assert str(path) in str(caught.value)
        assert target.names() == ["Zed"]
    assert _state(target_path)["db"] == before["db"]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("[" * DEEP + "]" * DEEP, id="list-100000-deep"),
        pytest.param('{"a": ' * DEEP + "1" + "}" * DEEP, id="dict-100000-deep"),
        pytest.param('{"format": "detectkit-gallery", "schema_version": 1, "identities": [{"name": "Ann", "metadata": '
                     + '{"a": ' * DEEP + "1" + "}" * DEEP + "}]}", id="metadata-100000-deep"),
    ],
)
def test_a_deeply_nested_export_is_a_gallery_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "deep.json"
    path.write_text(text)
    gallery = Gallery(":memory:")
    with pytest.raises(GalleryError, match="nested too deeply") as caught:
        gallery.import_from(path)
    assert str(path) in str(caught.value) and len(gallery) == 0


def test_the_good_export_still_imports(tmp_path: Path) -> None:
    path = tmp_path / "good.json"
    path.write_text(json.dumps(_good_export(tmp_path)))
    gallery = Gallery(":memory:")
    assert gallery.import_from(path) == {"identities": 2, "embeddings": 3, "skipped": 0}
    assert gallery.get("Ann").metadata == {"desk": 4}


# ----------------------------------------------------------------------------- item 6: invisible names
@pytest.mark.parametrize("name", ["\u200b", "\u2060", "\ufeff", " \u200b\u2060 \ufeff ", "\u200c\u200d", "\u00ad", "\u180e"])
def test_invisible_names_are_refused_like_empty_ones(name: str) -> None:
    with pytest.raises(GalleryError, match="invisible"):
        validate_name(name)
    gallery = Gallery(":memory:")
    with pytest.raises(GalleryError, match="invisible"):
        gallery.add(name, _unit(0), KEY)
    gallery.add("Ann", _unit(0), KEY)
    with pytest.raises(GalleryError, match="invisible"):
        gallery.rename("Ann", name)
    assert gallery.names() == ["Ann"]


@pytest.mark.parametrize("name", ["Zoë", "👩\u200d👩\u200d👧", "Anne\u00adMarie", "李小龙"])
def test_names_with_visible_characters_are_kept(name: str) -> None:
    assert validate_name(name) == name


# ----------------------------------------------------------------------------- item 7: import of its own file
def test_a_gallery_cannot_import_its_own_file(tmp_path: Path) -> None:
    path = tmp_path / "people.db"
    _gallery_with_people(path)
    link = tmp_path / "alias.db"
    link.symlink_to(path)
    with Gallery(path) as gallery:
        for spelling in (path, str(path), link, Path(os.path.relpath(path)), f"sqlite://{path}"):
            for on_conflict in ("merge", "skip", "error", "replace"):
                with pytest.raises(GalleryError, match="its own file") as caught:
                    gallery.import_from(spelling, on_conflict=on_conflict)
                assert "nothing imported" in str(caught.value)
        assert gallery.get("Ann").n_embeddings == 2 and gallery.names() == ["Ann", "Bob"]
    copy_path = tmp_path / "copy.db"
    with Gallery(path) as gallery:
        gallery.export(copy_path)
        assert gallery.import_from(copy_path, on_conflict="merge") == {"identities": 2, "embeddings": 3, "skipped": 0}
        assert gallery.get("Ann").n_embeddings == 4  # a copy is another file: merging it is what was asked


def test_a_gallery_cannot_import_itself_on_either_engine(where) -> None:
    """The same location (a file, or the same PostgreSQL URL and schema) is refused; another gallery is not."""
    location = where("people")
    other = where("other")
    with Gallery(location) as gallery, Gallery(other) as second:
        gallery.add("Ann", _unit(1, 2), KEY)
        second.add("Bob", _unit(2), KEY)
        with pytest.raises(GalleryError, match="its own file") as caught:
            gallery.import_from(location, on_conflict="merge")
        assert "nothing imported" in str(caught.value) and "duplicate every embedding" in str(caught.value)
        assert gallery.get("Ann").n_embeddings == 2
        assert gallery.import_from(other) == {"identities": 1, "embeddings": 1, "skipped": 0}
        assert gallery.names() == ["Ann", "Bob"]


def test_the_command_line_refuses_to_import_a_gallery_into_itself(tmp_path: Path, capsys) -> None:
    from detectkit.cli import main

    path = tmp_path / "people.db"
    _gallery_with_people(path)
    assert main(["faces", "import", str(path), "--db", str(path), "--on-conflict", "merge"]) == 1
    err = capsys.readouterr().err
    assert "its own file" in err and "nothing imported" in err and "Traceback" not in err
    with Gallery(path) as gallery:
        assert gallery.get("Ann").n_embeddings == 2
