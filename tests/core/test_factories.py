"""The shared factories: make_detector (none / auto / any spec), make_recognizer (gallery checks, embedder
passed on), auto_model's choice, and label summaries."""

from __future__ import annotations

import pytest

from detectkit.errors import GalleryError, WeightsNotFoundError
from detectkit.factories import LOCAL_CANDIDATES, auto_model, make_detector, make_recognizer, summarize_labels


def test_summarize_labels():
    assert summarize_labels(["cup", "person", "person"]) == "2 person, 1 cup"
    assert summarize_labels(iter(["cat"])) == "1 cat"
    assert summarize_labels([]) == "nothing"


def test_make_detector_none_and_plain_arguments():
    assert make_detector(None) is None and make_detector("none") is None and make_detector("None") is None
    detector = make_detector("fasterrcnn_mobilenet_v3_large_320_fpn", weights=None, device="cpu", conf=0.4, iou=0.3,
                             classes=["person"], max_det=9, imgsz=160, batch_size=2)
    o = detector.options
    assert (o.conf, o.iou, o.classes, o.max_det, o.imgsz, detector.batch_size) == (0.4, 0.3, (1,), 9, 160, 2)


def test_auto_without_any_weights_says_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./weights here
    monkeypatch.delenv("DETECTKIT_WEIGHTS", raising=False)
    said: list[str] = []
    assert auto_model(log=said.append) is None
    assert "No object-detector weights are available" in said[0] and "DETECTKIT_WEIGHTS=" in said[-1]
    logged: list[str] = []
    with pytest.raises(WeightsNotFoundError, match="No object-detector weights") as info:
        make_detector("auto", device="cpu", log=logged.append)
    assert ", ".join(LOCAL_CANDIDATES) in str(info.value) and logged == said


def test_auto_picks_the_local_coco_model(coco_onnx, monkeypatch):
    monkeypatch.setenv("DETECTKIT_WEIGHTS", str(coco_onnx.parent))
    assert auto_model(log=lambda text: None) == str(coco_onnx)
    detector = make_detector("AUTO", device="cpu")
    assert detector.model_name == str(coco_onnx) and detector.names[0] == "person"


def test_make_recognizer_needs_an_existing_gallery_and_passes_the_embedder_on(tmp_path):
    with pytest.raises(GalleryError, match="no such gallery; enrol people first"):
        make_recognizer(tmp_path / "missing.db")
    assert not (tmp_path / "missing.db").exists(), "nothing created"
    from detectkit.classical import HaarFaceDetector, HogFaceEmbedder
    from detectkit.faces import Gallery

    Gallery(tmp_path / "faces.db").close()
    embedder = HogFaceEmbedder()
    recognizer = make_recognizer(tmp_path / "faces.db", embedder=embedder, threshold=0.61, device="cpu",
                                 detector=HaarFaceDetector())
    try:
        assert recognizer.embedder is embedder and recognizer.threshold == 0.61
        assert len(recognizer.gallery) == 0
    finally:
        recognizer.close()
