"""finetune() for torchvision detectors, on the CPU, from scratch (no pretrained weights here):
it learns generated shapes, its checkpoint reloads into Detector with the new classes, resume
continues exactly where an interrupted run stopped, the same seed repeats the first epoch, and
COCO weights (a file shaped like torchvision's) are fine-tuned with the backbone frozen.

Faster R-CNN learns slowly from random weights, so the learning test uses one class (circles)
drawn at 64 px and fed to the model at 128 px, where the mobilenet-320 anchors fit them."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from detectkit import Detector
from detectkit.checkpoint import load_checkpoint, save_checkpoint
from detectkit.errors import ModelError, WeightsNotFoundError
from detectkit.training import torchvision_trainer
from detectkit.training.augment import Augment
from detectkit.training.datasets import load_dataset
from detectkit.training.evaluate import evaluate
from detectkit.training.finetune import finetune
from detectkit.training.synthetic import make_shapes_dataset
from detectkit.training.torchvision_model import FEW_OBJECTS_RCNN_KWARGS, apply_layout, untrained_model

BUILDER = "fasterrcnn_mobilenet_v3_large_320_fpn"
FAST = FEW_OBJECTS_RCNN_KWARGS  # cheaper R-CNN sampling for tiny CPU runs (stored in the checkpoint)
FLIPS = Augment(affine_p=0.0, color_p=0.0)


@pytest.fixture(scope="module")
def circles(tmp_path_factory) -> Path:
    return make_shapes_dataset(tmp_path_factory.mktemp("circles"), n_train=32, n_val=16, imgsz=64, classes=["circle"], seed=0)


@pytest.fixture(scope="module")
def trained(circles, tmp_path_factory):
    return finetune(
        BUILDER, circles, epochs=16, imgsz=128, batch=4, lr=0.02, device="cpu", seed=0, patience=None,
        out=tmp_path_factory.mktemp("runs") / "exp", weights=None, builder_kwargs=FAST, augment=FLIPS, progress=False,
    )


def _untrained_map50(circles, tmp_path) -> float:
    torch.manual_seed(0)
    model = untrained_model(BUILDER, 2, builder_kwargs=FAST)
    path = save_checkpoint(tmp_path / "untrained.pt", builder=BUILDER, classes=["circle"], imgsz=128,
                           state_dict=model.state_dict(), builder_kwargs=FAST)
    return evaluate(Detector(path, device="cpu"), circles).map50


@pytest.mark.slow
def test_loss_falls_and_map_rises_far_above_untrained(trained, circles, tmp_path):
    history = trained.history
    assert [row["epoch"] for row in history] == list(range(1, 17))
    first, last = history[0], history[-1]
    assert last["train/loss"] < 0.7 * first["train/loss"]
    assert last["train/loss_objectness"] < 0.5 * first["train/loss_objectness"]
    untrained = _untrained_map50(circles, tmp_path)
    assert untrained < 0.05
    assert trained.final.map50 > max(0.1, 5 * untrained), (untrained, [round(r["val/map50"], 3) for r in history])
    best = max(history, key=lambda row: row["fitness"])
    assert trained.best_epoch == best["epoch"]
    assert trained.final.map50 == pytest.approx(best["val/map50"], abs=1e-6)  # the loop scores as Detector does


@pytest.mark.slow
def test_checkpoint_reloads_into_detector_with_the_new_classes(trained, circles):
    ckpt = load_checkpoint(trained.best)
    assert (ckpt.builder, ckpt.classes, ckpt.imgsz) == (BUILDER, ["circle"], 128)
    assert ckpt.metrics["epoch"] == trained.best_epoch and "optimizer" not in ckpt.extra
    detector = Detector(trained.best, device="cpu", conf=0.05)
    assert detector.names == {0: "circle"}
    val = load_dataset(circles, "val")
    hits = 0
    for sample, found in zip(val, detector([str(s.image_path) for s in val])):
        assert set(found.labels) <= {"circle"}
        if len(found):
            top = found.xyxy[int(np.argmax(found.confidence))]
            hits += _best_iou(top, sample.xyxy) > 0.5
    assert hits >= 3  # the most confident box lands on a circle (IoU > 0.5) in several images; untrained: none


def _best_iou(box: np.ndarray, truth: np.ndarray) -> float:
    x1 = np.maximum(box[0], truth[:, 0]); y1 = np.maximum(box[1], truth[:, 1])
    x2 = np.minimum(box[2], truth[:, 2]); y2 = np.minimum(box[3], truth[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1]) + (truth[:, 2] - truth[:, 0]) * (truth[:, 3] - truth[:, 1])
    return float((inter / (area - inter)).max())


@pytest.mark.slow
def test_run_writes_csv_and_plots(trained):
    rows = trained.csv.read_text().splitlines()
    assert rows[0].startswith("epoch,time,lr,train/loss,train/loss_classifier") and len(rows) == 17
    for name in ("loss", "pr_curve", "per_class_ap"):
        assert trained.plots[name].is_file() and trained.plots[name].read_bytes()[:4] == b"\x89PNG"
    assert trained.last.is_file() and "optimizer" in load_checkpoint(trained.last).extra


# ----------------------------------------------------------------------------- resume and seeds (tiny runs)
@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return make_shapes_dataset(tmp_path_factory.mktemp("tiny"), n_train=8, n_val=2, imgsz=64, classes=["circle"], seed=3)


def _tiny_run(data: Path, out: Path, **kwargs):
    settings = dict(epochs=2, imgsz=96, batch=4, lr=0.01, device="cpu", seed=0, weights=None, patience=None,
                    builder_kwargs=FAST, progress=False, final_eval=False)
    settings.update(kwargs)
    return finetune(BUILDER, data, out=out, **settings)


@pytest.fixture(scope="module")
def straight(tiny, tmp_path_factory):
    return _tiny_run(tiny, tmp_path_factory.mktemp("straight") / "exp")


def test_resume_continues_exactly_where_the_interrupted_run_stopped(tiny, straight, tmp_path, monkeypatch):
    real = torchvision_trainer.train_one_epoch
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C during the second epoch
        return real(*args, **kwargs)

    monkeypatch.setattr(torchvision_trainer, "train_one_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _tiny_run(tiny, tmp_path / "exp")
    monkeypatch.setattr(torchvision_trainer, "train_one_epoch", real)
    saved = load_checkpoint(tmp_path / "exp" / "weights" / "last.pt")
    assert saved.extra["epoch"] == 1  # epoch 1 was kept when epoch 2 was interrupted

    resumed = _tiny_run(tiny, tmp_path / "exp", resume=True)
    assert resumed.save_dir == tmp_path / "exp"
    assert [row["epoch"] for row in resumed.history] == [1, 2]
    for mine, theirs in zip(resumed.history, straight.history):
        assert mine["train/loss"] == pytest.approx(theirs["train/loss"], rel=1e-5)  # epoch 2 as if never stopped
        assert mine["lr"] == pytest.approx(theirs["lr"])
    assert load_checkpoint(resumed.last).extra["epoch"] == 2
    with pytest.raises(ModelError, match="already trained 2 epochs"):
        _tiny_run(tiny, tmp_path / "exp", resume=True)
    more = _tiny_run(tiny, tmp_path / "exp", resume=resumed.last, epochs=3)
    assert [row["epoch"] for row in more.history] == [1, 2, 3]


def test_same_seed_same_first_epoch_loss(tiny, straight, tmp_path):
    again = _tiny_run(tiny, tmp_path / "a", epochs=1)  # a shorter run: the warm-up, and so epoch 1, is the same
    other = _tiny_run(tiny, tmp_path / "b", epochs=1, seed=1)
    assert again.history[0]["train/loss"] == pytest.approx(straight.history[0]["train/loss"], rel=1e-6)
    assert other.history[0]["train/loss"] != pytest.approx(straight.history[0]["train/loss"], rel=1e-3)


def test_an_earlier_run_is_never_overwritten(tiny, straight):
    before = straight.last.read_bytes()
    again = _tiny_run(tiny, straight.save_dir, epochs=1)
    assert again.save_dir == straight.save_dir.with_name(straight.save_dir.name + "2")
    assert straight.last.read_bytes() == before


def test_early_stopping_and_time_budget_end_the_run(tiny, tmp_path):
    still = _tiny_run(tiny, tmp_path / "still", epochs=5, patience=1, lr=0.0)  # nothing learns: no epoch is better
    assert [row["epoch"] for row in still.history] == [1, 2] and still.stopped_early and still.best_epoch == 1
    quick = _tiny_run(tiny, tmp_path / "quick", epochs=5, time_budget=1e-3)  # the budget fits one epoch
    assert [row["epoch"] for row in quick.history] == [1] and not quick.stopped_early


def test_bad_requests_say_what_is_wrong(tiny, tmp_path):
    with pytest.raises(WeightsNotFoundError, match="no checkpoint to resume from"):
        _tiny_run(tiny, tmp_path / "nothing", resume=True)
    with pytest.raises(ModelError, match="freeze=9"):
        _tiny_run(tiny, tmp_path / "f", freeze=9, weights="DEFAULT")
    with pytest.raises(ModelError, match="cannot fine-tune 'maskrcnn_resnet50_fpn'"):
        finetune("maskrcnn_resnet50_fpn", tiny, epochs=1, out=tmp_path / "m", weights=None, progress=False)
    with pytest.raises(ModelError, match="unknown schedule"):
        _tiny_run(tiny, tmp_path / "s", schedule="poly")
    assert not (tmp_path / "nothing").exists()


# ----------------------------------------------------------------------------- pretrained (a COCO-shaped file)
def test_coco_weights_fine_tune_with_the_backbone_frozen(tmp_path, monkeypatch):
    coco = untrained_model(BUILDER, 91)
    norms = [n for n, m in coco.named_modules() if isinstance(m, torch.nn.BatchNorm2d) and n.startswith("backbone.body")]
    apply_layout(coco, {"frozen_norm": norms, "frozen_params": []})
    folder = tmp_path / "weights"
    folder.mkdir()
    torch.save(coco.state_dict(), folder / f"{BUILDER}.pth")  # the name resolve_weights accepts for a user's file
    monkeypatch.setenv("DETECTKIT_WEIGHTS", str(folder))
    data = make_shapes_dataset(tmp_path / "two", n_train=4, n_val=2, imgsz=64, classes=["circle", "square"], seed=1)
    run = finetune(BUILDER, data, epochs=1, imgsz=96, batch=4, device="cpu", freeze="backbone", out=tmp_path / "exp",
                   builder_kwargs=FAST, progress=False, final_eval=False)
    ckpt = load_checkpoint(run.last)
    assert ckpt.extra["source"].startswith("COCO weights") and ckpt.extra["layout"]["frozen_norm"]
    original = coco.state_dict()
    body = [k for k in original if k.startswith("backbone.body") and k.endswith(".weight")]
    assert body and all(torch.equal(ckpt.state_dict[k], original[k]) for k in body)  # frozen: unchanged
    head = "roi_heads.box_head.fc6.weight"
    assert not torch.equal(ckpt.state_dict[head], original[head])  # trained
    assert ckpt.state_dict["roi_heads.box_predictor.cls_score.weight"].shape[0] == 3  # background + 2 classes
    assert Detector(run.last, device="cpu").names == {0: "circle", 1: "square"}


def test_cli_train_writes_a_run(tiny, tmp_path, capsys):
    from detectkit.cli import main

    code = main(["train", "--model", BUILDER, "--data", str(tiny), "--epochs", "1", "--imgsz", "96", "--batch", "4",
                 "--weights", "none", "--device", "cpu", "--out", str(tmp_path / "cli"), "--json", str(tmp_path / "h.json")])
    out = capsys.readouterr().out
    assert code == 0 and f"best: {tmp_path / 'cli' / 'weights' / 'best.pt'}" in out
    assert Detector(tmp_path / "cli" / "weights" / "best.pt", device="cpu").names == {0: "circle"}
    assert main(["train", "--model", BUILDER, "--data", str(tmp_path / "none"), "--weights", "none"]) == 1
    assert "detectkit train: error:" in capsys.readouterr().err
