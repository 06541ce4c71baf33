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

    def train(n_train, **options):
        spec = make_shapes_dataset(tmp_path / f"data{n_train}", n_train, 4, imgsz=32, max_objects=1)
        train, val = load_splits(spec, 0.2, 0)
        ultralytics_trainer.train_ultralytics("yolov8n.yaml", train, val, device="cpu", save_dir=tmp_path / "run",
                                              final_eval=False, progress=False, **options)
        return RecordingYOLO.calls[-1]

    return train


def test_the_readme_run_steps_once_per_batch_with_a_one_epoch_warm_up(recorded):
    args = recorded(64, epochs=20, imgsz=128, batch=8)  # `detectkit train ... --epochs 20 --imgsz 128`, batch 8
    assert (args["nbs"], args["warmup_epochs"], args["batch"]) == (8, 1.0, 8)  # 8 steps an epoch, not 1
    assert args["optimizer"] == "auto" and "lr0" not in args  # ultralytics picks AdamW for a run this short


def test_large_datasets_keep_ultralytics_defaults_and_overrides_win(recorded):
    assert ultralytics_trainer.small_data_defaults(20_000, 16, 100) == {"nbs": 64, "warmup_epochs": 3.0}
    args = recorded(64, epochs=20, imgsz=64, batch=4, nbs=64, warmup_epochs=3)
    assert (args["nbs"], args["warmup_epochs"]) == (64, 3)


def test_nominal_batch_grows_with_the_dataset_up_to_64():
    nbs = [ultralytics_trainer.small_data_defaults(n, 8, 30)["nbs"] for n in (16, 128, 256, 512, 1024, 4096)]
    assert nbs == [8, 8, 16, 32, 64, 64]  # at least 16 optimizer steps an epoch while that can be had
    assert ultralytics_trainer.small_data_defaults(64, 8, 3)["warmup_epochs"] == pytest.approx(0.15)
