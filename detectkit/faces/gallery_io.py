"""Gallery export and import: a JSON file, an SQLite file, or another gallery store (PostgreSQL).

* :func:`export_store` writes every person and vector of a store to ``target``: a ``.json``
  file (vectors as base64 little-endian float32, with their model keys), an SQLite gallery
  file (any other file name), or a gallery URL (``postgresql://...``: imported there in one
  transaction). Files are written to a temporary name and renamed, so a failed export leaves
  nothing behind.
* :func:`read_people` reads any of those back as validated records (names, metadata, unit
  vectors, model keys: the same checks as enrolment), and :func:`import_people` adds them to
  a store in one transaction, with ``on_conflict`` for names it holds already.

So ``detectkit faces export`` / ``import`` move a gallery between SQLite and PostgreSQL in
either direction.

Example:
    >>> import tempfile, pathlib, numpy as np
    >>> from detectkit.faces.model_key import ModelKey
    >>> from detectkit.faces.gallery_store import open_store
    >>> source = open_store(":memory:")
    >>> _ = source.add("Ann", np.eye(2, dtype=np.float32), ModelKey("toy", "v1", 2), meta=None, sources=None, replace=False)
    >>> file = export_store(source, pathlib.Path(tempfile.mkdtemp()) / "people.json")
    >>> import_people(open_store(":memory:"), read_people(file))
    {'identities': 1, 'embeddings': 2, 'skipped': 0}
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import reprlib
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import GalleryError
from .model_key import ModelKey
from .gallery_checks import check_model, metadata_json, validate_name
from .gallery_records import EmbeddingRecord, GalleryStore, OnConflict, PersonRecord
from .gallery_store import open_store
from .gallery_urls import is_url, redact
from .gallery_sqlite import SCHEMA_VERSION, SQLiteStore, is_sqlite_file

__all__ = [
    "EXPORT_FORMAT", "export_store", "export_dict", "read_people", "import_people", "people_from_dict", "is_same_gallery",
    "refuse_itself",
]

EXPORT_FORMAT = "detectkit-gallery"


def export_dict(store: GalleryStore) -> dict[str, Any]:
    """The JSON export of ``store`` as Python data (``{"format", "schema_version", "identities": [...]}``).

    Example:
        >>> from detectkit.faces.gallery_store import open_store
        >>> export_dict(open_store(":memory:"))
        {'format': 'detectkit-gallery', 'schema_version': 1, 'identities': []}
    """
    return {
        "format": EXPORT_FORMAT,
        "schema_version": SCHEMA_VERSION,
        "identities": [
            {
                "name": p.name,
                "metadata": json.loads(p.metadata),
                "created_at": p.created_at,
                "updated_at": p.updated_at,
                "embeddings": [
                    {
                        "model_name": e.model.name,
                        "model_version": e.model.version,
                        "dim": e.model.dim,
                        "vector": base64.b64encode(np.ascontiguousarray(e.vector, "<f4").tobytes()).decode("ascii"),
                        "source": e.source,
                        "created_at": e.created_at,
                    }
                    for e in p.embeddings
                ],
            }
            for p in store.dump()
        ],
    }


def export_store(store: GalleryStore, target: str | os.PathLike) -> Path | str:
    """Write all of ``store`` to ``target`` (``.json``, an SQLite file, or a gallery URL); returns ``target``.

    Raises:
        GalleryError: ``target`` is a folder, the store's own file, unwritable, or (a URL) a
            gallery that already holds some of the names (nothing is written there).
    """
    if is_url(target):
        destination = open_store(str(target), create=True)
        try:
            if destination.location == store.location and type(destination) is type(store):
                raise GalleryError(f"{redact(str(target))}: is this gallery itself; export to another one")
            import_people(destination, store.dump(), source=str(store.location))
        finally:
            destination.close()
        return redact(str(target))
    path = Path(target).expanduser()
    if path.is_dir():
        raise GalleryError(f"{path}: is a folder; give a file name ending in .json or .db")
    if isinstance(store.location, Path) and path.resolve() == store.location.resolve():
        raise GalleryError(f"{path}: is this gallery's own file; export to another file")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    try:
        if partial.exists():
            partial.unlink()
        if path.suffix.lower() == ".json":
            partial.write_text(json.dumps(export_dict(store), ensure_ascii=False), encoding="utf-8")
        elif isinstance(store, SQLiteStore):
            store.backup_to(partial)  # SQLite's online backup: a byte-for-byte consistent copy
        else:
            copy = SQLiteStore(partial)
            try:
                import_people(copy, store.dump(), source=str(store.location))
            finally:
                copy.close()
        os.replace(partial, path)
    except OSError as exc:
        raise GalleryError(f"{path}: cannot write the export ({exc.strerror or exc})") from exc
    except GalleryError as exc:
        raise GalleryError(f"{path}: cannot write the export ({exc})") from exc
    finally:
        if partial.exists():
            partial.unlink()
    return path


_SHORT = reprlib.Repr()
_SHORT.maxstring, _SHORT.maxother, _SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict = 40, 40, 2, 3, 3
MAX_DIM = 65536
"""The largest embedding dimension an export may declare (FaceNet: 512)."""


def _field(entry: dict, key: str, kind: str) -> Any:
    """``entry[key]`` if it has the JSON type the export format gives it, else a GalleryError saying so."""
    value = entry.get(key)
    if kind == "text" and isinstance(value, str) and value:
        return value
    if kind == "dim" and isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_DIM:
        return value
    if kind == "list" and isinstance(value, list):
        return value
    if kind == "list" and value is None:
        return []
    wanted = {"text": "non-empty text", "dim": f"a whole number 1..{MAX_DIM}", "list": "a list"}[kind]
    raise GalleryError(f"'{key}' must be {wanted}, not {_SHORT.repr(value)}")


def people_from_dict(data: Any, where: str) -> list[PersonRecord]:
    """Validated records of a JSON export's data (``where`` names it in errors).

    Every field is checked for its JSON type before it is used (``"schema_version": "abc"``,
    ``"identities": "Ann"``, a vector that is not base64 text...): a malformed file is a
    GalleryError naming ``where`` and the entry, never a builtin error.

    Example:
        >>> people_from_dict({"format": EXPORT_FORMAT, "schema_version": "abc", "identities": []}, "x.json")
        Traceback (most recent call last):
        ...
        detectkit.errors.GalleryError: x.json: 'schema_version' must be a whole number from 1 to 1, not 'abc'
    """
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise GalleryError(f"{where}: not a detectkit gallery export (no \"format\": \"{EXPORT_FORMAT}\")")
    version = data.get("schema_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise GalleryError(f"{where}: export from a newer detectkit (schema {version}); upgrade detectkit")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise GalleryError(f"{where}: 'schema_version' must be a whole number from 1 to {SCHEMA_VERSION}, not {_SHORT.repr(version)}")
    try:
        identities = _field(data, "identities", "list")
    except GalleryError as exc:
        raise GalleryError(f"{where}: {exc}") from None
    people, seen = [], set()
    for n, person in enumerate(identities):
        label = f"{where}: identity #{n + 1}"
        try:
            if not isinstance(person, dict):
                raise GalleryError(f"must be a mapping with 'name' and 'embeddings', not {_SHORT.repr(person)}")
            name = validate_name(person.get("name"))
            if name in seen:
                raise GalleryError(f"duplicate name {name!r}")
            seen.add(name)
            meta = metadata_json(person.get("metadata") or {})
            rows = []
            for k, e in enumerate(_field(person, "embeddings", "list")):
                try:
                    rows.append(_embedding_from_json(e))
                except GalleryError as exc:
                    raise GalleryError(f"embedding #{k + 1}: {exc}") from None
        except GalleryError as exc:
            raise GalleryError(f"{label}: {exc}") from exc
        now = time.time()
        people.append(PersonRecord(name, meta, _time(person.get("created_at"), now), _time(person.get("updated_at"), now), tuple(rows)))
    return people


def _embedding_from_json(e: Any) -> EmbeddingRecord:
    if not isinstance(e, dict):
        raise GalleryError(f"must be a mapping with model_name, model_version, dim and vector, not {_SHORT.repr(e)}")
    key = check_model(ModelKey(_field(e, "model_name", "text"), _field(e, "model_version", "text"), _field(e, "dim", "dim")))
    vector = _field(e, "vector", "text")
    try:
        blob = base64.b64decode(vector, validate=True)
    except (binascii.Error, ValueError):
        raise GalleryError(f"'vector' is not base64 text ({_SHORT.repr(vector)})") from None
    if len(blob) != 4 * key.dim:
        raise GalleryError(f"a {key.dim}-d vector of {len(blob)} bytes")
    source = e.get("source")
    if source is not None and not isinstance(source, str):
        raise GalleryError(f"'source' must be text or null, not {_SHORT.repr(source)}")
    return _embedding(key, np.frombuffer(blob, dtype="<f4"), source, e.get("created_at"))


def _time(value: Any, default: float) -> float:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else default


def _embedding(key: ModelKey, vector: np.ndarray, source: Any, created: Any) -> EmbeddingRecord:
    if not np.all(np.isfinite(vector)) or not math.isclose(float(np.linalg.norm(vector)), 1.0, abs_tol=1e-3):
        raise GalleryError("a vector that is not finite and unit-length")
    return EmbeddingRecord(key, vector.astype(np.float32), None if source is None else str(source), _time(created, time.time()))


def _checked(people: Sequence[PersonRecord], where: str) -> list[PersonRecord]:
    """Records from another store, through the same checks as a JSON file's."""
    out = []
    for n, p in enumerate(people):
        try:
            name = validate_name(p.name)
            meta = metadata_json(json.loads(p.metadata))
            rows = tuple(_embedding(check_model(e.model), np.asarray(e.vector, np.float32), e.source, e.created_at) for e in p.embeddings)
        except (GalleryError, ValueError) as exc:
            raise GalleryError(f"{where}: identity #{n + 1}: {exc}") from exc
        out.append(PersonRecord(name, meta, p.created_at, p.updated_at, rows))
    return out


