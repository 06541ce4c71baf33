"""The face gates at their edges: the enrolment size check measures a face's shorter side, and a
similarity exactly equal to the recogniser's threshold is a match (``>=``), in ``match``,
``identify`` and ``verify``.

The similarities here are exact in float32: the enrolled vector is ``e0`` and the probe is
``(0.5, 0.5, 0.5, 0.5)`` (norm exactly 1), so their cosine is exactly 0.5 (issue 16).
"""

from __future__ import annotations

import numpy as np
import pytest

from detectkit.detections import Detections
from detectkit.faces import FaceRecognizer, ModelKey
from detectkit.faces.align import box_crops
from detectkit.faces.embedders import CropSpec
from detectkit.faces.gallery import Gallery
from detectkit.faces.quality import QualityPolicy, assess

KEY = ModelKey("exact-4", "v1", 4)
PROBE = np.full(4, 0.5, np.float32)  # unit length; cosine with e0 is exactly 0.5
E0 = np.array([1, 0, 0, 0], np.float32)


def faces(*boxes, probability=0.99) -> Detections:
    return Detections(np.array(boxes, np.float32), [probability] * len(boxes), [0] * len(boxes), {0: "face"})


IMAGE = np.zeros((300, 300, 3), np.uint8)
NO_BLUR_CHECK = dict(min_sharpness=0)


def test_too_small_looks_at_the_shorter_side():
    policy = QualityPolicy(min_face_size=40, **NO_BLUR_CHECK)
    wide = assess(IMAGE, faces([0, 0, 120, 39]), policy)  # long side 120, short side 39
    assert (wide.index, wide.reason) == (None, "too_small")
    assert "39 px" in wide.detail
    tall = assess(IMAGE, faces([0, 0, 39, 120]), policy)
    assert tall.reason == "too_small"
    at_minimum = assess(IMAGE, faces([0, 0, 40, 120]), policy)  # shorter side exactly 40: accepted
    assert (at_minimum.index, at_minimum.reason) == (0, None)


def test_the_face_chosen_is_the_one_with_the_largest_shorter_side():
    policy = QualityPolicy(min_face_size=40, single_face=False, **NO_BLUR_CHECK)
    # face 0: 200x45 (short side 45); face 1: 60x60 (short side 60): face 1 is the bigger face
    result = assess(IMAGE, faces([0, 0, 200, 45], [100, 100, 160, 160]), policy)
    assert result.index == 1
    # single-face policy: both pass the size check, so the photo is ambiguous
    both = assess(IMAGE, faces([0, 0, 200, 45], [100, 100, 160, 160]), QualityPolicy(min_face_size=40, **NO_BLUR_CHECK))
    assert both.reason == "several_faces"
    # a 200x39 face does not count as a second usable face
    one = assess(IMAGE, faces([0, 0, 200, 39], [100, 100, 160, 160]), QualityPolicy(min_face_size=40, **NO_BLUR_CHECK))
    assert (one.index, one.reason) == (1, None)


def test_probability_and_sharpness_floors_are_inclusive():
    at = assess(IMAGE, faces([0, 0, 80, 80], probability=0.5), QualityPolicy(min_probability=0.5, **NO_BLUR_CHECK))
    assert at.index == 0
    below = assess(IMAGE, faces([0, 0, 80, 80], probability=0.49), QualityPolicy(min_probability=0.5, **NO_BLUR_CHECK))
    assert below.reason == "low_probability"
    flat = assess(IMAGE, faces([0, 0, 80, 80]), QualityPolicy(min_sharpness=1e-9))  # a black face has sharpness 0
    assert flat.reason == "too_blurry" and flat.sharpness == 0.0


class FixedEmbedder:
    """Every face embeds to ``PROBE``: the similarity with ``E0`` is exactly 0.5."""

    crop = CropSpec(8)
    device = "cpu"
    key = KEY

    def crops(self, image, faces, out=None):
        return box_crops(image, faces, self.crop, out=out)

    def embed_crops(self, crops):
        return np.tile(PROBE, (len(crops), 1))

    def embed(self, image, faces):
        return self.embed_crops(self.crops(image, faces))


class OneFace:
    def detect(self, images):
        return [faces([10, 10, 90, 90]) for _ in images]


@pytest.fixture()
def recognizer():
    gallery = Gallery(":memory:")
    gallery.add("ann", E0[None], KEY)
    rec = FaceRecognizer(gallery, embedder=FixedEmbedder(), detector=OneFace(), threshold=0.5)
    yield rec
    gallery.close()


def test_a_similarity_equal_to_the_threshold_is_a_match(recognizer):
    names, sims = recognizer.match(PROBE)
    assert sims.tolist() == [0.5] and names == ["ann"]
    photo = np.full((100, 100, 3), 128, np.uint8)
    (face,) = recognizer.identify(photo)
    assert face.similarity == 0.5 and face.identity == "ann"
    verdict = recognizer.verify(photo, "ann")
    assert verdict.similarity == 0.5 and verdict.verified
    (found,) = recognizer.identify_arrays([photo])
    assert found.identity.tolist() == ["ann"]


def test_just_above_the_similarity_is_no_match(recognizer):
    recognizer.threshold = float(np.nextafter(np.float32(0.5), np.float32(1)))
    assert recognizer.match(PROBE)[0] == [None]
    photo = np.full((100, 100, 3), 128, np.uint8)
    assert recognizer.identify(photo)[0].identity is None
    assert not recognizer.verify(photo, "ann").verified


