"""Which storage engine holds a gallery, picked by its location: ``GALLERY_STORES``, keyed by URL scheme.

* a file path, ``":memory:"`` or ``sqlite:///path``: :class:`~detectkit.faces.gallery_sqlite.SQLiteStore`;
* ``postgresql://user@host:port/db`` (or ``postgres://``; ``?schema=NAME`` picks the
  PostgreSQL schema, default ``detectkit``): :class:`~detectkit.faces.gallery_postgres.PostgresStore`
  (extra ``postgres``: psycopg + pgvector).

A store for another engine registers an opener ``(location, *, create, timeout) -> GalleryStore``
under its scheme, and ``Gallery("scheme://...")`` uses it::

    from detectkit.faces.gallery_store import register_store
    register_store("mystore", lambda location, *, create, timeout: MyStore(location))

Example:
    >>> scheme_of("faces.db"), scheme_of(":memory:"), scheme_of("postgresql://me@db.example/people")
    ('sqlite', 'sqlite', 'postgresql')
    >>> open_store(":memory:").count()
    0
    >>> redact("postgresql://me:secret@db.example:5432/people?schema=team")
    'postgresql://me:***@db.example:5432/people?schema=team'
"""

from __future__ import annotations

import os
from typing import Callable

from ..errors import GalleryError, ModelError
from ..registry import Registry
from .gallery_records import GalleryStore
from .gallery_urls import is_url, redact, scheme_of

__all__ = ["GALLERY_STORES", "register_store", "open_store", "scheme_of", "redact", "is_url"]

StoreOpener = Callable[..., GalleryStore]
GALLERY_STORES: Registry[StoreOpener] = Registry("gallery store")


def register_store(scheme: str, opener: StoreOpener, *, replace: bool = False) -> StoreOpener:
    """Register ``opener(location, *, create, timeout)`` for locations starting ``scheme://``.

    Example:
        >>> from detectkit.faces.gallery_sqlite import SQLiteStore
        >>> _ = register_store("tmpdemo", lambda loc, *, create, timeout: SQLiteStore(":memory:"))
        >>> open_store("tmpdemo://anything").count()
        0
        >>> _ = GALLERY_STORES.unregister("tmpdemo")
    """
    return GALLERY_STORES.register(scheme.lower(), opener, replace=replace)


def open_store(
    location: str | os.PathLike = ":memory:", *, create: bool = True, timeout: float = 30.0, read_only: bool = False
) -> GalleryStore:
    """Open (or create) the gallery store at ``location`` with the engine registered for its scheme.

    ``read_only=True`` is passed to the opener only when set (openers without it keep working).

    Raises:
        GalleryError: an unknown scheme (listing the known ones), or the store's own errors.
    """
    scheme = scheme_of(location)
    try:
        opener = GALLERY_STORES.get(scheme)
    except ModelError as exc:
        raise GalleryError(f"{redact(location)}: no gallery store for '{scheme}://' ({exc})") from exc
    if read_only:
        return opener(location, create=False, timeout=timeout, read_only=True)
    return opener(location, create=create, timeout=timeout)


def _open_sqlite(location: str | os.PathLike, *, create: bool, timeout: float, read_only: bool = False) -> GalleryStore:
    from .gallery_sqlite import SQLiteStore

    return SQLiteStore(location, create=create, timeout=timeout, read_only=read_only)


def _open_postgres(location: str | os.PathLike, *, create: bool, timeout: float, read_only: bool = False) -> GalleryStore:
    from .gallery_postgres import PostgresStore

    if read_only:
        raise GalleryError(f"{redact(os.fspath(location))}: read_only=True is for SQLite gallery files; on PostgreSQL, "
                           "connect as a role granted only SELECT")
    return PostgresStore(os.fspath(location), create=create, timeout=timeout)


register_store("sqlite", _open_sqlite)
register_store("postgresql", _open_postgres)
register_store("postgres", _open_postgres)
