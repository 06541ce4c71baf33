"""FaceRecognizer with a random (seeded) FaceNet: enrolment checks, verify, identify, thresholds,
unknowns, and the batched calls the video pipeline makes.

A random network does not recognise people, so the tests rely only on what holds for any
fixed embedding function: a photo matches itself (similarity 1), a re-compressed copy of it
matches better than other people's photos do, and thresholds decide exactly as documented.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from detectkit import Detections
from detectkit.errors import FaceError, GalleryError
from detectkit.faces import FaceRecognizer, Gallery, QualityPolicy
from detectkit.faces.recognizer import DEFAULT_THRESHOLDS, default_threshold


@pytest.fixture(scope="module")
def eileen(astronaut):
    """scikit-image's astronaut (Eileen Collins) at 256x256: a 45 px face, cheap to detect."""
    return cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def cup(coffee):
    """scikit-image's coffee cup at 200x300: no face anywhere."""
    return np.ascontiguousarray(coffee[::2, ::2])


def jpeg(image: np.ndarray, quality: int = 70) -> np.ndarray:
    return cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)


@pytest.fixture(scope="module")
def photos(people):
    """The photos scaled to 360 px on the long side (faces stay 45-120 px; detection is much cheaper)."""
    from detectkit.images import load_image

    out = {}
    for name, path in people.items():
        image = load_image(path)
        scale = 360 / max(image.shape[:2])
        out[name] = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return out


def test_enrol_reports_every_rejection_and_writes_the_rest(recognizer, eileen, tmp_path):
    blurred = cv2.GaussianBlur(eileen, (0, 0), 2)
    unreadable = tmp_path / "broken.jpg"
    unreadable.write_bytes(b"\xff\xd8 not really a jpeg")
    tiny = cv2.resize(eileen, (160, 160), interpolation=cv2.INTER_AREA)  # face ~28 px
    report = recognizer.enroll(
        "Eileen", [eileen, np.zeros((90, 90, 3), np.uint8), unreadable, blurred, tiny, tmp_path / "missing.png"]
    )
    reasons = {r.source: r.reason for r in report.rejected}
    assert report.faces_used == 1 and report.created and report.embeddings == 1
    assert sorted(reasons.values()) == ["no_face", "too_blurry", "too_small", "unreadable", "unreadable"]
    assert reasons[str(unreadable)] == "unreadable" and "missing.png" in " ".join(reasons)
    assert [r["reason"] for r in report.to_dict()["rejected"]] == [r.reason for r in report.rejected]
    assert "rejected" in report.summary() and "face too small" in report.summary()
    assert recognizer.gallery.names() == ["Eileen"]


def test_several_faces_and_low_probability_are_rejected(recognizer, eileen, shared):
    from detectkit.images import load_image

    group = load_image(shared("data/faces/face_recognition_examples/examples/two_people.jpg"))
    report = recognizer.enroll("Someone", [eileen, group])
    assert [r.reason for r in report.rejected] == ["several_faces"]
    picky = FaceRecognizer(
        None, detector=recognizer.detector, embedder=recognizer.embedder,
        quality=QualityPolicy(min_probability=0.999999999),
    )
    with pytest.raises(FaceError, match="no usable face") as info:
        picky.enroll("Astro", eileen)
    assert [r.reason for r in info.value.report.rejected] == ["low_probability"]


def test_failed_enrolments_write_nothing(recognizer, eileen, cup):
    recognizer.enroll("Eileen", eileen)
    before = recognizer.gallery.identities()
    with pytest.raises(FaceError, match="cannot enrol 'Nobody': no usable face"):
        recognizer.enroll("Nobody", [cup, np.zeros((60, 60, 3), np.uint8)])
    with pytest.raises(FaceError, match="strict"):
        recognizer.enroll("Eileen", [eileen, cup], strict=True)
    with pytest.raises(GalleryError, match="invalid name"):
        recognizer.enroll("bad\x00name", eileen)
    with pytest.raises(GalleryError, match="JSON"):
        recognizer.enroll("Eileen", eileen, metadata={"x": {1, 2}})
    with pytest.raises(FaceError, match="no photos"):
        recognizer.enroll("Eileen", [])
    # enrol_many: one person without a usable photo stops everyone before any write
    with pytest.raises(FaceError, match="'B'"):
        recognizer.enroll_many({"A": [eileen], "B": [cup]})
    assert recognizer.gallery.identities() == before


def test_same_photo_matches_itself_and_beats_other_people(recognizer, photos):
    recognizer.enroll_many({"obama": photos["obama"], "biden": photos["biden"], "rose": photos["rose"]})
    result = recognizer.verify(photos["obama"], "obama")
    assert result.verified and result.similarity == pytest.approx(1.0, abs=1e-5) and result.faces == 1
    copy = recognizer.verify(jpeg(photos["obama"]), "obama")
    others = [recognizer.verify(photos[p], "obama").similarity for p in ("biden", "rose", "alex")]
    assert copy.similarity > max(others)
    # identify: the photo's own entry first, with the gallery's other people after it
    face = recognizer.identify(photos["rose"], top_k=3)[0]
    assert face.identity == "rose" and [m.name for m in face.candidates][0] == "rose"
    assert len(face.candidates) == 3 and face.candidates[0].similarity >= face.candidates[1].similarity >= face.candidates[2].similarity


