"""Fine-tune a detector on your own labelled images, score it, and use it.

    python demos/finetune.py [--data DATA] [--model fasterrcnn_mobilenet_v3_large_320_fpn] [--epochs N]

``--data`` is a YOLO data YAML or folder, a COCO json, a Pascal VOC folder or the Penn-Fudan
folder. Without it, 48 small synthetic images of circles on busy backgrounds are generated and
Faster R-CNN learns them in 16 epochs (a few minutes on a 2-core CPU, even with no pretrained
weights; the settings are the ones detectkit's own tests use).

The steps are the Python API written out: check the data (every problem with file and line),
``finetune`` (best/last checkpoints, metrics.csv, loss and PR plots), ``evaluate`` with
pycocotools, and the best checkpoint loaded into a ``Detector`` that speaks the new class names.
Any model works: a torchvision builder name (COCO weights used when found, else trained from
scratch) or a YOLO file/name (``yolov8n.yaml`` from scratch, ``yolo11n.pt`` to transfer).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="labelled data (default: generate shapes)")
    parser.add_argument("--model", default="fasterrcnn_mobilenet_v3_large_320_fpn", help="detector to fine-tune")
    parser.add_argument("--epochs", type=int, default=None, help="default: 16 on the generated data, else 30")
    parser.add_argument("--imgsz", type=int, default=320, help="training size (the generated data: 128)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--out", default="runs/finetune-demo")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    from detectkit import Detector, evaluate, finetune, load_splits
    from detectkit.factories import summarize_labels as summarize
    from detectkit.training.augment import Augment
    from detectkit.detection.registry import family_of
    from detectkit.training.synthetic import make_shapes_dataset
    from detectkit.training.torchvision_model import FEW_OBJECTS_RCNN_KWARGS

    options: dict = {}
    epochs, imgsz = args.epochs or 30, args.imgsz
    if args.data is None:  # circles drawn at 64 px, trained at 128 px, where the mobilenet-320 anchors fit them
        data = make_shapes_dataset(Path(args.out).parent / "circles-data", n_train=32, n_val=16, imgsz=64, classes=["circle"])
        epochs, imgsz = args.epochs or 16, 128
        if family_of(args.model) == "torchvision":
            options = dict(lr=0.02, builder_kwargs=FEW_OBJECTS_RCNN_KWARGS, augment=Augment(affine_p=0.0, color_p=0.0))
    else:
        data = args.data
    _, val = load_splits(data, val_fraction=0.2, seed=0)  # validated (problems named with file and line); finetune splits alike
    print(f"data: {data}: classes {val.names}, {len(val)} val images")

    run = finetune(args.model, data, epochs=epochs, imgsz=imgsz, batch=args.batch, device=args.device, out=args.out, **options)
    print(run)

    detector = Detector(run.best, device=args.device, conf=0.5)
    report = evaluate(detector, val)  # pycocotools; conf 0.001 as for any mAP
    print(f"best.pt on val: mAP@0.5 {report.map50:.3f}, mAP@0.5:0.95 {report.map:.3f}")
    for sample in val.samples[:3]:
        truth = [val.names[int(c)] for c in sample.class_id]
        print(f"  {sample.image_path.name}: found {summarize(detector(sample.image_path).labels)}; labelled {summarize(truth)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
