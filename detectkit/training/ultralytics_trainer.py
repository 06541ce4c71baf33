"""Fine-tuning YOLO models through the ultralytics trainer, offline-safe and quiet.

:func:`train_ultralytics` is what :func:`~detectkit.training.finetune.finetune` runs for a YOLO
model: pretrained weights (``yolo11n.pt``, a ``best.pt``; found offline first by
:func:`detectkit.weights.resolve_weights`) are fine-tuned (transfer learning, ``freeze`` passed
through), a ``.yaml`` architecture trains from scratch. The data are laid out for ultralytics by
:func:`~detectkit.training.datasets.to_ultralytics_yaml` from the validated train/val sets, so
whatever the source format, ultralytics trains on exactly what detectkit validated.

While it trains, :func:`offline_ultralytics` keeps ultralytics off the network:

* ``check_font`` (which downloads ``Arial.ttf`` for its plots) answers with a font already on disk:
  one in ultralytics' config folder if the user put it there, else matplotlib's bundled DejaVuSans;
* the AMP check on CUDA (which downloads ``yolo26n.pt`` to compare outputs) runs only when that file is
  already there, and otherwise trusts AMP (on the CPU AMP is off: ``amp=False`` is passed);
* the pip update check is skipped; ``YOLO_AUTOINSTALL=False`` (set by detectkit) stops ``pip install``s.

The patches are undone when training ends. ultralytics' own progress bars and logs are off
(``YOLO_VERBOSE=False``); detectkit shows one tqdm bar per epoch with the running losses instead.
The run folder is ultralytics' (``weights/best.pt``, ``results.csv``, its plots) plus detectkit's
``metrics.csv``, ``loss.png`` and the evaluation plots of ``best.pt``.

Usage:
    run = train_ultralytics("yolov8n.yaml", train, val, epochs=3, imgsz=128, save_dir="runs/yolo")
    Detector(run.best).names
"""

from __future__ import annotations

import contextlib
import csv
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

from .._ultralytics_env import import_ultralytics, keep_torch_threads
from ..errors import DetectKitError, ModelError, WeightsFormatError, WeightsNotFoundError
from .data_model import DetectionDataset
from .run import TrainRun, fitness, plot_history, write_history

__all__ = ["train_ultralytics", "offline_ultralytics", "local_font", "small_data_defaults", "default_batch", "auto_optimizer"]

log = logging.getLogger("detectkit.training")
_patch_lock = threading.RLock()


def local_font(name: str = "Arial.ttf") -> Path:
    """A TrueType font already on this machine for ultralytics' plots: ``name`` in ultralytics' config
    folder if present, else matplotlib's bundled DejaVuSans (which covers Latin, Greek and Cyrillic).

    Example:
        >>> local_font().suffix
        '.ttf'
    """
    import matplotlib

    import_ultralytics()
    from ultralytics.utils import USER_CONFIG_DIR

    own = Path(USER_CONFIG_DIR) / Path(name).name
    if own.is_file():
        return own
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def _amp_check(original: Callable[[Any], bool]) -> Callable[[Any], bool]:
    def check(model: Any) -> bool:
        from ultralytics.utils import WEIGHTS_DIR

        device = next(model.parameters()).device
        if device.type in ("cpu", "mps"):
            return False
        if (Path(WEIGHTS_DIR) / "yolo26n.pt").is_file():
            return original(model)
        log.info("AMP check skipped (it needs yolo26n.pt, which is not here and is not downloaded); AMP stays on")
        return True

    return check


@contextlib.contextmanager
def offline_ultralytics() -> Iterator[None]:
    """Within this block ultralytics downloads no font, no AMP-check weights and checks no pip update.

    Example:
        >>> with offline_ultralytics():
        ...     from ultralytics.utils import checks
        ...     checks.check_font("Arial.ttf").suffix
        '.ttf'
    """
    import_ultralytics()
    import ultralytics.data.utils as data_utils
    import ultralytics.engine.trainer as trainer_module
    import ultralytics.utils.checks as checks
    import ultralytics.utils.plotting as plotting

    def font(name: str = "Arial.ttf") -> Path:
        return local_font(name)

    patches = [
        (checks, "check_font", font),
        (plotting, "check_font", font),
        (data_utils, "check_font", font),
        (trainer_module, "check_amp", _amp_check(trainer_module.check_amp)),
        (checks, "check_pip_update_available", lambda: False),
    ]
    with _patch_lock:
        saved = [(module, name, getattr(module, name)) for module, name, _ in patches]
        try:
            for module, name, value in patches:
                setattr(module, name, value)
            yield
        finally:
            for module, name, value in saved:
                setattr(module, name, value)


