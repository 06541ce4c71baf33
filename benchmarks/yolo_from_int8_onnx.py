"""Rebuild a trainable COCO YOLOv8n ``.pt`` from the shared int8 ONNX file, so that transfer learning
(pretrained vs frozen backbone) can be measured on machines that cannot download ``yolov8n.pt``.

    python benchmarks/yolo_from_int8_onnx.py [--onnx ../shared/weights/yolov8n_int8.onnx] [--out weights/yolov8n-coco-int8.pt]

The ONNX file is ultralytics' export of the COCO YOLOv8n (batch norms folded into the convolutions)
quantised by onnxruntime's dynamic quantisation: every convolution weight is uint8 with one scale and
zero point per tensor, biases stay float. The library's ``detectkit.runtimes.dequantize`` builds
the architecture its metadata name (``yolov8n.yaml`` here) in ultralytics,
dequantises each weight (``(q - zero_point) * scale``) into its convolution, and turns every batch
norm into the identity plus the folded bias (weight 1, running mean 0, running variance 1 - eps), so
the module computes what the ONNX graph computes and trains like any YOLOv8n. The result is the COCO
network with 8-bit-rounded weights, not ultralytics' float file: its COCO accuracy is the int8
file's, a little below the float model's. It prints how closely its boxes match the ONNX model's on
scikit-image photos and the first COCO128 ones.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("DETECTKIT_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402

from _common import SHARED, box_iou  # noqa: E402


def rebuild(onnx_path: Path, out: Path) -> Path:
    """Write a YOLO ``.pt`` holding the dequantised weights of ``onnx_path``; returns ``out``
    (:func:`detectkit.runtimes.dequantize.dequantize_yolo_onnx`, which ``runtime="auto"`` uses too).

    Example:
        >>> # rebuild(Path("../shared/weights/yolov8n_int8.onnx"), Path("weights/yolov8n-coco-int8.pt"))
    """
    from detectkit.runtimes.dequantize import dequantize_yolo_onnx

    return dequantize_yolo_onnx(onnx_path, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--onnx", type=Path, default=SHARED / "weights" / "yolov8n_int8.onnx")
    parser.add_argument("--out", type=Path, default=Path("weights") / "yolov8n-coco-int8.pt")
    args = parser.parse_args()
    if not args.onnx.is_file():
        raise SystemExit(f"{args.onnx}: not found (the shared weights beside the repository)")
    path = rebuild(args.onnx, args.out)
    print(f"wrote {path}")

    from skimage import data

    from detectkit import Detector
    from detectkit.images import find_images, load_image

    photos = {name: getattr(data, name)() for name in ("astronaut", "chelsea", "coffee")}
    coco = SHARED / "data" / "detection" / "coco128" / "images"
    if coco.is_dir():
        photos.update({p.name: load_image(p)[:, :, ::-1] for p in find_images(coco)[:5]})

    rebuilt, original = Detector(path, device="cpu", conf=0.25), Detector(args.onnx, device="cpu", conf=0.25)
    print("| photo | ONNX int8 | rebuilt .pt | mean IoU of same-class matches |")
    print("|---|---|---|---|")
    for name, image in photos.items():
        a, b = original(image, color="rgb"), rebuilt(image, color="rgb")
        ious = [float(box_iou(box[None], b.xyxy[b.class_id == cls]).max()) for box, cls in zip(a.xyxy, a.class_id)
                if (b.class_id == cls).any()]
        mean = f"{np.mean(ious):.3f}" if ious else "-"
        print(f"| {name} | {', '.join(sorted(a.labels))} | {', '.join(sorted(b.labels))} | {mean} |")


if __name__ == "__main__":
    main()
