"""FaceDetector: MTCNN as batched Detections, same boxes as facenet-pytorch, no crash on faceless images."""

from __future__ import annotations

import numpy as np
import pytest

from detectkit import Detections
from detectkit.errors import ModelError
from detectkit.faces import FaceDetector


def _library_detect(image_bgr: np.ndarray):
    """facenet-pytorch's own MTCNN.detect on one image (the reference)."""
    from facenet_pytorch import MTCNN

    mtcnn = MTCNN(keep_all=True, select_largest=False, device="cpu")
    boxes, probs, points = mtcnn.detect(np.ascontiguousarray(image_bgr[:, :, ::-1]), landmarks=True)
    if boxes is None:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)
    return boxes.astype(np.float32), np.asarray(probs, np.float32), points.astype(np.float32)


def _check_geometry(faces: Detections) -> None:
    """Landmarks inside their box; eyes above the nose, nose above the mouth corners."""
    for box, marks in zip(faces.xyxy, faces.landmarks):
        x1, y1, x2, y2 = box
        assert np.all((marks[:, 0] >= x1 - 2) & (marks[:, 0] <= x2 + 2) & (marks[:, 1] >= y1 - 2) & (marks[:, 1] <= y2 + 2))
        left_eye, right_eye, nose, mouth_left, mouth_right = marks
        assert left_eye[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
        assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])


def test_astronaut_face_matches_facenet_pytorch(face_detector, astronaut):
    faces = face_detector.detect([astronaut])[0]
    assert len(faces) == 1 and faces.labels == ["face"] and faces.names == {0: "face"}
    assert faces.confidence[0] > 0.99
    assert faces.image_shape == astronaut.shape[:2]
    boxes, probs, points = _library_detect(astronaut)
    np.testing.assert_allclose(faces.xyxy, boxes, atol=1e-3)
    np.testing.assert_allclose(faces.confidence, probs, atol=1e-5)
    np.testing.assert_allclose(faces.landmarks, points, atol=1e-3)
    _check_geometry(faces)


def test_batch_with_faceless_and_mixed_size_images(face_detector, astronaut, coffee, chelsea):
    """facenet-pytorch issue 224: some images of a batch without a face. Also four different sizes."""
    import cv2

    blank = np.zeros((120, 160, 3), np.uint8)
    half = np.ascontiguousarray(astronaut[::2, ::2])  # 256x256
    other = cv2.resize(astronaut, (200, 200), interpolation=cv2.INTER_AREA)  # same face, another size
    coffee, chelsea = np.ascontiguousarray(coffee[::2, ::2]), np.ascontiguousarray(chelsea[::2, ::2])
    batch = [blank, half, coffee, other, chelsea, blank, half]
    results = face_detector.detect(batch)
    assert [len(r) for r in results] == [0, 1, 0, 1, 0, 0, 1]
    for image, result in zip(batch, results):
        assert result.image_shape == image.shape[:2]
        assert result.landmarks is not None and result.landmarks.shape == (len(result), 5, 2)
    # batched results equal one-image calls
    for i in (0, 1, 2, 3, 4):
        alone = face_detector.detect([batch[i]])[0]
        np.testing.assert_allclose(results[i].xyxy, alone.xyxy, atol=1e-3)
        np.testing.assert_allclose(results[i].confidence, alone.confidence, atol=1e-5)
    np.testing.assert_allclose(results[6].xyxy, results[1].xyxy)
    np.testing.assert_allclose(results[3].xyxy * 256 / 200, results[1].xyxy, rtol=0.05, atol=4)


def test_all_faceless_batch_and_empty_list(face_detector, coffee):
    assert face_detector.detect([]) == []
    results = face_detector.detect([coffee, np.zeros((40, 40, 3), np.uint8)])
    assert [len(r) for r in results] == [0, 0]
    assert results[0].landmarks.shape == (0, 5, 2)


def test_two_person_photos_find_both_faces(face_detector, shared):
    base = shared("data/faces/face_recognition_examples/examples")
    from detectkit.images import load_image

    photos = [base / "two_people.jpg", base / "knn_examples/test/obama_and_biden.jpg", base / "knn_examples/test/kit_with_rose.jpg"]
    images = [load_image(p) for p in photos]
    for path, image, faces in zip(photos, images, face_detector.detect(images)):
        # the two people are the two largest faces (obama_and_biden also shows a child and a false hit)
        pair = faces[np.argsort(-faces.area)[:2]]
        assert len(pair) == 2 and np.all(pair.confidence > 0.99), f"{path.name}: {faces}"
        assert pair.area.min() > 0.4 * pair.area.max()
        _check_geometry(pair)
        (a, b) = pair.xyxy  # two different people: the boxes do not overlap
        assert min(a[2], b[2]) <= max(a[0], b[0]) or min(a[3], b[3]) <= max(a[1], b[1])


def test_keep_options_and_min_face_size(shared):
    from detectkit.images import load_image

    image = load_image(shared("data/faces/face_recognition_examples/examples/two_people.jpg"))[::2, ::2].copy()
    all_faces = FaceDetector(device="cpu").detect([image])[0]
    assert len(all_faces) >= 2 and np.all(np.diff(all_faces.confidence) <= 0)  # best first
    largest = FaceDetector(keep="largest", device="cpu").detect([image])[0]
    best = FaceDetector(keep="most_confident", device="cpu").detect([image])[0]
    assert len(largest) == len(best) == 1
    assert largest.area[0] == pytest.approx(all_faces.area.max())
    assert best.confidence[0] == pytest.approx(all_faces.confidence.max())
    smallest_side = float(np.min(np.minimum(all_faces.xyxy[:, 2] - all_faces.xyxy[:, 0], all_faces.xyxy[:, 3] - all_faces.xyxy[:, 1])))
    too_big = FaceDetector(min_face_size=int(smallest_side * 3), device="cpu").detect([image])[0]
    assert len(too_big) < len(all_faces)


def test_call_on_paths_and_single_image(face_detector, astronaut, tmp_path):
    import cv2

    path = tmp_path / "astronaut.png"
    cv2.imwrite(str(path), astronaut)
    one = face_detector(path)
    assert isinstance(one, Detections) and len(one) == 1
    many = face_detector([path, astronaut])
    assert [len(d) for d in many] == [1, 1]
    np.testing.assert_allclose(many[0].xyxy, many[1].xyxy, atol=1e-3)  # PNG is lossless


def test_bad_input_and_options_are_clear_errors(face_detector):
    with pytest.raises(ModelError, match="HxWx3 uint8 BGR"):
        face_detector.detect([np.zeros((10, 10), np.uint8)])
    with pytest.raises(ModelError, match="image 1"):
        face_detector.detect([np.zeros((10, 10, 3), np.uint8), np.zeros((10, 10, 3), np.float32)])
    with pytest.raises(ModelError, match="min_face_size"):
        FaceDetector(min_face_size=5, device="cpu")
    with pytest.raises(ModelError, match="thresholds"):
        FaceDetector(thresholds=(0.6, 0.7), device="cpu")
    with pytest.raises(ModelError, match="keep"):
        FaceDetector(keep="biggest", device="cpu")  # type: ignore[arg-type]


def test_thread_safe(face_detector, astronaut):
    from concurrent.futures import ThreadPoolExecutor

    expected = face_detector.detect([astronaut])[0].xyxy
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: face_detector.detect([astronaut])[0].xyxy, range(3)))
    for xyxy in results:
        np.testing.assert_allclose(xyxy, expected, atol=1e-4)
