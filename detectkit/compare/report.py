"""The deep-vs-classical report: rows of results, the machine and versions, Markdown and a bar chart.

A :class:`Row` is one model on one data set for one task, with its metrics, or the
reason it was not run (``"not run: weights missing"`` plus how to provide them).
:class:`ComparisonReport` holds the rows and the environment that produced them and
writes ``report.md`` (one table per task), ``report.json`` and ``chart.png``.

Example:
    >>> report = ComparisonReport([
    ...     Row("face identification", "ORL", "HOG + k-NN", "classical", {"top-1": 0.9}, ms=1.5),
    ...     Row("face identification", "ORL", "FaceNet + k-NN", "deep", status="not run: weights missing"),
    ... ], environment={"machine": "test"})
    >>> print(report.tables()["face identification"].splitlines()[2])
    | ORL  | HOG + k-NN     | classical | 0.900                    | 1.5       |
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

__all__ = ["Row", "ComparisonReport", "environment", "TASKS", "markdown_table"]

TASKS = {
    "person detection": ["AP@0.5", "AP@0.5:0.95"],
    "face detection": ["recall", "precision"],
    "face identification": ["top-1"],
}
"""The tasks, in report order, and the metrics each table shows (plus ms)."""
_UNIT = {"person detection": "ms / image", "face detection": "ms / image", "face identification": "ms / face"}


@dataclass
class Row:
    """One model on one data set: metrics, or why it was not run.

    Attributes:
        task: a key of :data:`TASKS`.
        data: the data set's name (with its size, e.g. ``"Penn-Fudan (170 photos)"``).
        model: what ran (``"YOLOv8n (int8 ONNX)"``).
        kind: ``"deep"`` or ``"classical"``.
        metrics: metric name -> value in ``[0, 1]``.
        ms: milliseconds per image (detection) or per face (identification).
        status: ``"ok"``, or ``"not run: ..."``.
        how_to: for a row not run, how to make it run.
        notes: anything else the reader needs (counts, fallbacks).
    """

    task: str
    data: str
    model: str
    kind: str
    metrics: dict[str, float] = field(default_factory=dict)
    ms: float | None = None
    status: str = "ok"
    how_to: str = ""
    notes: str = ""

    @property
    def ran(self) -> bool:
        """Whether the model ran (``status == "ok"``)."""
        return self.status == "ok"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment() -> dict[str, str]:
    """The machine and package versions a report was made with.

    Example:
        >>> sorted(environment())[:3]
        ['cpu', 'date', 'detectkit']
    """
    cpu = platform.processor() or platform.machine()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5).stdout
        cpu = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration, subprocess.SubprocessError):
        pass
    gpu = "no GPU"
    try:
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except ImportError:  # pragma: no cover
        pass
    import cv2

    from .. import __version__

    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "gpu": gpu,
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        "detectkit": __version__,
        "torch": _version("torch"),
        "torchvision": _version("torchvision"),
        "opencv": cv2.__version__,
        "ultralytics": _version("ultralytics"),
        "onnxruntime": _version("onnxruntime"),
        "facenet-pytorch": _version("facenet-pytorch"),
        "scikit-learn": _version("scikit-learn"),
        "pycocotools": _version("pycocotools"),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table with padded columns.

    Example:
        >>> print(markdown_table(["a", "bb"], [[1, 2]]))
        | a | bb |
        |---|----|
        | 1 | 2  |
    """
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |" for row in cells[1:]]
    return "\n".join(lines)


