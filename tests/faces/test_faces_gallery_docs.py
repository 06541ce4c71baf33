"""The examples in the gallery modules' docstrings run and print what they say."""

from __future__ import annotations

import pytest
from doc_examples import check_docstring_examples

MODULES = [
    "detectkit.faces.gallery_checks",
    "detectkit.faces.gallery_records",
    "detectkit.faces.gallery_store",
    "detectkit.faces.gallery_urls",
    "detectkit.faces.gallery_sql",
    "detectkit.faces.gallery_sqlite",
    "detectkit.faces.gallery_postgres",
    "detectkit.faces.gallery_io",
]


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name: str) -> None:
    check_docstring_examples(module_name)
