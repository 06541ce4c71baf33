"""The pieces of the torchvision trainer, each on its own: augmentation keeps boxes on their objects,
the schedule's shape, new heads for every family, COCO weights loaded with torchvision's freezing,
the checkpoint layout round trip, and the run folder never overwriting an earlier run."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from detectkit.errors import ModelError, WeightsFormatError
from detectkit.training.augment import Augment, TorchDetectionData, build_transforms
from detectkit.training.datasets import DetectionDataset, Sample
from detectkit.training.run import fitness, new_run_dir, write_history
from detectkit.training.schedule import WarmupSchedule, build_optimizer, build_scheduler
from detectkit.training.torchvision_model import (
    apply_layout,
    inference_state_dict,
    layout,
    load_training_state,
    pretrained_model,
    replace_head,
    set_imgsz,
    untrained_model,
)

MOBILE = "fasterrcnn_mobilenet_v3_large_320_fpn"


def _one_box_image(tmp_path: Path, size=(80, 120)) -> DetectionDataset:
    """A black image with one white rectangle, labelled exactly."""
    import cv2

    h, w = size
    image = np.zeros((h, w, 3), np.uint8)
    image[20:50, 10:40] = 255
    path = tmp_path / "box.png"
    cv2.imwrite(str(path), image)
    return DetectionDataset(["box"], [Sample(path, [[10, 20, 40, 50]], [0], w, h)])


def _white_extent(image: torch.Tensor) -> list[float]:
    ys, xs = torch.nonzero(image.mean(0) > 0.9, as_tuple=True)
    return [float(xs.min()), float(ys.min()), float(xs.max()) + 1, float(ys.max()) + 1]


def test_augmented_boxes_follow_the_object(tmp_path):
    data = TorchDetectionData(_one_box_image(tmp_path), imgsz=120, augment=Augment(hflip=0.5, color_p=0.0, affine_p=1.0))
    torch.manual_seed(0)
    flipped = 0
    for _ in range(12):
        image, target = data[0]
        assert image.dtype == torch.float32 and tuple(image.shape) == (3, 80, 120)
        assert target["labels"].tolist() == [1]  # torchvision label = class id + 1
        box = target["boxes"][0].tolist()
        assert box == pytest.approx(_white_extent(image), abs=2.0)  # the box still frames the white square
        flipped += box[0] > 60
    assert 0 < flipped < 12  # both flipped and unflipped draws happened


def test_large_images_shrink_once_to_imgsz(tmp_path):
    data = TorchDetectionData(_one_box_image(tmp_path, size=(200, 300)), imgsz=150, augment=None)
    image, target = data[0]
    assert tuple(image.shape) == (3, 100, 150)
    assert target["boxes"][0].tolist() == pytest.approx([5, 10, 20, 25])


def test_boxes_pushed_out_of_the_frame_are_dropped():
    from torchvision import tv_tensors

    transform = build_transforms(None)
    boxes = tv_tensors.BoundingBoxes([[10, 10, 30, 30], [95, 10, 140, 30]], format="XYXY", canvas_size=(50, 100))
    image = tv_tensors.Image(torch.zeros(3, 50, 100, dtype=torch.uint8))
    _, target = transform(image, {"boxes": boxes, "labels": torch.tensor([1, 2])})
    assert target["boxes"].tolist() == [[10, 10, 30, 30], [95, 10, 100, 30]]  # clamped, kept (5 px wide)
    far = tv_tensors.BoundingBoxes([[99, 10, 140, 30]], format="XYXY", canvas_size=(50, 100))
    _, target = transform(image, {"boxes": far, "labels": torch.tensor([1])})
    assert len(target["boxes"]) == 0 and len(target["labels"]) == 0


def test_schedule_warms_up_then_decays():
    cosine = WarmupSchedule("cosine", total_iters=100, warmup_iters=10, warmup_factor=0.1, final_factor=0.0)
    assert cosine(0) == pytest.approx(0.1) and cosine(5) == pytest.approx(0.55) and cosine(10) == 1.0
    assert cosine(99) == pytest.approx(0.0, abs=1e-9)
    values = [cosine(i) for i in range(10, 100)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    step = WarmupSchedule("step", total_iters=100, warmup_iters=0, gamma=0.1)
    assert [step(i) for i in (0, 69, 70, 89, 90)] == pytest.approx([1, 1, 0.1, 0.1, 0.01])
    # the warm-up is the same whatever the run's length: the first epoch does not depend on epochs
    assert WarmupSchedule("cosine", 1000, 10)(7) == WarmupSchedule("cosine", 20, 10)(7)
    with pytest.raises(ModelError, match="unknown schedule"):
        WarmupSchedule("poly")


def test_optimizer_skips_frozen_parameters_and_scheduler_sets_lr(tmp_path):
    layer = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.BatchNorm1d(3))
    layer[0].weight.requires_grad_(False)
    optimizer = build_optimizer(layer.named_parameters(), "sgd", 0.1)
    params = [p for g in optimizer.param_groups for p in g["params"]]
    assert len(params) == 3 and all(p.requires_grad for p in params)
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.0]  # biases and norm weights: no decay
    scheduler = build_scheduler(optimizer, WarmupSchedule("cosine", 10, 5, warmup_factor=0.5))
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05)
    optimizer.step()
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.06)
    torch.save(scheduler.state_dict(), tmp_path / "s.pt")  # plain numbers: loads with weights_only (resume)
    restored = build_scheduler(optimizer, WarmupSchedule("constant"))
    restored.load_state_dict(torch.load(tmp_path / "s.pt", weights_only=True))
    assert restored.lr_lambdas[0].kind == "cosine" and restored.last_epoch == 1
    with pytest.raises(ModelError, match="every parameter is frozen"):
        frozen = torch.nn.Linear(2, 2).requires_grad_(False)
        build_optimizer(frozen.named_parameters(), "adamw", 1e-3)
    with pytest.raises(ModelError, match="unknown optimizer"):
        build_optimizer(layer.named_parameters(), "lion", 1e-3)


@pytest.mark.parametrize(
    "builder, count",
    [
        (MOBILE, lambda m: m.roi_heads.box_predictor.cls_score.out_features),
        ("retinanet_resnet50_fpn", lambda m: m.head.classification_head.num_classes),
        ("fcos_resnet50_fpn", lambda m: m.head.classification_head.cls_logits.out_channels),
        ("ssdlite320_mobilenet_v3_large", lambda m: m.head.classification_head.num_columns),
    ],
)
def test_new_heads_predict_the_new_classes(builder, count):
    model = replace_head(untrained_model(builder, 91), 4).eval()
    set_imgsz(model, 128)  # keep the ResNet models small (their default resizes to 800 px)
    assert count(model) == 4
    with torch.no_grad():
        out = model([torch.rand(3, 96, 128)])[0]
    assert out["labels"].numel() == 0 or int(out["labels"].max()) < 4
    model.train()
    targets = [{"boxes": torch.tensor([[10.0, 10.0, 60.0, 50.0]]), "labels": torch.tensor([3])}] * 2
    losses = model([torch.rand(3, 96, 128), torch.rand(3, 96, 128)], targets)
    assert all(torch.isfinite(v) for v in losses.values())


def test_mask_rcnn_is_refused_with_the_reason():
    with pytest.raises(ModelError, match="mask/keypoint labels"):
        untrained_model("maskrcnn_resnet50_fpn", 3)


def _fake_coco_weights(path: Path) -> Path:
    """A state dict shaped exactly like torchvision's COCO file for MOBILE (frozen backbone norms, 91 classes)."""
    model = untrained_model(MOBILE, 91)
    norms = [n for n, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d) and n.startswith("backbone.body")]
    apply_layout(model, {"frozen_norm": norms, "frozen_params": []})
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def coco_file(tmp_path_factory) -> Path:
    return _fake_coco_weights(tmp_path_factory.mktemp("coco") / "coco.pth")


