"""The examples in the detection seams' and the factories' docstrings run and print what they say."""

from __future__ import annotations

import pytest
from doc_examples import check_docstring_examples

MODULES = [
    "detectkit.detection.registry",
    "detectkit.detection.postprocess",
    "detectkit.detection.model_metadata",
    "detectkit.factories",
    "detectkit.detection.detector",
    "detectkit.detection.torchvision_backend",
    "detectkit.user_warnings",
]


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name: str) -> None:
    check_docstring_examples(module_name)
