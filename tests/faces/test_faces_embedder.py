"""FaceEmbedder: strict loading of FaceNet state dicts, weights found through weights.py, crops, vectors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from detectkit.errors import ModelError, WeightsFormatError, WeightsNotFoundError
from detectkit.faces import FaceEmbedder
from detectkit.faces.align import crop_boxes, crop_faces
from detectkit.faces.embedder import load_facenet, state_dict_version


def test_vectors_shape_norm_determinism(embedder, face_detector, astronaut):
    faces = face_detector.detect([astronaut])[0]
    a = embedder.embed(astronaut, faces)
    b = embedder.embed(astronaut.copy(), faces)
    assert a.shape == (1, 512) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(a, b)  # same input, same bits
    assert embedder.embed(astronaut, faces[[]]).shape == (0, 512)


def test_batching_does_not_change_vectors(embedder, astronaut):
    boxes = np.array([[180, 60, 270, 172], [100, 100, 300, 300], [0, 0, 50, 80]], np.float32)
    crops = crop_faces(astronaut, boxes)
    together = embedder.embed_crops(crops)
    alone = embedder.embed_crops(crops[2:])
    np.testing.assert_allclose(together[2:], alone, atol=1e-5)
    assert np.all(np.abs(together @ together.T - np.eye(3)).max(axis=1) > 1e-3)  # different crops, different vectors
    old = embedder.batch_size
    try:
        embedder.batch_size = 2  # 3 crops -> two network calls
        np.testing.assert_allclose(embedder.embed_crops(crops), together, atol=1e-5)
    finally:
        embedder.batch_size = old
    with pytest.raises(ModelError, match=r"shape \(N, 3, 160, 160\)"):
        embedder.embed_crops(np.zeros((2, 3, 112, 112), np.float32))


def test_folded_network_equals_facenet_pytorch(facenet_file, embedder, astronaut):
    """BN folding and channels-last change no result: compare with the library's own module."""
    from facenet_pytorch import InceptionResnetV1

    reference = InceptionResnetV1(pretrained=None, classify=False).eval()
    state = {k: v for k, v in torch.load(facenet_file, weights_only=True).items() if not k.startswith("logits.")}
    reference.load_state_dict(state)
    crops = crop_faces(astronaut, np.array([[180, 60, 270, 172], [50, 50, 250, 250]], np.float32))
    with torch.no_grad():
        expected = reference(torch.from_numpy(crops)).numpy()
    np.testing.assert_allclose(embedder.embed_crops(crops), expected, atol=2e-5)


def test_crops_match_facenet_pytorch_extract_face(astronaut):
    from facenet_pytorch.models.mtcnn import fixed_image_standardization
    from facenet_pytorch.models.utils.detect_face import extract_face

    rgb = np.ascontiguousarray(astronaut[:, :, ::-1])
    boxes = np.array([[181.05, 62.16, 267.75, 172.05], [-10.0, 400.0, 60.0, 530.0]], np.float32)
    ours = crop_faces(astronaut, boxes, margin=14)
    for box, crop in zip(boxes, ours):
        theirs = fixed_image_standardization(extract_face(rgb, box, 160, 14)).numpy()
        np.testing.assert_allclose(crop, theirs, atol=1e-6)
    # filling a slice of a batch gives the same crops, and leaves the rest of the batch alone
    batch = np.full((4, 3, 160, 160), 7.0, np.float32)
    crop_faces(astronaut, boxes, margin=14, out=batch[1:3])
    np.testing.assert_array_equal(batch[1:3], ours)
    assert (batch[0] == 7).all() and (batch[3] == 7).all()
    with pytest.raises(ValueError, match=r"\(2, 3, 160, 160\) float32"):
        crop_faces(astronaut, boxes, out=batch)
    # boxes outside the image still give a crop (1 pixel wide at least)
    rects = crop_boxes(np.array([[600, 600, 700, 700], [np.nan, 0, 10, 10]]), (512, 512))
    assert np.all(rects[:, 2] > rects[:, 0]) and np.all(rects[:, 3] > rects[:, 1]) and rects.max() <= 512


