"""The serve modules' docstring examples run, and the pages ship inside the package."""

from __future__ import annotations

import pytest

from doc_examples import check_docstring_examples

MODULES = [
    "detectkit.serve",
    "detectkit.serve.settings",
    "detectkit.serve.auth",
    "detectkit.serve.uploads",
    "detectkit.serve.http_errors",
    "detectkit.serve.sources",
    "detectkit.serve.streams",
    "detectkit.serve.context",
    "detectkit.serve.routes_detect",
    "detectkit.serve.routes_faces",
    "detectkit.serve.routes_streams",
    "detectkit.serve.routes_pages",
    "detectkit.serve.app",
    "detectkit.cli.serve",
]


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module):
    check_docstring_examples(module)


def test_pages_and_scripts_are_package_data():
    import tomllib
    from importlib import resources
    from pathlib import Path

    from detectkit.serve.routes_pages import STATIC_FILES

    static = resources.files("detectkit.serve").joinpath("static")
    names = sorted(p.name for p in static.iterdir())
    assert names == sorted([*STATIC_FILES, "enrol.html", "live.html", "login.html"])
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["package-data"]["detectkit.serve"]
    assert {"static/*.html", "static/*.js", "static/*.css"} <= set(patterns)
    assert set(project["project"]["optional-dependencies"]["serve"]) >= {"fastapi>=0.165", "uvicorn>=0.29", "python-multipart>=0.0.9"}


def test_import_detectkit_serve_is_light():
    import subprocess
    import sys

    code = "import sys, detectkit.serve; print('fastapi' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
