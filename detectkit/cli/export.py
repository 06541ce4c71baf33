"""``detectkit export --model M --format onnx``: export a detector (YOLO or torchvision) to ONNX.

The file runs through ``Detector(path)`` with onnxruntime (see :mod:`detectkit.deploy.onnx`).

Example:
    >>> from detectkit.cli import build_parser
    >>> args = build_parser().parse_args(["export", "--model", "best.pt", "--int8"])
    >>> args.format, args.int8
    ('onnx', True)
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a detector to ONNX, OpenVINO or TensorRT",
        description="Export a YOLO model (ultralytics exporter) or a torchvision detector / detectkit checkpoint "
        "(torch.onnx, classes in the file's metadata) to ONNX; --int8 adds int8 quantisation.",
    )
    parser.add_argument("--model", "-m", required=True, help="a YOLO .pt, a detectkit checkpoint, or a torchvision builder name")
    parser.add_argument("--format", default="onnx", choices=["onnx", "openvino", "engine"],
                        help="onnx (default), openvino (a model folder; --int8 --data: NNCF int8, mAP before/after printed), "
                        "engine (TensorRT, YOLO, needs tensorrt and a GPU)")
    parser.add_argument("--imgsz", type=int, default=None, help="input size (YOLO) / resize target (torchvision)")
    parser.add_argument("--int8", action="store_true", help="also quantise to int8 (YOLO: needs --data for calibration)")
    parser.add_argument("--data", default=None, help="calibration dataset for int8 (YOLO onnx, openvino, engine)")
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset (default: 17 for torchvision)")
    parser.add_argument("--out", default=None, help="output file (default: beside the model)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..deploy.onnx import export

    import sys

    path = export(args.model, args.format, imgsz=args.imgsz, int8=args.int8, out=args.out, opset=args.opset, data=args.data,
                  log=lambda text: print(text, file=sys.stderr, flush=True))
    print(path)
    return 0
