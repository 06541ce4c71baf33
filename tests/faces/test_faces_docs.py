"""The examples in the faces package's docstrings run and print what they say.

The two model modules' top-level examples (MTCNN on the astronaut, a FaceNet built from
scratch) are left out for time: ``test_faces_detector.py`` and ``test_faces_embedder.py``
cover the same calls.
"""

from __future__ import annotations

import pytest
from doc_examples import check_docstring_examples

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
    "detectkit.faces.embedders",
    "detectkit.faces.model_key",
    "detectkit.faces.face_detectors",
    "detectkit.cli.faces",
]
SLOW = frozenset({"detectkit.faces.detector", "detectkit.faces.embedder", "detectkit.faces.embedder.load_facenet"})


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name: str) -> None:
    check_docstring_examples(module_name, skip=SLOW)
