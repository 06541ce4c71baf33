"""HaarFaceDetector: finds the astronaut's face where MTCNN does, the FaceDetector contract, and FaceRecognizer with it."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torchvision

from detectkit.classical import HaarFaceDetector, HogFaceEmbedder
from detectkit.errors import ModelError, WeightsFormatError, WeightsNotFoundError

from shared_data import need_shared


@pytest.fixture(scope="module")
def haar() -> HaarFaceDetector:
    return HaarFaceDetector()


@pytest.fixture(scope="module")
def pair(astronaut: np.ndarray) -> np.ndarray:
    """The astronaut beside herself at half size: two faces, one twice the other's side."""
    half = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    canvas = np.full((512, 768, 3), 255, np.uint8)
    canvas[:, :512] = astronaut
    canvas[128:384, 512:] = half
    return canvas


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(torchvision.ops.box_iou(torch.as_tensor(a[None], dtype=torch.float32), torch.as_tensor(b[None], dtype=torch.float32))[0, 0])


def test_finds_the_astronauts_face_where_mtcnn_does(haar: HaarFaceDetector, astronaut: np.ndarray) -> None:
    from detectkit.faces import FaceDetector

    faces = haar(astronaut)
    mtcnn = FaceDetector(device="cpu").detect([astronaut])[0]
    assert len(faces) == 1 and len(mtcnn) == 1
    assert _iou(faces.xyxy[0], mtcnn.xyxy[0]) >= 0.5, (faces.xyxy, mtcnn.xyxy)
    x1, y1, x2, y2 = faces.xyxy[0]
    assert 150 < (x1 + x2) / 2 < 300 and 60 < (y1 + y2) / 2 < 180  # her face, top middle of the photo


def test_output_contract(haar: HaarFaceDetector, astronaut: np.ndarray, pair: np.ndarray) -> None:
    found = haar.detect([pair, np.zeros((30, 40, 3), np.uint8), astronaut])
    assert [len(d) for d in found] == [2, 0, 1]
    two = found[0]
    assert two.xyxy.dtype == np.float32 and two.confidence.dtype == np.float32 and two.class_id.dtype == np.int64
    assert two.labels == ["face", "face"] and two.names == {0: "face"} and haar.names == {0: "face"}
    assert two.landmarks is None
    assert two.image_shape == pair.shape[:2] and found[1].image_shape == (30, 40)
    assert ((two.confidence > 0) & (two.confidence <= 1)).all() and two.confidence[0] >= two.confidence[1]
    big, small = sorted(two.xyxy.tolist(), key=lambda b: -(b[2] - b[0]))
    assert 1.6 < (big[2] - big[0]) / (small[2] - small[0]) < 2.5
    assert small[0] > 512, "the small face is in the right-hand copy"


def test_keep_and_conf(astronaut: np.ndarray, pair: np.ndarray) -> None:
    largest = HaarFaceDetector(keep="largest")(pair)
    assert len(largest) == 1 and largest.xyxy[0, 0] < 512
    assert len(HaarFaceDetector(keep="most_confident")(pair)) == 1
    score = float(HaarFaceDetector()(astronaut).confidence[0])
    assert len(HaarFaceDetector(conf=score - 0.01)(astronaut)) == 1
    assert len(HaarFaceDetector(conf=min(score + 0.01, 1.0))(astronaut)) == 0


def test_accepts_paths_and_lists(haar: HaarFaceDetector, astronaut: np.ndarray, tmp_path: Path) -> None:
    path = tmp_path / "astronaut.png"
    cv2.imwrite(str(path), astronaut)
    from_path = haar(path)
    np.testing.assert_array_equal(from_path.xyxy, haar(astronaut).xyxy)
    assert [len(d) for d in haar([path, astronaut])] == [1, 1]


def test_group_photo_counts(haar: HaarFaceDetector) -> None:
    photo = need_shared("data/faces/face_recognition_examples/examples/two_people.jpg")
    faces = haar(photo)
    assert len(faces) >= 2
    left = faces.xyxy[(faces.xyxy[:, 0] + faces.xyxy[:, 2]) / 2 < 563]
    right = faces.xyxy[(faces.xyxy[:, 0] + faces.xyxy[:, 2]) / 2 >= 563]
    assert len(left) >= 1 and len(right) >= 1, "one face on each half of two_people.jpg"


def test_bad_cascade_and_inputs(tmp_path: Path) -> None:
    with pytest.raises(WeightsNotFoundError, match="no_such_cascade.xml"):
        HaarFaceDetector("no_such_cascade.xml")
    junk = tmp_path / "junk.xml"
    junk.write_text("<opencv_storage><nothing/></opencv_storage>")
    with pytest.raises(WeightsFormatError, match="junk.xml"):
        HaarFaceDetector(junk)
    with pytest.raises(ModelError, match="image 0: HaarFaceDetector.detect"):
        HaarFaceDetector().detect([np.zeros((10, 10, 3), np.float32)])
    with pytest.raises(ModelError, match="scale_factor"):
        HaarFaceDetector(scale_factor=1.0)


def test_face_recognizer_with_haar_and_hog(astronaut: np.ndarray, pair: np.ndarray, coffee: np.ndarray) -> None:
    from detectkit.faces import FaceRecognizer, QualityPolicy

    recognizer = FaceRecognizer(
        detector=HaarFaceDetector(),
        embedder=HogFaceEmbedder(),
        threshold=0.6,
        quality=QualityPolicy(min_probability=0.5),
    )
    report = recognizer.enroll("Eileen Collins", [astronaut, coffee])
    assert report.faces_used == 1 and [r.reason for r in report.rejected] == ["no_face"]
    assert recognizer.verify(pair, "Eileen Collins").verified
    found = recognizer.identify_arrays([pair])[0]
    assert list(found.identity) == ["Eileen Collins", "Eileen Collins"]
    assert found.similarity[0] > 0.9 and found.similarity[1] >= 0.6  # the same pixels; half size, resampled
    assert found.embedding.shape == (2, HogFaceEmbedder().dim)
    matches = recognizer.identify(pair, top_k=1)
    assert [m.identity for m in matches] == ["Eileen Collins"] * 2 and matches[0].landmarks is None