def read_people(source: str | os.PathLike) -> list[PersonRecord]:
    """Validated people of an export: a JSON file, an SQLite gallery file, or a gallery URL.

    Raises:
        GalleryError: missing, unreadable or malformed, naming the file and the entry.
    """
    if is_url(source):
        store = open_store(str(source), create=False)
        try:
            return _checked(store.dump(), redact(str(source)))
        finally:
            store.close()
    path = Path(source).expanduser()
    if not path.is_file():
        raise GalleryError(f"{path}: no such file")
    if is_sqlite_file(path):
        store = SQLiteStore(path, create=False)
        try:
            return _checked(store.dump(), str(path))
        finally:
            store.close()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise GalleryError(f"{path}: neither a gallery database nor a gallery JSON export ({exc})") from exc
    except OSError as exc:
        raise GalleryError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    except RecursionError:  # json's decoder recurses once per level: ~1,000 levels exhaust the stack
        raise GalleryError(f"{path}: not a gallery JSON export: nested too deeply to read") from None
    return people_from_dict(data, str(path))


def refuse_itself(store: GalleryStore, source: str | os.PathLike) -> None:
    """GalleryError when ``source`` is ``store`` itself: importing a gallery into itself would duplicate every embedding.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "people.db"
        >>> refuse_itself(SQLiteStore(path), path)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        detectkit.errors.GalleryError: ...people.db: is this gallery itself (its own file); nothing imported ...
    """
    if is_same_gallery(store, source):
        raise GalleryError(
            f"{redact(os.fspath(source))}: is this gallery itself (its own file); nothing imported (importing it "
            "would duplicate every embedding). Import another gallery or an export"
        )


