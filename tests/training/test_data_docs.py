"""The examples in the docstrings of the dataset and evaluation modules run and print what they say."""

from __future__ import annotations

import pytest
from doc_examples import check_docstring_examples

MODULES = [
    "detectkit.training.datasets",
    "detectkit.training.data_model",
    "detectkit.training.loading",
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
    "detectkit.training.formats.registry",
    "detectkit.cli.data",
    "detectkit.cli.val",
]


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name: str) -> None:
    check_docstring_examples(module_name)
