"""HogFaceEmbedder and GallerySVM: the embedding contract, its own model key, and real accuracy on ORL faces."""

from __future__ import annotations

import numpy as np
import pytest

from detectkit.classical import GallerySVM, HogFaceEmbedder
from detectkit.errors import GalleryError, ModelError
from detectkit.faces import Gallery, ModelKey
from detectkit.faces.embedders import EMBEDDERS, CropSpec, Embedder, make_embedder

from shared_data import need_shared


@pytest.fixture(scope="module")
def embedder() -> HogFaceEmbedder:
    return HogFaceEmbedder()


@pytest.fixture(scope="module")
def orl(embedder: HogFaceEmbedder):
    """12 ORL people: vectors of photos 1-5 (enrolled) and 6-10 (probes), with names."""
    from detectkit import load_image

    root = need_shared("data/faces/orl/att_faces")
    names, vectors, enrol = [], [], []
    for person in range(1, 13):
        for photo in range(1, 11):
            image = load_image(root / f"s{person}" / f"{photo}.pgm")
            box = np.array([[0, 0, image.shape[1], image.shape[0]]], np.float32)
            vectors.append(embedder.embed(image, box)[0])
            names.append(f"s{person}")
            enrol.append(photo <= 5)
    return np.array(names, dtype=object), np.stack(vectors), np.array(enrol)


def test_contract(embedder: HogFaceEmbedder, astronaut: np.ndarray) -> None:
    assert isinstance(embedder, Embedder)  # what FaceRecognizer and the video pipeline accept (was: FaceEmbedder)
    assert embedder.crop == CropSpec(160, margin=14) and embedder.device == "cpu"
    box = np.array([[177, 66, 272, 161]], np.float32)
    crops = embedder.crops(astronaut, box)
    assert crops.shape == (1, 3, 160, 160) and crops.dtype == np.float32
    vectors = embedder.embed(astronaut, np.concatenate([box, box + 40]))
    assert vectors.shape == (2, 1764) == (2, embedder.dim) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert abs(float(vectors[0].mean())) < 1e-6, "centred: cosine = Pearson correlation of HOG descriptors"
    np.testing.assert_array_equal(vectors[0], embedder.embed(astronaut, box)[0])
    assert vectors[0] @ vectors[1] < 0.9


def test_registered_as_hog_face(embedder: HogFaceEmbedder, astronaut: np.ndarray) -> None:
    assert "hog-face" in EMBEDDERS.names()
    made = make_embedder("hog-face", device="auto")
    assert type(made) is HogFaceEmbedder and made.key == embedder.key
    assert make_embedder("hog-face", cell=16).key == HogFaceEmbedder(cell=16).key
    box = np.array([[177, 66, 272, 161]], np.float32)
    np.testing.assert_array_equal(made.embed(astronaut, box), embedder.embed(astronaut, box))


def test_key_is_its_own(embedder: HogFaceEmbedder) -> None:
    key = embedder.key
    assert key.name == "hog-face" and key.dim == 1764 and len(key.version) == 16
    assert HogFaceEmbedder().key == key, "same parameters, same version"
    assert HogFaceEmbedder(cell=16).key.version != key.version
    assert HogFaceEmbedder(size=96).dim == 4356


def test_facenet_gallery_refuses_hog_vectors(embedder: HogFaceEmbedder, astronaut: np.ndarray) -> None:
    facenet = ModelKey("facenet-vggface2", "0123456789abcdef", 512)
    gallery = Gallery(":memory:")
    rng = np.random.default_rng(0)
    gallery.add("Alice", rng.normal(size=(2, 512)).astype(np.float32), facenet)
    hog_vectors = embedder.embed(astronaut, np.array([[177, 66, 272, 161]], np.float32))
    with pytest.raises(GalleryError, match="hog-face"):
        gallery.search_arrays(hog_vectors, embedder.key, 1)
    with pytest.raises(GalleryError):
        gallery.search_arrays(hog_vectors, facenet, 1)  # 1764-d vectors under a 512-d key
    with pytest.raises(GalleryError):
        gallery.add("Bob", hog_vectors, facenet)


def test_orl_identification_knn_and_svm(orl) -> None:
    names, vectors, enrol = orl
    gallery = Gallery(":memory:")
    key = HogFaceEmbedder().key
    gallery.add_many([(n, vectors[enrol & (names == n)]) for n in dict.fromkeys(names)], key)
    found, sims = gallery.search_arrays(vectors[~enrol], key, 1)
    knn = float(np.mean(found[:, 0] == names[~enrol]))
    svm = GallerySVM().fit(gallery, key)
    predicted, margins = svm.predict(vectors[~enrol])
    svm_acc = float(np.mean(np.array(predicted, dtype=object) == names[~enrol]))
    assert knn >= 0.85 and svm_acc >= 0.85, (knn, svm_acc)  # 0.89 / 0.92 on all 40 people
    assert sorted(svm.classes) == sorted(set(names)) and margins.shape == (len(predicted),)
    same = (names[~enrol][:, None] == names[enrol][None, :])
    similarity = vectors[~enrol] @ vectors[enrol].T
    assert similarity[same].mean() > similarity[~same].mean() + 0.1


def test_svm_errors(orl) -> None:
    names, vectors, _ = orl
    key = HogFaceEmbedder().key
    with pytest.raises(GalleryError, match="not trained"):
        GallerySVM().predict(vectors[:1])
    gallery = Gallery(":memory:")
    gallery.add("only", vectors[:3], key)
    with pytest.raises(GalleryError, match="at least two people"):
        GallerySVM().fit(gallery, key)
    svm = GallerySVM().fit_arrays(vectors[:20], list(names[:20]), key)
    with pytest.raises(GalleryError, match="trained on"):
        svm.predict(np.zeros((1, 512), np.float32))
    assert svm.predict(np.zeros((0, key.dim), np.float32))[0] == []


def test_bad_arguments() -> None:
    with pytest.raises(ModelError, match="multiple of cell"):
        HogFaceEmbedder(size=60)
    with pytest.raises(ModelError, match=r"\(N, 3, 160, 160\)"):
        HogFaceEmbedder().embed_crops(np.zeros((1, 3, 112, 92), np.float32))
