"""``imgsz`` reaches each backend as documented (found by tools/mutation.py: no test looked): a per-call
``imgsz`` wins, ``None`` falls back to the model's own size, a fixed-size model warns once, at the
user's line, that it ignores ``imgsz``. Untrained models (no weights needed), one small image."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from detectkit import Detector

IMAGE = np.full((96, 128, 3), 127, np.uint8)


def transform_size(detector: Detector) -> tuple:
    transform = detector.backend.model.transform
    return tuple(transform.min_size), transform.max_size


@pytest.fixture(scope="module")
def rcnn_checkpoint(tmp_path_factory):
    import torch

    from detectkit.checkpoint import save_checkpoint
    from detectkit.training.torchvision_model import untrained_model

    torch.manual_seed(0)
    model = untrained_model("fasterrcnn_mobilenet_v3_large_320_fpn", 2)
    return save_checkpoint(tmp_path_factory.mktemp("sizes") / "best.pt", builder="fasterrcnn_mobilenet_v3_large_320_fpn",
                           classes=["cat"], imgsz=160, state_dict=model.state_dict(), metrics={})


def test_torchvision_checkpoint_runs_at_its_own_size_unless_told(rcnn_checkpoint):
    detector = Detector(rcnn_checkpoint, device="cpu")
    detector(IMAGE)
    assert transform_size(detector) == ((160,), 160)  # the size it was trained at
    detector(IMAGE, imgsz=224)
    assert transform_size(detector) == ((224,), 224)  # a per-call imgsz wins
    detector(IMAGE)
    assert transform_size(detector) == ((160,), 160)  # and lasts one call


def test_torchvision_builder_keeps_torchvisions_size_unless_told():
    detector = Detector("fasterrcnn_mobilenet_v3_large_320_fpn", device="cpu", weights=None)
    base = transform_size(detector)
    assert base == ((320,), 640)  # torchvision's own min_size / max_size for this builder
    detector(IMAGE, imgsz=256)
    assert transform_size(detector) == ((256,), 256)
    detector(IMAGE)
    assert transform_size(detector) == base


def test_fixed_size_ssd_warns_once_at_the_callers_line():
    detector = Detector("ssdlite320_mobilenet_v3_large", device="cpu", weights=None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        detector(IMAGE, imgsz=256)
        detector(IMAGE, imgsz=256)
        list(detector.stream([IMAGE], imgsz=192))
    assert [str(w.message) for w in caught] == [
        "ssdlite320_mobilenet_v3_large takes a fixed 320x320 input; imgsz=256 is ignored"
    ]
    assert caught[0].filename == __file__  # the user's call, not detectkit's insides
    assert detector.backend.model.transform.fixed_size == (320, 320)


def test_yolo_is_given_the_imgsz_asked_for():
    detector = Detector("yolov8n.yaml", device="cpu")
    detector(IMAGE, imgsz=160)
    assert detector.backend.model.predictor.args.imgsz == 160
    detector(IMAGE, imgsz=96)
    assert detector.backend.model.predictor.args.imgsz == 96


def test_yolo_half_asks_ultralytics_for_16_bit_floats():
    """On CUDA ``half=True`` is ultralytics' ``quantize=16`` (>= 8.4; ``half=True`` before): checked on
    the arguments the backend hands ultralytics' predict, since no CUDA device is needed for that."""
    from dataclasses import replace

    detector = Detector("yolov8n.yaml", device="cpu")
    seen: dict = {}

    def predict(images, **kwargs):
        seen.update(kwargs)
        return []

    detector.backend.model.predict = predict
    assert detector.backend.predict([IMAGE], replace(detector.options, half=True)) == []
    if detector.backend._has_quantize:
        assert seen["quantize"] == 16 and "half" not in seen
    else:
        assert seen["half"] is True and "quantize" not in seen
    seen.clear()
    detector.backend.predict([IMAGE], detector.options)
    assert "quantize" not in seen and "half" not in seen
