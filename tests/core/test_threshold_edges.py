"""strict_threshold: what the YOLO and torchvision backends hand libraries that keep ``score > t``
so that a score equal to ``conf`` is kept (issue 16)."""

from __future__ import annotations

import numpy as np
import pytest

from detectkit.detection.postprocess import strict_threshold


@pytest.mark.parametrize("conf", [0.25, 0.3, 0.5, 0.999, 1.0, 1e-6])
def test_a_score_equal_to_conf_passes_a_strict_comparison_and_the_float_below_does_not(conf):
    t = strict_threshold(conf)
    at = np.float32(conf)
    below = np.nextafter(at, np.float32(0))
    assert bool(at > np.float32(t)) and not bool(below > np.float32(t))
    assert t == float(below) and t < conf


def test_conf_zero_stays_zero():
    assert strict_threshold(0.0) == 0.0


def test_nms_runs_on_exactly_two_boxes():
    """Two overlapping boxes of one class (IoU 0.68) are the smallest case NMS must merge."""
    from detectkit.detection.base import PredictOptions
    from detectkit.detection.postprocess import post_filter

    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11]], np.float32)
    scores, labels = np.array([0.8, 0.9], np.float32), np.array([2, 2])
    assert post_filter(boxes, scores, labels, PredictOptions(iou=0.5), nms=True).tolist() == [1]
    assert post_filter(boxes, scores, labels, PredictOptions(iou=0.7), nms=True).tolist() == [1, 0]
    assert post_filter(boxes[:1], scores[:1], labels[:1], PredictOptions(iou=0.5), nms=True).tolist() == [0]
