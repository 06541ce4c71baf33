"""detectkit's evaluate() (pycocotools COCOeval) against ultralytics' own ``val``, same model, same data.

Separates the two sources of difference with a 2x2 table: predictions from ultralytics' val
pipeline or from detectkit's Detector, each scored by ultralytics' metric (its matching +
``ap_per_class``) and by COCOeval (detectkit's ``evaluate_predictions``).

    python benchmarks/eval_vs_ultralytics.py                     # yolov8n int8 ONNX on coco128 (128 images)
    python benchmarks/eval_vs_ultralytics.py --limit 32 --iou 0.7

Prints a markdown table (for docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DETECTKIT_SHARED", REPO.parent / "shared"))


def ultralytics_val(
    model: str, yaml_path: Path, conf: float, iou: float, imgsz: int, out: Path, multi_label: bool = True
) -> tuple[dict, list[dict], float]:
    """ultralytics' val: its metrics, its predictions (save_json), seconds.

    ``multi_label=False`` makes its NMS keep one class per box, as ultralytics' predict (and so
    detectkit's Detector) does; val itself keeps every class above ``conf`` for each box.
    """
    from detectkit._ultralytics_env import import_ultralytics

    ultralytics = import_ultralytics()
    from ultralytics.utils import nms

    original = nms.non_max_suppression

    def single_label(*args, **kwargs):
        kwargs["multi_label"] = False
        return original(*args, **kwargs)

    if not multi_label:
        nms.non_max_suppression = single_label
    started = time.perf_counter()
    try:
        result = ultralytics.YOLO(model, task="detect").val(
            data=str(yaml_path), imgsz=imgsz, batch=1, conf=conf, iou=iou, device="cpu", plots=False,
            save_json=True, project=str(out), name=f"val{int(multi_label)}", exist_ok=True, verbose=False,
        )
    finally:
        nms.non_max_suppression = original
    seconds = time.perf_counter() - started
    predictions = json.loads((Path(result.save_dir) / "predictions.json").read_text())
    metrics = {"map50": result.box.map50, "map": result.box.map, "precision": result.box.mp, "recall": result.box.mr}
    return metrics, predictions, seconds


def to_detections(dataset, records: list[dict], names: dict[int, str]):
    """ultralytics' json predictions (category_id = class + 1) as one Detections per sample."""
    from detectkit import Detections

    by_file: dict[str, list[dict]] = {}
    for record in records:
        by_file.setdefault(record["file_name"], []).append(record)
    out = []
    for sample in dataset:
        rows = by_file.get(sample.image_path.name, [])
        xywh = np.asarray([r["bbox"] for r in rows], np.float32).reshape(-1, 4)
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1)
        out.append(Detections(xyxy, np.asarray([r["score"] for r in rows]), np.asarray([r["category_id"] - 1 for r in rows]), names))
    return out


