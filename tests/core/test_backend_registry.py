"""The detector-backend registry: built-in lookup order, family_of for every kind of spec, a backend
from outside the package reaching Detector(...), and errors for specs nobody claims."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from detectkit import Detections, Detector
from detectkit.checkpoint import save_checkpoint
from detectkit.detection import BACKENDS, family_of, find_backend, register_backend
from detectkit.detection.base import PredictOptions
from detectkit.errors import ModelError, WeightsFormatError
from detectkit.training.finetune import family_of as finetune_family_of

BUILDER = "fasterrcnn_mobilenet_v3_large_320_fpn"


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)


class ToyBackend:
    """One box per image, covering its left half, with confidence 0.75."""

    family = "toy"

    def __init__(self, spec: str, device, **options) -> None:
        self.names = {0: "thing", 1: "other"}
        self.device = device
        self.spec = spec
        self.options = options

    def predict(self, images, options: PredictOptions) -> list[Detections]:
        out = []
        for image in images:
            h, w = image.shape[:2]
            box = np.array([[0, 0, w / 2, h]], np.float32)
            keep = 0.75 >= options.conf and (options.classes is None or 0 in options.classes)
            out.append(Detections(box[:int(keep)], np.array([0.75], np.float32)[:int(keep)],
                                  np.zeros(int(keep), np.int64), self.names, image_shape=(h, w)))
        return out


@pytest.fixture
def toy():
    entry = register_backend(
        "toy", family="toy", claims=lambda spec: isinstance(spec, str) and spec.startswith("toy:"),
        load=lambda spec, device, **options: ToyBackend(spec, device, **options),
    )
    yield entry
    BACKENDS.unregister("toy")


def test_built_in_entries_are_asked_in_this_order():
    names = [name for name, _ in BACKENDS.items()]
    builtin = ["opencv-hog-people", "torchvision", "detectkit-checkpoint", "detectkit-onnx", "ultralytics"]
    assert [n for n in names if n in builtin] == builtin
    assert names[-1] == "ultralytics", "the catch-all is asked last"


def test_family_of_every_kind_of_spec(tmp_path):
    ckpt = save_checkpoint(tmp_path / "best.pt", builder=BUILDER, classes=["cat"], imgsz=160, state_dict={"w": torch.zeros(1)})
    cases = {
        BUILDER: ("torchvision", "torchvision"),
        "retinanet_resnet50_fpn": ("torchvision", "torchvision"),
        str(ckpt): ("detectkit-checkpoint", "torchvision"),
        "yolo11n.pt": ("ultralytics", "ultralytics"),
        "yolov8n.yaml": ("ultralytics", "ultralytics"),
        "opencv-hog-people": ("opencv-hog-people", "opencv-hog"),
    }
    for spec, (entry, family) in cases.items():
        assert find_backend(spec).name == entry, spec
        assert family_of(spec) == family, spec
        assert finetune_family_of(spec) == family, f"finetune's family is the registry's: {spec}"
    assert family_of(ckpt) == "torchvision", "a Path works as a str does"


def test_a_bare_state_dict_is_named_not_guessed(tmp_path):
    path = tmp_path / "weights.pth"
    torch.save({"w": torch.zeros(2)}, path)
    with pytest.raises(WeightsFormatError, match="bare state dict"):
        family_of(path)
    with pytest.raises(WeightsFormatError, match="weights.pth"):
        Detector(path, device="cpu")


def test_an_outside_backend_registers_and_loads_through_detector(toy, noise):
    assert find_backend("toy:model-a").name == "toy" and family_of("toy:model-a") == "toy"
    assert find_backend("yolo11n.pt").name == "ultralytics", "the toy claims only its own specs"
    detector = Detector("toy:model-a", device="cpu", conf=0.5)
    assert isinstance(detector.backend, ToyBackend) and detector.family == "toy"
    assert detector.backend.spec == "toy:model-a" and detector.backend.options == {"weights": "DEFAULT"}
    result = detector(noise)
    np.testing.assert_array_equal(result.xyxy, [[0, 0, noise.shape[1] / 2, noise.shape[0]]])
    assert result.labels == ["thing"]
    assert len(detector(noise, conf=0.8)) == 0 and len(detector(noise, classes=["other"])) == 0
    with pytest.raises(ModelError, match="no torch module"):
        detector.torch_module()


def test_priority_decides_who_claims_a_spec(noise):
    register_backend("toy-builder", family="toy", claims=lambda spec: spec == BUILDER,
                     load=lambda spec, device, **options: ToyBackend(spec, device), priority=50)
    try:
        assert find_backend(BUILDER).name == "toy-builder" and family_of(BUILDER) == "toy"
    finally:
        BACKENDS.unregister("toy-builder")
    assert find_backend(BUILDER).name == "torchvision"
    with pytest.raises(ModelError, match="registered already"):
        register_backend("torchvision", family="x", claims=bool, load=ToyBackend)


def test_objects_are_used_as_they_are_and_other_things_are_refused(noise):
    backend = ToyBackend("mine", "cpu")
    assert Detector(backend, device="cpu").backend is backend and family_of(backend) == "toy"
    with pytest.raises(ModelError, match="cannot make a detector from int"):
        Detector(3)
    with pytest.raises(ModelError, match="cannot make a detector from int"):
        find_backend(3)


def test_torch_module_is_the_model_torchvision_runs(noise):
    detector = Detector(BUILDER, weights=None, device="cpu", conf=0.0)
    module = detector.torch_module()
    assert isinstance(module, torch.nn.Module) and not module.training
    assert module.roi_heads.score_thresh == 0.05, "torchvision's default until the first call"
    detector(noise, conf=0.3, iou=0.4, max_det=7)
    # torchvision keeps score > score_thresh: it gets the float32 just below conf, so conf itself is kept
    from detectkit.detection.postprocess import strict_threshold

    assert module.roi_heads.score_thresh == strict_threshold(0.3) and 0.3 - 1e-7 < module.roi_heads.score_thresh < 0.3
    assert (module.roi_heads.nms_thresh, module.roi_heads.detections_per_img) == (0.4, 7)
