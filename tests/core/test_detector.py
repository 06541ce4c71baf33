"""Detector: real COCO detections, every torchvision builder's contract, weights, bad files, threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from detectkit import Detections, Detector
from detectkit.detection.torchvision_backend import detection_builders
from detectkit.errors import ChecksumError, ModelError, WeightsFormatError, WeightsNotFoundError
from detectkit.weights import known_weights


def iou(a, b) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


# Where the objects are in scikit-image's pictures (drawn by hand on the images, in pixels).
TRUTH = {
    "astronaut": ("person", [0, 0, 370, 512]),
    "chelsea": ("cat", [0, 0, 440, 300]),
    "coffee": ("cup", [165, 15, 430, 330]),
}


# ----------------------------------------------------------------------------- the real COCO model
@pytest.mark.parametrize("picture", sorted(TRUTH))
def test_real_yolo_finds_the_object_in_the_right_place(yolo_onnx_detector, picture, request):
    image = request.getfixturevalue(picture)
    label, box = TRUTH[picture]
    detections = yolo_onnx_detector(image)
    assert isinstance(detections, Detections) and detections.image_shape == image.shape[:2]
    hits = detections.filter(classes=[label])
    assert len(hits) >= 1, f"no {label} in {picture}: {detections}"
    best = hits[int(np.argmax(hits.confidence))]
    assert best.confidence[0] > 0.5
    assert iou(best.xyxy[0], box) > 0.8, (best.xyxy[0], box)


def test_inputs_batches_and_thresholds(yolo_onnx_detector, coffee, tmp_path):
    import cv2

    det = yolo_onnx_detector
    assert det.family == "ultralytics" and det.names[41] == "cup"
    path = tmp_path / "coffee.png"
    cv2.imwrite(str(path), coffee)
    from_array, from_path, from_rgb = det(coffee), det(path), det(coffee[:, :, ::-1].copy(), color="rgb")
    for other in (from_path, from_rgb):
        np.testing.assert_allclose(other.xyxy, from_array.xyxy, atol=0.5)
    assert sorted(from_array.labels) == ["cup", "dining table"]
    batch = det([coffee, path])
    assert isinstance(batch, list) and len(batch) == 2
    np.testing.assert_allclose(batch[1].xyxy, from_array.xyxy, atol=0.5)
    # the same thresholds mean the same thing on every call
    assert det(coffee, conf=0.9).labels == ["cup"]
    assert det(coffee, classes=["dining table"]).labels == ["dining table"]
    assert len(det(coffee, max_det=1)) == 1
    assert det.options.conf == 0.25  # per-call overrides do not stick
    streamed = list(det.stream([coffee, coffee, path], batch_size=2))
    assert len(streamed) == 3 and all(s.labels == from_array.labels for s in streamed)
    with pytest.raises(ModelError, match="unknown class 'unicorn'"):
        Detector(det.backend, classes=["unicorn"])


@pytest.mark.slow
def test_eight_threads_give_the_sequential_results(yolo_onnx_detector, astronaut, coffee, chelsea):
    det = yolo_onnx_detector
    images = [astronaut, coffee, chelsea]
    confs = [0.25, 0.5, 0.8]
    expected = {(i, c): det(images[i], conf=c) for i in range(3) for c in confs}
    failures: list[str] = []

    def worker(seed: int) -> None:
        rng = np.random.default_rng(seed)
        for _ in range(6):  # 48 calls from 8 threads at once
            i, c = int(rng.integers(3)), confs[int(rng.integers(3))]
            got = det(images[i], conf=c)
            want = expected[(i, c)]
            if got.labels != want.labels or not np.allclose(got.xyxy, want.xyxy, atol=1e-3):
                failures.append(f"thread {seed}: image {i} conf {c}: {got} != {want}")

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:3]


# ----------------------------------------------------------------------------- torchvision builders
@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)


@pytest.mark.parametrize("builder", detection_builders())
def test_every_torchvision_builder_keeps_the_contract(builder, noise):
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match="fixed") if builder.startswith("ssd") else _nothing():
        det = Detector(builder, weights=None, device="cpu", conf=0.0, imgsz=128, max_det=12)
        out = det(noise)
    assert det.family == "torchvision" and det.names[1] == "person"
    assert isinstance(out, Detections) and 0 < len(out) <= 12
    assert out.xyxy.dtype == np.float32 and out.image_shape == (120, 160)
    assert (out.xyxy[:, 0] >= 0).all() and (out.xyxy[:, 2] <= 160 + 1e-3).all()
    assert (out.xyxy[:, 1] >= 0).all() and (out.xyxy[:, 3] <= 120 + 1e-3).all()
    assert (out.xyxy[:, 2] >= out.xyxy[:, 0]).all() and (out.xyxy[:, 3] >= out.xyxy[:, 1]).all()
    # confidence threshold: everything kept is at least conf, and a higher conf keeps a subset
    middle = float(np.median(out.confidence))
    above = det(noise, conf=middle)
    assert (above.confidence >= middle).all() and len(above) <= len(out)
    # class filter: only the asked classes come back, and max_det is applied after it
    wanted = int(out.class_id[0])
    only = det(noise, classes=[wanted], max_det=3)
    assert 1 <= len(only) <= 3 and set(only.class_id.tolist()) == {wanted}


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _tiny_state(builder: str) -> dict:
    from detectkit.detection.torchvision_backend import build_model

    torch.manual_seed(1)
    return build_model(builder, 91).state_dict()


def test_state_dict_is_found_through_detectkit_weights(tmp_path, monkeypatch, noise):
    builder = "fasterrcnn_mobilenet_v3_large_320_fpn"
    state = _tiny_state(builder)
    torch.save(state, tmp_path / f"{builder}.pth")
    monkeypatch.setenv("DETECTKIT_WEIGHTS", str(tmp_path))
    loaded = Detector(builder, device="cpu", conf=0.0, max_det=20)
    assert loaded.backend.source == str(tmp_path / f"{builder}.pth")
    for name, tensor in loaded.torch_module().state_dict().items():
        assert torch.equal(tensor, state[name]), name
    reference = Detector(builder, weights=tmp_path / f"{builder}.pth", device="cpu", conf=0.0, max_det=20)
    np.testing.assert_allclose(loaded(noise).xyxy, reference(noise).xyxy)


def test_missing_and_wrong_format_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTKIT_WEIGHTS", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    builder = "fasterrcnn_mobilenet_v3_large_320_fpn"
    with pytest.raises(WeightsNotFoundError, match=f"{builder}_.*not found|not found.*{builder}"):
        Detector(builder)
    # a text file where a state dict should be
    (tmp_path / f"{builder}.pth").write_text("definitely not weights")
    with pytest.raises(WeightsFormatError, match=rf"{builder}\.pth: not a readable PyTorch state dict"):
        Detector(builder)
    # another architecture's state dict
    torch.save(_tiny_state("ssdlite320_mobilenet_v3_large"), tmp_path / f"{builder}.pth")
    with pytest.raises(WeightsFormatError, match="weights do not fit FasterRCNN"):
        Detector(builder)
    # the official file name with the wrong bytes
    (tmp_path / f"{builder}.pth").unlink()
    (tmp_path / known_weights(builder).filename).write_bytes(b"truncated download")
    with pytest.raises(ChecksumError, match="corrupt, truncated or a different model"):
        Detector(builder)
    # YOLO side: a missing file, a corrupt ONNX, an unknown torchvision name
    with pytest.raises(WeightsNotFoundError, match="no such model file"):
        Detector(tmp_path / "missing.pt")
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x08\x01garbage")
    with pytest.raises(WeightsFormatError, match=r"broken\.onnx: ultralytics could not load this model"):
        Detector(bad)
    bare = tmp_path / "bare.pth"
    torch.save({"w": torch.zeros(1)}, bare)
    with pytest.raises(WeightsFormatError, match="a bare state dict"):
        Detector(bare)


def test_detectkit_checkpoint_loads_with_its_classes(tmp_path, noise):
    from detectkit.checkpoint import save_checkpoint
    from detectkit.detection.torchvision_backend import build_model

    torch.manual_seed(2)
    model = build_model("fasterrcnn_mobilenet_v3_large_320_fpn", 3)
    path = save_checkpoint(
        tmp_path / "shapes.pt", builder="fasterrcnn_mobilenet_v3_large_320_fpn",
        classes=["circle", "square"], imgsz=160, state_dict=model.state_dict(),
    )
    det = Detector(path, conf=0.0, device="cpu")
    out = det(noise)
    assert det.names == {0: "circle", 1: "square"}
    assert len(out) > 0 and set(out.class_id.tolist()) <= {0, 1}
    assert det(noise, classes=["square"]).labels == ["square"] * len(det(noise, classes=["square"]))


def test_untrained_yolo_from_yaml_and_device_choice(noise):
    det = Detector("yolov8n.yaml", device="auto", imgsz=160)
    assert det.family == "ultralytics" and len(det.names) == 80
    assert det.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert isinstance(det(noise), Detections)
    assert det.options.half is (det.device.type == "cuda")
    with pytest.raises(ModelError, match="CUDA is not available"):
        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
        Detector("yolov8n.yaml", device="cuda")


def test_yolo_leaves_torch_thread_count_alone(coco_onnx, noise):
    """ultralytics' select_device sets torch threads to cpu_count - 1 process-wide; the backend undoes it."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        det = Detector(coco_onnx, device="cpu")
        det(noise)
        det(noise, imgsz=320)  # a new predictor setup selects the device again
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_ultralytics_device_selection_keeps_the_callers_threads_inside_the_block():
    """Training calls select_device inside the block: it must use the caller's count there, not cpu_count - 1."""
    from ultralytics.utils import torch_utils

    from detectkit._ultralytics_env import keep_torch_threads

    before, pinned = torch.get_num_threads(), torch_utils.NUM_THREADS
    try:
        for count in (1, 3):
            torch.set_num_threads(count)
            with keep_torch_threads():
                torch_utils.select_device("cpu", verbose=False)
                assert torch.get_num_threads() == count
        torch.set_num_threads(3)
        torch_utils.select_device("cpu", verbose=False)  # outside the block ultralytics behaves as it always did
        assert torch.get_num_threads() == pinned and torch_utils.NUM_THREADS == pinned
    finally:
        torch.set_num_threads(before)