def ultralytics_metric(dataset, predictions, out: Path) -> dict:
    """Score predictions with ultralytics' own matching (DetectionValidator.match_predictions) and ap_per_class."""
    import torch

    from detectkit._ultralytics_env import import_ultralytics

    import_ultralytics()
    from ultralytics.models.yolo.detect import DetectionValidator
    from ultralytics.utils.metrics import ap_per_class, box_iou

    validator = DetectionValidator(save_dir=out)
    validator.iouv = torch.linspace(0.5, 0.95, 10)
    tps, confs, pred_classes, target_classes = [], [], [], []
    for sample, det in zip(dataset, predictions):
        order = np.argsort(-det.confidence, kind="stable")
        boxes, scores, classes = det.xyxy[order], det.confidence[order], det.class_id[order]
        target_classes.append(sample.class_id)
        if len(boxes) == 0:
            continue
        if len(sample) == 0:
            correct = np.zeros((len(boxes), 10), bool)
        else:
            iou = box_iou(torch.from_numpy(sample.xyxy), torch.from_numpy(boxes))
            correct = validator.match_predictions(torch.from_numpy(classes), torch.from_numpy(sample.class_id), iou).numpy()
        tps.append(correct)
        confs.append(scores)
        pred_classes.append(classes)
    result = ap_per_class(np.concatenate(tps), np.concatenate(confs), np.concatenate(pred_classes), np.concatenate(target_classes))
    precision, recall, ap = result[2], result[3], result[5]
    return {"map50": float(ap[:, 0].mean()), "map": float(ap.mean()), "precision": float(precision.mean()), "recall": float(recall.mean())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(SHARED / "weights" / "yolov8n_int8.onnx"))
    parser.add_argument("--data", default=str(SHARED / "data" / "detection" / "coco128" / "coco128.yaml"))
    parser.add_argument("--split", default="val")
    parser.add_argument("--limit", type=int, default=None, help="first N images only")
    parser.add_argument("--conf", type=float, default=0.001)
    parser.add_argument("--iou", type=float, default=0.6)
    parser.add_argument("--imgsz", type=int, default=640)
    args = parser.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")

    import yaml

    from detectkit import Detector
    from detectkit.training.datasets import load_dataset
    from detectkit.training.evaluate import evaluate_predictions, predict_dataset

    dataset = load_dataset(args.data, args.split)
    if args.limit:
        dataset = dataset[: args.limit]
    work = Path(tempfile.mkdtemp(prefix="eval-vs-ultralytics-"))
    listing = work / "images.txt"
    listing.write_text("".join(f"{s.image_path.resolve()}\n" for s in dataset))
    yaml_path = work / "data.yaml"
    names = dict(enumerate(dataset.names))
    yaml_path.write_text(yaml.safe_dump({"path": str(work), "train": "images.txt", "val": "images.txt", "names": names}))

    # both pipelines, side by side in one run
    ul_metrics, ul_json, ul_seconds = ultralytics_val(args.model, yaml_path, args.conf, args.iou, args.imgsz, work)
    detector = Detector(args.model, device="cpu")
    options = detector.options.updated(conf=args.conf, iou=args.iou, max_det=300, imgsz=args.imgsz)
    started = time.perf_counter()
    dk_predictions = predict_dataset(detector, dataset, options)
    dk_seconds = time.perf_counter() - started
    started = time.perf_counter()
    dk_report = evaluate_predictions(dataset, dk_predictions, names=detector.names)
    coco_seconds = time.perf_counter() - started
    ul_predictions = to_detections(dataset, ul_json, detector.names)
    single_metrics, single_json, _ = ultralytics_val(args.model, yaml_path, args.conf, args.iou, args.imgsz, work, multi_label=False)
    single_predictions = to_detections(dataset, single_json, detector.names)

    rows = [
        ("ultralytics val", "ultralytics val's own report", ul_metrics),
        ("ultralytics val", "ultralytics metric, recomputed here", ultralytics_metric(dataset, ul_predictions, work / "m1")),
        ("ultralytics val", "COCOeval (detectkit evaluate_predictions)", vars_of(evaluate_predictions(dataset, ul_predictions, names=detector.names))),
        ("ultralytics val, single-label NMS", "ultralytics val's own report", single_metrics),
        ("ultralytics val, single-label NMS", "COCOeval (detectkit evaluate_predictions)", vars_of(evaluate_predictions(dataset, single_predictions, names=detector.names))),
        ("detectkit Detector", "ultralytics metric", ultralytics_metric(dataset, dk_predictions, work / "m2")),
        ("detectkit Detector", "COCOeval = detectkit evaluate()", vars_of(dk_report)),
    ]
    cpu = subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True, text=True).stdout.split(":")[-1].strip()
    n_ul, n_single, n_dk = len(ul_json), len(single_json), sum(len(d) for d in dk_predictions)
    print(f"model {Path(args.model).name}, data {args.data} split {args.split}: {len(dataset)} images, "
          f"{dataset.num_boxes} boxes; conf {args.conf}, NMS iou {args.iou}, imgsz {args.imgsz}")
    print(f"machine: {cpu or platform.processor()}, {os.cpu_count()} CPUs, no GPU; python {platform.python_version()}\n")
    print("| predictions from | scored by | mAP@0.5 | mAP@0.5:0.95 | P | R |")
    print("|---|---|---|---|---|---|")
    for source, metric, m in rows:
        print(f"| {source} | {metric} | {m['map50']:.4f} | {m['map']:.4f} | {m['precision']:.3f} | {m['recall']:.3f} |")
    print(f"\npredicted boxes: ultralytics val {n_ul} (single-label NMS: {n_single}), detectkit {n_dk}")
    print(f"time: ultralytics val {ul_seconds:.1f} s (load + predict + metric); detectkit predict {dk_seconds:.1f} s "
          f"+ COCOeval {coco_seconds:.1f} s; ratio detectkit/ultralytics {(dk_seconds + coco_seconds) / ul_seconds:.2f}")
    return 0


def vars_of(report) -> dict:
    return {"map50": report.map50, "map": report.map, "precision": report.precision, "recall": report.recall}


if __name__ == "__main__":
    sys.exit(main())
