"""What a fine-tuning run leaves behind, for both families: :class:`TrainRun`, the per-epoch CSV and the loss plot.

Every run writes into one folder (``save_dir``)::

    save_dir/
      weights/best.pt     the epoch with the best validation fitness
      weights/last.pt     the latest epoch (with optimizer state, for ``resume``)
      metrics.csv         one row per finished epoch (same columns as ``TrainRun.history``)
      loss.png            training losses and validation mAP per epoch
      pr_curve.png        precision-recall of best.pt on the val split (detectkit's evaluate)
      per_class_ap.png    AP per class of best.pt on the val split

Fitness (what picks ``best.pt`` and drives early stopping) is ``0.1 * mAP@0.5 + 0.9 * mAP@0.5:0.95``,
the weighting ultralytics uses, so both families choose their best epoch the same way.

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> csv = write_history([{"epoch": 1, "train/loss": 1.5, "val/map50": 0.2}], folder / "metrics.csv")
    >>> csv.read_text().splitlines()[0]
    'epoch,train/loss,val/map50'
    >>> fitness(0.5, 0.3)
    0.32
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

__all__ = ["TrainRun", "write_history", "plot_history", "fitness", "new_run_dir"]


@dataclass
class TrainRun:
    """The result of :func:`~detectkit.training.finetune.finetune`.

    Attributes:
        family: ``"torchvision"`` or ``"ultralytics"``.
        model: the model spec the run started from.
        save_dir: the run's folder.
        best: the best checkpoint (loads into ``Detector(run.best)`` with the new class names).
        last: the last checkpoint (``resume`` continues from it).
        classes: class names, in class-id order.
        history: one dict per finished epoch (``epoch``, ``time``: seconds for the epoch, training and
            validation, ``lr``, ``train/...`` losses, ``val/map50``, ``val/map``, ``fitness``), the rows of ``csv``.
        csv: ``metrics.csv``.
        plots: PNG files written (``loss``, ``pr_curve``, ``per_class_ap``).
        best_epoch: the (1-based) epoch ``best`` was saved at.
        stopped_early: early stopping ended the run before ``epochs``.
        final: the evaluation of ``best`` on the val split by :func:`detectkit.evaluate`
            (pycocotools), or ``None`` when it was not run.

    Usage:
        run = finetune("fasterrcnn_mobilenet_v3_large_320_fpn", "data.yaml", epochs=10)
        run.best, run.history[-1]["val/map50"], Detector(run.best).names
    """

    family: str
    model: str
    save_dir: Path
    best: Path
    last: Path
    classes: list[str]
    history: list[dict[str, float]]
    csv: Path
    plots: dict[str, Path] = field(default_factory=dict)
    best_epoch: int = 0
    stopped_early: bool = False
    final: Any = None

    @property
    def epochs_run(self) -> int:
        """How many epochs the run has finished (resumed runs included)."""
        return int(self.history[-1]["epoch"]) if self.history else 0

    def __str__(self) -> str:
        lines = [f"{self.family} run in {self.save_dir}: {self.epochs_run} epochs, classes {', '.join(self.classes)}"]
        if self.history:
            best = next((row for row in self.history if int(row["epoch"]) == self.best_epoch), self.history[-1])
            lines.append(
                f"best epoch {self.best_epoch}: mAP50 {best.get('val/map50', float('nan')):.3f}, "
                f"mAP50-95 {best.get('val/map', float('nan')):.3f}" + (" (stopped early)" if self.stopped_early else "")
            )
        lines.append(f"best: {self.best}\nlast: {self.last}\nmetrics: {self.csv}")
        if self.final is not None:
            lines.append(f"best.pt on val (detectkit evaluate): mAP50 {self.final.map50:.3f}, mAP50-95 {self.final.map:.3f}")
        return "\n".join(lines)


def fitness(map50: float, map50_95: float) -> float:
    """``0.1 * mAP@0.5 + 0.9 * mAP@0.5:0.95`` (ultralytics' weighting); NaN counts as 0.

    Example:
        >>> fitness(1.0, 0.0)
        0.1
    """
    a = 0.0 if map50 is None or math.isnan(map50) else float(map50)
    b = 0.0 if map50_95 is None or math.isnan(map50_95) else float(map50_95)
    return round(0.1 * a + 0.9 * b, 10)


def write_history(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike) -> Path:
    """Write per-epoch rows as CSV (columns in first-seen order), replacing the file atomically.

    Example:
        >>> import tempfile
        >>> rows = [{"epoch": 1, "train/loss": 2.0}, {"epoch": 2, "train/loss": 1.5, "val/map50": 0.25}]
        >>> print(write_history(rows, Path(tempfile.mkdtemp()) / "metrics.csv").read_text().strip())
        epoch,train/loss,val/map50
        1,2,
        2,1.5,0.25
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    os.replace(tmp, path)
    return path


def plot_history(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike) -> Path:
    """Loss curves (every ``train/...`` and ``val/...loss`` column) and validation mAP per epoch, as a PNG.

    matplotlib draws off-screen with its bundled font (no download, no display).

    Usage:
        plot_history(run.history, "runs/exp/loss.png")
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    epochs = [int(row["epoch"]) for row in rows]
    figure = Figure(figsize=(10, 4), dpi=100, tight_layout=True)
    FigureCanvasAgg(figure)
    losses, maps = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    keys: list[str] = []
    for row in rows:
        keys.extend(k for k in row if k not in keys)
    for key in keys:
        values = [_number(row.get(key)) for row in rows]
        if key.startswith("train/") or (key.startswith("val/") and "loss" in key):
            losses.plot(epochs, values, marker=".", linewidth=2 if key == "train/loss" else 1, label=key)
        elif key in ("val/map50", "val/map"):
            maps.plot(epochs, values, marker=".", label={"val/map50": "mAP@0.5", "val/map": "mAP@0.5:0.95"}[key])
    losses.set(xlabel="epoch", ylabel="loss", title="losses")
    maps.set(xlabel="epoch", ylabel="mAP", title="validation mAP", ylim=(0, 1))
    for axes in (losses, maps):
        axes.grid(alpha=0.3)
        if axes.lines:
            axes.legend(fontsize=8)
    figure.savefig(path)
    return path


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def new_run_dir(out: str | os.PathLike) -> Path:
    """``out`` itself when it holds no earlier run, else ``out2``, ``out3``, ... (nothing is overwritten).

    Example:
        >>> import tempfile
        >>> base = Path(tempfile.mkdtemp()) / "exp"
        >>> new_run_dir(base).name
        'exp'
        >>> (base / "weights").mkdir(parents=True); _ = (base / "weights" / "last.pt").write_bytes(b"x")
        >>> new_run_dir(base).name
        'exp2'
    """
    out = Path(out).expanduser()
    candidate, n = out, 1
    while _holds_run(candidate):
        n += 1
        candidate = out.with_name(f"{out.name}{n}")
    return candidate


def _holds_run(folder: Path) -> bool:
    return any((folder / name).exists() for name in ("weights/last.pt", "weights/best.pt", "metrics.csv", "results.csv"))
