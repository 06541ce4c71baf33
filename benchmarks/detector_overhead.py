"""What detectkit's Detector costs over calling ultralytics and torchvision directly.

Same images, same models, same thresholds, in one run, rounds interleaved so machine
noise hits every contender alike. Prints the median time per image, the ratio
detectkit / direct, and whether every box agrees.

    python benchmarks/detector_overhead.py [--images 24] [--rounds 5]

ultralytics: the shared COCO YOLOv8n (int8 ONNX) on COCO128 photos (scikit-image's
pictures when ../shared is absent). torchvision: fasterrcnn_mobilenet_v3_large_320_fpn
with seeded random weights (no COCO weights can be downloaded here; the overhead and
box agreement do not depend on the weights' values), conf 0 so that it returns boxes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("DETECTKIT_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402

from _common import SHARED, machine, table  # noqa: E402


def load_images(n: int) -> list[np.ndarray]:
    from detectkit.images import find_images, load_image

    folder = SHARED / "data/detection/coco128/images/train2017"
    if folder.is_dir():
        return [load_image(p) for p in find_images(folder)[:n]]
    import skimage.data

    pics = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea()]
    return [load_image(pics[i % 3], color="rgb") for i in range(n)]


def timed(fn, images) -> tuple[float, list]:
    start = time.perf_counter()
    out = [fn(image) for image in images]
    return (time.perf_counter() - start) / len(images), out


def same_boxes(a: list[np.ndarray], b: list[np.ndarray], atol: float = 1e-3) -> bool:
    return all(x.shape == y.shape and np.allclose(x, y, atol=atol) for x, y in zip(a, b))


def bench(name: str, contenders: dict, images, rounds: int) -> list:
    times: dict[str, list[float]] = {k: [] for k in contenders}
    outputs: dict[str, list] = {}
    for fn in contenders.values():  # warm-up: first calls build predictors, allocate, JIT
        fn(images[0])
    for r in range(rounds):
        order = list(contenders) if r % 2 == 0 else list(reversed(contenders))
        for key in order:
            t, out = timed(contenders[key], images)
            times[key].append(t)
            outputs[key] = out
    direct, ours = list(contenders)
    t_direct, t_ours = statistics.median(times[direct]), statistics.median(times[ours])
    agree = same_boxes(outputs[direct], outputs[ours])
    n_boxes = sum(len(b) for b in outputs[ours])
    return [name, f"{t_direct * 1000:.1f}", f"{t_ours * 1000:.1f}", f"{t_ours / t_direct:.3f}", f"{agree} ({n_boxes} boxes)"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads for both contenders")
    args = parser.parse_args()

    import torch
    import torchvision.transforms.functional as F

    from detectkit import Detector
    from detectkit._ultralytics_env import import_ultralytics
    from detectkit.detection.torchvision_backend import build_model

    images = load_images(args.images)
    rows = []

    onnx = SHARED / "weights/yolov8n_int8.onnx"
    if onnx.is_file():
        yolo = import_ultralytics().YOLO(str(onnx), task="detect")
        ours = Detector(onnx, device="cpu", conf=0.25, iou=0.45)

        def direct_yolo(image):
            r = yolo.predict(image, conf=0.25, iou=0.45, device="cpu", verbose=False)[0]
            return r.boxes.xyxy.cpu().numpy()

        rows.append(bench("ultralytics YOLOv8n int8 ONNX", {"direct": direct_yolo, "detectkit": lambda im: ours(im).xyxy}, images, args.rounds))
    else:
        print(f"skipped ultralytics: {onnx} absent")

    builder = "fasterrcnn_mobilenet_v3_large_320_fpn"
    torch.manual_seed(0)
    state = build_model(builder, 91).state_dict()
    model = build_model(builder, 91)
    model.load_state_dict(state)
    model.eval()
    model.roi_heads.score_thresh, model.roi_heads.nms_thresh = 0.0, 0.45
    tv_ours = Detector(builder, weights=None, device="cpu", conf=0.0, iou=0.45, max_det=100)
    tv_ours.torch_module().load_state_dict(state)

    def direct_tv(image):
        with torch.inference_mode():
            out = model([F.to_tensor(image[:, :, ::-1].copy())])[0]
        return out["boxes"].numpy()

    torch.set_num_threads(args.threads)  # direct ultralytics set it to cpu_count - 1 process-wide
    rows.append(bench(f"torchvision {builder}", {"direct": direct_tv, "detectkit": lambda im: tv_ours(im).xyxy}, images, args.rounds))

    print(f"machine: {machine()}")
    print(f"{len(images)} images x {args.rounds} rounds, {args.threads} torch threads; median ms per image\n")
    print(table(["model", "direct ms", "detectkit ms", "ratio", "boxes agree"], rows))


if __name__ == "__main__":
    main()
