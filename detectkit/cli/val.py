"""``detectkit val --model M --data D``: COCO mAP of a detector on a labelled dataset (pycocotools).

Example:
    >>> from detectkit.cli import build_parser
    >>> build_parser().parse_args(["val", "--model", "best.pt", "--data", "data.yaml"]).split
    'val'
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .options import add_trust_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "val",
        help="evaluate a detector on a labelled dataset (COCO mAP)",
        description="Run a detector over a dataset split and print COCO-protocol mAP@0.5, mAP@0.5:0.95, "
        "per-class AP, precision and recall, computed by pycocotools.",
    )
    parser.add_argument("--model", "-m", required=True, help="model name or file (YOLO .pt/.onnx, torchvision name, checkpoint)")
    add_trust_option(parser)
    parser.add_argument("--data", "-d", required=True, help="data YAML, COCO json, or dataset folder")
    parser.add_argument("--split", default="val", help="split to evaluate (default: val)")
    parser.add_argument("--conf", type=float, default=0.001, help="confidence threshold (default: 0.001)")
    parser.add_argument("--iou", type=float, default=0.6, help="NMS IoU threshold (default: 0.6)")
    parser.add_argument("--imgsz", type=int, default=None, help="model input size (default: the model's)")
    parser.add_argument("--max-det", type=int, default=300, help="boxes kept per image (default: 300)")
    parser.add_argument("--batch", type=int, default=None, help="images per model call")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    parser.add_argument("--plots", type=Path, default=None, help="write pr_curve.png and per_class_ap.png here")
    parser.add_argument("--json", dest="json_path", default=None, help="write the metrics as JSON here ('-' for stdout)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..detection import Detector
    from ..training.datasets import load_dataset
    from ..training.evaluate import evaluate

    dataset = load_dataset(args.data, args.split)  # a wrong path or split fails before the model loads
    detector = Detector(args.model, device=args.device)
    report = evaluate(
        detector, dataset, conf=args.conf, iou=args.iou, imgsz=args.imgsz,
        max_det=args.max_det, batch_size=args.batch, plots=args.plots, progress=True,
    )
    report.settings["data"] = str(args.data)
    if args.json_path == "-":
        print(json.dumps(report.to_dict(), indent=1))
        return 0
    print(report)
    if args.plots is not None:
        for path in report.plots.values():
            print(f"plot: {path}")
    if args.json_path:
        Path(args.json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_path).write_text(json.dumps(report.to_dict(), indent=1), encoding="utf-8")
        print(f"metrics: {args.json_path}", file=sys.stderr)
    return 0
