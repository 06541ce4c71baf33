"""The examples in the classical and compare packages' docstrings run and print what they say."""

from __future__ import annotations

import pytest
from doc_examples import check_docstring_examples

MODULES = [
    "detectkit.classical",
    "detectkit.classical._common",
    "detectkit.classical.hog_people",
    "detectkit.classical.haar_faces",
    "detectkit.classical.face_features",
    "detectkit.compare",
    "detectkit.compare.data",
    "detectkit.compare.report",
    "detectkit.compare.tasks",
    "detectkit.cli.compare",
]


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name: str) -> None:
    check_docstring_examples(module_name)
