"""Detector("opencv-hog-people"): real pedestrians found where Penn-Fudan's boxes are, and the thresholds contract."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torchvision

from detectkit import Detector, PredictOptions
from detectkit.classical._common import margin_for, nms, platt
from detectkit.classical.hog_people import CALIBRATION, HogPeopleBackend, shrink_boxes
from detectkit.errors import ModelError

from shared_data import need_shared


@pytest.fixture(scope="module")
def hog() -> Detector:
    return Detector("opencv-hog-people")


@pytest.fixture(scope="module")
def pennfudan():
    from detectkit import load_dataset

    return load_dataset(need_shared("data/detection/pennfudan"), "train")


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return torchvision.ops.box_iou(torch.from_numpy(np.asarray(a, np.float32)), torch.from_numpy(np.asarray(b, np.float32))).numpy()


def test_routed_by_name_with_person_class(hog: Detector) -> None:
    assert isinstance(hog.backend, HogPeopleBackend)
    assert hog.family == "opencv-hog" and hog.names == {0: "person"}


def test_finds_the_pedestrians_of_a_penn_fudan_photo(hog: Detector, pennfudan) -> None:
    sample = pennfudan[3]  # FudanPed00004: two people walking
    assert sample.image_path.name == "FudanPed00004.png" and len(sample.xyxy) == 2
    found = hog(str(sample.image_path), conf=0.3)
    assert found.labels and set(found.labels) == {"person"}
    iou = _iou(found.xyxy, sample.xyxy)
    assert (iou.max(axis=0) >= 0.5).all(), f"every annotated person matched at IoU 0.5: {iou.max(axis=0)}"


def test_ap_on_penn_fudan_subset(hog: Detector, pennfudan) -> None:
    from detectkit import evaluate

    report = evaluate(hog, pennfudan[:16], conf=0.001, iou=0.6)
    assert 0.3 <= report.map50 <= 0.95  # 0.47 on all 170 photos; YOLOv8n gets ~0.97
    assert report.map < report.map50


def test_output_contract_and_conf(hog: Detector, astronaut: np.ndarray) -> None:
    low = hog(astronaut, conf=0.05)
    assert len(low) >= 3
    assert low.xyxy.dtype == np.float32 and low.confidence.dtype == np.float32 and low.class_id.dtype == np.int64
    assert low.image_shape == astronaut.shape[:2]
    assert (low.confidence >= 0.05).all() and (low.confidence <= 1).all()
    assert (np.diff(low.confidence) <= 0).all(), "best first"
    assert (low.xyxy[:, :2] >= 0).all() and (low.xyxy[:, 2] <= 512).all() and (low.xyxy[:, 3] <= 512).all()
    high = hog(astronaut, conf=0.2)
    assert 0 < len(high) < len(low)
    assert (high.confidence >= 0.2).all()
    assert len(hog(astronaut, conf=1.0)) == 0


def test_nms_iou_and_max_det(hog: Detector, astronaut: np.ndarray) -> None:
    loose = hog(astronaut, conf=0.01, iou=0.7)
    tight = hog(astronaut, conf=0.01, iou=0.2)
    assert len(tight) < len(loose)
    overlap = _iou(tight.xyxy, tight.xyxy) - np.eye(len(tight))
    assert overlap.max() <= 0.2 + 1e-6
    top = hog(astronaut, conf=0.01, iou=0.7, max_det=3)
    assert len(top) == 3
    np.testing.assert_allclose(top.confidence, loose.confidence[:3])


def test_class_filter(hog: Detector, astronaut: np.ndarray) -> None:
    every = hog(astronaut, conf=0.05)
    assert len(hog(astronaut, conf=0.05, classes=["person"])) == len(every)
    assert len(hog.backend.predict([astronaut], PredictOptions(conf=0.05, classes=(3,)))[0]) == 0
    with pytest.raises(ModelError, match="unknown class 'car'"):
        hog(astronaut, classes=["car"])


def test_imgsz_boxes_come_back_in_original_pixels(hog: Detector, pennfudan) -> None:
    image = cv2.imread(str(pennfudan[3].image_path))
    h, w = image.shape[:2]
    image = np.ascontiguousarray(image[: h - h % 2, : w - w % 2])  # even sides: the half size is exact
    half = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
    direct = hog(half, conf=0.05)
    scaled = hog(image, conf=0.05, imgsz=max(half.shape[:2]))
    assert len(scaled) == len(direct) > 0
    np.testing.assert_allclose(scaled.xyxy, 2 * direct.xyxy, atol=1e-3)
    np.testing.assert_allclose(scaled.confidence, direct.confidence)
    assert scaled.image_shape == image.shape[:2]


def test_score_is_platt_of_margin_and_threshold_inverts_it() -> None:
    margins = np.linspace(-3, 3, 13)
    scores = platt(margins, CALIBRATION)
    assert (np.diff(scores) > 0).all()
    assert abs(float(platt(-CALIBRATION[1] / CALIBRATION[0], CALIBRATION)) - 0.5) < 1e-6
    for conf in (0.1, 0.25, 0.9):
        assert abs(float(platt(margin_for(conf, CALIBRATION), CALIBRATION)) - conf) < 1e-5
    assert margin_for(0.0, CALIBRATION) < -1e5 and margin_for(1.0, CALIBRATION) == float("inf")


def test_shrink_and_nms_helpers() -> None:
    window = np.array([[100, 50, 164, 178]], np.float32)
    body = shrink_boxes(window)[0]
    assert body[0] > 100 and body[2] < 164 and body[1] > 50 and body[3] < 178
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 11], [20, 20, 30, 30]], np.float32)
    assert nms(boxes, np.array([0.5, 0.9, 0.1], np.float32), 0.2, 0.5, 10).tolist() == [1]


def test_bad_inputs_are_named() -> None:
    backend = HogPeopleBackend()
    with pytest.raises(ModelError, match="image 1: the HOG people detector takes HxWx3 uint8"):
        backend.predict([np.zeros((64, 64, 3), np.uint8), np.zeros((64, 64), np.float32)], PredictOptions())
    with pytest.raises(ModelError, match="multiple of 8"):
        HogPeopleBackend(win_stride=5)
