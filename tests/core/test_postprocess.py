"""The one post-filter (conf >=, classes before max_det, NMS, max_det) on hand-made arrays."""

from __future__ import annotations

import numpy as np
import pytest

from detectkit.detection.base import PredictOptions
from detectkit.detection.postprocess import filtered_detections, post_filter

BOXES = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 10]], np.float32)


def keep(scores, labels, boxes=None, nms=False, **options) -> list[int]:
    boxes = np.zeros((len(scores), 4), np.float32) if boxes is None else boxes
    return post_filter(boxes, np.array(scores, np.float32), np.array(labels, np.int64), PredictOptions(**options), nms=nms).tolist()


def test_a_score_equal_to_conf_is_kept():
    assert keep([0.5, 0.4999, 0.6], [0, 0, 0], conf=0.5) == [2, 0]
    assert keep([0.25, 0.25], [0, 1], conf=0.25) == [0, 1], "equal scores keep their order"
    assert keep([0.1], [0], conf=0.0) == [0]
    assert keep([0.99], [0], conf=1.0) == []


def test_classes_are_applied_before_max_det():
    scores, labels = [0.9, 0.8, 0.7, 0.6], [0, 0, 1, 1]
    assert keep(scores, labels, classes=(1,), max_det=1) == [2], "max_det first would have kept only class 0"
    assert keep(scores, labels, classes=(1, 0), max_det=3) == [0, 1, 2]
    assert keep(scores, labels, classes=(5,)) == []


def test_max_det_keeps_the_best_in_score_order():
    assert keep([0.3, 0.9, 0.5, 0.7], [0, 0, 0, 0], max_det=2) == [1, 3]
    assert keep([0.3, 0.9, 0.5, 0.7], [0, 0, 0, 0], max_det=300) == [1, 3, 2, 0]


def test_nms_is_class_wise_and_only_when_asked():
    scores, labels = [0.9, 0.8, 0.7, 0.6], [0, 0, 0, 1]
    # box 1 overlaps box 0 (IoU 0.68) in the same class; box 3 is box 0's twin in another class
    assert keep(scores, labels, BOXES, nms=True, iou=0.5) == [0, 2, 3]
    assert keep(scores, labels, BOXES, nms=True, iou=0.7) == [0, 1, 2, 3]
    assert keep(scores, labels, BOXES, nms=False, iou=0.5) == [0, 1, 2, 3]
    assert keep(scores, labels, BOXES, nms=True, iou=0.5, classes=(0,), max_det=2) == [0, 2]


def test_filtered_detections_types_and_empty_input():
    det = filtered_detections(BOXES.astype(np.float64), np.array([0.9, 0.2, 0.5, 0.1]), np.array([1, 1, 0, 0], np.int32),
                              PredictOptions(conf=0.3), {0: "cat", 1: "dog"}, (100, 80))
    assert det.xyxy.dtype == np.float32 and det.confidence.dtype == np.float32 and det.class_id.dtype == np.int64
    assert det.labels == ["dog", "cat"] and det.image_shape == (100, 80)
    np.testing.assert_array_equal(det.xyxy, BOXES[[0, 2]])
    empty = filtered_detections(np.zeros((0, 4)), np.zeros(0), np.zeros(0), PredictOptions(classes=(1,)), {1: "dog"}, (5, 5))
    assert len(empty) == 0 and empty.xyxy.shape == (0, 4)


@pytest.mark.parametrize("conf", [0.0, 0.3, 0.8])
def test_the_torchvision_backend_filters_with_it(conf):
    from detectkit import Detector

    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    import torch

    torch.manual_seed(0)
    detector = Detector("fasterrcnn_mobilenet_v3_large_320_fpn", weights=None, device="cpu", conf=conf, max_det=5, classes=[1, 2])
    result = detector(image)
    assert len(result) <= 5 and set(result.class_id.tolist()) <= {1, 2}
    assert (result.confidence >= conf).all() and (np.diff(result.confidence) <= 0).all()
