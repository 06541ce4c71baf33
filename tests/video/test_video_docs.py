"""The examples in the video package's docstrings (and the demo's and ``detectkit run``'s) run and print what they say."""

from __future__ import annotations

import pytest
from doc_examples import check_docstring_examples

MODULES = [
    "detectkit.video",
    "detectkit.video.annotate",
    "detectkit.video.face_tracks",
    "detectkit.video.frame_result",
    "detectkit.video.pipeline",
    "detectkit.video.sinks",
    "detectkit.video.sources",
    "detectkit.video.stats",
    "detectkit.video.tracking",
    "detectkit.demo",
    "detectkit.cli.run",
]


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name: str) -> None:
    check_docstring_examples(module_name)