def test_threshold_decides_and_unknowns_are_reported(recognizer, photos):
    recognizer.enroll("obama", photos["obama"])
    stranger = recognizer.identify(photos["alex"], top_k=1)[0]
    s = stranger.similarity
    assert s < 0.999
    recognizer.threshold = min(1.0, s + 0.001)  # just above the stranger's best similarity
    face = recognizer.identify(photos["alex"])[0]
    assert face.identity is None and face.similarity == pytest.approx(s) and face.candidates[0].name == "obama"
    verdict = recognizer.verify(photos["alex"], "obama")
    assert not verdict.verified and verdict.threshold == recognizer.threshold
    assert recognizer.identify(photos["obama"])[0].identity == "obama"  # the enrolled photo still passes
    recognizer.threshold = s - 0.001  # just below: now the stranger is (wrongly) taken for obama
    assert recognizer.identify(photos["alex"])[0].identity == "obama"
    assert recognizer.match(recognizer.embed(photos["alex"], recognizer.detect([photos["alex"]])[0]))[0] == ["obama"]


def test_verify_and_identify_errors(recognizer, eileen, cup, other_state):
    with pytest.raises(GalleryError, match="no identity named 'Eileen'"):
        recognizer.verify(eileen, "Eileen")
    recognizer.enroll("Eileen", eileen)
    with pytest.raises(FaceError, match="no face found"):
        recognizer.verify(cup, "Eileen")
    assert recognizer.identify(cup) == []
    # an embedder of other weights must not compare its vectors with the stored ones
    other = FaceRecognizer(recognizer.gallery, detector=recognizer.detector, embedder=other_state)
    with pytest.raises(GalleryError, match="has no embeddings of facenet-custom"):
        other.verify(eileen, "Eileen")
    with pytest.raises(GalleryError, match="holds embeddings of facenet-test@.* only"):
        other.identify(eileen)


def test_video_pipeline_interface(recognizer, eileen, photos):
    """detect / embed / match / identify_arrays: batched, faceless frames, consistent with each other."""
    recognizer.enroll_many({"Eileen": eileen, "obama": photos["obama"]})
    frames = [np.zeros((100, 140, 3), np.uint8), eileen, photos["obama"], photos["rose"]]
    found = recognizer.detect(frames)
    assert [len(d) for d in found] == [0, 1, 1, 1]
    assert all(d.names == {0: "face"} and d.landmarks is not None for d in found)
    vectors = recognizer.embed(eileen, found[1])
    assert vectors.shape == (1, recognizer.embedder.dim) and vectors.dtype == np.float32
    assert recognizer.embed(frames[0], found[0]).shape == (0, recognizer.embedder.dim)
    names, sims = recognizer.match(np.concatenate([vectors, recognizer.embed(photos["rose"], found[3])]))
    assert names[0] == "Eileen" and sims.dtype == np.float32 and sims[0] == pytest.approx(1.0, abs=1e-5)
    assert recognizer.match(np.zeros((0, recognizer.embedder.dim), np.float32)) == ([], pytest.approx(np.zeros(0)))

    results = recognizer.identify_arrays(frames)
    assert [len(r) for r in results] == [0, 1, 1, 1]
    assert results[1].identity.tolist() == ["Eileen"] and results[2].identity.tolist() == ["obama"]
    for frame, result, faces in zip(frames, results, found):
        assert isinstance(result, Detections) and result.embedding.shape == (len(result), recognizer.embedder.dim)
        np.testing.assert_allclose(result.xyxy, faces.xyxy)
        if len(result):
            expected_names, expected_sims = recognizer.match(recognizer.embed(frame, faces))
            assert result.identity.tolist() == expected_names
            np.testing.assert_allclose(result.similarity, expected_sims, atol=1e-5)
    rose = results[3]  # not enrolled: whoever is closest, named only at or above the threshold
    closest = recognizer.gallery.search(rose.embedding, recognizer.embedder.key)[0][0]
    assert rose.identity[0] == (closest.name if closest.similarity >= recognizer.threshold else None)
    # boxes from elsewhere (a tracker, partly outside the frame) still embed
    odd = Detections(np.array([[-20, -20, 60, 90], [400, 400, 900, 900]], np.float32), [1, 1], [0, 0], {0: "face"})
    assert recognizer.embed(eileen, odd).shape == (2, recognizer.embedder.dim)


def test_empty_gallery_gives_unknown_with_nan(recognizer, eileen):
    results = recognizer.identify_arrays([eileen])
    assert results[0].identity.tolist() == [None] and np.isnan(results[0].similarity).all()


def test_gallery_management_and_persistence(embedder, face_detector, eileen, tmp_path):
    path = tmp_path / "people.db"
    with FaceRecognizer(path, detector=face_detector, embedder=embedder) as rec:
        rec.enroll("Eileen", eileen, metadata={"role": "eileen"})
        rec.rename("Eileen", "Eileen Collins")
        exported = rec.export(tmp_path / "people.json")
    with FaceRecognizer(Gallery(path), detector=face_detector, embedder=embedder) as rec:
        assert [p.name for p in rec.list()] == ["Eileen Collins"]
        assert rec.verify(eileen, "Eileen Collins").verified
        assert rec.remove("Eileen Collins") == 1 and rec.list() == []
        assert rec.import_from(exported)["identities"] == 1
        assert rec.identify(eileen)[0].identity == "Eileen Collins"


def test_default_threshold_is_documented(embedder):
    assert default_threshold("facenet-vggface2") == DEFAULT_THRESHOLDS["facenet-vggface2"] == 0.46
    import detectkit.faces.recognizer as module

    assert "0.46" in module.__doc__ and "deepface" in module.__doc__ and "calibrate" in module.__doc__
    assert FaceRecognizer(None, embedder=embedder).threshold == 0.46  # no published figure: the fallback
    with pytest.raises(GalleryError, match="threshold"):
        FaceRecognizer(None, embedder=embedder, threshold=3)
