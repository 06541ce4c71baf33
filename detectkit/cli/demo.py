"""``detectkit demo``: the README's first command; runs with no webcam, GPU or network."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the demo on built-in sample pictures",
        description="Detect objects in scikit-image's sample pictures and save them annotated.",
    )
    parser.add_argument("--model", "-m", default="auto", help="detector (default: auto = a local COCO YOLO, else yolo11n.pt)")
    parser.add_argument("--out", type=Path, default=Path("demo-output"), help="output folder (default: demo-output)")
    parser.add_argument("--device", default="auto")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..demo import run_image_demo

    report = run_image_demo(args.out, model=args.model, device=args.device)
    if report.written:
        print(f"wrote {len(report.written)} annotated pictures to {args.out}/")
    for reason in report.skipped:
        print(f"not run: {reason}")
    return 0 if report.written else 1