def test_published_layout_loads_and_logits_are_ignored(other_state):
    state = other_state
    assert any(k.startswith("logits.") for k in state)
    model = load_facenet(state, "published.pt")
    assert not model.classify and not hasattr(model, "logits")
    wrapped = {"state_dict": {f"module.{k}": v for k, v in state.items()}}  # DataParallel checkpoint layout
    embedder = FaceEmbedder(wrapped, device="cpu")
    assert embedder.model_name == "facenet-custom" and embedder.model_version == state_dict_version(
        {k: v for k, v in state.items() if not k.startswith("logits.")}
    )


def test_wrong_files_are_refused_with_the_reason(tmp_path, other_state):
    state = other_state
    missing = {k: v for k, v in state.items() if not k.startswith("repeat_3.")}
    with pytest.raises(WeightsFormatError, match=r"missing keys \(e\.g\. repeat_3"):
        load_facenet(missing, "cut.pt")
    extra = dict(state, **{"head.weight": torch.zeros(2)})
    with pytest.raises(WeightsFormatError, match="unexpected keys.*head.weight"):
        load_facenet(extra, "extra.pt")
    wrong = dict(state, **{"last_linear.weight": torch.zeros(128, 1792)})
    with pytest.raises(WeightsFormatError, match=r"wrong shape.*last_linear.weight: \(128, 1792\)"):
        load_facenet(wrong, "small.pt")
    with pytest.raises(WeightsFormatError, match="not a state dict"):
        load_facenet({}, "empty.pt")
    with pytest.raises(WeightsFormatError, match="not a tensor"):
        load_facenet({"a": 1}, "numbers.pt")
    pickled = tmp_path / "pickled.pt"
    with open(pickled, "wb") as handle:
        pickle.dump({"model": object()}, handle)
    with pytest.raises(WeightsFormatError, match=str(pickled)):
        FaceEmbedder(pickled, device="cpu")
    torchvision_like = tmp_path / "resnet.pt"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, torchvision_like)
    with pytest.raises(WeightsFormatError, match="resnet.pt: not FaceNet InceptionResnetV1 weights"):
        FaceEmbedder(torchvision_like, device="cpu")
    with pytest.raises(ModelError, match="margin"):
        FaceEmbedder(state, margin=200, device="cpu")


def test_known_names_resolve_offline_through_weights_folders(tmp_path, monkeypatch, facenet_file, facenet_state, embedder):
    """facenet-vggface2 / vggface2 are found in DETECTKIT_WEIGHTS under the published file name."""
    monkeypatch.setenv("DETECTKIT_WEIGHTS", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WeightsNotFoundError, match="20180402-114759-vggface2.pt"):
        FaceEmbedder("facenet-vggface2", device="cpu")
    with pytest.raises(WeightsNotFoundError, match="20180408-102900-casia-webface.pt"):
        FaceEmbedder("casia-webface", device="cpu")  # the other published weights, by their short name
    published = tmp_path / "20180402-114759-vggface2.pt"
    published.write_bytes(facenet_file.read_bytes())
    named = FaceEmbedder("vggface2", device="cpu")
    assert named.model_name == "facenet-vggface2" and named.weights_path == published
    # the version is the weights' digest: the same tensors in another file keep their version
    assert named.model_version == embedder.model_version
    resaved = {k: v.clone() for k, v in torch.load(published, weights_only=True).items()}
    assert state_dict_version(resaved) == state_dict_version(facenet_state)
    resaved["last_bn.running_mean"] += 1e-3
    assert state_dict_version(resaved) != state_dict_version(facenet_state)


def test_other_weights_have_another_version(embedder, other_state):
    other = FaceEmbedder(other_state, model_name="facenet-test", device="cpu")
    assert other.model_name == embedder.model_name and other.model_version != embedder.model_version
    assert other.key != embedder.key
