"""MTCNN finds a face in at least 98% of the 1,199 LFW photos in ../shared (all of them, batched)."""

from __future__ import annotations

import pytest

from detectkit.images import find_images, load_image


@pytest.mark.slow
@pytest.mark.shared
def test_face_found_in_98_percent_of_lfw(shared):
    from detectkit.faces import FaceDetector

    paths = find_images(shared("data/faces/lfw/lfw-deepfunneled"))
    assert len(paths) == 1199
    detector = FaceDetector(device="cpu", batch_size=32)
    found = 0
    for start in range(0, len(paths), 64):
        images = [load_image(p) for p in paths[start : start + 64]]
        found += sum(len(d) > 0 for d in detector.detect(images))
    rate = found / len(paths)
    assert rate >= 0.98, f"faces found in {found} of {len(paths)} LFW photos ({rate:.2%})"
