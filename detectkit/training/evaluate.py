"""COCO-protocol evaluation of any detectkit detector on a labelled dataset, by pycocotools.

:func:`evaluate` runs a :class:`~detectkit.Detector` (either family, any backend) over a
dataset split and scores its :class:`~detectkit.Detections` with pycocotools' ``COCOeval``;
:func:`evaluate_predictions` scores predictions you already have (a training loop's
validation pass). Both families go through the same code, so their numbers compare.

What is reported (:class:`EvalReport`):

* ``map50`` and ``map`` (mAP@0.5:0.95): COCOeval's ``stats[1]`` and ``stats[0]`` (101-point
  interpolated AP, at most 100 detections per image and class, area range "all"), averaged
  over the classes that have ground truth in the split;
* per class: AP@0.5, AP@0.5:0.95 (from ``COCOeval.eval['precision']``), instances and images;
* ``precision`` and ``recall``: at the confidence threshold that maximises the mean F1 over
  classes at IoU 0.5 (F1 curve smoothed over 10% of the confidence range, as ultralytics does),
  counted from COCOeval's own matches (``evalImgs``); ``recall_max`` is COCO's AR@100 at IoU 0.5:0.95.

Classes are matched by name between the detector's table and the dataset's (case, ``_`` and
``-`` ignored); dataset classes the detector does not know are left out of the mean and listed
in ``unmatched_classes``. When no name matches but both have the same number of classes,
class ids are matched by position (a warning says so). Crowd / difficult regions
(``Sample.ignore_xyxy``) are passed to COCOeval as ``iscrowd`` regions.

Usage:
    from detectkit import Detector, evaluate
    report = evaluate(Detector("best.pt"), "data.yaml", split="val"); print(report); report.map50
"""

from __future__ import annotations

import contextlib
import io
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..detections import Detections
from ..errors import DatasetError
from .data_model import DataSpec, DetectionDataset
from .loading import load_dataset

__all__ = ["evaluate", "evaluate_predictions", "predict_dataset", "EvalReport", "ClassMetrics", "match_classes"]

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)


@dataclass
class ClassMetrics:
    """Metrics of one class (NaN AP for a class with no instances in the split).

    Example:
        >>> ClassMetrics("cat", ap50=0.9, ap=0.6, precision=0.8, recall=0.7, instances=12, images=10).ap50
        0.9
    """

    name: str
    ap50: float
    ap: float
    precision: float
    recall: float
    instances: int
    images: int