def is_same_gallery(store: GalleryStore, source: str | os.PathLike) -> bool:
    """Whether ``source`` (a path or gallery URL) names ``store`` itself (importing it would duplicate every embedding).

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "people.db"
        >>> store = SQLiteStore(path)
        >>> is_same_gallery(store, path), is_same_gallery(store, path.parent / "other.db")
        (True, False)
    """
    if is_url(source):
        text = str(source)
        if not text.startswith("sqlite://"):
            return not isinstance(store, SQLiteStore) and redact(text) == str(store.location)
        source = text[len("sqlite://"):]
    if not isinstance(store.location, Path):
        return False
    try:
        return os.path.samefile(Path(source).expanduser(), store.location)
    except OSError:
        return False


def import_people(
    store: GalleryStore, people: Sequence[PersonRecord], *, on_conflict: OnConflict = "error", source: str = "the import"
) -> dict[str, int]:
    """Add ``people`` (from :func:`read_people`) to ``store`` in one transaction.

    ``on_conflict`` for a name the store holds: ``"error"`` (nothing is imported),
    ``"skip"`` that person, ``"merge"`` their embeddings in, or ``"replace"`` the person.
    Returns ``{"identities": ..., "embeddings": ..., "skipped": ...}``.
    """
    return store.load_people(people, on_conflict, source=source)
