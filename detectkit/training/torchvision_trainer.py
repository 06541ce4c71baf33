"""Fine-tuning torchvision detectors (Faster R-CNN, RetinaNet, FCOS, SSD, SSDlite) on a labelled dataset.

:func:`train_torchvision` is what :func:`~detectkit.training.finetune.finetune` runs for a torchvision
builder name (or a detectkit checkpoint). Per epoch: one pass of :func:`~detectkit.training.loop.train_one_epoch`
over augmented batches, then validation with the same code ``Detector`` and
:func:`~detectkit.training.evaluate.evaluate_predictions` (pycocotools) use, so the mAP that picks
``best.pt`` is the mAP ``detectkit val`` reports for it. Both checkpoints are detectkit checkpoints
(:mod:`detectkit.checkpoint`): ``last.pt`` carries the optimizer, scheduler and scaler state and
the run's settings in ``extra``, so ``resume`` continues from the next epoch with the same
schedule; ``best.pt`` loads into ``Detector(best.pt)`` with the new class names.

Repeatability: every epoch re-seeds Python, NumPy and torch with ``seed + epoch`` and shuffles with
its own generator, so a run with the same seed, data and settings on the CPU repeats its losses,
and a resumed run draws the same batches and augmentations as an uninterrupted one would.

Usage:
    from detectkit.training.datasets import load_splits
    train, val = load_splits("data.yaml")
    run = train_torchvision("fasterrcnn_mobilenet_v3_large_320_fpn", train, val, epochs=10, save_dir="runs/tv")
"""

from __future__ import annotations

import logging
import os
import random
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..checkpoint import Checkpoint, is_checkpoint, load_checkpoint, save_checkpoint
from ..errors import ModelError, WeightsFormatError, WeightsNotFoundError
from .augment import Augment, TorchDetectionData, collate
from .data_model import DetectionDataset
from .loop import train_one_epoch
from .run import TrainRun, fitness, plot_history, write_history
from .schedule import OPTIMIZERS, SCHEDULES, WarmupSchedule, build_optimizer, build_scheduler
from .torchvision_model import (
    apply_layout,
    inference_state_dict,
    layout,
    load_training_state,
    max_trainable_layers,
    pretrained_model,
    replace_head,
    set_imgsz,
    untrained_model,
)

__all__ = ["train_torchvision", "DEFAULT_LR"]

log = logging.getLogger("detectkit.training")

DEFAULT_LR = {"sgd": 0.01, "adamw": 1e-4}
"""Learning rate when none is given (batch 8; torchvision's recipe is 0.02 for batch 16)."""

# settings a resumed run takes from its checkpoint (what it changes would change the run)
_KEPT_ON_RESUME = (
    "imgsz", "batch", "lr", "optimizer", "schedule", "seed", "warmup_epochs", "clip", "augment", "weight_decay"
)


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _warn_freeze_untrained(trainable_layers: int | None, builder: str) -> None:
    if trainable_layers is not None:
        log.warning(
            "%s: no pretrained weights, so every layer trains (torchvision's trainable_backbone_layers=%s "
            "applies only to pretrained backbones)", builder, trainable_layers,
        )


def _build(
    spec: str,
    classes: list[str],
    *,
    weights: Any,
    trainable_layers: int | None,
    builder_kwargs: dict[str, Any],
) -> tuple[Any, str, dict[str, Any], str]:
    """(model, builder, builder_kwargs, where its weights came from) for a fresh run."""
    num_classes = len(classes) + 1
    if Path(spec).is_file() and is_checkpoint(spec):  # go on from an earlier detectkit fine-tune
        ckpt = load_checkpoint(spec)
        model = untrained_model(ckpt.builder, len(ckpt.classes) + 1, builder_kwargs=ckpt.builder_kwargs)
        apply_layout(model, ckpt.extra.get("layout", {}))
        load_training_state(model, ckpt.state_dict, str(spec))
        if ckpt.classes != classes:
            replace_head(model, num_classes)
        return model, ckpt.builder, dict(ckpt.builder_kwargs), f"detectkit checkpoint {spec}"
    from ..weights import resolve_weights

    builder = spec
    if weights is not None:
        explicit = weights != "DEFAULT"
        try:
            path = resolve_weights(spec if not explicit else weights, family="torchvision")
        except WeightsNotFoundError as exc:
            if explicit:
                raise
            log.warning(
                "%s: no COCO weights found (%s; `detectkit weights` lists the folders searched); training from "
                "scratch (untrained, no backbone weights either)",
                spec, str(exc).splitlines()[0].removesuffix(":").removesuffix(" in"),
            )
        else:
            model = pretrained_model(spec, path, trainable_layers=trainable_layers, builder_kwargs=builder_kwargs)
            replace_head(model, num_classes)
            return model, builder, dict(builder_kwargs), f"COCO weights {path}"
    model = untrained_model(spec, num_classes, builder_kwargs=builder_kwargs)
    _warn_freeze_untrained(trainable_layers, spec)
    return model, builder, dict(builder_kwargs), "untrained (random weights)"


