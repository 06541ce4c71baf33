"""``finetune()``: one call to fine-tune a detector of either family on your own labelled data.

The family is picked from ``model``: a torchvision builder name (``"fasterrcnn_resnet50_fpn"``) or a
detectkit checkpoint trains with detectkit's own loop (:mod:`~detectkit.training.torchvision_trainer`);
anything else (``"yolo11n.pt"``, ``"yolov8n.yaml"``, a YOLO ``best.pt``) trains with ultralytics'
trainer (:mod:`~detectkit.training.ultralytics_trainer`). Both read ``data`` the same way
(YOLO YAML or folder, COCO json, Pascal VOC, Penn-Fudan; validated; a val split is made with
``val_fraction`` and ``seed`` when the data have none), write the same ``metrics.csv`` and plots,
and return the same :class:`~detectkit.training.run.TrainRun`, whose ``best`` loads into
``Detector(run.best)`` with the new class names.

``freeze`` means, per family:

=================  =======================================  ==========================================
``freeze``         YOLO (ultralytics ``freeze``)            torchvision (``trainable_backbone_layers``)
=================  =======================================  ==========================================
``None``           nothing frozen                           the builder's default (3 trainable stages
                                                            of a pretrained ResNet; all when untrained)
``N`` (int)        the first N model layers                 the first N backbone stages (of 5, 6 for MobileNet)
``"backbone"``     every backbone layer                     the whole backbone (``trainable_backbone_layers=0``)
``[i, j, ...]``    those layer indices                      —
=================  =======================================  ==========================================

As in torchvision, freezing applies to pretrained backbones only; an untrained torchvision model
trains every layer (a warning says so).

Usage:
    from detectkit import finetune, Detector
    run = finetune("fasterrcnn_mobilenet_v3_large_320_fpn", "my_data/data.yaml", epochs=20, imgsz=320)
    print(run); Detector(run.best)("photo.jpg").labels
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from ..errors import ModelError
from .data_model import DataSpec
from .loading import load_splits
from .run import TrainRun, new_run_dir

__all__ = ["finetune", "family_of", "TrainRun"]

log = logging.getLogger("detectkit.training")


def family_of(model: str | os.PathLike) -> str:
    """The family of the backend that loads ``model`` (:func:`detectkit.detection.registry.family_of`):
    ``"torchvision"`` for a torchvision builder name or a detectkit checkpoint, ``"ultralytics"`` for YOLO.

    Example:
        >>> family_of("fasterrcnn_resnet50_fpn"), family_of("yolov8n.yaml")
        ('torchvision', 'ultralytics')
    """
    from ..detection.registry import family_of as backend_family

    return backend_family(model)


def _run_dir(out: str | os.PathLike, resume: Any) -> Path:
    if isinstance(resume, (str, os.PathLike)):
        return Path(resume).resolve().parent.parent  # .../run/weights/last.pt -> .../run
    if resume:
        return Path(out)
    return new_run_dir(out)


def finetune(
    model: str | os.PathLike,
    data: DataSpec,
    *,
    epochs: int = 30,
    imgsz: int = 640,
    batch: int | None = None,
    freeze: int | str | list[int] | None = None,
    lr: float | None = None,
    device: Any = "auto",
    out: str | os.PathLike = "runs/train/exp",
    seed: int = 0,
    resume: bool | str | os.PathLike = False,
    patience: int | None = 10,
    optimizer: str = "auto",
    schedule: str = "cosine",
    val_fraction: float = 0.2,
    workers: int = 0,
    progress: bool = True,
    final_eval: bool = True,
    time_budget: float | None = None,
    trust: bool = False,
    **options: Any,
) -> TrainRun:
    """Fine-tune a detector on a labelled dataset; returns the run (checkpoints, per-epoch metrics, plots).

    Args:
        model: a YOLO weights file or name (``"yolo11n.pt"``: transfer learning), a YOLO ``.yaml``
            (from scratch), a torchvision detection builder name (COCO weights when found, else
            untrained), or a detectkit checkpoint to go on from.
        data: a dataset path (YOLO YAML/folder, COCO json, VOC folder, Penn-Fudan) or a loaded
            :class:`~detectkit.training.datasets.DetectionDataset`.
        epochs: training epochs (a resumed run trains up to this many in all).
        imgsz: image size: YOLO's square training size; torchvision's longest image side.
        batch: images per batch. ``None``: 8 for torchvision; for YOLO 8, or fewer on a small dataset
            so that an epoch keeps 16 batches (:func:`~detectkit.training.ultralytics_trainer.default_batch`).
        freeze: what to freeze (see the module docstring's table).
        lr: initial learning rate (default: ultralytics' ``lr0``; torchvision: 0.01 SGD, 1e-4 AdamW).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.
        out: the run folder; a new ``out2``, ``out3``... when ``out`` already holds a run (never overwritten).
        seed: seeds training and the train/val split; same seed, data and settings repeat a CPU run.
        resume: ``True`` continues the run in ``out`` from ``weights/last.pt``; or a path to a ``last.pt``.
            The run keeps its own image size, batch, learning rate, optimizer, schedule, seed and
            augmentation; torchvision runs may be given more ``epochs`` (YOLO keeps its own).
        patience: stop after this many epochs without a better validation fitness (``None``/0: never).
        optimizer: ``"sgd"``, ``"adamw"`` or ``"auto"`` (torchvision: SGD; YOLO: ultralytics' choice).
        schedule: torchvision: ``"cosine"``, ``"step"`` or ``"constant"`` after a linear warm-up;
            YOLO: ``"cosine"`` or ``"linear"``.
        val_fraction: share of images held out for validation when the data have no val split.
        workers: data-loading worker processes (0: in the training process; best on small CPUs).
        progress: progress bars and one log line per epoch.
        final_eval: evaluate ``best`` on val with :func:`detectkit.evaluate` at the end (``run.final``,
            PR and per-class AP plots).
        time_budget: seconds of training (validation included) after which the run ends; the number of
            epochs is cut to what fits at the mean epoch time and the schedule stretched to match
            (torchvision: ``epochs`` stays the upper limit; YOLO: ultralytics' ``time``, which replaces ``epochs``).
        trust: let ``model`` and ``resume`` files run code while they are read (pickles that are not
            state dicts, detectkit checkpoints or ultralytics' own classes); off: they are refused
            (:mod:`detectkit.trust`).
        **options: family-specific settings. torchvision: ``weights`` (``"DEFAULT"``, ``None`` or a
            COCO state-dict path), ``trainable_backbone_layers``, ``warmup_epochs`` (1.0), ``clip``
            (gradient-norm clip, 10.0), ``amp`` (on CUDA, True), ``augment``
            (:class:`~detectkit.training.augment.Augment`), ``weight_decay``, ``builder_kwargs``.
            YOLO: ``plots`` and any ultralytics train argument (``mosaic``, ``close_mosaic``, ...);
            ``nbs``, ``warmup_epochs`` and, in a short run, ``mosaic``, ``scale`` and (from a ``.yaml``)
            the optimizer default to :func:`~detectkit.training.ultralytics_trainer.small_data_defaults`
            (scaled to the dataset and the run; ultralytics' own on large datasets and long runs).

    Returns:
        A :class:`~detectkit.training.run.TrainRun`.

    Raises:
        DatasetError: the data cannot be read or fail validation (the whole summary in the message).
        ModelError: an unknown model or option, or settings that do not fit together.
        WeightsNotFoundError: explicit weights, or the checkpoint to resume from, are missing.
        WeightsFormatError: a model or resume file that is not a checkpoint, or would run code (untrusted).

    Usage:
        run = finetune("yolo11n.pt", "shapes/data.yaml", epochs=10, imgsz=320, freeze="backbone")
        run.best, run.history[-1]["val/map50"]
    """
    if epochs < 1:
        raise ModelError(f"epochs must be at least 1, got {epochs}")
    if batch is not None and batch < 1:
        raise ModelError(f"batch must be at least 1, got {batch}")
    if imgsz < 32:
        raise ModelError(f"imgsz must be at least 32, got {imgsz}")
    from ..trust import trusting

    with trusting(trust):
        return _finetune(model, data, epochs=epochs, imgsz=imgsz, batch=batch, freeze=freeze, lr=lr, device=device,
                         out=out, seed=seed, resume=resume, patience=patience, optimizer=optimizer, schedule=schedule,
                         val_fraction=val_fraction, workers=workers, progress=progress, final_eval=final_eval,
                         time_budget=time_budget, **options)


def _finetune(model: str | os.PathLike, data: DataSpec, *, epochs: int, imgsz: int, batch: int | None, freeze: Any,
              lr: float | None, device: Any, out: str | os.PathLike, seed: int, resume: Any, patience: int | None,
              optimizer: str, schedule: str, val_fraction: float, workers: int, progress: bool, final_eval: bool,
              time_budget: float | None, **options: Any) -> TrainRun:
    family = family_of(model)
    train, val = load_splits(data, val_fraction, seed)
    save_dir = _run_dir(out, resume)
    common: dict[str, Any] = dict(
        epochs=epochs, imgsz=imgsz, batch=batch, freeze=freeze, lr=lr, device=device, save_dir=save_dir,
        seed=seed, resume=resume, patience=patience, optimizer=optimizer, schedule=schedule, workers=workers,
        progress=progress, final_eval=final_eval, time_budget=time_budget,
    )
    if progress:
        _show_logs()
    if family == "torchvision":
        from .torchvision_trainer import train_torchvision

        return train_torchvision(os.fspath(model), train, val, **common, **options)
    from .ultralytics_trainer import train_ultralytics

    return train_ultralytics(os.fspath(model), train, val, **common, **options)


def _show_logs() -> None:
    """Send detectkit.training's INFO lines to stderr unless the application configured logging itself."""
    import sys

    logger = logging.getLogger("detectkit.training")
    if logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
