"""Fine-tune both detector families on Penn-Fudan pedestrians (one class, ``person``) on this machine
within a fixed time budget each, and score every run on the same held-out split with detectkit's
``evaluate`` (pycocotools), so the numbers compare.

Runs (``--runs``, comma-separated):

* ``yolo-full``: YOLOv8n, every layer trains;
* ``yolo-frozen``: YOLOv8n with its backbone (layers 0-9) frozen: only neck and head train;
* ``tv-full``: Faster R-CNN MobileNetV3-Large 320 FPN, detectkit's loop;
* ``tv-frozen``: the same with ``freeze="backbone"`` (torchvision's ``trainable_backbone_layers=0``).

Pretrained weights: YOLO starts from ``--yolo`` (default ``yolov8n.pt``) when ``resolve_weights`` finds
it (where ``yolov8n.pt`` cannot be downloaded, ``python benchmarks/yolo_from_int8_onnx.py`` rebuilds
a COCO YOLOv8n from the shared int8 ONNX: pass ``--yolo weights/yolov8n-coco-int8.pt``), else from
``yolov8n.yaml`` (random weights); Faster R-CNN from its COCO weights when found, else
random. Which one was used is printed in the table. Without pretrained weights "frozen" freezes a
random backbone (YOLO), or nothing at all (torchvision: ``trainable_backbone_layers`` only applies
to pretrained backbones), so the frozen rows then measure speed, not transfer learning.

    python benchmarks/finetune_pennfudan.py --budget 600 --runs yolo-full,yolo-frozen,tv-full

Prints a markdown table: epochs done in the budget, seconds per epoch (training + validation),
held-out mAP@0.5 and mAP@0.5:0.95 of best.pt.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detectkit.errors import WeightsNotFoundError  # noqa: E402
from detectkit.training.datasets import load_splits  # noqa: E402
from detectkit.training.finetune import finetune  # noqa: E402
from detectkit.weights import resolve_weights  # noqa: E402

PENNFUDAN = ROOT.parent / "shared" / "data" / "detection" / "pennfudan" / "PennFudanPed"
TV = "fasterrcnn_mobilenet_v3_large_320_fpn"


def _yolo_source(name: str) -> tuple[str, str]:
    try:
        return str(resolve_weights(name, family="ultralytics", download=False)), f"{name} (pretrained)"
    except WeightsNotFoundError:
        return "yolov8n.yaml", "yolov8n.yaml (random init: no pretrained file here)"


def _tv_source() -> str:
    try:
        resolve_weights(TV, family="torchvision", download=False)
        return "COCO weights"
    except WeightsNotFoundError:
        return "random init (no COCO weights here)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=PENNFUDAN)
    parser.add_argument("--budget", type=float, default=600, help="seconds of training per run")
    parser.add_argument("--runs", default="yolo-full,yolo-frozen,tv-full,tv-frozen")
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--yolo", default="yolov8n.pt", help="YOLO weights to start from when present")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch (and onnxruntime) CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if not args.data.is_dir():
        raise SystemExit(f"{args.data}: Penn-Fudan not found (the shared data beside the repository)")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = args.out or Path(tempfile.mkdtemp(prefix="pennfudan-"))
    train, val = load_splits(args.data, 0.2, 0)
    print(f"Penn-Fudan: {len(train)} train / {len(val)} held-out images ({val.num_boxes} people), budget {args.budget:.0f}s a run")

    yolo_model, yolo_note = _yolo_source(args.yolo)
    rows = []
    for name in [r.strip() for r in args.runs.split(",") if r.strip()]:
        frozen = name.endswith("frozen")
        if name.startswith("yolo"):
            model, note = yolo_model, yolo_note
            options = dict(batch=8, optimizer="sgd", lr=0.01, warmup_epochs=1, nbs=16, plots=False)
        else:
            model, note = TV, _tv_source()
            options = dict(batch=4, lr=0.02, builder_kwargs=dict(box_batch_size_per_image=128))
            if frozen and note.startswith("random"):
                print(f"{name}: skipped: with random weights torchvision freezes nothing (same run as tv-full)")
                rows.append((name, note + "; nothing to freeze", 0, float("nan"), 0.0, float("nan"), float("nan")))
                continue
        began = time.perf_counter()
        run = finetune(
            model, args.data, epochs=1000, imgsz=args.imgsz, device="cpu", seed=0, patience=None, out=out / name,
            freeze="backbone" if frozen else None, time_budget=args.budget, progress=False, **options,
        )
        wall = time.perf_counter() - began
        epochs = run.epochs_run
        per_epoch = sum(row["time"] for row in run.history) / max(epochs, 1)
        rows.append((name, note, epochs, per_epoch, wall, run.final.map50, run.final.map))
        print(f"{name}: {epochs} epochs, {per_epoch:.1f} s/epoch, mAP50 {run.final.map50:.3f}, mAP50-95 {run.final.map:.3f}", flush=True)

    print(f"\n| run | starts from | epochs in {args.budget:.0f}s | s/epoch | wall (s) | mAP@0.5 | mAP@0.5:0.95 |")
    print("|---|---|---|---|---|---|---|")
    for name, note, epochs, per_epoch, wall, map50, map_ in rows:
        print(f"| {name} | {note} | {epochs} | {per_epoch:.1f} | {wall:.0f} | {map50:.3f} | {map_:.3f} |")


if __name__ == "__main__":
    main()