class _Progress:
    """ultralytics callbacks: one tqdm bar per epoch with the running mean losses."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None

    def attach(self, model: Any) -> None:
        model.add_callback("on_train_epoch_start", self.start)
        model.add_callback("on_train_batch_end", self.step)
        model.add_callback("on_train_epoch_end", self.stop)
        model.add_callback("on_fit_epoch_end", self.report)

    def start(self, trainer: Any) -> None:
        from tqdm import tqdm

        self.bar = tqdm(
            total=len(trainer.train_loader), desc=f"epoch {trainer.epoch + 1}/{trainer.epochs}", unit="batch",
            file=sys.stderr, leave=False, disable=not self.enabled, dynamic_ncols=True,
        )

    def step(self, trainer: Any) -> None:
        if self.bar is None:
            return
        self.bar.update(1)
        if self.enabled and trainer.tloss:
            losses = {k.replace("_loss", ""): f"{float(v):.3f}" for k, v in trainer.tloss.items()}
            self.bar.set_postfix(losses | {"lr": f"{trainer.optimizer.param_groups[0]['lr']:.2e}"}, refresh=False)

    def stop(self, trainer: Any) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def report(self, trainer: Any) -> None:
        if not self.enabled:
            return
        metrics = trainer.metrics or {}
        log.info(
            "epoch %d/%d: mAP50 %.3f, mAP50-95 %.3f (ultralytics val)", trainer.epoch + 1, trainer.epochs,
            float(metrics.get("metrics/mAP50(B)", float("nan"))), float(metrics.get("metrics/mAP50-95(B)", float("nan"))),
        )


def _rows_from_results(path: Path) -> list[dict[str, Any]]:
    """ultralytics' ``results.csv`` as detectkit's per-epoch rows (same column names as the torchvision trainer)."""
    if not path.is_file():
        return []
    rows: list[dict[str, Any]] = []
    previous_time = 0.0
    with open(path, newline="", encoding="utf-8") as handle:
        for raw in csv.DictReader(handle):
            values = {k.strip(): float(v) for k, v in raw.items() if k and v not in (None, "")}
            elapsed = values.get("time", 0.0)
            row: dict[str, Any] = {
                "epoch": int(values["epoch"]),
                "time": round(max(elapsed - previous_time, 0.0) if elapsed >= previous_time else elapsed, 3),
                "lr": values.get("lr/pg0", float("nan")),
            }
            previous_time = elapsed
            losses = {k: v for k, v in values.items() if k.startswith("train/")}
            row["train/loss"] = sum(losses.values())
            row.update(losses)
            row["val/map50"] = values.get("metrics/mAP50(B)", float("nan"))
            row["val/map"] = values.get("metrics/mAP50-95(B)", float("nan"))
            row.update({k: v for k, v in values.items() if k.startswith("val/")})
            row["fitness"] = fitness(row["val/map50"], row["val/map"])
            rows.append(row)
    return rows


def _freeze_arg(freeze: Any, model: Any) -> Any:
    if freeze is None or freeze is False:
        return None
    if freeze == "backbone" or freeze is True:
        backbone = (getattr(model.model, "yaml", None) or {}).get("backbone")
        if not backbone:
            raise ModelError("freeze='backbone': this YOLO model has no 'backbone' section in its YAML; pass a layer count")
        return len(backbone)
    if isinstance(freeze, (list, tuple)):
        return [int(i) for i in freeze]
    try:
        return int(freeze)
    except (TypeError, ValueError):
        raise ModelError(f"freeze={freeze!r}: use a number of first layers, a list of layer indices, or 'backbone'") from None


#: ultralytics' nominal batch and warm-up: gradients of round(nbs / batch) batches are summed per
#: optimizer step, and the learning rate ramps up over the first warmup_epochs epochs.
NOMINAL_BATCH = 64
WARMUP_EPOCHS = 3.0
#: the fewest optimizer steps per epoch that :func:`small_data_defaults` keeps (when it can).
MIN_STEPS_PER_EPOCH = 16
#: the batch size when none is given (:func:`default_batch` goes lower on small datasets).
DEFAULT_BATCH = 8
#: a run that shows the model fewer images than this (epochs x training images) is short.
SHORT_RUN_IMAGES = 10_000
#: ultralytics' augmentation in a short run: no mosaic, +-20% scale jitter (its defaults: mosaic 1.0, scale 0.5).
SHORT_RUN_AUGMENT = {"mosaic": 0.0, "scale": 0.2}
#: the optimizer and schedule of a short run from a ``.yaml`` (no pretrained weights) when none is
#: chosen: AdamW at 0.003, ending at a tenth of it (ultralytics' ``lrf``: 0.01).
FROM_SCRATCH_OPTIMIZER = {"optimizer": "AdamW", "lr0": 0.003, "lrf": 0.1}


def default_batch(num_images: int) -> int:
    """The batch size when none is given: 8, or fewer (2 at least) so that an epoch keeps
    ``MIN_STEPS_PER_EPOCH`` batches.

    Example:
        >>> default_batch(64), default_batch(32), default_batch(10), default_batch(5_000)
        (4, 2, 2, 8)
    """
    return max(2, min(DEFAULT_BATCH, int(num_images) // MIN_STEPS_PER_EPOCH))


def small_data_defaults(num_images: int, batch: int, epochs: int, *, from_scratch: bool = False) -> dict[str, Any]:
    """ultralytics' training settings scaled to the dataset and the run, so that a short run on a
    small dataset learns; explicit arguments and ``overrides`` still win.

    * ``nbs`` and ``warmup_epochs``: ultralytics' ``nbs=64`` sums the gradients of ``64 / batch``
      batches per step: on 64 images at batch 8 that is one step an epoch, and the model learns
      nothing. The nominal batch is cut so that an epoch keeps at least ``MIN_STEPS_PER_EPOCH``
      steps (never below ``batch``, never above 64), and the warm-up lasts 3 epochs or 5% of the
      run, whichever is shorter.
    * In a short run (fewer than ``SHORT_RUN_IMAGES`` images shown): ``SHORT_RUN_AUGMENT``. Mosaic
      and +-50% scale jitter are for long runs on big sets; on the README's run (64 images, 20
      epochs, 128 px, batch 4) turning them down took best.pt's mAP@0.5 from 0.19 to 0.37.
    * A short run from scratch (``from_scratch``: a ``.yaml``) also gets ``FROM_SCRATCH_OPTIMIZER``.
      ultralytics' "auto" picks AdamW at ``0.002 * 5 / (4 + classes)``, fitted for fine-tuning
      pretrained weights (0.0014 for 3 classes: 0.37 on that run); at 0.003 with the schedule
      ending at a tenth of it, 0.50-0.55 over three seeds (0.005: 0.29-0.66; 0.01 diverged; see
      docs/testing.md). The caller applies it only when no optimizer and learning rate were chosen.

    Example:
        >>> small_data_defaults(64, 4, 20, from_scratch=True)   # the README's run: 16 steps an epoch
        {'nbs': 4, 'warmup_epochs': 1.0, 'mosaic': 0.0, 'scale': 0.2, 'optimizer': 'AdamW', 'lr0': 0.003, 'lrf': 0.1}
        >>> small_data_defaults(10_000, 16, 100)                # ultralytics' own on a big dataset
        {'nbs': 64, 'warmup_epochs': 3.0}
        >>> small_data_defaults(1_000, 8, 30)                   # 125 batches: accumulate 7 (nbs 56)
        {'nbs': 56, 'warmup_epochs': 1.5}
    """
    batches = max(1, -(-int(num_images) // max(1, int(batch))))
    accumulate = max(1, min(round(NOMINAL_BATCH / batch), batches // MIN_STEPS_PER_EPOCH))
    settings: dict[str, Any] = {"nbs": int(batch) * accumulate, "warmup_epochs": min(WARMUP_EPOCHS, 0.05 * int(epochs))}
    if int(epochs) * int(num_images) < SHORT_RUN_IMAGES:
        settings.update(SHORT_RUN_AUGMENT)
        if from_scratch:
            settings.update(FROM_SCRATCH_OPTIMIZER)
    return settings


def auto_optimizer(num_images: int, batch: int, nbs: int, epochs: int) -> str:
    """The optimizer ultralytics' ``optimizer="auto"`` picks, named, for a run given its own ``lr``
    (under "auto" ultralytics ignores ``lr0``): AdamW for a run of at most 10,000 iterations as
    ultralytics counts them, else SGD (ultralytics' own choice there, MuSGD, sets its own rate too).

    Example:
        >>> auto_optimizer(64, 4, 4, 20), auto_optimizer(100_000, 16, 64, 100)
        ('AdamW', 'SGD')
    """
    iterations = -(-int(num_images) // max(int(batch), int(nbs))) * int(epochs)
    return "AdamW" if iterations <= 10_000 else "SGD"


def _device_arg(device: Any) -> str:
    from ..devices import select_device

    dev = select_device(device)
    return str(dev.index or 0) if dev.type == "cuda" else dev.type


def train_ultralytics(
    model: str,
    train: DetectionDataset,
    val: DetectionDataset,
    *,
    epochs: int = 30,
    imgsz: int = 640,
    batch: int | None = None,
    freeze: Any = None,
    lr: float | None = None,
    device: Any = "auto",
    save_dir: str | os.PathLike = "runs/train/exp",
    seed: int = 0,
    resume: Any = False,
    patience: int | None = 10,
    optimizer: str = "auto",
    schedule: str = "cosine",
    workers: int = 0,
    plots: bool = True,
    progress: bool = True,
    final_eval: bool = True,
    time_budget: float | None = None,
    **overrides: Any,
) -> TrainRun:
    """Fine-tune (or train from a ``.yaml``) a YOLO model with ultralytics; see :func:`detectkit.training.finetune.finetune`.

    ``overrides`` go to ultralytics' ``train`` as they are (``mosaic=0.5``, ``close_mosaic=2``, ``hsv_h=0``...).
    ``batch=None`` is :func:`default_batch`. ``nbs``, ``warmup_epochs`` and, in a short run,
    ``mosaic`` and ``scale`` default to :func:`small_data_defaults` (ultralytics' own on large datasets
    and long runs); ``optimizer="auto"`` with no ``lr`` is ultralytics' choice (AdamW with a learning
    rate fitted to the class count for runs under 10,000 optimizer steps), except in a short run from
    a ``.yaml``, which trains with AdamW at 0.003 (see :func:`small_data_defaults`); ``"auto"`` with an
    ``lr`` is the optimizer ultralytics would pick, at that rate (:func:`auto_optimizer`).
    ``schedule``: ``"cosine"`` or ``"linear"`` (ultralytics' two). On resume, ultralytics keeps the
    interrupted run's settings (its epochs included).

    Usage:
        run = train_ultralytics("yolo11n.pt", train, val, epochs=20, imgsz=640, freeze="backbone")
    """
    ultralytics = import_ultralytics()
    from ..detection.ultralytics_backend import looks_like_yolo_config
    from ..weights import resolve_weights

    if schedule not in ("cosine", "linear"):
        raise ModelError(f"schedule={schedule!r}: YOLO training has 'cosine' or 'linear' (ultralytics' two schedules)")
    save_dir = Path(save_dir).resolve()
    save_dir_existed, data_dir = save_dir.exists(), save_dir / "data"
    data_existed = data_dir.exists()
    last = save_dir / "weights" / "last.pt"
    from_scratch = False
    if resume:
        last = Path(resume) if isinstance(resume, (str, os.PathLike)) else last
        if not last.is_file():
            raise WeightsNotFoundError(f"{last}: no checkpoint to resume from (train first, or pass resume=path/to/last.pt)")
        source = str(last)
    elif looks_like_yolo_config(model) and not Path(model).is_file():
        source, from_scratch = model, True  # an architecture: trained from scratch
    else:
        source = str(resolve_weights(model, family="ultralytics"))
    if batch is None:
        batch = default_batch(len(train))
    try:
        with keep_torch_threads():
            yolo = ultralytics.YOLO(source, task="detect")  # the file is read (safely) before anything is written
    except DetectKitError:
        raise
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsFormatError(f"{source}: ultralytics could not load this model ({reason})") from exc
    try:
        return _train(yolo, model, source, train, val, last, data_dir, from_scratch, epochs=epochs, imgsz=imgsz, batch=batch,
                      freeze=freeze, lr=lr, device=device, save_dir=save_dir, seed=seed, resume=resume,
                      patience=patience, optimizer=optimizer, schedule=schedule, workers=workers, plots=plots,
                      progress=progress, final_eval=final_eval, time_budget=time_budget, **overrides)
    except BaseException:
        _remove_failed_run_files(save_dir, save_dir_existed, data_dir, data_existed)
        raise


def _remove_failed_run_files(save_dir: Path, save_dir_existed: bool, data_dir: Path, data_existed: bool) -> None:
    """After a failed run: the data folder detectkit laid out is removed (when it made it), and the run
    folder too when this run made it and saved no checkpoint (ultralytics' ``args.yaml`` alone is no
    run); checkpoints already saved are kept, so an interrupted run can be resumed."""
    import shutil

    if not data_existed and data_dir.is_dir():
        shutil.rmtree(data_dir, ignore_errors=True)
    if not save_dir_existed and save_dir.is_dir() and not any((save_dir / "weights").glob("*.pt")):
        shutil.rmtree(save_dir, ignore_errors=True)
        return
    if not save_dir_existed and save_dir.is_dir():
        with contextlib.suppress(OSError):
            for folder in sorted((p for p in save_dir.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                if not any(folder.iterdir()):
                    folder.rmdir()
            if not any(save_dir.iterdir()):
                save_dir.rmdir()


def _train(yolo: Any, model: str, source: str, train: DetectionDataset, val: DetectionDataset, last: Path,
           data_dir: Path, from_scratch: bool, *, epochs: int, imgsz: int, batch: int, freeze: Any, lr: float | None, device: Any,
           save_dir: Path, seed: int, resume: Any, patience: int | None, optimizer: str, schedule: str,
           workers: int, plots: bool, progress: bool, final_eval: bool, time_budget: float | None,
           **overrides: Any) -> TrainRun:
    from .convert import to_ultralytics_yaml

    data_yaml = to_ultralytics_yaml(train, val, data_dir)
    device_arg = _device_arg(device)
    args: dict[str, Any] = dict(
        data=str(data_yaml), epochs=int(epochs), imgsz=int(imgsz), batch=int(batch), device=device_arg,
        workers=int(workers), project=str(save_dir.parent), name=save_dir.name, exist_ok=True, seed=int(seed),
        deterministic=True, freeze=_freeze_arg(freeze, yolo), optimizer={"sgd": "SGD", "adamw": "AdamW"}.get(
            optimizer.lower(), optimizer), cos_lr=schedule == "cosine", patience=patience or 0, plots=bool(plots),
        amp=device_arg not in ("cpu", "mps"), val=True, verbose=False,
    )
    defaults = small_data_defaults(len(train), int(batch), int(epochs), from_scratch=from_scratch)
    if optimizer != "auto" or lr is not None:  # the caller chose: only the short run's augmentation applies
        defaults = {k: v for k, v in defaults.items() if k not in FROM_SCRATCH_OPTIMIZER}
    args.update(defaults)
    if lr is not None:
        args["lr0"] = float(lr)
        if args["optimizer"] == "auto":  # ultralytics' "auto" would ignore lr0: make its choice here
            args["optimizer"] = auto_optimizer(len(train), int(batch), int(args["nbs"]), int(epochs))
    if time_budget is not None:
        args["time"] = float(time_budget) / 3600.0  # ultralytics counts hours
    if resume:
        args = {"resume": str(last), "data": str(data_yaml), "device": device_arg, "workers": int(workers),
                "plots": bool(plots), "patience": patience or 0}
    args.update(overrides)
    _Progress(progress).attach(yolo)
    with offline_ultralytics(), keep_torch_threads():  # train on the caller's torch threads
        try:
            yolo.train(**args)
        except (FileNotFoundError, AssertionError) as exc:
            raise ModelError(f"ultralytics training of {model} failed: {exc}") from exc
    weights_dir = save_dir / "weights"
    history = _rows_from_results(save_dir / "results.csv")
    csv_path = write_history(history, save_dir / "metrics.csv")
    plot_paths = {"loss": plot_history(history, save_dir / "loss.png")} if history else {}
    best_row = max(history, key=lambda row: row["fitness"]) if history else None
    final = None
    if final_eval and (weights_dir / "best.pt").is_file():
        from ..detection.detector import Detector
        from .evaluate import evaluate

        final = evaluate(Detector(weights_dir / "best.pt", device=device), val, imgsz=int(imgsz), plots=save_dir)
        plot_paths.update(final.plots)
    stopped = bool(history) and int(history[-1]["epoch"]) < int(getattr(yolo.trainer, "epochs", epochs) or epochs)
    return TrainRun(
        family="ultralytics", model=str(model), save_dir=save_dir, best=weights_dir / "best.pt",
        last=weights_dir / "last.pt", classes=list(train.names), history=history, csv=csv_path,
        plots=plot_paths, best_epoch=int(best_row["epoch"]) if best_row else 0, stopped_early=stopped, final=final,
    )
