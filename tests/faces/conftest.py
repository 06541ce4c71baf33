"""Fixtures for the face tests.

The pretrained FaceNet files cannot be downloaded here, so the embedding tests use a
state dict saved from a randomly initialised, seeded ``InceptionResnetV1`` with the
classifier head of facenet-pytorch's published files (``logits.*``). Its batch-norm
statistics are re-estimated on a batch of smooth random images first: with the
library's initial statistics (mean 0, variance 1) a random network maps every face to
almost the same vector (cosine ~1.0 for any two photos), while with estimated
statistics it is a fixed random feature extractor whose vectors differ between photos
(a photo's similarity with itself is 1, with a re-compressed copy ~0.96, with other
people's photos lower). Tests are designed around that: no test assumes the random
network recognises people.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import pytest


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run with ``count`` torch threads, then restore the previous setting."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """The face tests run torch on one thread, restored after each test.

    These tests check results, not speed. On the shared 2-core machines this project runs
    on, torch's two OpenMP threads wait for each other whenever another process holds a
    core (``benchmarks/faces_components.py``, docs/benchmarks.md "Faces"); with one thread
    this folder ran in 51 s instead of 261 s.
    """
    with torch_threads(1):
        yield

EXAMPLES = "data/faces/face_recognition_examples/examples"


@pytest.fixture(scope="session")
def shared(shared_dir):
    """``shared("data/...")``: a path inside ../shared, or the test is skipped with the reason."""

    def need(relative: str) -> Path:
        path = shared_dir / relative
        if not path.exists():
            pytest.skip(f"needs {path} (the shared data beside the repository), which is absent here")
        return path

    return need


def random_facenet_state_dict(seed: int = 0, num_classes: int = 7) -> dict:
    """A seeded random InceptionResnetV1 state dict (with ``logits.*``), batch norms re-estimated."""
    import torch
    from facenet_pytorch import InceptionResnetV1

    torch.manual_seed(seed)
    net = InceptionResnetV1(classify=True, num_classes=num_classes)
    generator = torch.Generator().manual_seed(seed + 1)
    smooth = torch.rand(8, 3, 20, 20, generator=generator)
    smooth = torch.nn.functional.interpolate(smooth, size=(160, 160), mode="bilinear", align_corners=False) * 2 - 1
    for module in net.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the batch
    net.train()
    net.classify = False
    with torch.no_grad():
        net(smooth)
    net.classify = True
    return {k: v.clone() for k, v in net.eval().state_dict().items()}


def plain_facenet_state_dict(seed: int, num_classes: int = 5) -> dict:
    """A seeded random InceptionResnetV1 state dict with ``logits.*``, library-initial batch norms (cheap)."""
    import torch
    from facenet_pytorch import InceptionResnetV1

    torch.manual_seed(seed)
    return InceptionResnetV1(classify=True, num_classes=num_classes).state_dict()


@pytest.fixture(scope="session")
def facenet_state() -> dict:
    """The test FaceNet weights (seed 0, batch norms estimated), as a state dict."""
    with torch_threads(1):
        return random_facenet_state_dict(0)


@pytest.fixture(scope="session")
def facenet_file(tmp_path_factory, facenet_state) -> Path:
    """The test FaceNet weights on disk, named like a user's own file."""
    import torch

    path = tmp_path_factory.mktemp("facenet") / "facenet-test.pt"
    torch.save(facenet_state, path)
    return path


@pytest.fixture(scope="session")
def embedder(facenet_file):
    from detectkit.faces import FaceEmbedder

    return FaceEmbedder(facenet_file, device="cpu")


@pytest.fixture(scope="session")
def face_detector():
    from detectkit.faces import FaceDetector

    return FaceDetector(device="cpu")


@pytest.fixture()
def recognizer(embedder, face_detector):
    """A recogniser over a fresh in-memory gallery (shares the session's models)."""
    from detectkit.faces import FaceRecognizer

    with FaceRecognizer(None, detector=face_detector, embedder=embedder) as rec:
        yield rec


@pytest.fixture(scope="session")
def other_state() -> dict:
    """Other FaceNet weights (seed 1, cheap: library-initial batch norms), for model-mismatch tests."""
    return plain_facenet_state_dict(1)


@pytest.fixture(scope="session")
def people(shared) -> dict[str, Path]:
    """One-face photos of different people from ../shared (skips when absent)."""
    base = shared(EXAMPLES)
    return {
        "obama": base / "obama.jpg",
        "obama2": base / "obama2.jpg",
        "biden": base / "biden.jpg",
        "rose": base / "knn_examples/train/rose_leslie/img1.jpg",
        "alex": base / "alex-lacamoire.png",
    }