def _trainable_layers(freeze: Any, builder: str, explicit: int | None) -> int | None:
    """torchvision's trainable_backbone_layers from detectkit's ``freeze`` (None: the builder's default)."""
    if explicit is not None:
        return int(explicit)
    if freeze is None:
        return None
    top = max_trainable_layers(builder)
    if freeze == "backbone" or freeze is True:
        return 0
    if freeze is False:
        return top
    try:
        count = int(freeze)
    except (TypeError, ValueError):
        raise ModelError(f"freeze={freeze!r}: use a number of backbone stages, 'backbone', or None") from None
    if not 0 <= count <= top:
        raise ModelError(f"freeze={count}: {builder} has {top} backbone stages (use 0..{top}, or 'backbone')")
    return top - count


class _Validator:
    """Scores the model being trained exactly as ``Detector(best.pt)`` will (same backend, same preprocessing)."""

    def __init__(self, builder: str, classes: list[str], imgsz: int, builder_kwargs: dict[str, Any], model: Any, device: Any):
        from ..detection.detector import Detector
        from ..detection.torchvision_backend import TorchvisionBackend

        ckpt = Checkpoint(builder=builder, classes=classes, imgsz=imgsz, state_dict=inference_state_dict(model),
                          builder_kwargs=builder_kwargs)
        self.backend = TorchvisionBackend(ckpt, device)
        self.detector = Detector(self.backend, device=device)

    def __call__(self, model: Any, val: DetectionDataset) -> Any:
        from .evaluate import evaluate_predictions, predict_dataset

        self.detector.torch_module().load_state_dict(inference_state_dict(model))
        options = self.detector.options.updated(conf=0.001, iou=0.6, max_det=300)
        predictions = predict_dataset(self.detector, val, options)
        return evaluate_predictions(val, predictions, names=self.detector.names)


def _loader(data: TorchDetectionData, batch: int, workers: int, seed: int, shuffle: bool) -> Any:
    import torch

    generator = torch.Generator()
    generator.manual_seed(seed)
    return torch.utils.data.DataLoader(
        data,
        batch_size=batch,
        shuffle=shuffle,
        num_workers=workers,
        collate_fn=collate,
        generator=generator,
        persistent_workers=False,
        pin_memory=False,
    )


def _resume_path(resume: Any, save_dir: Path) -> Path:
    path = Path(resume) if isinstance(resume, (str, os.PathLike)) else save_dir / "weights" / "last.pt"
    if not path.is_file():
        raise WeightsNotFoundError(f"{path}: no checkpoint to resume from (train first, or pass resume=path/to/last.pt)")
    return path


