"""``detectkit train --model M --data D``: fine-tune a detector (YOLO or torchvision) on a labelled dataset.

The same as :func:`detectkit.finetune` from the shell; prints where the run was written and
the best epoch's metrics.

Example:
    >>> from detectkit.cli import build_parser
    >>> args = build_parser().parse_args(["train", "--model", "yolov8n.yaml", "--data", "d.yaml", "--epochs", "3"])
    >>> args.epochs, args.freeze
    (3, None)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .options import add_trust_option


def _freeze(text: str) -> int | str | list[int]:
    """``3`` -> 3, ``backbone`` -> 'backbone', ``0,1,2`` -> [0, 1, 2].

    Example:
        >>> _freeze("0,1,2"), _freeze("backbone"), _freeze("4")
        ([0, 1, 2], 'backbone', 4)
    """
    text = text.strip()
    if text == "backbone":
        return text
    try:
        return [int(x) for x in text.split(",")] if "," in text else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--freeze {text!r}: a number, a comma-separated list, or 'backbone'") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="fine-tune a detector on a labelled dataset",
        description="Fine-tune a YOLO model (ultralytics trainer; .pt weights or a .yaml from scratch) or a "
        "torchvision detector (detectkit's loop; builder name or detectkit checkpoint) on a YOLO, COCO, "
        "VOC or Penn-Fudan dataset. Writes weights/best.pt, weights/last.pt, metrics.csv and plots.",
    )
    parser.add_argument("--model", "-m", required=True, help="yolo11n.pt, yolov8n.yaml, fasterrcnn_resnet50_fpn, a checkpoint...")
    add_trust_option(parser)
    parser.add_argument("--data", "-d", required=True, help="data YAML, COCO json, or dataset folder")
    parser.add_argument("--epochs", type=int, default=30, help="epochs (default: 30)")
    parser.add_argument("--imgsz", type=int, default=640, help="image size (default: 640)")
    parser.add_argument("--batch", type=int, default=None,
                        help="batch size (default: 8; YOLO: fewer on a small dataset, so that an epoch has 16 batches)")
    parser.add_argument("--freeze", type=_freeze, default=None, help="N (first layers/stages), 0,1,2 (YOLO layers), or backbone")
    parser.add_argument("--lr", type=float, default=None, help="initial learning rate (default: the family's)")
    parser.add_argument("--optimizer", default="auto", choices=["auto", "sgd", "adamw"], help="optimizer (default: auto)")
    parser.add_argument("--schedule", default="cosine", help="cosine, step or constant (torchvision); cosine or linear (YOLO)")
    parser.add_argument("--patience", type=int, default=10, help="early stopping patience in epochs, 0: off (default: 10)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    parser.add_argument("--out", default="runs/train/exp", help="run folder; a new exp2, exp3... if taken (default: runs/train/exp)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--val-fraction", type=float, default=0.2, help="held-out share when the data have no val split")
    parser.add_argument("--workers", type=int, default=0, help="data loading processes (default: 0)")
    parser.add_argument("--resume", nargs="?", const=True, default=False, metavar="LAST_PT",
                        help="continue the run in --out (or the given last.pt)")
    parser.add_argument("--weights", default="DEFAULT",
                        help="torchvision: DEFAULT (COCO weights if found), none (untrained), or a state-dict path")
    parser.add_argument("--json", dest="json_path", default=None, help="write the per-epoch metrics as JSON here")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..detection.registry import family_of
    from ..training.finetune import finetune

    options = {}
    if family_of(args.model) == "torchvision":
        options["weights"] = None if str(args.weights).lower() == "none" else args.weights
    run_ = finetune(
        args.model, args.data, epochs=args.epochs, imgsz=args.imgsz, batch=args.batch, freeze=args.freeze,
        lr=args.lr, device=args.device, out=args.out, seed=args.seed, resume=args.resume, patience=args.patience,
        optimizer=args.optimizer, schedule=args.schedule, val_fraction=args.val_fraction, workers=args.workers,
        **options,
    )
    print(run_)
    for name, path in run_.plots.items():
        print(f"plot {name}: {path}")
    if args.json_path:
        Path(args.json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_path).write_text(json.dumps(run_.history, indent=1), encoding="utf-8")
    return 0
