"""runtime="auto" on the shared int8 ultralytics ONNX: dequantised into a float .pt (cached by the file's
digest), converted to OpenVINO once, boxes agreeing with onnxruntime's on 8 COCO128 photos; a second
load hits the cache; files it cannot rebuild are refused by name, and under auto fall back with one
warning to onnxruntime."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from detectkit import Detector
from detectkit.errors import WeightsFormatError
from detectkit.runtimes.auto import source_kind
from detectkit.runtimes.cache import openvino_cache_dir, weights_digest
from detectkit.runtimes.dequantize import dequantize_yolo_onnx, dequantized_weights, yolo_config_for
from shared_data import SHARED_ONNX, need_shared


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    lt, rb = np.maximum(box[:2], boxes[:, :2]), np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return inter / (area(box) + area(boxes) - inter)


def _with_description(tmp_path: Path, description: str) -> Path:
    import onnx

    model = onnx.load(str(SHARED_ONNX))
    for prop in model.metadata_props:
        if prop.key == "description":
            prop.value = description
    path = tmp_path / f"{description.split()[1]}.onnx"
    onnx.save(model, str(path))
    return path


def test_config_names_come_from_metadata_and_width():
    assert yolo_config_for({"names": "{0: 'a'}", "description": "Ultralytics YOLOv8s model"}, 32) == "yolov8s.yaml"
    assert yolo_config_for({"names": "{0: 'a'}", "description": "Ultralytics YOLOv8 model"}, 48) == "yolov8m.yaml"
    assert yolo_config_for({"names": "{0: 'a'}", "description": "Ultralytics YOLO11x model"}, 96) == "yolo11x.yaml"
    with pytest.raises(WeightsFormatError, match="first convolution has 16"):
        yolo_config_for({"names": "{0: 'a'}", "description": "Ultralytics YOLOv8s model"}, 16, "s.onnx")
    with pytest.raises(WeightsFormatError, match="rtdetr.onnx.*names no YOLOv8"):
        yolo_config_for({"names": "{0: 'a'}", "description": "Ultralytics RT-DETR-l model"}, 64, "rtdetr.onnx")
    with pytest.raises(WeightsFormatError, match="seg.onnx: not an ultralytics YOLO detect"):
        yolo_config_for({"names": "{0: 'a'}", "task": "segment", "description": "YOLOv8n"}, 16, "seg.onnx")


def test_files_it_cannot_rebuild_are_refused_by_name(tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx file")
    with pytest.raises(WeightsFormatError, match="broken.onnx"):
        dequantize_yolo_onnx(broken, tmp_path / "out.pt")
    need_shared("weights/yolov8n_int8.onnx")
    wrong = _with_description(tmp_path, "Ultralytics YOLOv8s model trained on coco.yaml")
    with pytest.raises(WeightsFormatError, match="YOLOv8s.onnx: the metadata say yolov8s"):
        dequantize_yolo_onnx(wrong, tmp_path / "out.pt")
    assert not (tmp_path / "out.pt").exists()


@pytest.mark.slow
def test_auto_runs_the_shared_int8_onnx_on_openvino_with_onnxruntime_boxes():
    need_shared("weights/yolov8n_int8.onnx")
    coco = need_shared("data/detection/coco128/images/train2017")
    from detectkit.images import find_images, load_image

    assert source_kind(SHARED_ONNX) == "onnx-int8-yolo"
    detector = Detector(SHARED_ONNX, device="cpu", runtime="auto", conf=0.25)
    assert detector.runtime == "openvino fp32" and detector.family == "ultralytics"
    entry = Path(detector.backend.source)
    assert entry.parent == openvino_cache_dir() and entry.name.startswith("ultralytics-fp32-640-")
    pt = dequantized_weights(SHARED_ONNX)
    assert pt == openvino_cache_dir() / "dequantized" / f"{weights_digest(SHARED_ONNX)[:16]}.pt"
    stamps = (next(entry.glob("*.bin")).stat().st_mtime_ns, pt.stat().st_mtime_ns)

    again = Detector(SHARED_ONNX, device="cpu", runtime="auto", conf=0.25)  # cache hit: nothing rebuilt
    assert Path(again.backend.source) == entry
    assert (next(entry.glob("*.bin")).stat().st_mtime_ns, pt.stat().st_mtime_ns) == stamps

    reference = Detector(SHARED_ONNX, device="cpu", conf=0.25)
    assert reference.runtime == "onnx int8" and again.names == reference.names
    compared = unmatched = 0
    for path in find_images(coco)[:8]:
        image = load_image(path)
        a, b = reference(image), again(image)
        for box, cls in zip(a.xyxy, a.class_id):
            same = b.xyxy[b.class_id == cls]
            if len(same) and _iou(box, same).max() >= 0.9:
                compared += 1
            else:
                unmatched += 1
    assert compared >= 10 and unmatched <= max(1, 0.1 * (compared + unmatched)), (compared, unmatched)


@pytest.mark.slow
def test_auto_falls_back_to_onnxruntime_with_one_warning(tmp_path):
    need_shared("weights/yolov8n_int8.onnx")
    wrong = _with_description(tmp_path, "Ultralytics YOLOv8s model trained on coco.yaml")
    assert source_kind(wrong) == "onnx-int8-yolo"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        detector = Detector(wrong, device="cpu", runtime="auto")
    lines = [str(w.message) for w in caught if "conversion failed" in str(w.message)]
    assert len(lines) == 1 and "YOLOv8s.onnx" in lines[0] and lines[0].endswith("running on onnx")
    assert detector.runtime == "onnx int8"


def test_an_int8_onnx_naming_no_yolo_stays_on_onnxruntime(tmp_path):
    need_shared("weights/yolov8n_int8.onnx")
    other = _with_description(tmp_path, "Ultralytics RT-DETR-l model")
    assert source_kind(other) == "onnx-int8"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert Detector(other, device="cpu", runtime="auto").runtime == "onnx int8"
    assert not [w for w in caught if "conversion failed" in str(w.message)]  # no conversion was tried
