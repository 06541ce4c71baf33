"""The examples in the runtimes package's docstrings (and the deploy modules it adds) run and print what they say."""

from __future__ import annotations

import pytest
from doc_examples import check_docstring_examples

MODULES = [
    "detectkit.runtimes",
    "detectkit.runtimes.choice",
    "detectkit.runtimes.auto",
    "detectkit.runtimes.cache",
    "detectkit.runtimes.convert",
    "detectkit.runtimes.openvino_files",
    "detectkit.runtimes.openvino_backend",
    "detectkit.runtimes.registration",
    "detectkit.runtimes.face_nets",
    "detectkit.runtimes.export_openvino",
    "detectkit.deploy.engine",
]


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name: str) -> None:
    check_docstring_examples(module_name)
