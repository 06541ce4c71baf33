"""A fine-tuned detector as PyTorch, as ONNX (onnxruntime) and as int8 ONNX: speed per image, box agreement
with the PyTorch model, and held-out mAP, side by side in one run.

    python benchmarks/export_onnx.py --model runs/pennfudan/tv-full/weights/best.pt --data ../shared/data/detection/pennfudan/PennFudanPed
    python benchmarks/export_onnx.py --model runs/pennfudan/yolo-full/weights/best.pt --data ... --int8-data ...

Variants: ``pytorch`` (``Detector(best.pt)``), ``onnx`` (``export(best.pt)``), ``onnx-int8`` (torchvision:
onnxruntime dynamic int8 of the MatMul/Gemm layers; YOLO: ultralytics' calibrated static int8, only
with ``--int8-data``). Speed: median milliseconds per image over the held-out images, one image a
call, variants interleaved image by image so machine noise hits all alike. Agreement: boxes at
conf >= 0.5 matched greedily to the PyTorch model's by IoU (same class): the share of PyTorch boxes
matched at IoU >= 0.9 and the mean IoU of the matches. mAP: detectkit ``evaluate`` on the held-out split.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import box_iou  # noqa: E402
from detectkit import Detector  # noqa: E402
from detectkit.images import load_image  # noqa: E402
from detectkit.training.datasets import load_splits  # noqa: E402
from detectkit.training.evaluate import evaluate  # noqa: E402
from detectkit.deploy.onnx import export  # noqa: E402


def agreement(reference, other) -> tuple[int, int, list[float]]:
    """(reference boxes, matched at IoU >= 0.9, IoUs of all greedy matches)."""
    total = matched = 0
    ious: list[float] = []
    for ref, got in zip(reference, other):
        total += len(ref)
        if not len(ref) or not len(got):
            continue
        table = box_iou(ref.xyxy, got.xyxy) * (ref.class_id[:, None] == got.class_id[None, :])
        while table.size and table.max() > 0.1:
            i, j = np.unravel_index(np.argmax(table), table.shape)
            ious.append(float(table[i, j]))
            matched += table[i, j] >= 0.9
            table[i, :] = 0
            table[:, j] = 0
    return total, matched, ious


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a detectkit checkpoint or a YOLO .pt")
    parser.add_argument("--data", required=True, help="dataset; its held-out split (val_fraction 0.2, seed 0) is used")
    parser.add_argument("--int8-data", default=None, help="YOLO int8: calibration dataset")
    parser.add_argument("--imgsz", type=int, default=None)
    parser.add_argument("--conf", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=None, help="torch (and onnxruntime) CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    _, val = load_splits(args.data, 0.2, 0)
    work = Path(tempfile.mkdtemp(prefix="export-bench-"))
    variants = {"pytorch": Path(args.model), "onnx": export(args.model, imgsz=args.imgsz, out=work / "model.onnx")}
    try:
        variants["onnx-int8"] = export(args.model, imgsz=args.imgsz, int8=True, out=work / "model.onnx", data=args.int8_data)
    except Exception as exc:  # YOLO int8 without calibration data
        print(f"onnx-int8: not made ({exc})")
    detectors = {name: Detector(path, device="cpu", conf=args.conf, imgsz=args.imgsz) for name, path in variants.items()}
    images = [load_image(s.image_path) for s in val]
    for detector in detectors.values():
        detector(images[0])  # warm-up
    times: dict[str, list[float]] = {name: [] for name in detectors}
    outputs: dict[str, list] = {name: [] for name in detectors}
    for image in images:
        for name, detector in detectors.items():
            began = time.perf_counter()
            outputs[name].append(detector(image))
            times[name].append(time.perf_counter() - began)
    sizes = {name: Path(path).stat().st_size / 1e6 for name, path in variants.items()}
    base = statistics.median(times["pytorch"])
    print(f"\n{args.model}: {len(images)} held-out images, conf {args.conf}, one image a call, CPU")
    print("| variant | file (MB) | ms/image (median) | speed vs pytorch | boxes matched at IoU>=0.9 | mean IoU | mAP@0.5 | mAP@0.5:0.95 |")
    print("|---|---|---|---|---|---|---|---|")
    for name, detector in detectors.items():
        report = evaluate(Detector(variants[name], device="cpu", imgsz=args.imgsz), val)
        total, matched, ious = agreement(outputs["pytorch"], outputs[name])
        median = statistics.median(times[name])
        print(f"| {name} | {sizes[name]:.1f} | {median * 1000:.0f} | {base / median:.2f}x | {matched}/{total} | "
              f"{(np.mean(ious) if ious else float('nan')):.3f} | {report.map50:.3f} | {report.map:.3f} |")


if __name__ == "__main__":
    main()