def test_pretrained_weights_load_with_torchvision_freezing(coco_file):
    from torchvision.ops.misc import FrozenBatchNorm2d

    saved = torch.load(coco_file, weights_only=True)
    frozen = pretrained_model(MOBILE, coco_file, trainable_layers=0)
    body = frozen.backbone.body
    assert not any(p.requires_grad for p in body.parameters())  # trainable_backbone_layers=0: all stages frozen
    assert any(isinstance(m, FrozenBatchNorm2d) for m in body.modules())
    assert torch.equal(frozen.state_dict()["backbone.body.0.0.weight"], saved["backbone.body.0.0.weight"])
    default = pretrained_model(MOBILE, coco_file)  # torchvision's default: 3 of 6 stages train
    trains = [p.requires_grad for p in default.backbone.body.parameters()]
    assert any(trains) and not all(trains)
    assert all(p.requires_grad for p in pretrained_model(MOBILE, coco_file, trainable_layers=6).backbone.body.parameters())
    with pytest.raises(ModelError, match="range"):
        pretrained_model(MOBILE, coco_file, trainable_layers=9)


def test_wrong_weights_file_is_named(tmp_path):
    wrong = tmp_path / "wrong.pth"
    torch.save({"w": torch.zeros(3)}, wrong)
    with pytest.raises(WeightsFormatError, match="wrong.pth: not COCO weights"):
        pretrained_model(MOBILE, wrong)


def test_layout_round_trip_rebuilds_the_trained_model(coco_file):
    model = replace_head(pretrained_model(MOBILE, coco_file, trainable_layers=2), 3).eval()
    recorded = layout(model)
    assert recorded["frozen_norm"] and recorded["frozen_params"]
    state = inference_state_dict(model)
    rebuilt = apply_layout(untrained_model(MOBILE, 3), recorded)
    load_training_state(rebuilt, state, "test")
    assert [n for n, p in rebuilt.named_parameters() if not p.requires_grad] == recorded["frozen_params"]
    # the same weights also load into a plain model, as Detector builds it
    plain = untrained_model(MOBILE, 3).eval()
    plain.load_state_dict(state, strict=True)
    image = [torch.rand(3, 120, 160)]
    with torch.no_grad():
        a, b, c = model(image)[0], rebuilt.eval()(image)[0], plain(image)[0]
    assert torch.allclose(a["scores"], b["scores"]) and torch.allclose(a["boxes"], c["boxes"], atol=1e-3)


def test_run_folder_and_history_helpers(tmp_path):
    first = new_run_dir(tmp_path / "exp")
    (first / "weights").mkdir(parents=True)
    (first / "weights" / "last.pt").write_bytes(b"keep me")
    second = new_run_dir(tmp_path / "exp")
    assert second.name == "exp2" and (first / "weights" / "last.pt").read_bytes() == b"keep me"
    csv = write_history([{"epoch": 1, "train/loss": 2.0}, {"epoch": 2, "train/loss": 1.5, "val/map50": 0.25}], tmp_path / "m.csv")
    assert csv.read_text().splitlines() == ["epoch,train/loss,val/map50", "1,2,", "2,1.5,0.25"]
    assert fitness(float("nan"), 0.5) == pytest.approx(0.45) and math.isclose(fitness(1.0, 1.0), 1.0)
