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
