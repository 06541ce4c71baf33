"""The docstring examples of the modules no other ``*_docs.py`` test collected run and print what they
say; and every detectkit module with examples is collected by one of those tests, so an example
that is never run (or a comment dressed up as one, ``>>> # f(x)``) fails the suite."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from doc_examples import check_docstring_examples

# the ones that build models or import torch/ultralytics take tens of seconds on a loaded 2-core CPU
SLOW = {"detectkit._ultralytics_env", "detectkit.checkpoint", "detectkit.training.augment",
        "detectkit.training.torchvision_model", "detectkit.images", "detectkit.faces.dlib_resnet",
        "detectkit.faces.dlib_chip"}
MODULES = [
    "detectkit",
    "detectkit._ultralytics_env",
    "detectkit.checkpoint",
    "detectkit.cli",
    "detectkit.cli.export",
    "detectkit.cli.train",
    "detectkit.detection.base",
    "detectkit.detection.onnx_backend",
    "detectkit.detections",
    "detectkit.devices",
    "detectkit.errors",
    "detectkit.images",
    "detectkit.registry",
    "detectkit.trust",
    "detectkit.training.augment",
    "detectkit.training.finetune",
    "detectkit.training.run",
    "detectkit.training.schedule",
    "detectkit.training.torchvision_model",
    "detectkit.training.ultralytics_trainer",
    "detectkit.weights",
    "detectkit.detection.runtime_info",
    "detectkit.faces.dlib_chip",
    "detectkit.faces.dlib_embedder",
    "detectkit.faces.dlib_resnet",
    "detectkit.faces.onnx_embedder",
]
TESTS = Path(__file__).resolve().parents[1]
PACKAGE = TESTS.parent / "detectkit"


@pytest.mark.parametrize(
    "module_name", [pytest.param(m, marks=pytest.mark.slow) if m in SLOW else m for m in MODULES]
)
def test_docstring_examples(module_name: str) -> None:
    check_docstring_examples(module_name)


def _collected() -> set[str]:
    names: set[str] = set()
    for test_file in TESTS.rglob("*_docs.py"):
        listing = re.search(r"^MODULES = \[(.*?)^\]", test_file.read_text(), re.S | re.M)
        assert listing, f"{test_file}: no MODULES list"
        names |= set(re.findall(r'"(detectkit[\w.]*)"', listing.group(1)))
    return names


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_every_module_with_examples_has_its_examples_run() -> None:
    with_examples = {_module_name(p) for p in PACKAGE.rglob("*.py") if ">>>" in p.read_text(encoding="utf-8")}
    assert len(with_examples) > 50  # the scan itself found the package
    assert sorted(with_examples - _collected()) == []


def test_no_example_is_only_a_comment() -> None:
    comments = [f"{p.relative_to(PACKAGE.parent)}:{n}" for p in PACKAGE.rglob("*.py")
                for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                if re.match(r"\s*(>>>|\.\.\.) #", line)]
    assert comments == []
