"""The examples in the classical and compare packages' docstrings run and print what they say."""

from __future__ import annotations

import doctest
import importlib

import pytest

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
    module = importlib.import_module(module_name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in doctest.DocTestFinder().find(module, module_name):
        result = runner.run(test, out=lambda text: None)
        assert result.failed == 0, f"{test.name}: {result.failed} of {result.attempted} examples fail"
