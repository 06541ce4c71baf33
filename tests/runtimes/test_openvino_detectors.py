"""OpenVINO for both detector families: a torchvision checkpoint converted to OpenVINO finds the
boxes the PyTorch model finds (the ONNX bounds of tests/training/test_export.py), with detectkit's
thresholds; a YOLO export loads as a folder or its .xml and matches PyTorch; bad folders are named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from detectkit import Detector
from detectkit.checkpoint import save_checkpoint
from detectkit.errors import ModelError, WeightsFormatError, WeightsNotFoundError
from detectkit.runtimes.convert import onnx_to_openvino, to_openvino
from detectkit.runtimes.openvino_backend import OpenVinoTorchvisionBackend, OpenVinoYoloBackend, load_openvino_backend
from detectkit.runtimes.openvino_files import model_kind
from detectkit.deploy.onnx import export
from detectkit.training.torchvision_model import untrained_model

BUILDER = "fasterrcnn_mobilenet_v3_large_320_fpn"
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = untrained_model(BUILDER, 3)
    folder = tmp_path_factory.mktemp("ckpt")
    return save_checkpoint(folder / "best.pt", builder=BUILDER, classes=["cat", "dog"], imgsz=160,
                           state_dict=model.state_dict(), metrics={"map50": 0.0})


@pytest.fixture(scope="module")
def converted(checkpoint) -> Path:
    return to_openvino(checkpoint)


@pytest.fixture(scope="module")
def yolo(tmp_path_factory) -> tuple[Path, Path]:
    """A random-weights YOLOv8n saved as .pt, and its OpenVINO export at imgsz 128."""
    from detectkit._ultralytics_env import import_ultralytics, keep_torch_threads

    folder = tmp_path_factory.mktemp("yolo")
    torch.manual_seed(0)
    with keep_torch_threads():
        import_ultralytics().YOLO("yolov8n.yaml").save(folder / "tiny.pt")
    return folder / "tiny.pt", to_openvino(folder / "tiny.pt", imgsz=128)


def _images() -> list[np.ndarray]:
    import skimage.data

    rng = np.random.default_rng(0)
    astronaut = np.ascontiguousarray(skimage.data.astronaut()[::2, ::2, ::-1])
    return [astronaut, rng.integers(0, 255, (120, 200, 3), dtype=np.uint8), astronaut[:100, :180].copy()]


def _assert_same_boxes(a, b, tolerance: float = 0.05, unmatched: float = 0.0) -> int:
    """Each box of ``a`` has one in ``b`` of the same class and score within ``tolerance`` pixels, except at most
    a fraction ``unmatched`` of them (random weights tie the scores of many proposals, and OpenVINO's TopK
    may break a tie in another order than PyTorch's, so a proposal or two differ)."""
    assert a.image_shape == b.image_shape
    assert len(a) > 0 and abs(len(a) - len(b)) <= unmatched * len(a)
    missed = 0
    for box, score, cls in zip(a.xyxy, a.confidence, a.class_id):
        gap = np.abs(b.xyxy - box).max(axis=1) + 1e3 * (b.class_id != cls) + 1e3 * (np.abs(b.confidence - score) > 1e-3)
        missed += bool(gap.min() >= tolerance)
    assert missed <= unmatched * len(a), f"{missed} of {len(a)} boxes have no match"
    return len(a)


def test_torchvision_openvino_matches_pytorch_at_any_size(converted, checkpoint):
    assert converted == checkpoint.parent / "best_openvino_model" and model_kind(converted) == "torchvision"
    pytorch = Detector(checkpoint, device="cpu", conf=0.05, iou=0.5)
    openvino = load_openvino_backend(converted, CPU)
    assert isinstance(openvino, OpenVinoTorchvisionBackend)
    assert openvino.names == {0: "cat", 1: "dog"} and openvino.precision == "fp32" and openvino.runtime == "openvino"
    compared = sum(_assert_same_boxes(pytorch(image), openvino.predict([image], pytorch.options)[0], unmatched=0.01)
                   for image in _images())
    assert compared >= 10


def test_torchvision_openvino_thresholds_and_xml(converted):
    xml = next(converted.glob("*.xml"))
    backend = load_openvino_backend(xml, CPU)
    from detectkit.detection.base import PredictOptions

    image = _images()[0]
    loose = backend.predict([image], PredictOptions(conf=0.01, iou=0.5))[0]
    strict = backend.predict([image], PredictOptions(conf=0.3, iou=0.3, max_det=5, classes=(1,)))[0]
    assert len(strict) <= 5 and set(strict.class_id) <= {1} and (strict.confidence >= 0.3).all()
    assert len(loose) > len(strict)


def test_detectkit_onnx_converts_with_its_metadata(checkpoint, tmp_path):
    onnx_path = export(checkpoint, out=tmp_path / "m.onnx")
    folder = onnx_to_openvino(onnx_path, tmp_path / "m_openvino_model")
    a = Detector(onnx_path, device="cpu", conf=0.05)(_images()[0])
    b = load_openvino_backend(folder, CPU).predict([_images()[0]], Detector(onnx_path, device="cpu", conf=0.05).options)[0]
    _assert_same_boxes(a, b)


@pytest.mark.slow
def test_torchvision_int8_is_quantised_and_scores_alike(checkpoint, converted, tmp_path):
    from detectkit.training.synthetic import make_shapes_dataset

    data = make_shapes_dataset(tmp_path / "shapes", n_train=2, n_val=2, imgsz=160)
    folder = to_openvino(checkpoint, tmp_path / "q_openvino_model", int8=True, data=data)
    backend = load_openvino_backend(folder, CPU)
    assert backend.precision == "int8"
    options = Detector(checkpoint, device="cpu", conf=0.05).options
    full = load_openvino_backend(converted, CPU)  # the fp32 conversion of the same checkpoint
    image = _images()[0]
    a, b = full.predict([image], options)[0], backend.predict([image], options)[0]
    assert len(b) > 0 and b.names == a.names and backend.quantization == "int8-nncf"
    # random weights tie most boxes' scores, so boxes cannot be paired one by one; the scores stay close
    assert abs(float(np.median(b.confidence)) - float(np.median(a.confidence))) < 0.02


def test_yolo_openvino_matches_pytorch(yolo):
    pt, folder = yolo
    assert folder.name == "tiny_openvino_model" and model_kind(folder) == "ultralytics"
    for spec in (folder, next(folder.glob("*.xml"))):
        backend = load_openvino_backend(spec, CPU)
        assert isinstance(backend, OpenVinoYoloBackend) and backend.precision == "fp32" and backend._fixed_imgsz == 128
    reference = Detector(pt, device="cpu", conf=0.0, imgsz=128, max_det=50)
    from detectkit.detection.base import PredictOptions

    options = PredictOptions(conf=0.0, max_det=50, imgsz=128)
    image = _images()[0]
    a, b = reference(image), backend.predict([image], options)[0]
    # random weights score every box alike: compare the top boxes by position and score
    assert len(a) == len(b) == 50
    np.testing.assert_allclose(np.sort(b.confidence), np.sort(a.confidence), rtol=1e-3, atol=1e-7)
    for box in a.xyxy[:10]:
        assert np.abs(b.xyxy - box).max(axis=1).min() < 0.5


def test_bad_openvino_models_are_named(converted, yolo, tmp_path):
    no_bin = tmp_path / "nobin_openvino_model"
    shutil.copytree(converted, no_bin)
    next(no_bin.glob("*.bin")).unlink()
    with pytest.raises(WeightsFormatError, match=r"best\.bin is missing"):
        load_openvino_backend(no_bin, CPU)
    with pytest.raises(WeightsNotFoundError, match="no OpenVINO .xml"):
        load_openvino_backend(tmp_path, CPU)
    with pytest.raises(WeightsNotFoundError, match="no such OpenVINO model"):
        load_openvino_backend(tmp_path / "missing.xml", CPU)
    # an OpenVINO model of another kind: a bare network, no YOLO or detectkit metadata
    import openvino as ov
    from openvino import opset13 as ops

    other = tmp_path / "relu_openvino_model"
    parameter = ops.parameter([1, 3], np.float32, name="x")
    shifted = ops.add(parameter, ops.constant(np.ones((1, 3), np.float32)))
    ov.save_model(ov.Model([ops.relu(shifted)], [parameter], "relu"), str(other / "relu.xml"))
    with pytest.raises(WeightsFormatError, match="not a detector detectkit knows"):
        load_openvino_backend(other, CPU)
    broken = tmp_path / "broken_openvino_model"
    shutil.copytree(converted, broken)
    next(broken.glob("*.xml")).write_text("<net>not a graph")
    with pytest.raises(WeightsFormatError, match="OpenVINO could not read"):
        load_openvino_backend(broken, CPU)
    renamed = tmp_path / "plainfolder"
    shutil.copytree(yolo[1], renamed)
    with pytest.raises(WeightsFormatError, match="_openvino_model"):
        OpenVinoYoloBackend(renamed, CPU)
    with pytest.raises(ModelError, match="calibrates on images"):
        to_openvino(yolo[0], int8=True)
    with pytest.raises(WeightsFormatError, match="float weights"):
        to_openvino(tmp_path / "x.onnx")