@dataclass
class EvalReport:
    """Results of :func:`evaluate` (see the module docstring for what each number is).

    Attributes:
        map50: mAP@0.5.
        map: mAP@0.5:0.95.
        precision, recall: at the best mean-F1 confidence, IoU 0.5.
        recall_max: COCO AR@100 (IoU 0.5:0.95).
        per_class: one :class:`ClassMetrics` per evaluated class (dataset order).
        coco_stats: COCOeval's 12 summary numbers.
        images, instances: size of the evaluated split.
        best_conf: the confidence threshold ``precision``/``recall`` are taken at.
        pr_recall, pr_precision: COCO's interpolated precision-recall curve at IoU 0.5:
            ``pr_recall`` (101,), ``pr_precision`` (classes, 101), -1 where undefined.
        unmatched_classes: dataset classes the detector does not predict (left out).
        settings: conf, iou, imgsz, max_det, model, data, split used.
        seconds_per_image: prediction time (decode + model) per image, when :func:`evaluate` ran the model.
        plots: PNG files written by :meth:`plot`.

    Example:
        >>> from detectkit.training.datasets import DetectionDataset, Sample
        >>> ds = DetectionDataset(["cat"], [Sample(Path("a.jpg"), [[10, 10, 50, 50]], [0], 64, 64)])
        >>> half = Detections(np.array([[10, 10, 50, 30]], np.float32), np.array([0.9]), np.array([0]), {0: "cat"})
        >>> report = evaluate_predictions(ds, [half])  # IoU 0.5: found at 0.5 only
        >>> round(report.map50, 3), round(report.map, 3), report.per_class[0].instances
        (1.0, 0.1, 1)
    """

    map50: float
    map: float
    precision: float
    recall: float
    recall_max: float
    per_class: list[ClassMetrics]
    coco_stats: list[float]
    images: int
    instances: int
    best_conf: float
    pr_recall: np.ndarray = field(repr=False)
    pr_precision: np.ndarray = field(repr=False)
    unmatched_classes: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    seconds_per_image: float | None = None
    plots: dict[str, Path] = field(default_factory=dict)

    def __str__(self) -> str:
        header = f"{'class':<20} {'images':>7} {'instances':>9} {'P':>7} {'R':>7} {'mAP50':>7} {'mAP50-95':>9}"
        lines = [header]
        lines.append(
            f"{'all':<20} {self.images:>7} {self.instances:>9} {self.precision:>7.3f} {self.recall:>7.3f} "
            f"{self.map50:>7.3f} {self.map:>9.3f}"
        )
        for c in self.per_class:
            if c.instances == 0:
                continue
            lines.append(
                f"{c.name[:20]:<20} {c.images:>7} {c.instances:>9} {c.precision:>7.3f} {c.recall:>7.3f} "
                f"{c.ap50:>7.3f} {c.ap:>9.3f}"
            )
        if self.unmatched_classes:
            lines.append(f"not evaluated (the model has no such class): {', '.join(self.unmatched_classes)}")
        if self.seconds_per_image is not None:
            lines.append(f"speed: {self.seconds_per_image * 1000:.1f} ms per image (decode + predict)")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready numbers (curves left out; NaN becomes None).

        Usage:
            json.dumps(report.to_dict()) -> '{"map50": 0.61, "map": 0.45, ... "per_class": [...]}'
        """
        data = asdict(self)
        data.pop("pr_recall")
        data.pop("pr_precision")
        data["plots"] = {k: str(v) for k, v in self.plots.items()}
        return _json_ready(data)

    def plot(self, out_dir: str | os.PathLike) -> dict[str, Path]:
        """Write ``pr_curve.png`` and ``per_class_ap.png`` into ``out_dir``; returns and remembers their paths.

        Usage:
            report.plot("runs/val") -> {'pr_curve': Path('runs/val/pr_curve.png'), 'per_class_ap': ...}
        """
        from .eval_plots import plot_per_class_ap, plot_pr_curve

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        self.plots["pr_curve"] = plot_pr_curve(self, out / "pr_curve.png")
        self.plots["per_class_ap"] = plot_per_class_ap(self, out / "per_class_ap.png")
        return dict(self.plots)


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, Path):
        return str(value)
    return value


# --------------------------------------------------------------------------- class names
def _norm(name: str) -> str:
    return " ".join(str(name).lower().replace("_", " ").replace("-", " ").split())


def match_classes(model_names: Mapping[int, str], dataset_names: Sequence[str]) -> dict[int, int]:
    """Model class id -> dataset class index, matched by name (case, ``_``, ``-`` ignored).

    Falls back to matching by position when no name matches and the counts are equal.

    Example:
        >>> match_classes({0: "Person", 1: "traffic_light", 2: "kite"}, ["traffic light", "person"])
        {0: 1, 1: 0}
    """
    index: dict[str, int] = {}
    for i, name in enumerate(dataset_names):
        index.setdefault(_norm(name), i)
    mapping = {int(k): index[_norm(v)] for k, v in model_names.items() if _norm(v) in index}
    if not mapping and len(model_names) == len(dataset_names):
        warnings.warn(
            f"no class name of the model ({list(model_names.values())[:5]}...) is in the dataset "
            f"({list(dataset_names)[:5]}...); matching classes by position",
            stacklevel=3,
        )
        mapping = {int(k): i for i, k in enumerate(sorted(model_names))}
    return mapping


# --------------------------------------------------------------------------- pycocotools
def _quiet() -> contextlib.AbstractContextManager:
    return contextlib.redirect_stdout(io.StringIO())  # pycocotools prints progress to stdout


def _coco_gt(dataset: DetectionDataset) -> Any:
    from pycocotools.coco import COCO

    from .formats.coco import coco_dict

    gt = COCO()
    gt.dataset = coco_dict(dataset, decimals=None)  # image ids 1..N, category ids 1..K, crowd = ignore regions
    with _quiet():
        gt.createIndex()
    return gt


def _coco_dt(gt: Any, predictions: Sequence[Detections], mapping: dict[int, int]) -> Any:
    from pycocotools.coco import COCO

    annotations = []
    for image_id, det in enumerate(predictions, start=1):
        for (x1, y1, x2, y2), score, cls in zip(det.xyxy.tolist(), det.confidence.tolist(), det.class_id.tolist()):
            target = mapping.get(int(cls))
            if target is None:
                continue
            w, h = x2 - x1, y2 - y1
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": target + 1,
                "bbox": [x1, y1, w, h], "area": w * h, "score": float(score), "iscrowd": 0,
            })
    dt = COCO()
    dt.dataset = {"images": gt.dataset["images"], "categories": gt.dataset["categories"], "annotations": annotations}
    with _quiet():
        dt.createIndex()
    return dt


def _smooth(values: np.ndarray, fraction: float = 0.1) -> np.ndarray:
    """Box-filter moving average over ``fraction`` of the points (ultralytics smooths its F1 curve so)."""
    width = round(len(values) * fraction * 2) // 2 + 1
    pad = np.ones(width // 2)
    padded = np.concatenate((pad * values[0], values, pad * values[-1]))
    return np.convolve(padded, np.ones(width) / width, mode="valid")


def _best_f1(coco_eval: Any, n_classes: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-class precision and recall at the confidence maximising mean F1, IoU 0.5, from COCOeval's matches."""
    params = coco_eval.params
    area_index, n_images = 0, len(params.imgIds)
    max_det = params.maxDets[-1]
    grid = np.linspace(0, 1, 1000)
    p_curve = np.zeros((n_classes, grid.size))
    r_curve = np.zeros((n_classes, grid.size))
    has_gt = np.zeros(n_classes, bool)
    for k in range(n_classes):
        base = k * len(params.areaRng) * n_images + area_index * n_images
        entries = [e for e in coco_eval.evalImgs[base : base + n_images] if e is not None]
        if not entries:
            continue
        scores = np.concatenate([e["dtScores"][:max_det] for e in entries])
        matched = np.concatenate([e["dtMatches"][0, :max_det] for e in entries])
        ignored = np.concatenate([e["dtIgnore"][0, :max_det] for e in entries]).astype(bool)
        n_gt = int(sum(np.count_nonzero(e["gtIgnore"] == 0) for e in entries))
        if n_gt == 0:
            continue
        has_gt[k] = True
        order = np.argsort(-scores, kind="mergesort")
        scores, matched, ignored = scores[order], matched[order], ignored[order]
        keep = ~ignored
        scores, tp = scores[keep], (matched[keep] > 0).astype(np.float64)
        if scores.size == 0:
            continue
        tps, fps = np.cumsum(tp), np.cumsum(1 - tp)
        recall = tps / n_gt
        precision = tps / (tps + fps)
        r_curve[k] = np.interp(-grid, -scores, recall, left=0)
        p_curve[k] = np.interp(-grid, -scores, precision, left=1)
    if not has_gt.any():
        return np.zeros(n_classes), np.zeros(n_classes), 0.0
    f1 = 2 * p_curve * r_curve / np.maximum(p_curve + r_curve, 1e-16)
    best = int(np.argmax(_smooth(f1[has_gt].mean(0))))
    return p_curve[:, best], r_curve[:, best], float(grid[best])