@dataclass
class ComparisonReport:
    """Rows of the comparison and where they were measured (see the module docstring)."""

    rows: list[Row]
    environment: dict[str, str] = field(default_factory=dict)
    command: str = ""
    notes: list[str] = field(default_factory=list)

    def tables(self) -> dict[str, str]:
        """``{task: Markdown table}`` for the tasks that have rows, in :data:`TASKS` order."""
        out = {}
        for task, metrics in TASKS.items():
            rows = [r for r in self.rows if r.task == task]
            if not rows:
                continue
            body = []
            for r in rows:
                if r.ran:
                    values = [f"{r.metrics[m]:.3f}" if m in r.metrics else "-" for m in metrics]
                    ms = f"{r.ms:.1f}" if r.ms is not None else "-"
                else:
                    values, ms = [r.status] + ["-"] * (len(metrics) - 1), "-"
                body.append([r.data, r.model, r.kind, *values, ms])
            out[task] = markdown_table(["data", "model", "kind", *metrics, _UNIT[task]], body)
        return out

    def ratios(self) -> list[str]:
        """One line per task and data set: deep vs classical speed, as ratios, where both ran.

        Example:
            >>> ComparisonReport([Row("face detection", "LFW", "Haar", "classical", ms=10.0),
            ...                   Row("face detection", "LFW", "MTCNN", "deep", ms=25.0)]).ratios()
            ['face detection, LFW: MTCNN takes 2.50x the time of Haar']
        """
        lines = []
        for task in TASKS:
            for data in dict.fromkeys(r.data for r in self.rows if r.task == task):
                ran = [r for r in self.rows if r.task == task and r.data == data and r.ran and r.ms]
                deep = [r for r in ran if r.kind == "deep"]
                classical = [r for r in ran if r.kind == "classical"]
                for d in deep:
                    for c in classical:
                        lines.append(f"{task}, {data}: {d.model} takes {d.ms / c.ms:.2f}x the time of {c.model}")
        return lines

    def to_markdown(self) -> str:
        """The whole report: header (machine, versions, command), one table per task, notes.

        Example:
            >>> report = ComparisonReport([Row("face identification", "ORL", "HOG + k-NN", "classical", {"top-1": 0.9})])
            >>> report.to_markdown().splitlines()[2]
            '## Face identification'
        """
        env = self.environment
        parts = ["# Deep learning vs classical computer vision", ""]
        if self.command:
            parts += [f"Command: `{self.command}`", ""]
        if env:
            parts.append(f"Machine: {env.get('cpu', '?')}, {env.get('gpu', '?')}; {env.get('os', '')}; {env.get('date', '')}.")
            versions = ", ".join(f"{k} {v}" for k, v in env.items() if k not in ("cpu", "gpu", "os", "date"))
            parts += [f"Versions: {versions}.", ""]
        for task, table in self.tables().items():
            parts += [f"## {task.capitalize()}", "", table, ""]
        ratios = self.ratios()
        if ratios:
            parts += ["Speed ratios (same run):", ""] + [f"- {line}" for line in ratios] + [""]
        missing = [r for r in self.rows if not r.ran and r.how_to]
        if missing:
            parts += ["## Not run", ""]
            by_how: dict[str, list[str]] = {}
            for r in missing:
                models = by_how.setdefault(r.how_to, [])
                if r.model not in models:
                    models.append(r.model)
            for how_to, models in by_how.items():
                parts.append(f"- {', '.join(f'**{m}**' for m in models)}: {how_to}")
            parts.append("")
        notes = self.notes + [f"{r.model} on {r.data}: {r.notes}" for r in self.rows if r.notes]
        if notes:
            parts += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
        return "\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Plain Python (for ``report.json``): environment, command, notes and every row."""
        return {"environment": self.environment, "command": self.command, "notes": self.notes,
                "rows": [asdict(r) for r in self.rows]}

    def plot(self, path: str | os.PathLike) -> Path:
        """A bar chart PNG: one panel per task, one bar group per data set and metric; rows not run are marked."""
        from matplotlib.figure import Figure  # no pyplot: the caller's backend and figures are left alone

        tasks = [t for t in TASKS if any(r.task == t for r in self.rows)]
        fig = Figure(figsize=(6.0 * max(1, len(tasks)), 5.6))
        axes = fig.subplots(1, max(1, len(tasks)), squeeze=False)
        colours = {"deep": "#1f77b4", "classical": "#ff7f0e"}
        for ax, task in zip(axes[0], tasks):
            rows = [r for r in self.rows if r.task == task]
            groups = [(data, m) for data in dict.fromkeys(r.data for r in rows) for m in TASKS[task]]
            models = list(dict.fromkeys((r.model, r.kind) for r in rows))
            width = 0.8 / max(1, len(models))
            shades = {}
            for j, (model, kind) in enumerate(models):
                n = sum(1 for m, k in models[:j] if k == kind)
                shades[model] = (colours.get(kind, "grey"), 1.0 - 0.3 * n)
            for j, (model, kind) in enumerate(models):
                colour, alpha = shades[model]
                for g, (data, metric) in enumerate(groups):
                    row = next((r for r in rows if r.model == model and r.data == data), None)
                    x = g + (j - (len(models) - 1) / 2) * width
                    if row is None:
                        continue
                    if row.ran:
                        value = row.metrics.get(metric, 0.0)
                        ax.bar(x, value, width, color=colour, alpha=max(alpha, 0.35),
                               label=model if g == 0 else None)
                        ax.text(x, value + 0.01, f"{value:.2f}", ha="center", va="bottom", fontsize=7)
                    else:
                        ax.bar(x, 0.02, width, color="lightgrey", hatch="//", label=f"{model} (not run)" if g == 0 else None)
                        ax.text(x, 0.04, "not run", ha="center", va="bottom", fontsize=7, rotation=90)
            ax.set_xticks(range(len(groups)))
            ax.set_xticklabels([f"{d.split(' (')[0]}\n{m}" for d, m in groups], fontsize=8)
            ax.set_ylim(0, 1.12)
            ax.set_title(task)
            ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
        fig.suptitle("deep (blue) vs classical (orange)", fontsize=10)
        fig.tight_layout()
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=110)
        return out

    def write(self, out_dir: str | os.PathLike) -> dict[str, Path]:
        """Write ``report.md``, ``report.json`` and ``chart.png`` into ``out_dir``; returns their paths.

        Usage:
            run_comparison(CompareConfig(limit=5)).write("compare-report")["markdown"]
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"markdown": out / "report.md", "json": out / "report.json", "chart": out / "chart.png"}
        paths["markdown"].write_text(self.to_markdown(), encoding="utf-8")
        paths["json"].write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")
        self.plot(paths["chart"])
        return paths