def test_gallery_search_ranks_by_cosine_and_pads():
    gallery = Gallery(":memory:")
    gallery.add("ann", E0[None], KEY)
    gallery.add("bob", PROBE[None], KEY)
    gallery.add("cid", np.array([[0, 1, 0, 0]], np.float32), KEY)
    names, sims = gallery.search_arrays(np.array([[1, 0, 0, 0], [0, 0, 0, 2]], np.float32), KEY, top_k=4)
    assert names[0].tolist() == ["ann", "bob", "cid", None]
    assert names[1, 0] == "bob" and set(names[1, 1:3]) == {"ann", "cid"} and names[1, 3] is None  # ann, cid tie at 0
    assert sims[0, :3].tolist() == [1.0, 0.5, 0.0] and np.isnan(sims[0, 3])
    assert sims[1, 0] == 0.5 and sims[1, 1:3].tolist() == [0.0, 0.0]
    best = gallery.search(PROBE, KEY, top_k=1)[0]
    assert [(m.name, m.similarity) for m in best] == [("bob", 1.0)]
    gallery.close()


def test_sides_are_measured_from_each_box_corner():
    policy = QualityPolicy(min_face_size=40, **NO_BLUR_CHECK)
    # x1 != y1: width 120 and height 39 only when each side uses its own corners
    assert assess(IMAGE, faces([50, 10, 170, 49]), policy).reason == "too_small"
    assert assess(IMAGE, faces([10, 50, 50, 170]), policy).index == 0  # 40 x 120


def test_with_no_usable_face_the_reason_is_about_the_largest():
    # a small sure face and a big unsure one: the big one is the candidate, rejected for its probability
    photo = Detections(np.array([[0, 0, 20, 20], [100, 100, 180, 180]], np.float32), [0.99, 0.5], [0, 0], {0: "face"})
    result = assess(IMAGE, photo, QualityPolicy(min_face_size=40, **NO_BLUR_CHECK))
    assert result.reason == "low_probability" and "0.500" in result.detail
    small_only = Detections(np.array([[0, 0, 20, 20], [100, 100, 130, 130]], np.float32), [0.99, 0.99], [0, 0], {0: "face"})
    assert "30 px" in assess(IMAGE, small_only, QualityPolicy(min_face_size=40, **NO_BLUR_CHECK)).detail


def test_the_sharpness_floor_is_inclusive_and_zero_turns_it_off():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (120, 120, 3), dtype=np.uint8)
    face = faces([10, 10, 110, 110])
    off = assess(image, face, QualityPolicy(min_sharpness=0))
    assert off.index == 0 and off.sharpness is None  # not even measured
    measured = assess(image, face, QualityPolicy(min_sharpness=1.0)).sharpness
    assert measured > 1.0
    assert assess(image, face, QualityPolicy(min_sharpness=measured)).index == 0  # exactly at the floor
    above = assess(image, face, QualityPolicy(min_sharpness=float(np.nextafter(measured, np.inf))))
    assert above.reason == "too_blurry" and above.sharpness == measured


def test_match_of_no_embeddings_is_empty(recognizer):
    names, sims = recognizer.match(np.zeros((0, 4), np.float32))
    assert names == [] and sims.shape == (0,) and sims.dtype == np.float32


def test_verify_names_the_models_a_person_has_when_not_this_one(recognizer):
    from detectkit.errors import GalleryError

    recognizer.gallery.add("bob", E0[None], ModelKey("other-model", "v9", 4))
    with pytest.raises(GalleryError, match=r"has no embeddings of .*exact-4.*\(has: .*other-model") as caught:
        recognizer.verify(np.full((100, 100, 3), 128, np.uint8), "bob")
    assert "has: none" not in str(caught.value)


class TwoFaces:
    def detect(self, images):
        return [faces([10, 10, 40, 40], [50, 50, 90, 90]) for _ in images]


class PerFaceEmbedder(FixedEmbedder):
    """The first face embeds to e1 (cosine 0 with ann), the second to PROBE (cosine 0.5)."""

    def embed_crops(self, crops):
        rows = [np.array([0, 1, 0, 0], np.float32), PROBE]
        return np.stack([rows[i % 2] for i in range(len(crops))])


def test_verify_takes_the_best_face_and_the_best_enrolled_embedding():
    gallery = Gallery(":memory:")
    gallery.add("ann", np.stack([E0, -E0]), KEY)  # two embeddings: PROBE scores 0.5 with one, -0.5 with the other
    with FaceRecognizer(gallery, embedder=PerFaceEmbedder(), detector=TwoFaces(), threshold=0.5) as rec:
        verdict = rec.verify(np.full((100, 100, 3), 128, np.uint8), "ann")
    assert verdict.similarity == 0.5 and verdict.verified and verdict.faces == 2
    assert verdict.box == (50.0, 50.0, 90.0, 90.0)  # the second face, the one like ann
    gallery.close()


def test_gallery_search_defaults_to_one_and_refuses_bad_queries():
    from detectkit.errors import GalleryError

    gallery = Gallery(":memory:")
    gallery.add("ann", E0[None], KEY)
    gallery.add("bob", PROBE[None], KEY)
    names, sims = gallery.search_arrays(PROBE, KEY)
    assert names.shape == sims.shape == (1, 1) and names[0, 0] == "bob"
    assert [[m.name for m in row] for row in gallery.search(np.stack([PROBE, E0]), KEY)] == [["bob"], ["ann"]]
    with pytest.raises(GalleryError, match=r"shape \(1, 3\)"):
        gallery.search_arrays(np.ones((1, 3), np.float32), KEY)
    for bad in (np.zeros(4, np.float32), np.array([np.nan, 1, 0, 0], np.float32), np.array([np.inf, 0, 0, 0], np.float32)):
        with pytest.raises(GalleryError, match="NaN, infinite or all-zero"):
            gallery.search_arrays(bad, KEY)
    gallery.close()