def evaluate_predictions(
    dataset: DetectionDataset,
    predictions: Sequence[Detections],
    *,
    names: Mapping[int, str] | None = None,
) -> EvalReport:
    """Score predictions (one :class:`Detections` per sample, same order) against a dataset with COCOeval.

    Args:
        dataset: the labelled split.
        predictions: ``predictions[i]`` are the detections for ``dataset[i]``, boxes in its pixels.
        names: the model's class table; default: the ``names`` of the predictions.

    Example:
        >>> from detectkit.training.datasets import DetectionDataset, Sample
        >>> ds = DetectionDataset(["cat"], [Sample(Path("a.jpg"), [[10, 10, 50, 50]], [0], 64, 64)])
        >>> perfect = Detections(np.array([[10, 10, 50, 50]], np.float32), np.array([0.9]), np.array([0]), {0: "cat"})
        >>> round(evaluate_predictions(ds, [perfect]).map50, 3)
        1.0
    """
    from pycocotools.cocoeval import COCOeval

    if len(predictions) != len(dataset):
        raise ValueError(f"{len(predictions)} predictions for {len(dataset)} images")
    if len(dataset) == 0:
        raise DatasetError("cannot evaluate on an empty dataset")
    if names is None:
        names = {}
        for det in predictions:
            names.update(det.names)
        if not names:
            names = dict(enumerate(dataset.names))
    mapping = match_classes(names, dataset.names)
    if not mapping:
        raise DatasetError(
            f"none of the model's classes ({', '.join(list(names.values())[:8])}...) is a dataset class "
            f"({', '.join(dataset.names[:8])}...): nothing to evaluate"
        )
    evaluated = sorted(set(mapping.values()))
    unmatched = [n for i, n in enumerate(dataset.names) if i not in set(evaluated)]
    gt = _coco_gt(dataset)
    dt = _coco_dt(gt, predictions, mapping)
    coco_eval = COCOeval(gt, dt, "bbox")
    coco_eval.params.catIds = [i + 1 for i in evaluated]
    with _quiet():
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    precision = coco_eval.eval["precision"][:, :, :, 0, -1]  # (T, R, K) area all, maxDets 100
    p_best, r_best, best_conf = _best_f1(coco_eval, len(evaluated))
    counts = np.zeros(len(dataset.names), np.int64)
    image_counts = np.zeros(len(dataset.names), np.int64)
    for sample in dataset.samples:
        np.add.at(counts, sample.class_id, 1)
        image_counts[np.unique(sample.class_id)] += 1
    per_class = []
    for k, cls in enumerate(evaluated):
        valid = precision[:, :, k] > -1
        ap = float(precision[:, :, k][valid].mean()) if valid.any() else float("nan")
        valid50 = precision[0, :, k] > -1
        ap50 = float(precision[0, :, k][valid50].mean()) if valid50.any() else float("nan")
        per_class.append(
            ClassMetrics(dataset.names[cls], ap50, ap, float(p_best[k]), float(r_best[k]), int(counts[cls]), int(image_counts[cls]))
        )
    with_gt = [c for c in per_class if c.instances > 0]
    stats = [float(s) for s in coco_eval.stats]
    return EvalReport(
        map50=max(stats[1], 0.0),
        map=max(stats[0], 0.0),
        precision=float(np.mean([c.precision for c in with_gt])) if with_gt else 0.0,
        recall=float(np.mean([c.recall for c in with_gt])) if with_gt else 0.0,
        recall_max=max(stats[8], 0.0),
        per_class=per_class,
        coco_stats=stats,
        images=len(dataset),
        instances=int(sum(counts[evaluated])),
        best_conf=best_conf,
        pr_recall=np.asarray(coco_eval.params.recThrs),
        pr_precision=precision[0].T.copy(),
        unmatched_classes=unmatched,
        settings={"data": str(dataset.root) if dataset.root else None, "split": dataset.split},
    )


