"""Command-line options shared by several sub-commands."""

from __future__ import annotations

import argparse


def add_model_options(parser: argparse.ArgumentParser, default_model: str | None = None, *, runtime: str | None = None) -> None:
    """``--model --conf --iou --classes --device --imgsz --max-det --runtime`` (``runtime``: its default)."""
    parser.add_argument("--model", "-m", default=default_model, help=f"model name or file (default: {default_model})")
    parser.add_argument("--conf", type=float, default=0.25, help="minimum confidence (default: 0.25)")
    parser.add_argument("--iou", type=float, default=0.45, help="NMS IoU threshold (default: 0.45)")
    parser.add_argument(
        "--classes", type=lambda s: [c.strip() for c in s.split(",") if c.strip()], default=None,
        help="comma-separated class names or ids to keep, e.g. person,car",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    parser.add_argument("--imgsz", type=int, default=None, help="longest image side for the model")
    parser.add_argument("--max-det", type=int, default=300, help="most boxes per image (default: 300)")
    parser.add_argument(
        "--runtime", choices=("auto", "torch", "onnx", "openvino"), default=runtime,
        help="where the models run: auto (OpenVINO on a CPU, converted once and cached; PyTorch on CUDA), torch, "
        f"onnx or openvino (default: {runtime or 'the model file own runtime'})",
    )


def detector_from_args(args: argparse.Namespace):
    """A Detector built from :func:`add_model_options` arguments."""
    from ..detection import Detector

    return Detector(
        args.model,
        device=args.device,
        conf=args.conf,
        iou=args.iou,
        classes=args.classes,
        max_det=args.max_det,
        imgsz=args.imgsz,
        runtime=getattr(args, "runtime", None),
    )
