"""MTCNN's three nets and FaceNet on OpenVINO give PyTorch's outputs to float rounding; the P-net
takes every pyramid size; the conversion is cached and a corrupt entry is rebuilt."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from detectkit.faces.detector import FaceDetector
from detectkit.faces.embedder import FaceEmbedder
from detectkit.runtimes.cache import openvino_cache_dir
from detectkit.runtimes.face_nets import OpenVinoNet, use_openvino


def _faces_image() -> np.ndarray:
    import skimage.data

    return np.ascontiguousarray(skimage.data.astronaut()[:, :, ::-1])  # one face, 512x512 BGR


def test_mtcnn_on_openvino_equals_pytorch():
    image = _faces_image()
    pytorch = FaceDetector(device="cpu")
    openvino = use_openvino(FaceDetector(device="cpu"))
    assert openvino.runtime == "openvino" and isinstance(openvino.pnet, OpenVinoNet)
    for size in (image, image[:300, :420].copy()):  # two pyramids: the P-net sees many input sizes
        a, b = pytorch.detect([size])[0], openvino.detect([size])[0]
        assert len(a) == len(b) >= 1
        np.testing.assert_allclose(b.xyxy, a.xyxy, atol=1e-2)
        np.testing.assert_allclose(b.confidence, a.confidence, atol=1e-5)
        np.testing.assert_allclose(b.landmarks, a.landmarks, atol=1e-2)
    crops = torch.rand(5, 3, 24, 24)
    for expected, got in zip(pytorch.rnet(crops), openvino.rnet(crops)):
        np.testing.assert_allclose(got.numpy(), expected.detach().numpy(), atol=1e-5)


def test_facenet_on_openvino_equals_pytorch():
    from facenet_pytorch import InceptionResnetV1

    torch.manual_seed(0)
    state = InceptionResnetV1(pretrained=None, classify=False).state_dict()
    pytorch = FaceEmbedder(state, device="cpu")
    openvino = use_openvino(FaceEmbedder(state, device="cpu"))
    crops = np.random.default_rng(0).standard_normal((3, 3, 160, 160)).astype(np.float32)
    a, b = pytorch.embed_crops(crops), openvino.embed_crops(crops)
    assert b.shape == (3, 512) and b.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(b, a, atol=1e-4)
    assert openvino.key == pytorch.key  # same model, same gallery key


def test_conversion_is_cached_and_a_corrupt_entry_is_rebuilt():
    torch.manual_seed(1)
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
    first = OpenVinoNet(module, input_shape=(-1, 3, -1, -1), name="cache-test")
    x = torch.rand(2, 3, 10, 14)
    expected = module(x).detach().numpy()
    np.testing.assert_allclose(first(x).numpy(), expected, atol=1e-6)
    entries = [p for p in openvino_cache_dir().iterdir() if p.name.startswith("cache-test")]
    assert len(entries) == 1
    weights = next(entries[0].glob("*.bin"))
    stamp = weights.stat().st_mtime_ns
    OpenVinoNet(module, input_shape=(-1, 3, -1, -1), name="cache-test")
    assert weights.stat().st_mtime_ns == stamp  # a hit: nothing rewritten
    weights.write_bytes(weights.read_bytes()[:-8])  # truncated weights (``first`` maps this file: not used again)
    again = OpenVinoNet(module, input_shape=(-1, 3, -1, -1), name="cache-test")  # rebuilt, silently
    np.testing.assert_allclose(again(x).numpy(), expected, atol=1e-6)
    assert next(entries[0].glob("*.bin")).stat().st_mtime_ns != stamp


def test_use_openvino_refuses_other_objects():
    with pytest.raises(TypeError, match="neither a FaceDetector nor a FaceEmbedder"):
        use_openvino(object())