# --------------------------------------------------------------------------- running a detector
def predict_dataset(
    detector: Any,
    dataset: DetectionDataset,
    options: Any = None,
    *,
    batch_size: int | None = None,
    progress: bool = False,
) -> list[Detections]:
    """A detector's :class:`Detections` for every sample of a dataset, in order.

    Args:
        detector: a :class:`~detectkit.Detector`.
        dataset: the images to run on.
        options: :class:`~detectkit.PredictOptions` (default: the detector's own).
        batch_size: images per model call (default: the detector's).
        progress: show a progress bar on stderr.

    Usage:
        predictions = predict_dataset(detector, load_dataset("data.yaml", "val"))
    """
    from ..images import load_image

    size = int(batch_size or detector.batch_size)
    predictions: list[Detections] = []
    starts: Any = range(0, len(dataset), size)
    if progress:
        import sys

        from tqdm import tqdm

        starts = tqdm(starts, total=(len(dataset) + size - 1) // size, unit="batch", file=sys.stderr, leave=False)
    for start in starts:
        images = [load_image(s.image_path) for s in dataset.samples[start : start + size]]
        predictions.extend(detector.predict_arrays(images, options))
    return predictions


def evaluate(
    detector: Any,
    data: DataSpec,
    split: str = "val",
    conf: float = 0.001,
    iou: float = 0.6,
    imgsz: int | None = None,
    *,
    max_det: int = 300,
    batch_size: int | None = None,
    plots: str | os.PathLike | None = None,
    device: Any = "auto",
    progress: bool = False,
) -> EvalReport:
    """Run a detector over a dataset split and compute COCO mAP with pycocotools.

    Args:
        detector: a :class:`~detectkit.Detector` (either family), or a model spec to build one.
        data: a dataset path (YAML, json, folder) or a :class:`~detectkit.training.datasets.DetectionDataset`.
        split: which split of ``data`` (ignored for a DetectionDataset).
        conf: confidence threshold for predictions (low, as mAP needs the whole PR curve).
        iou: NMS IoU threshold.
        imgsz: model input size (None: the detector's own).
        max_det: boxes kept per image before scoring (COCOeval then counts up to 100 per class).
        batch_size: images per model call (default: the detector's).
        plots: folder for ``pr_curve.png`` and ``per_class_ap.png`` (None: no plots).
        device: used only when ``detector`` is a spec.
        progress: show a progress bar on stderr.

    Usage:
        report = evaluate(Detector("yolov8n.onnx"), "coco128/coco128.yaml", split="val")
        report.map50, report.map, report.per_class[0]
    """
    from ..detection.detector import Detector

    if not isinstance(detector, Detector):
        detector = Detector(detector, device=device)
    dataset = load_dataset(data, split)
    options = detector.options.updated(conf=conf, iou=iou, max_det=max_det, imgsz=imgsz)
    started = time.perf_counter()
    predictions = predict_dataset(detector, dataset, options, batch_size=batch_size, progress=progress)
    elapsed = time.perf_counter() - started
    report = evaluate_predictions(dataset, predictions, names=detector.names)
    report.seconds_per_image = elapsed / max(len(dataset), 1)
    report.settings.update(
        model=detector.model_name, conf=conf, iou=iou, imgsz=options.imgsz, max_det=max_det,
        data=str(data) if not isinstance(data, DetectionDataset) else report.settings.get("data"),
    )
    if plots is not None:
        report.plot(plots)
    return report