def train_torchvision(
    model: str,
    train: DetectionDataset,
    val: DetectionDataset,
    *,
    epochs: int = 30,
    imgsz: int = 640,
    batch: int | None = None,
    freeze: Any = None,
    trainable_backbone_layers: int | None = None,
    lr: float | None = None,
    device: Any = "auto",
    save_dir: str | os.PathLike = "runs/train/exp",
    seed: int = 0,
    resume: Any = False,
    patience: int | None = 10,
    optimizer: str = "sgd",
    schedule: str = "cosine",
    weights: Any = "DEFAULT",
    warmup_epochs: float = 1.0,
    clip: float | None = 10.0,
    amp: bool = True,
    augment: Augment | None = None,
    weight_decay: float | None = None,
    workers: int = 0,
    builder_kwargs: dict[str, Any] | None = None,
    progress: bool = True,
    final_eval: bool = True,
    time_budget: float | None = None,
) -> TrainRun:
    """Fine-tune a torchvision detector; see :func:`detectkit.training.finetune.finetune` for the arguments.

    ``train``/``val`` are loaded datasets; ``save_dir`` is used as it is (the caller picks a fresh one).
    ``batch=None`` is 8 (the batch the default learning rate is set for).
    ``augment=None`` uses the default :class:`Augment`; ``Augment.off()`` disables it.
    ``time_budget`` (seconds, training and validation): after each epoch the number of epochs is cut to
    what fits in the budget at the mean epoch time so far, and the schedule is stretched over that.

    Usage:
        run = train_torchvision("fasterrcnn_mobilenet_v3_large_320_fpn", train, val, epochs=5, imgsz=160)
    """
    import torch

    from ..devices import select_device

    dev = select_device(device)
    save_dir = Path(save_dir)
    weights_dir = save_dir / "weights"
    history: list[dict[str, float]] = []
    start_epoch, best_fitness, best_epoch, bad_epochs = 0, -1.0, 0, 0
    settings: dict[str, Any] = dict(
        imgsz=int(imgsz), batch=8 if batch is None else int(batch), lr=lr, optimizer=optimizer.lower(), schedule=schedule,
        seed=int(seed), warmup_epochs=float(warmup_epochs), clip=clip,
        augment=asdict(augment if augment is not None else Augment()), weight_decay=weight_decay,
    )
    if settings["optimizer"] == "auto":
        settings["optimizer"] = "sgd"
    if settings["optimizer"] not in OPTIMIZERS:
        raise ModelError(f"unknown optimizer {optimizer!r}: use one of auto, {', '.join(OPTIMIZERS)}")
    if schedule not in SCHEDULES:
        raise ModelError(f"unknown schedule {schedule!r}: use one of {', '.join(SCHEDULES)}")
    ckpt: Checkpoint | None = None
    if resume:
        resume_from = _resume_path(resume, save_dir)
        ckpt = load_checkpoint(resume_from)
        if "optimizer" not in ckpt.extra:
            raise WeightsFormatError(f"{resume_from}: has no training state to resume from (use last.pt, not best.pt)")
        settings.update({k: ckpt.extra["settings"][k] for k in _KEPT_ON_RESUME})
        classes, builder, builder_kwargs = ckpt.classes, ckpt.builder, dict(ckpt.builder_kwargs)
        if list(train.names) != classes:
            raise ModelError(f"{resume_from}: trained on classes {classes}, but the data has {train.names}")
        net = untrained_model(builder, len(classes) + 1, builder_kwargs=builder_kwargs)
        apply_layout(net, ckpt.extra.get("layout", {}))
        load_training_state(net, ckpt.state_dict, str(resume_from))
        source = f"resumed from {resume_from}"
        start_epoch = int(ckpt.extra["epoch"])
        history = [dict(row) for row in ckpt.extra.get("history", [])]
        best_fitness = float(ckpt.extra.get("best_fitness", -1.0))
        best_epoch = int(ckpt.extra.get("best_epoch", 0))
        bad_epochs = int(ckpt.extra.get("bad_epochs", 0))
        if start_epoch >= epochs:
            raise ModelError(f"{resume_from}: already trained {start_epoch} epochs; pass epochs > {start_epoch} to train more")
    else:
        classes = list(train.names)
        _seed_everything(int(seed))  # the new head's (or the untrained model's) initial weights
        from_checkpoint = Path(model).is_file()
        trainable = None if from_checkpoint else _trainable_layers(freeze, model, trainable_backbone_layers)
        if from_checkpoint and (freeze is not None or trainable_backbone_layers is not None):
            log.warning("%s: freeze is taken from the checkpoint's own run; the freeze setting is ignored", model)
        net, builder, builder_kwargs, source = _build(
            model, classes, weights=weights, trainable_layers=trainable, builder_kwargs=dict(builder_kwargs or {})
        )
    if list(val.names) != classes:
        raise ModelError(f"train classes {classes} and val classes {val.names} differ")
    settings["imgsz"] = set_imgsz(net, settings["imgsz"])
    net.to(dev)
    recorded_layout = layout(net)
    trained = sum(p.numel() for p in net.parameters() if p.requires_grad)
    total = sum(p.numel() for p in net.parameters())
    log.info("%s for %s: %s; %d of %d parameters train", builder, ", ".join(classes), source, trained, total)

    augment_settings = Augment(**settings["augment"])
    train_data = TorchDetectionData(train, settings["imgsz"], augment_settings)
    iters_per_epoch = max(1, -(-len(train_data) // settings["batch"]))
    opt_name = settings["optimizer"]
    base_lr = float(settings["lr"] if settings["lr"] is not None else DEFAULT_LR[opt_name])
    settings["lr"] = base_lr
    opt = build_optimizer(net.named_parameters(), opt_name, base_lr, weight_decay=settings["weight_decay"])
    plan = WarmupSchedule(
        settings["schedule"], total_iters=epochs * iters_per_epoch,
        warmup_iters=round(settings["warmup_epochs"] * iters_per_epoch),
    )
    scheduler = build_scheduler(opt, plan)
    scaler = torch.amp.GradScaler("cuda") if amp and dev.type == "cuda" else None
    if ckpt is not None:
        opt.load_state_dict(ckpt.extra["optimizer"])
        scheduler.load_state_dict(ckpt.extra["scheduler"])
        plan.total_iters = epochs * iters_per_epoch  # a resumed run may be given more epochs
        if scaler is not None and ckpt.extra.get("scaler"):
            scaler.load_state_dict(ckpt.extra["scaler"])
    validator = _Validator(builder, classes, settings["imgsz"], builder_kwargs, net, dev)
    weights_dir.mkdir(parents=True, exist_ok=True)
    csv_path = save_dir / "metrics.csv"
    stopped_early = False

    def save(path: Path, row: dict[str, Any], *, with_state: bool) -> None:
        extra: dict[str, Any] = {
            "epoch": int(row["epoch"]), "settings": settings, "layout": recorded_layout, "history": history,
            "best_fitness": best_fitness, "best_epoch": best_epoch, "bad_epochs": bad_epochs, "source": source,
        }
        if with_state:
            extra.update(optimizer=opt.state_dict(), scheduler=scheduler.state_dict(),
                         scaler=scaler.state_dict() if scaler is not None else None)
        metrics = {k: v for k, v in row.items() if isinstance(v, (int, float))}
        save_checkpoint(path, builder=builder, classes=classes, imgsz=settings["imgsz"],
                        state_dict=inference_state_dict(net), builder_kwargs=builder_kwargs,
                        metrics=metrics, extra=extra)

    loop_started = time.perf_counter()
    epoch = start_epoch
    while epoch < epochs:
        _seed_everything(settings["seed"] + epoch)
        loader = _loader(train_data, settings["batch"], workers, settings["seed"] + epoch, shuffle=True)
        started = time.perf_counter()
        losses = train_one_epoch(
            net, opt, loader, dev, scheduler=scheduler, scaler=scaler, clip=settings["clip"],
            progress=progress, description=f"epoch {epoch + 1}/{epochs}",
        )
        train_seconds = time.perf_counter() - started
        report = validator(net, val)
        seconds = time.perf_counter() - started  # training and validation, as ultralytics' results.csv counts
        row: dict[str, Any] = {"epoch": epoch + 1, "time": round(seconds, 3), "lr": opt.param_groups[0]["lr"]}
        row.update({f"train/{k}": v for k, v in losses.items()})
        row.update({"val/map50": report.map50, "val/map": report.map, "fitness": fitness(report.map50, report.map)})
        history.append(row)
        improved = row["fitness"] > best_fitness
        if improved:
            best_fitness, best_epoch, bad_epochs = row["fitness"], epoch + 1, 0
        else:
            bad_epochs += 1
        write_history(history, csv_path)
        save(weights_dir / "last.pt", row, with_state=True)
        if improved:
            save(weights_dir / "best.pt", row, with_state=False)
        if progress:
            log.info(
                "epoch %d/%d: loss %.4f, mAP50 %.3f, mAP50-95 %.3f%s (%.1fs)", epoch + 1, epochs, losses["loss"],
                report.map50, report.map, " *best*" if improved else "", train_seconds,
            )
        if patience and bad_epochs >= patience and epoch + 1 < epochs:
            log.info("early stop: no better fitness for %d epochs (best: epoch %d)", patience, best_epoch)
            stopped_early = True
            break
        epoch += 1
        if time_budget is not None:
            per_epoch = (time.perf_counter() - loop_started) / (epoch - start_epoch)
            fits = max(epoch, start_epoch + int(time_budget // per_epoch))
            if fits < epochs:
                epochs = fits
                plan.total_iters = epochs * iters_per_epoch  # the cosine/step schedule ends with the budget

    plots = {"loss": plot_history(history, save_dir / "loss.png")}
    final = None
    if final_eval and (weights_dir / "best.pt").is_file():
        from ..detection.detector import Detector
        from .evaluate import evaluate

        final = evaluate(Detector(weights_dir / "best.pt", device=dev), val, plots=save_dir)
        plots.update(final.plots)
    return TrainRun(
        family="torchvision", model=str(model), save_dir=save_dir, best=weights_dir / "best.pt",
        last=weights_dir / "last.pt", classes=classes, history=history, csv=csv_path, plots=plots,
        best_epoch=best_epoch, stopped_early=stopped_early, final=final,
    )
