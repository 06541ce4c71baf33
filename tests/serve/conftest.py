"""Fixtures for the serve tests: one face detector and HOG embedder (offline, no weights), photos, apps.

Face embeddings come from :class:`detectkit.classical.HogFaceEmbedder` (no network, no
weights file), so every test runs offline on a fresh clone; faces are found by MTCNN,
whose weights ship inside facenet-pytorch. A photo matched with itself has similarity 1,
so the tests enrol a person and look for them in the same (or a re-encoded) photo.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="detectkit serve needs the [serve] extra (fastapi, uvicorn, python-multipart)")
pytest.importorskip("multipart", reason="detectkit serve needs python-multipart")
sys.path.insert(0, str(Path(__file__).parent))

from serve_helpers import AUTH, TOKEN, jpeg  # noqa: E402

THRESHOLD = 0.8  # HOG similarity: the same photo re-encoded scores ~0.99, other faces well below


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """MTCNN on one torch thread (as the face tests do), restored after each test."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="session")
def face_detector():
    from detectkit.faces import FaceDetector

    return FaceDetector(device="cpu")


@pytest.fixture(scope="session")
def hog_embedder():
    from detectkit.classical import HogFaceEmbedder

    return HogFaceEmbedder()


@pytest.fixture()
def recognizer(tmp_path, face_detector, hog_embedder):
    """A recogniser over a fresh gallery file (the models are the session's)."""
    from detectkit.faces import FaceRecognizer

    with FaceRecognizer(tmp_path / "faces.db", detector=face_detector, embedder=hog_embedder, threshold=THRESHOLD) as rec:
        yield rec


@pytest.fixture(scope="session")
def face_image(astronaut) -> np.ndarray:
    """scikit-image's astronaut at 256x256 (one face, one person), BGR."""
    import cv2

    return cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="session")
def face_jpeg(face_image) -> bytes:
    return jpeg(face_image)


@pytest.fixture(scope="session")
def no_face_jpeg(coffee) -> bytes:
    return jpeg(coffee)


@pytest.fixture()
def settings():
    from detectkit.serve import ServeSettings

    return ServeSettings(token=TOKEN)


@pytest.fixture()
def client_for():
    """``client_for(app)``: a TestClient (lifespan run), closed after the test."""
    from fastapi.testclient import TestClient

    clients = []

    def make(app):
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


__all__ = ["AUTH", "TOKEN", "THRESHOLD"]
