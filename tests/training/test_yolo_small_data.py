"""What detectkit hands ultralytics' trainer for a small dataset (issue 16: the README's 20 epochs on 64
images learned nothing with ultralytics' nbs=64, i.e. one optimizer step an epoch, and a 3-epoch warm-up).
The trainer is replaced by a recorder, so this runs in a second; test_readme.py trains for real."""

from __future__ import annotations

import types

import pytest

from detectkit.training import ultralytics_trainer
from detectkit.training.loading import load_splits
from detectkit.training.synthetic import make_shapes_dataset


class RecordingYOLO:
    calls: list[dict] = []

    def __init__(self, source, task=None):
        self.source, self.trainer = source, types.SimpleNamespace(epochs=None)

    def add_callback(self, event, callback):
        pass

    def train(self, **kwargs):
        RecordingYOLO.calls.append(kwargs)


@pytest.fixture()
def recorded(monkeypatch, tmp_path):
    RecordingYOLO.calls = []
    monkeypatch.setattr(ultralytics_trainer, "import_ultralytics", lambda: types.SimpleNamespace(YOLO=RecordingYOLO))

    def train(n_train, model="yolov8n.yaml", **options):
        spec = make_shapes_dataset(tmp_path / f"data{n_train}", n_train, 4, imgsz=32, max_objects=1)
        train, val = load_splits(spec, 0.2, 0)
        ultralytics_trainer.train_ultralytics(model, train, val, device="cpu", save_dir=tmp_path / "run",
                                              final_eval=False, progress=False, **options)
        return RecordingYOLO.calls[-1]

    return train


def test_the_readme_run_gets_16_steps_an_epoch_light_augmentation_and_adamw(recorded):
    args = recorded(64, epochs=20, imgsz=128)  # `detectkit train --model yolov8n.yaml ... --epochs 20 --imgsz 128`
    assert (args["batch"], args["nbs"], args["warmup_epochs"]) == (4, 4, 1.0)  # 16 steps an epoch, not 1
    assert (args["mosaic"], args["scale"]) == (0.0, 0.2)  # 1,280 images shown: a short run
    assert (args["optimizer"], args["lr0"], args["lrf"]) == ("AdamW", 0.003, 0.1)  # not the fine-tuning lr (0.0014)


def test_a_chosen_optimizer_or_lr_is_kept(recorded):
    args = recorded(64, epochs=20, imgsz=64, optimizer="sgd")
    assert args["optimizer"] == "SGD" and "lr0" not in args and "lrf" not in args and args["mosaic"] == 0.0
    args = recorded(64, epochs=20, imgsz=64, lr=0.001, optimizer="adamw")
    assert (args["optimizer"], args["lr0"]) == ("AdamW", 0.001)
    # an lr with optimizer "auto": ultralytics' "auto" would ignore lr0, so its choice is made here
    args = recorded(64, epochs=20, imgsz=64, lr=0.02)
    assert (args["optimizer"], args["lr0"]) == ("AdamW", 0.02) and "lrf" not in args


def test_pretrained_weights_keep_ultralytics_optimizer_choice(recorded, tmp_path):
    weights = tmp_path / "pretrained.pt"
    weights.write_bytes(b"not read")  # the recorder stands in for ultralytics.YOLO: the file need only be found
    args = recorded(64, model=str(weights), epochs=20, imgsz=64)
    assert args["optimizer"] == "auto" and "lr0" not in args  # ultralytics' choice, fitted for fine-tuning
    assert (args["batch"], args["mosaic"], args["scale"]) == (4, 0.0, 0.2)


def test_large_datasets_and_long_runs_keep_ultralytics_defaults_and_overrides_win(recorded):
    assert ultralytics_trainer.small_data_defaults(20_000, 16, 100, from_scratch=True) == {"nbs": 64, "warmup_epochs": 3.0}
    assert "mosaic" not in ultralytics_trainer.small_data_defaults(500, 8, 20)  # 10,000 images shown: not short
    assert ultralytics_trainer.small_data_defaults(499, 8, 20)["mosaic"] == 0.0
    args = recorded(64, epochs=20, imgsz=64, batch=4, nbs=64, warmup_epochs=3, mosaic=1.0)
    assert (args["nbs"], args["warmup_epochs"], args["mosaic"]) == (64, 3, 1.0)


def test_batch_shrinks_on_small_datasets_only():
    assert [ultralytics_trainer.default_batch(n) for n in (8, 32, 64, 100, 128, 10_000)] == [2, 2, 4, 6, 8, 8]


def test_nominal_batch_grows_with_the_dataset_up_to_64():
    nbs = [ultralytics_trainer.small_data_defaults(n, 8, 30)["nbs"] for n in (16, 128, 256, 512, 1024, 4096)]
    assert nbs == [8, 8, 16, 32, 64, 64]  # at least 16 optimizer steps an epoch while that can be had
    assert ultralytics_trainer.small_data_defaults(64, 8, 3)["warmup_epochs"] == pytest.approx(0.15)
