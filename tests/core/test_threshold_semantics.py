"""``conf``, ``iou``, ``classes`` and ``max_det`` mean the same on every backend (issue 16): the
ultralytics YOLO backend (the real COCO YOLOv8n int8 ONNX), the torchvision backend (a detectkit
checkpoint) and the detectkit ONNX backend (that checkpoint exported), on real model outputs.

The checkpoint's classifier bias is set so that its two classes score far apart (cat ~0.67,
dog ~0.09; a random classifier scores every box ~0.33, so conf 0.3 and 0.01 would keep the same
boxes), and its exported graph keeps boxes up to IoU 0.9, so that ``iou`` is decided by detectkit.
At ``conf`` 0.01 every backend returns many overlapping boxes of one class: ``iou`` 0.9 keeps pairs
that overlap more than 0.75, ``iou`` 0.3 keeps none that overlap more than 0.3.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detectkit import Detector
from detectkit.detection.postprocess import strict_threshold

BUILDER = "fasterrcnn_mobilenet_v3_large_320_fpn"
CLIP_SLACK = 0.03  # NMS runs on the model's input (letterboxed, resized); boxes mapped back and clipped move a little


@pytest.fixture(scope="module")
def spread_checkpoint(tmp_path_factory) -> Path:
    import torch

    from detectkit.checkpoint import save_checkpoint
    from detectkit.training.torchvision_model import untrained_model

    torch.manual_seed(0)
    model = untrained_model(BUILDER, 3)
    with torch.no_grad():  # background 0, cat +1, dog -1: softmax scores ~0.67 (cat) and ~0.09 (dog)
        model.roi_heads.box_predictor.cls_score.bias.copy_(torch.tensor([0.0, 1.0, -1.0]))
    folder = tmp_path_factory.mktemp("spread")
    return save_checkpoint(folder / "best.pt", builder=BUILDER, classes=["cat", "dog"], imgsz=160,
                           state_dict=model.state_dict(), metrics={})


@pytest.fixture(scope="module")
def spread_onnx(spread_checkpoint) -> Path:
    from detectkit.deploy.onnx import export_torchvision_onnx

    return export_torchvision_onnx(spread_checkpoint, spread_checkpoint.with_suffix(".onnx"), nms_iou=0.9, max_det=1000)


@pytest.fixture(scope="module", params=["ultralytics", "torchvision", "onnx"])
def backend_case(request, spread_checkpoint):
    """(detector, image) for each backend."""
    import skimage.data

    if request.param == "ultralytics":
        coco_onnx = request.getfixturevalue("coco_onnx")
        image = np.ascontiguousarray(skimage.data.astronaut()[::2, ::2, ::-1])
        return Detector(coco_onnx, device="cpu"), image
    spec = spread_checkpoint if request.param == "torchvision" else request.getfixturevalue("spread_onnx")
    image = np.ascontiguousarray(skimage.data.astronaut()[::2, ::2, ::-1])  # 256x256 BGR
    return Detector(spec, device="cpu"), image


def same_class_max_iou(det) -> float:
    """The largest IoU between two kept boxes of the same class (0 with fewer than two)."""
    import torch
    from torchvision.ops import box_iou

    if len(det) < 2:
        return 0.0
    boxes = torch.from_numpy(det.xyxy)
    iou = box_iou(boxes, boxes).numpy()
    np.fill_diagonal(iou, 0.0)
    iou[det.class_id[:, None] != det.class_id[None, :]] = 0.0
    return float(iou.max())


def test_iou_is_the_class_wise_nms_overlap_on_every_backend(backend_case):
    detector, image = backend_case
    loose = detector(image, conf=0.01, iou=0.9, max_det=1000)
    tight = detector(image, conf=0.01, iou=0.3, max_det=1000)
    assert same_class_max_iou(loose) > 0.75, "the model must give overlapping boxes for this test to mean anything"
    assert same_class_max_iou(loose) <= 0.9 + CLIP_SLACK
    assert same_class_max_iou(tight) <= 0.3 + CLIP_SLACK
    assert 0 < len(tight) < len(loose)
    # every box NMS at 0.3 keeps is the best of its cluster: it is also kept at 0.9
    for box, cls in zip(tight.xyxy, tight.class_id):
        same = loose.xyxy[loose.class_id == cls]
        assert np.abs(same - box).max(axis=1).min() < 1e-3


def test_conf_keeps_scores_at_or_above_it_on_every_backend(backend_case):
    detector, image = backend_case
    everything = detector(image, conf=0.01, iou=0.5, max_det=1000)
    scores = np.unique(everything.confidence)
    cut = float(scores[len(scores) // 2])  # a score a box has: that box is kept (>=)
    kept = detector(image, conf=cut, iou=0.5, max_det=1000)
    expected = everything.confidence >= cut
    assert 0 < expected.sum() < len(everything), "scores must spread for this test to mean anything"
    assert len(kept) == int(expected.sum())
    assert (kept.confidence >= cut).all() and kept.confidence.min() == np.float32(cut)
    np.testing.assert_allclose(np.sort(kept.confidence), np.sort(everything.confidence[expected]), atol=1e-6)


def test_the_spread_checkpoint_scores_its_classes_far_apart(spread_checkpoint, spread_onnx):
    """conf 0.3 keeps only cats, conf 0.05 cats and dogs, on the checkpoint and on its export."""
    import skimage.data

    image = np.ascontiguousarray(skimage.data.astronaut()[::2, ::2, ::-1])
    for spec in (spread_checkpoint, spread_onnx):
        detector = Detector(spec, device="cpu", iou=0.5)
        high, low = detector(image, conf=0.3), detector(image, conf=0.05)
        assert set(high.labels) == {"cat"} and set(low.labels) == {"cat", "dog"}, spec
        assert high.confidence.min() >= 0.3 and low.confidence[low.class_id == 1].max() < 0.3


def test_classes_are_filtered_before_max_det_on_every_backend(backend_case):
    detector, image = backend_case
    everything = detector(image, conf=0.01, iou=0.5, max_det=1000)
    top = int(everything.class_id[0])
    others = everything.class_id != top
    assert others.any()
    wanted = int(everything.class_id[np.flatnonzero(others)[0]])  # a class the best box is not
    best = everything[np.flatnonzero(everything.class_id == wanted)[:1]]
    one = detector(image, conf=0.01, iou=0.5, max_det=1, classes=[wanted])
    assert one.class_id.tolist() == [wanted]
    np.testing.assert_allclose(one.xyxy, best.xyxy, atol=1e-3)
    np.testing.assert_allclose(one.confidence, best.confidence, atol=1e-6)
    three = detector(image, conf=0.01, iou=0.5, max_det=3, classes=[wanted])
    assert len(three) == min(3, int((everything.class_id == wanted).sum()))


def test_max_det_keeps_the_best_boxes_on_every_backend(backend_case):
    detector, image = backend_case
    everything = detector(image, conf=0.01, iou=0.5, max_det=1000)
    assert len(everything) > 5
    five = detector(image, conf=0.01, iou=0.5, max_det=5)
    assert len(five) == 5
    np.testing.assert_allclose(five.confidence, np.sort(everything.confidence)[::-1][:5], atol=1e-6)


def test_the_yolo_backend_hands_the_thresholds_to_ultralytics(coco_onnx, astronaut):
    """What ultralytics' predictor ran with is what was asked (its own default iou is 0.7)."""
    detector = Detector(coco_onnx, device="cpu")
    for iou, conf, max_det in ((0.3, 0.4, 7), (0.9, 0.05, 300)):
        detector(astronaut, iou=iou, conf=conf, max_det=max_det)
        args = detector.backend.model.predictor.args
        assert (args.iou, args.max_det) == (iou, max_det)
        # ultralytics keeps score > conf: it gets the float32 just below, so a score equal to conf stays
        assert args.conf == strict_threshold(conf) and args.conf < conf and np.float32(conf) > args.conf


def test_the_onnx_export_warns_once_at_the_callers_line_what_it_ignores(spread_onnx):
    """Its graph resizes to its own size and keeps scores above its own floor: said once each, at the user's line."""
    import warnings

    detector = Detector(spread_onnx, device="cpu")
    floor = detector.backend.score_thresh
    image = np.zeros((64, 64, 3), np.uint8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        detector(image, imgsz=320)
        detector(image, imgsz=320, conf=floor / 2)
        detector(image, imgsz=320, conf=floor / 2)
    assert [str(w.message) for w in caught] == [
        f"best.onnx resizes to {detector.backend.imgsz} inside the graph; imgsz=320 is ignored",
        f"best.onnx keeps scores >= {floor}; conf={floor / 2} acts as {floor}",
    ]
    assert {w.filename for w in caught} == {__file__}
