"""The examples in the faces package's docstrings run and print what they say.

The two model modules' top-level examples (MTCNN on the astronaut, a FaceNet built from
scratch) are left out for time: ``test_faces_detector.py`` and ``test_faces_embedder.py``
cover the same calls.
"""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "detectkit.faces",
    "detectkit.faces.align",
    "detectkit.faces.calibration",
    "detectkit.faces.gallery",
    "detectkit.faces.index",
    "detectkit.faces.quality",
    "detectkit.faces.recognizer",
    "detectkit.faces.detector",
    "detectkit.faces.embedder",
    "detectkit.cli.faces",
]
SLOW = {"detectkit.faces.detector", "detectkit.faces.embedder", "detectkit.faces.embedder.load_facenet"}


def examples(module_name: str) -> list[doctest.DocTest]:
    module = importlib.import_module(module_name)
    tests = doctest.DocTestFinder().find(module, module_name)
    return [t for t in tests if t.examples and t.name not in SLOW]


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name: str) -> None:
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in examples(module_name):
        result = runner.run(test, out=lambda text: None)
        assert result.failed == 0, f"{test.name}: {result.failed} of {result.attempted} examples fail (python -m pytest --doctest-modules {module_name.replace('.', '/')}.py)"
