"""runtime="auto": a YOLO .pt is converted once to OpenVINO into detectkit's cache and loaded from it
afterwards (same boxes as PyTorch); a corrupt entry is rebuilt silently, another OpenVINO version is
another entry; a failed conversion falls back with one warning; int8 ONNX stays on onnxruntime; the
registry, the CLI and export know the format; a TensorRT export without tensorrt fails clearly."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from detectkit import Detector
from detectkit.cli import main
from detectkit.detection.registry import family_of, find_backend
from detectkit.errors import ModelError
from detectkit.runtimes import auto as auto_module
from detectkit.runtimes.auto import load_on_runtime, source_kind
from detectkit.runtimes.cache import cache_key, entry_is_valid, openvino_cache_dir, weights_digest
from detectkit.runtimes.choice import runtime_plan

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    from detectkit._ultralytics_env import import_ultralytics, keep_torch_threads

    path = tmp_path_factory.mktemp("auto") / "tiny.pt"
    torch.manual_seed(0)
    with keep_torch_threads():
        import_ultralytics().YOLO("yolov8n.yaml").save(path)
    return path


def _image() -> np.ndarray:
    import skimage.data

    return np.ascontiguousarray(skimage.data.astronaut()[::4, ::4, ::-1])


def _entries(tiny: Path) -> list[Path]:
    digest = weights_digest(tiny)
    key = cache_key(digest, family="ultralytics", imgsz=64, precision="fp32")
    return [p for p in openvino_cache_dir().glob("ultralytics-fp32-64-*") if p.name == key.folder_name()]


def test_auto_converts_once_then_loads_the_cache(tiny):
    threads = torch.get_num_threads()
    detector = Detector(tiny, device="cpu", runtime="auto", imgsz=64, conf=0.0, max_det=20)
    assert detector.runtime == "openvino fp32" and detector.family == "ultralytics"
    (entry,) = _entries(tiny)
    stamp = next(entry.glob("*.bin")).stat().st_mtime_ns
    again = Detector(tiny, device="cpu", runtime="auto", imgsz=64, conf=0.0, max_det=20)
    assert Path(again.backend.source) == entry and next(entry.glob("*.bin")).stat().st_mtime_ns == stamp
    reference = Detector(tiny, device="cpu", imgsz=64, conf=0.0, max_det=20)
    assert reference.runtime == "torch fp32"
    a, b = reference(_image()), again(_image())
    assert len(a) == len(b) == 20
    np.testing.assert_allclose(np.sort(b.confidence), np.sort(a.confidence), rtol=1e-3, atol=1e-7)
    assert torch.get_num_threads() == threads


def test_corrupt_or_foreign_cache_entries_are_rebuilt(tiny):
    Detector(tiny, device="cpu", runtime="auto", imgsz=64)
    (entry,) = _entries(tiny)
    weights = next(entry.glob("*.bin"))
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # truncated
    detector = Detector(tiny, device="cpu", runtime="openvino", imgsz=64, conf=0.0, max_det=5)
    assert detector.runtime == "openvino fp32" and len(detector(_image())) == 5
    (rebuilt,) = _entries(tiny)
    key = cache_key(weights_digest(tiny), family="ultralytics", imgsz=64, precision="fp32")
    assert entry_is_valid(rebuilt, key)
    other_version = cache_key(weights_digest(tiny), family="ultralytics", imgsz=64, precision="fp32", converter_version="2023.0.0")
    assert other_version.folder_name() != key.folder_name() and not entry_is_valid(rebuilt, other_version)
    (rebuilt / "entry.json").write_text("{not json")
    Detector(tiny, device="cpu", runtime="auto", imgsz=64)
    assert entry_is_valid(rebuilt, key)


def test_failed_conversion_falls_back_with_one_warning(tiny, monkeypatch):
    def broken(*args, **kwargs):
        raise ModelError("simulated conversion failure")

    monkeypatch.setattr("detectkit.runtimes.convert.to_openvino", broken)
    monkeypatch.setattr(auto_module, "_calibration_digest", lambda data: "x")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        detector = Detector(tiny, device="cpu", runtime="auto", imgsz=96, calibration="unused")
    ours = [w for w in caught if "conversion failed" in str(w.message)]
    assert len(ours) == 1 and "running on torch" in str(ours[0].message) and "simulated" in str(ours[0].message)
    assert detector.runtime == "torch fp32"
    with pytest.raises(ModelError, match="simulated"):
        Detector(tiny, device="cpu", runtime="openvino", imgsz=96, calibration="unused")


def test_plans_for_each_kind_of_spec(tiny, tmp_path):
    assert source_kind(tiny) == "torch" and source_kind("yolov8n.yaml") == "untrained"
    assert runtime_plan("auto", CPU, "torch") == ["openvino", "torch"]
    assert runtime_plan("auto", torch.device("cuda"), "torch") == ["torch"]
    with pytest.raises(ModelError, match="runtime 'tensorrt'"):
        runtime_plan("tensorrt", CPU, "torch")
    with pytest.raises(ModelError, match="no PyTorch weights"):
        runtime_plan("torch", CPU, "onnx")
    assert load_on_runtime("yolov8n.yaml", CPU).runtime == "torch"


def test_shared_int8_onnx_stays_on_onnxruntime():
    from shared_data import SHARED_ONNX, need_shared

    need_shared("weights/yolov8n_int8.onnx")
    assert source_kind(SHARED_ONNX) == "onnx-int8"
    assert runtime_plan("auto", CPU, "onnx-int8") == ["onnx"]
    with pytest.raises(ModelError, match="int8"):
        runtime_plan("openvino", CPU, "onnx-int8")
    assert Detector(SHARED_ONNX, device="cpu", runtime="auto").runtime == "onnx int8"


def test_registry_cli_export_and_engine_error(tiny, tmp_path, capsys):
    folder = tmp_path / "cli_openvino_model"
    assert main(["export", "--model", str(tiny), "--format", "openvino", "--imgsz", "64", "--out", str(folder)]) == 0
    assert capsys.readouterr().out.strip() == str(folder)
    assert find_backend(folder).name == "openvino" and family_of(folder) == "ultralytics"
    detector = Detector(folder, device="cpu")
    assert detector.runtime == "openvino fp32" and len(detector.names) == 80
    assert main(["export", "--model", str(tiny), "--format", "engine"]) == 1
    assert "TensorRT" in capsys.readouterr().err
    from detectkit.deploy.engine import engine_unavailable, export_engine

    if engine_unavailable() is not None:
        with pytest.raises(ModelError, match="tensorrt|CUDA"):
            export_engine(tiny)
