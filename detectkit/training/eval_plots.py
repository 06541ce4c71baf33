"""Plots of an :class:`~detectkit.training.evaluate.EvalReport`: precision-recall curve and per-class AP bars (PNG).

matplotlib draws off-screen (the Agg canvas, no display or GUI backend needed) and uses
its bundled fonts: nothing is downloaded.

Example (a report of one class, AP@0.5 0.9; :func:`~detectkit.training.evaluate.evaluate` makes real ones):
    >>> import tempfile, types
    >>> from PIL import Image
    >>> circle = types.SimpleNamespace(name="circle", ap50=0.9, ap=0.6, instances=4)
    >>> report = types.SimpleNamespace(map50=0.9, map=0.6, per_class=[circle],
    ...                                pr_recall=np.linspace(0, 1, 101), pr_precision=np.full((1, 101), 0.9))
    >>> out = Path(tempfile.mkdtemp())
    >>> pr, ap = plot_pr_curve(report, out / "pr_curve.png"), plot_per_class_ap(report, out / "ap.png")
    >>> pr.name, Image.open(pr).format, Image.open(pr).size    # 6.4 x 4.8 inches at 110 dpi
    ('pr_curve.png', 'PNG', (704, 528))
    >>> Image.open(ap).size
    (704, 275)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np

__all__ = ["plot_pr_curve", "plot_per_class_ap", "PlottedReport"]


class PlottedReport(Protocol):
    """What the plots read of an :class:`~detectkit.training.evaluate.EvalReport` (which calls them).

    A protocol, so that this module does not import ``evaluate`` back (no import cycle).
    """

    map: float
    map50: float
    per_class: Sequence[Any]
    pr_recall: Any
    pr_precision: Any


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=110, tight_layout=True)
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Any, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


def plot_pr_curve(report: PlottedReport, path: str | os.PathLike) -> Path:
    """Precision against recall at IoU 0.5 (COCO's interpolated curve): one thin line per class, the mean in bold.

    Usage:
        plot_pr_curve(evaluate(detector, "data.yaml"), "runs/val/pr_curve.png") -> Path("runs/val/pr_curve.png")
    """
    figure = _figure(6.4, 4.8)
    axes = figure.add_subplot()
    recall = report.pr_recall
    curves = np.asarray(report.pr_precision, dtype=np.float64)
    valid = [k for k in range(len(curves)) if (curves[k] > -1).any()]
    few = len(valid) <= 12
    for k in valid:
        label = f"{report.per_class[k].name} {report.per_class[k].ap50:.3f}" if few else None
        axes.plot(recall, np.clip(curves[k], 0, 1), linewidth=1, alpha=0.8 if few else 0.3, label=label)
    if valid:
        mean = np.clip(curves[valid], 0, 1).mean(0)
        axes.plot(recall, mean, color="blue", linewidth=3, label=f"all classes {report.map50:.3f} mAP@0.5")
    axes.set_xlabel("Recall")
    axes.set_ylabel("Precision")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.set_title("Precision-recall (IoU 0.5)")
    axes.legend(loc="lower left", fontsize=7)
    return _save(figure, path)


def plot_per_class_ap(report: PlottedReport, path: str | os.PathLike) -> Path:
    """Horizontal bars of AP@0.5 and AP@0.5:0.95 per class (classes with instances), best first.

    Usage:
        plot_per_class_ap(evaluate(detector, "data.yaml"), "runs/val/ap.png") -> Path("runs/val/ap.png")
    """
    rows = sorted((c for c in report.per_class if c.instances > 0), key=lambda c: -c.ap50)
    figure = _figure(6.4, max(2.5, 0.22 * len(rows) + 1.2))
    axes = figure.add_subplot()
    y = np.arange(len(rows))
    axes.barh(y - 0.2, [c.ap50 for c in rows], height=0.4, label="AP@0.5")
    axes.barh(y + 0.2, [c.ap for c in rows], height=0.4, label="AP@0.5:0.95")
    axes.set_yticks(y, [c.name for c in rows], fontsize=7 if len(rows) > 20 else 9)
    axes.set_ylim(len(rows) - 0.5, -0.5)  # best at the top, no empty margin
    axes.set_xlim(0, 1)
    axes.set_xlabel("AP")
    axes.set_title(f"Per-class AP (mAP@0.5 {report.map50:.3f}, mAP@0.5:0.95 {report.map:.3f})")
    axes.legend(loc="lower right", fontsize=8)
    return _save(figure, path)
