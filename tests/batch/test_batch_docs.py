"""The examples in the batch package's docstrings (and ``detectkit batch``'s) run and print what they say."""

from __future__ import annotations

import pytest
from doc_examples import check_docstring_examples

MODULES = [
    "detectkit.batch",
    "detectkit.batch.specs",
    "detectkit.batch.plan",
    "detectkit.batch.worker",
    "detectkit.batch.store",
    "detectkit.batch.summary",
    "detectkit.batch.runner",
    "detectkit.cli.batch",
]


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name: str) -> None:
    check_docstring_examples(module_name)
