"""The gallery engines the gallery tests run against: SQLite, and a real PostgreSQL with pgvector.

PostgreSQL comes from ``$DETECTKIT_TEST_POSTGRES`` (a ``postgresql://`` URL of a server with
the ``vector`` extension available) or, when that is unset, from ``pgserver`` (a PostgreSQL
16 + pgvector build in a wheel, extra ``dev``) started once per session in a temporary
folder. initdb refuses to run as root; pgserver handles that itself (as root it creates a
``pgserver`` system user with ``useradd`` and runs the server as that user), so this works
in CI containers that run as root. When neither is available the PostgreSQL cases skip,
saying why. Each test gets a schema of its own (``?schema=``), so tests never see each
other's people.

Import the fixtures into a test module: ``from gallery_backends import backend, postgres_url, where  # noqa: F401``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import warnings
from pathlib import Path
from typing import Callable, Iterator

import pytest

BACKENDS = ["sqlite", "postgres"]


def _start_pgserver() -> Iterator[str]:
    try:
        with warnings.catch_warnings():  # platformdirs at import: "XDG_RUNTIME_DIR is not set" (falls back to /tmp)
            warnings.simplefilter("ignore")
            import pgserver
    except ImportError:
        pytest.skip("PostgreSQL cases: pgserver is not installed (pip install 'detectkit[dev]') "
                    "and DETECTKIT_TEST_POSTGRES is not set")
    if os.name == "posix" and os.geteuid() == 0 and shutil.which("useradd") is None:
        pytest.skip("PostgreSQL cases: running as root, and pgserver needs useradd to run the server as another "
                    "user (initdb refuses root); set DETECTKIT_TEST_POSTGRES to a server instead")
    folder = Path(tempfile.mkdtemp(prefix="detectkit-pg-"))
    server = pgserver.get_server(folder / "pgdata", cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A URL of a PostgreSQL server with pgvector (``$DETECTKIT_TEST_POSTGRES`` or a pgserver of this session)."""
    url = os.environ.get("DETECTKIT_TEST_POSTGRES")
    if url:
        yield url
        return
    yield from _start_pgserver()


def schema_url(url: str, schema: str) -> str:
    """``url`` with detectkit's ``schema`` parameter."""
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """``"sqlite"`` or ``"postgres"``: the engine of this run of the test."""
    return request.param


@pytest.fixture()
def where(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Callable[[str], str | Path]:
    """``where(name)``: a fresh gallery location of this test's engine (a file, or a schema of its own)."""
    if backend == "sqlite":
        return lambda name: tmp_path / f"{name}.db"
    url = request.getfixturevalue("postgres_url")
    test_id = uuid.uuid4().hex[:10]
    return lambda name: schema_url(url, f"t_{test_id}_{''.join(c for c in name if c.isalnum()).lower()}"[:63])
