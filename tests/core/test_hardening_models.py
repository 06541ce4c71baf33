"""Model files run no code unless the user trusts them (issue 17, item 1).

Every entry point that reads a model file is given a pickle whose ``__reduce__`` runs ``exec``
(``open(marker, 'w')``): ``Detector``, ``detectkit detect --model``, ``finetune(resume=...)``,
``export``, the FaceNet embedder, and a model YAML whose ``activation`` is code. Each must refuse
it with a :class:`WeightsFormatError` naming the file and saying how to trust it, and the marker
file must not exist afterwards. Checkpoints ultralytics and detectkit write still load by default,
and ``trust=True`` / ``--trust-model`` / ``DETECTKIT_TRUST_MODELS=1`` do let a file run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detectkit import Detector
from detectkit.cli import main
from detectkit.errors import DetectKitError, WeightsFormatError


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "pwned"


def _evil(tmp_path: Path, marker: Path, kind: str = "dict") -> Path:
    import torch

    payload = _Payload(marker)
    content = {
        "dict": {"model": payload},
        "raw": payload,
        "detectkit": {"detectkit_checkpoint": 1, "builder": "fasterrcnn_mobilenet_v3_large_320_fpn", "model": payload},
        "state_dict": {"conv.weight": torch.zeros(1), "extra": payload},
    }[kind]
    path = tmp_path / f"evil_{kind}.pt"
    torch.save(content, path)
    return path


def _refused(exc: BaseException, path: Path) -> None:
    text = str(exc)
    assert isinstance(exc, WeightsFormatError), repr(exc)
    assert str(path) in text or path.name in text
    assert "trust=True" in text and "--trust-model" in text and "DETECTKIT_TRUST_MODELS=1" in text


@pytest.mark.parametrize("kind", ["dict", "raw", "detectkit"])
def test_detector_refuses_a_pickle_payload_without_running_it(tmp_path, marker, kind):
    path = _evil(tmp_path, marker, kind)
    with pytest.raises(WeightsFormatError) as info:
        Detector(path, device="cpu")
    _refused(info.value, path)
    assert not marker.exists()


def test_detector_refuses_a_state_dict_with_objects_for_a_torchvision_builder(tmp_path, marker):
    path = _evil(tmp_path, marker, "state_dict")
    with pytest.raises(WeightsFormatError, match="pickled Python objects"):
        Detector("fasterrcnn_mobilenet_v3_large_320_fpn", weights=path, device="cpu")
    assert not marker.exists()


def test_cli_detect_refuses_the_payload(tmp_path, marker, capsys):
    import cv2

    image = tmp_path / "img.jpg"
    cv2.imwrite(str(image), np.zeros((32, 32, 3), np.uint8))
    path = _evil(tmp_path, marker)
    assert main(["detect", str(image), "--model", str(path), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "--trust-model" in err and "Traceback" not in err
    assert not marker.exists()


def test_finetune_resume_refuses_the_payload_and_leaves_no_data_folder(tmp_path, marker):
    from detectkit.training.finetune import finetune
    from detectkit.training.synthetic import make_shapes_dataset

    data = make_shapes_dataset(tmp_path / "shapes", n_train=4, n_val=2, imgsz=64, classes=["circle"], seed=0)
    run = tmp_path / "run" / "weights"
    run.mkdir(parents=True)
    path = _evil(run, marker)
    with pytest.raises(WeightsFormatError) as info:
        finetune("yolov8n.yaml", data, resume=path, epochs=1, imgsz=64, device="cpu", progress=False)
    _refused(info.value, path)
    assert not marker.exists()
    assert not (tmp_path / "run" / "data").exists()
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["weights"]


def test_finetune_from_the_payload_is_refused_before_any_run_folder_is_made(tmp_path, marker):
    from detectkit.training.finetune import finetune
    from detectkit.training.synthetic import make_shapes_dataset

    data = make_shapes_dataset(tmp_path / "shapes", n_train=4, n_val=2, imgsz=64, classes=["circle"], seed=0)
    path = _evil(tmp_path, marker)
    with pytest.raises(WeightsFormatError):
        finetune(path, data, epochs=1, imgsz=64, device="cpu", out=tmp_path / "runs" / "exp", progress=False)
    assert not marker.exists()
    assert not (tmp_path / "runs").exists()


def test_export_refuses_the_payload(tmp_path, marker):
    from detectkit.deploy.onnx import export

    path = _evil(tmp_path, marker)
    with pytest.raises(WeightsFormatError) as info:
        export(path, out=tmp_path / "out.onnx")
    _refused(info.value, path)
    assert not marker.exists() and not (tmp_path / "out.onnx").exists()


def test_facenet_weights_payload_is_refused(tmp_path, marker):
    from detectkit.faces.embedder import FaceEmbedder

    path = _evil(tmp_path, marker)
    with pytest.raises(WeightsFormatError, match="pickled Python objects"):
        FaceEmbedder(path, device="cpu")
    assert not marker.exists()


def test_a_model_yaml_whose_activation_is_code_is_refused(tmp_path, marker):
    import yaml

    from detectkit._ultralytics_env import import_ultralytics

    import_ultralytics()
    from ultralytics.nn.tasks import yaml_model_load

    config = yaml_model_load("yolov8n.yaml")
    config.pop("yaml_file", None)
    config["activation"] = f"__import__('builtins').open({str(marker)!r}, 'w')"
    path = tmp_path / "evil.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(WeightsFormatError, match="evil.yaml"):
        Detector(path, device="cpu")
    assert not marker.exists()


def test_an_ultralytics_saved_checkpoint_loads_by_default(tmp_path):
    from detectkit._ultralytics_env import import_ultralytics, keep_torch_threads

    ultralytics = import_ultralytics()
    path = tmp_path / "yolov8n_saved.pt"
    with keep_torch_threads():
        yolo = ultralytics.YOLO("yolov8n.yaml")
        yolo.model.names = {i: f"class{i}" for i in range(80)}
        yolo.save(path)
    detector = Detector(path, device="cpu", conf=0.0)
    assert detector.family == "ultralytics" and len(detector.names) == 80 and detector.names[79] == "class79"
    found = detector(np.zeros((64, 64, 3), np.uint8))
    assert found.xyxy.shape[1] == 4


def test_a_detectkit_checkpoint_loads_by_default(tmp_path):
    from detectkit.checkpoint import save_checkpoint
    from detectkit.detection.torchvision_backend import build_model

    net = build_model("fasterrcnn_mobilenet_v3_large_320_fpn", 3)
    path = save_checkpoint(tmp_path / "best.pt", builder="fasterrcnn_mobilenet_v3_large_320_fpn",
                           classes=["cat", "dog"], imgsz=320, state_dict=net.state_dict())
    detector = Detector(path, device="cpu")
    assert detector.family == "torchvision" and list(detector.names.values())[-2:] == ["cat", "dog"]


def test_trust_true_lets_the_file_run(tmp_path, marker):
    path = _evil(tmp_path, marker)
    with pytest.raises(DetectKitError):  # it ran, then is not a model
        Detector(path, device="cpu", trust=True)
    assert marker.exists()


def test_the_environment_variable_trusts_every_file(tmp_path, marker, monkeypatch):
    monkeypatch.setenv("DETECTKIT_TRUST_MODELS", "1")
    path = _evil(tmp_path, marker)
    with pytest.raises(DetectKitError):
        Detector(path, device="cpu")
    assert marker.exists()


def test_cli_trust_model_flag_trusts_for_that_command_only(tmp_path, marker):
    import cv2

    from detectkit.trust import models_trusted

    image = tmp_path / "img.jpg"
    cv2.imwrite(str(image), np.zeros((32, 32, 3), np.uint8))
    path = _evil(tmp_path, marker)
    assert main(["detect", str(image), "--model", str(path), "--device", "cpu", "--trust-model"]) == 1
    assert marker.exists()
    assert not models_trusted()  # the switch does not outlive the command


def test_trust_is_per_thread(tmp_path, marker):
    import threading

    from detectkit.trust import models_trusted, trusting

    seen = []
    with trusting(True):
        worker = threading.Thread(target=lambda: seen.append(models_trusted()))
        worker.start()
        worker.join()
        assert models_trusted()
    assert seen == [False] and not models_trusted()


@pytest.mark.slow
def test_checkpoints_of_a_real_training_run_load_by_default(tmp_path):
    from detectkit.training.finetune import finetune
    from detectkit.training.synthetic import make_shapes_dataset

    data = make_shapes_dataset(tmp_path / "shapes", n_train=8, n_val=4, imgsz=64, classes=["circle"], seed=0)
    run = finetune("yolov8n.yaml", data, epochs=1, imgsz=64, batch=4, device="cpu", out=tmp_path / "run",
                   progress=False, plots=False, final_eval=False)
    for path in (run.best, run.last):
        assert Detector(path, device="cpu").names == {0: "circle"}
