"""Bad thresholds and options are DetectKitError subclasses, refused before anything loads (issue 17, item 7)."""

from __future__ import annotations

import numpy as np
import pytest

from detectkit import Detector
from detectkit.cli import main
from detectkit.detection.base import PredictOptions
from detectkit.errors import DetectKitError, ModelError

BAD = [
    dict(conf=2), dict(conf=-1), dict(conf=float("nan")), dict(conf="0.5"), dict(iou=1.5),
    dict(max_det=0), dict(max_det=-3), dict(max_det=2.5), dict(imgsz=-32), dict(imgsz=0), dict(imgsz=31), dict(imgsz=True),
]


@pytest.mark.parametrize("options", BAD, ids=[",".join(f"{k}={v}" for k, v in o.items()) for o in BAD])
def test_predict_options_refuse_bad_values_with_a_model_error(options):
    with pytest.raises(ModelError) as info:
        PredictOptions(**options)
    name = next(iter(options))
    assert str(info.value).startswith(f"{name} must be")
    assert isinstance(info.value, DetectKitError) and isinstance(info.value, ValueError)


def test_good_edges_are_kept():
    assert PredictOptions(conf=0, iou=1, max_det=1, imgsz=32).imgsz == 32
    assert PredictOptions(conf=np.float32(0.5), max_det=np.int64(5)).max_det == 5


def test_detector_refuses_bad_thresholds_before_loading_the_model(monkeypatch):
    from detectkit.detection import detector as detector_module

    loaded = []
    monkeypatch.setattr(detector_module, "load_backend", lambda *a, **k: loaded.append(a))
    with pytest.raises(ModelError, match="conf must be"):
        Detector("yolov8n.yaml", conf=2, device="cpu")
    assert loaded == []


def test_per_call_overrides_are_checked_too():
    detector = Detector("fasterrcnn_mobilenet_v3_large_320_fpn", weights=None, device="cpu")
    with pytest.raises(ModelError, match="max_det must be"):
        detector(np.zeros((32, 32, 3), np.uint8), max_det=0)
    with pytest.raises(ModelError, match="batch_size"):
        list(detector.stream([np.zeros((32, 32, 3), np.uint8)], batch_size=0))


@pytest.mark.parametrize("flag", [["--conf", "2"], ["--conf", "-1"], ["--max-det", "0"], ["--imgsz", "-32"]])
def test_cli_detect_says_which_option_is_wrong(tmp_path, flag, capsys):
    import cv2

    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.zeros((16, 16, 3), np.uint8))
    assert main(["detect", str(image), "--model", "yolov8n.yaml", *flag]) == 1
    err = capsys.readouterr().err
    assert "must be" in err and "Traceback" not in err


def test_top_k_below_one_is_refused():
    from detectkit.faces.gallery import Gallery
    from detectkit.faces.model_key import ModelKey

    gallery = Gallery(":memory:")
    key = ModelKey("toy", "v1", 2)
    gallery.add("A", np.array([[3.0, 4.0]]), key)
    for bad in (0, -1, 1.5):
        with pytest.raises(ModelError, match="top_k must be"):
            gallery.search_arrays(np.array([[1.0, 0.0]]), key, top_k=bad)
    assert gallery.search_arrays(np.array([[1.0, 0.0]]), key, top_k=1)[0].tolist() == [["A"]]


@pytest.mark.parametrize("module_name", ["detectkit.trust", "detectkit.detection.base", "detectkit.video.sinks",
                                         "detectkit._ultralytics_env"])
def test_docstring_examples_of_the_hardened_modules(module_name):
    from doc_examples import check_docstring_examples

    check_docstring_examples(module_name)
