"""The examples in the docstrings of the dataset and evaluation modules run and print what they say."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "detectkit.training.datasets",
    "detectkit.training.validate",
    "detectkit.training.split",
    "detectkit.training.convert",
    "detectkit.training.synthetic",
    "detectkit.training.evaluate",
    "detectkit.training.eval_plots",
    "detectkit.training.formats._common",
    "detectkit.training.formats.yolo",
    "detectkit.training.formats.coco",
    "detectkit.training.formats.voc",
    "detectkit.training.formats.pennfudan",
    "detectkit.cli.data",
    "detectkit.cli.val",
]


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name: str) -> None:
    module = importlib.import_module(module_name)
    tests = [t for t in doctest.DocTestFinder().find(module, module_name) if t.examples]
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        result = runner.run(test, out=lambda text: None)
        assert result.failed == 0, (
            f"{test.name}: {result.failed} of {result.attempted} examples fail "
            f"(python -m pytest --doctest-modules {module_name.replace('.', '/')}.py)"
        )
