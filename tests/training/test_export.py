"""export() of torchvision detectors to ONNX: Detector(path.onnx) runs it with onnxruntime, with the
classes from the file's metadata, and finds the same boxes as the PyTorch checkpoint (any image size);
int8 keeps the boxes close; bad inputs are named. YOLO export is tested with a trained model in
test_finetune_yolo.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from detectkit import Detector
from detectkit.checkpoint import save_checkpoint
from detectkit.cli import main
from detectkit.detection import family_of, find_backend
from detectkit.detection.onnx_backend import OnnxTorchvisionBackend, is_detectkit_onnx, read_metadata
from detectkit.errors import ModelError, WeightsFormatError
from detectkit.deploy.onnx import export
from detectkit.training.torchvision_model import untrained_model

BUILDER = "fasterrcnn_mobilenet_v3_large_320_fpn"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A two-class checkpoint (random weights: its untrained classifier scores every class about equally)."""
    torch.manual_seed(0)
    model = untrained_model(BUILDER, 3)
    folder = tmp_path_factory.mktemp("ckpt")
    return save_checkpoint(folder / "best.pt", builder=BUILDER, classes=["cat", "dog"], imgsz=160,
                           state_dict=model.state_dict(), metrics={"map50": 0.0})


@pytest.fixture(scope="module")
def exported(checkpoint) -> Path:
    return export(checkpoint)


def _images() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    import skimage.data

    astronaut = np.ascontiguousarray(skimage.data.astronaut()[::2, ::2, ::-1])  # 256x256 BGR
    return [astronaut, rng.integers(0, 255, (120, 200, 3), dtype=np.uint8), astronaut[:100, :180].copy()]


def test_export_writes_metadata_detector_recognises(exported, checkpoint):
    assert exported == checkpoint.with_suffix(".onnx")
    meta = read_metadata(exported)
    assert meta["detectkit_export"] == "1" and meta["builder"] == BUILDER and meta["imgsz"] == "160"
    assert json.loads(meta["names"]) == {"0": "cat", "1": "dog"} and meta["label_offset"] == "1"
    assert is_detectkit_onnx(exported)
    detector = Detector(exported, device="cpu")
    assert isinstance(detector.backend, OnnxTorchvisionBackend)
    assert detector.names == {0: "cat", 1: "dog"} and detector.family == "torchvision"


def test_onnx_boxes_match_pytorch_at_any_image_size(exported, checkpoint):
    pytorch = Detector(checkpoint, device="cpu", conf=0.05, iou=0.5)
    onnx = Detector(exported, device="cpu", conf=0.05, iou=0.5)
    compared = 0
    for image in _images():
        a, b = pytorch(image), onnx(image)
        assert a.image_shape == b.image_shape == image.shape[:2]
        assert len(a) == len(b) > 0
        for box, score, cls in zip(a.xyxy, a.confidence, a.class_id):  # matched box by box (scores tie a lot)
            gap = np.abs(b.xyxy - box).max(axis=1) + 1e3 * (b.class_id != cls) + 1e3 * (np.abs(b.confidence - score) > 1e-4)
            assert gap.min() < 0.05, (box, score, cls)  # pixels
        compared += len(a)
    assert compared >= 10


def test_detector_thresholds_apply_to_onnx_outputs(exported):
    image = _images()[0]
    loose = Detector(exported, device="cpu", conf=0.01, iou=0.5)(image)
    strict = Detector(exported, device="cpu", conf=0.3, iou=0.3, max_det=5, classes=["dog"])(image)
    assert len(strict) <= 5 and set(strict.labels) <= {"dog"} and (strict.confidence >= 0.3).all()
    assert len(loose) > len(strict)


def test_int8_export_keeps_the_boxes_close(checkpoint, tmp_path):
    path = export(checkpoint, int8=True, out=tmp_path / "model.onnx")
    assert path == tmp_path / "model_int8.onnx" and (tmp_path / "model.onnx").is_file()
    assert read_metadata(path)["quantization"] == "int8-dynamic"
    assert path.stat().st_size < 0.5 * (tmp_path / "model.onnx").stat().st_size
    image = _images()[0]
    full = Detector(tmp_path / "model.onnx", device="cpu", conf=0.05)(image)
    small = Detector(path, device="cpu", conf=0.05)(image)
    assert small.names == full.names and len(small) > 0
    # each of the float model's top boxes has an int8 box of the same class nearby
    for box, cls in zip(full.xyxy[:5], full.class_id[:5]):
        same = small.xyxy[small.class_id == cls]
        assert len(same) and np.abs(same - box).max(axis=1).min() < 8.0


def test_cli_export_and_clear_errors(checkpoint, tmp_path, capsys):
    target = tmp_path / "cli.onnx"
    assert main(["export", "--model", str(checkpoint), "--out", str(target), "--imgsz", "128"]) == 0
    assert capsys.readouterr().out.strip() == str(target)
    assert read_metadata(target)["imgsz"] == "128"
    with pytest.raises(ModelError, match="detectkit exports onnx"):
        export(checkpoint, format="tflite")
    with pytest.raises(WeightsFormatError, match="already an ONNX file"):
        export(target)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    assert not is_detectkit_onnx(broken)
    with pytest.raises(WeightsFormatError, match="broken.onnx"):
        OnnxTorchvisionBackend(broken, torch.device("cpu"))
    assert main(["export", "--model", str(tmp_path / "missing.pt")]) == 1


def test_the_backend_registry_claims_the_export_and_names_its_family(exported, checkpoint):
    assert find_backend(exported).name == "detectkit-onnx" and family_of(exported) == "torchvision"
    assert find_backend(checkpoint).name == "detectkit-checkpoint"
    with pytest.raises(WeightsFormatError, match="already an ONNX file"):
        export(exported)
