"""GPU batched inference, measured: batch sizes, FP32 vs FP16, faces, the video pipeline, GPU = CPU.

One prepared script for a lent GPU machine (it has torch, torchvision, onnxruntime and
opencv-python-headless but nothing else detectkit needs, and no network). Prepare the carried
folder here first, then run it there:

    python benchmarks/gpu_prepare.py                      # here: .gpu/ = cp312 wheels + clips + photos + COCO YOLOv8n .pt
    python benchmarks/gpu.py --out $OUT --assets .gpu     # there (device tool: carry [".gpu"])
    python benchmarks/gpu.py --out /tmp/gpu --assets .gpu --device cpu --quick   # the same script, tried on a CPU

It installs the carried wheels into a private folder (``--wheels``, default ``ASSETS/wheels``),
checks that detectkit imports and that CUDA is seen, then measures, each part with a time
budget so the whole run stays well under 8 minutes on an H200:

* detectors: the COCO YOLOv8n rebuilt from the shared int8 ONNX, ``yolov8s.yaml`` and
  ``yolov8m.yaml`` (random weights), ``fasterrcnn_resnet50_fpn_v2`` (random weights): images/s
  at batch 1, 4, 8, 16, 32 in FP32 and FP16, peak GPU memory;
* faces: MTCNN on 1080p frames (images/s, batched) and each registered face embedder on
  aligned crops (faces/s, batched);
* the video pipeline in file mode on the 1080p clip and the 768x432 clip: FPS at batch 1, 8, 16
  against the model alone on the same frames already decoded, and the bounds: decoding alone
  (frames/s of the reader), the host-to-device copy of a frame, the model alone;
* agreement: the GPU's detections (FP32 and FP16) against the CPU's on COCO128 photos
  (matched boxes: same class, IoU >= 0.9, as the export tests ask).

It prints Markdown tables and writes everything to ``OUT/gpu.json``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("DETECTKIT_OFFLINE", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")


# ----------------------------------------------------------------------------- setup
def install_wheels(wheels: Path, target: Path) -> list[str]:
    """pip-install the carried wheels (no index, no deps) into ``target`` and put it on sys.path."""
    found = sorted(glob.glob(str(wheels / "*.whl")))
    if found:
        cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
               "--no-cache-dir", "--upgrade", "--target", str(target), *found]
        subprocess.run(cmd, check=True)
        sys.path.insert(0, str(target))
    sys.path.insert(0, str(REPO))
    return [Path(w).name for w in found]


def machine(device: str) -> dict[str, Any]:
    import torch

    from _common import cpu_model

    info = {"cpu": cpu_model(), "cores": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version(),
            "device": device}
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
        info["cuda"] = torch.version.cuda
    return info


def table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def timed(fn: Callable[[], Any], device: str, *, budget: float, min_runs: int = 3, warmup: int = 2) -> float:
    """Median seconds of one call of ``fn`` (after warm-up), runs until ``budget`` seconds are used."""
    for _ in range(warmup):
        fn()
    sync(device)
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - started < budget:
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
        if len(times) >= 200:
            break
    return statistics.median(times)


def peak_memory_mib(device: str) -> float | None:
    if not device.startswith("cuda"):
        return None
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**20, 1)


def reset_memory(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


# ----------------------------------------------------------------------------- assets
def photos(assets: Path, n: int) -> list[Any]:
    import cv2

    paths = sorted(glob.glob(str(assets / "photos" / "*.jpg")))[:n]
    if not paths:
        raise SystemExit(f"no photos in {assets / 'photos'}: run benchmarks/gpu_prepare.py first")
    return [cv2.imread(p) for p in paths]


def decode(path: Path, n: int) -> list[Any]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < n:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    if not frames:
        raise SystemExit(f"could not decode {path}")
    return frames


# ----------------------------------------------------------------------------- parts
def bench_detectors(assets: Path, device: str, batches: list[int], budget: float, quick: bool) -> list[dict[str, Any]]:
    from detectkit import Detector

    images = photos(assets, 32)
    yolo_pt = assets / "yolov8n-coco.pt"
    models = [(str(yolo_pt), {}), ("yolov8s.yaml", {}), ("yolov8m.yaml", {}),
              ("fasterrcnn_resnet50_fpn_v2", {"weights": None})]
    if quick:
        models = [models[0], models[3]]
    precisions = ["fp32", "fp16"] if device.startswith("cuda") else ["fp32"]
    rows = []
    for model, extra in models:
        for precision in precisions:
            reset_memory(device)
            try:
                detector = Detector(model, device=device, half=precision == "fp16", conf=0.25, imgsz=640, **extra)
            except Exception as error:  # noqa: BLE001 - a model that does not load is reported, the run goes on
                rows.append({"model": Path(model).name, "precision": precision, "error": repr(error)})
                continue
            for batch in batches:
                frames = (images * ((batch // len(images)) + 1))[:batch]
                try:
                    seconds = timed(lambda: detector.predict_arrays(frames), device, budget=budget)
                except Exception as error:  # noqa: BLE001 - e.g. out of memory at a large batch
                    rows.append({"model": Path(model).name, "precision": precision, "batch": batch, "error": repr(error)})
                    break
                rows.append({"model": Path(model).name, "precision": precision, "batch": batch,
                             "images_per_s": round(batch / seconds, 1), "ms_per_batch": round(1000 * seconds, 2),
                             "peak_mib": peak_memory_mib(device)})
            del detector
    return rows


def bench_faces(assets: Path, device: str, batches: list[int], budget: float) -> list[dict[str, Any]]:
    import numpy as np

    from detectkit.faces.detector import FaceDetector

    frames = decode(assets / "clip_1080p.mp4", 32)
    rows: list[dict[str, Any]] = []
    reset_memory(device)
    detector = FaceDetector(device=device)
    found = detector.detect(frames[:4])
    for batch in [b for b in batches if b <= len(frames)]:
        chunk = frames[:batch]
        detector.batch_size = batch
        seconds = timed(lambda: detector.detect(chunk), device, budget=budget)
        rows.append({"model": "mtcnn (1080p frames)", "batch": batch, "images_per_s": round(batch / seconds, 2),
                     "peak_mib": peak_memory_mib(device)})
    faces = [(frame, dets) for frame, dets in zip(frames[:4], found) if len(dets)]
    for name, embedder in embedders(device):
        reset_memory(device)
        crops = np.concatenate([embedder.crops(frame, dets) for frame, dets in faces]) if faces else None
        if crops is None or not len(crops):
            rows.append({"model": name, "error": "no faces found in the clip's first frames"})
            continue
        for batch in batches:
            chunk = np.concatenate([crops] * (batch // len(crops) + 1))[:batch]
            seconds = timed(lambda: embedder.embed_crops(chunk), device, budget=budget)
            rows.append({"model": name, "batch": batch, "faces_per_s": round(batch / seconds, 1),
                         "peak_mib": peak_memory_mib(device)})
    return rows


def embedders(device: str) -> list[tuple[str, Any]]:
    """FaceNet (random weights: speed only) and every other embedder the registry can build offline."""
    from facenet_pytorch import InceptionResnetV1

    from detectkit.faces.embedder import FaceEmbedder

    made = [("facenet (random weights)", FaceEmbedder(InceptionResnetV1().state_dict(), device=device))]
    try:
        from detectkit.faces.embedders import EMBEDDERS, make_embedder
    except ImportError:
        return made
    for name in EMBEDDERS.names():
        if name in ("facenet", "hog-face"):
            continue
        try:
            made.append((name, make_embedder(name, device=device)))
        except Exception as error:  # noqa: BLE001 - an embedder whose weights are absent is skipped, said once
            print(f"  embedder {name} not measured: {error}")
    return made


def bench_pipeline(assets: Path, device: str, batches: list[int], frames_n: int, rounds: int) -> list[dict[str, Any]]:
    import torch

    from detectkit import Detector
    from detectkit.video import Pipeline
    from detectkit.video.sources import CaptureSource

    rows = []
    detector = Detector(str(assets / "yolov8n-coco.pt"), device=device, conf=0.25)
    for clip in ("clip_1080p.mp4", "clip_768x432.mp4"):
        path = assets / clip
        t0 = time.perf_counter()
        frames = decode(path, frames_n)
        decode_fps = len(frames) / (time.perf_counter() - t0)
        n = len(frames)
        h2d_ms = None
        if device.startswith("cuda"):
            pinned = torch.from_numpy(frames[0]).pin_memory()
            h2d_ms = 1000 * timed(lambda: pinned.to(device, non_blocking=True), device, budget=0.5)
        for batch in batches:
            detector.batch_size = batch

            def alone() -> None:
                for i in range(0, n, batch):
                    detector.predict_arrays(frames[i:i + batch])

            with tempfile.TemporaryDirectory() as tmp:
                def piped() -> None:
                    pipe = Pipeline(CaptureSource(path), detector=detector, batch_size=batch, max_frames=n, mode="file")
                    pipe.run(str(Path(tmp) / "out.mp4"), summary=False)

                alone()  # warm-up at this batch size
                alone_s, piped_s = [], []
                for _ in range(rounds):  # interleaved, so a noisy machine hurts both alike
                    for fn, times in ((alone, alone_s), (piped, piped_s)):
                        t0 = time.perf_counter()
                        fn()
                        sync(device)
                        times.append(time.perf_counter() - t0)
                model_fps = n / statistics.median(alone_s)
                pipe_fps = n / statistics.median(piped_s)
            bound = "decode" if decode_fps < model_fps * 1.05 else "model"
            rows.append({"clip": clip, "shape": f"{frames[0].shape[1]}x{frames[0].shape[0]}", "batch": batch,
                         "pipeline_fps": round(pipe_fps, 1), "model_alone_fps": round(model_fps, 1),
                         "ratio": round(pipe_fps / model_fps, 3), "decode_fps": round(decode_fps, 1),
                         "h2d_ms_per_frame": None if h2d_ms is None else round(h2d_ms, 3), "bound": bound})
    return rows


def check_agreement(assets: Path, device: str) -> list[dict[str, Any]]:
    import numpy as np
    import torch
    from torchvision.ops import box_iou

    from detectkit import Detector

    images = photos(assets, 16)
    model = str(assets / "yolov8n-coco.pt")
    reference = Detector(model, device="cpu", conf=0.25, iou=0.45)(images)
    rows = []
    precisions = ["fp32", "fp16"] if device.startswith("cuda") else ["fp32"]
    for precision in precisions:
        other = Detector(model, device=device, conf=0.25, iou=0.45, half=precision == "fp16")(images)
        ref_boxes = matched = extra = 0
        worst = 1.0
        for a, b in zip(reference, other):
            ref_boxes += len(a)
            if len(a) and len(b):
                iou = box_iou(torch.as_tensor(a.xyxy), torch.as_tensor(b.xyxy)).numpy()
                same = a.class_id[:, None] == b.class_id[None, :]
                best = np.where(same, iou, 0).max(axis=1)
                matched += int((best >= 0.9).sum())
                worst = min(worst, float(best.min()))
            extra += max(0, len(b) - len(a))
        rows.append({"precision": precision, "cpu_boxes": ref_boxes, "matched_iou_0.9_same_class": matched,
                     "match_rate": round(matched / max(ref_boxes, 1), 4), "extra_boxes": extra,
                     "worst_best_iou": round(worst, 4)})
    return rows


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for gpu.json")
    parser.add_argument("--assets", type=Path, default=REPO / ".gpu", help="what gpu_prepare.py made")
    parser.add_argument("--wheels", type=Path, default=None, help="carried wheels (default ASSETS/wheels)")
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu, to try the script here")
    parser.add_argument("--quick", action="store_true", help="small sizes and budgets (a CPU try-out)")
    parser.add_argument("--parts", default="detectors,faces,pipeline,agreement")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    site = Path(tempfile.gettempdir()) / "detectkit-gpu-site"
    installed = install_wheels(args.wheels or args.assets / "wheels", site)
    import torch

    import detectkit  # noqa: F401 - the import check

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("CUDA is not available here (torch.cuda.is_available() is False): nothing measured")
        return 2
    if args.device == "cpu":
        torch.set_num_threads(max(1, os.cpu_count() or 1))
    args.out.mkdir(parents=True, exist_ok=True)
    batches = [1, 2] if args.quick else [1, 4, 8, 16, 32]
    budget = 0.3 if args.quick else 2.0
    result: dict[str, Any] = {"machine": machine(args.device), "wheels": installed}
    print(f"# detectkit on {result['machine']}")
    print(f"detectkit {detectkit.__version__} from {Path(detectkit.__file__).parent}; {len(installed)} wheels carried")
    parts = set(args.parts.split(","))
    steps: list[tuple[str, Callable[[], list[dict[str, Any]]]]] = [
        ("detectors", lambda: bench_detectors(args.assets, args.device, batches, budget, args.quick)),
        ("faces", lambda: bench_faces(args.assets, args.device, batches, budget)),
        ("pipeline", lambda: bench_pipeline(args.assets, args.device, [1, 2] if args.quick else [1, 8, 16],
                                            12 if args.quick else 200, 1 if args.quick else 3)),
        ("agreement", lambda: check_agreement(args.assets, args.device)),
    ]
    for name, step in steps:
        if name not in parts:
            continue
        t0 = time.perf_counter()
        try:
            rows = step()
        except Exception as error:  # noqa: BLE001 - one failing part must not lose the others' figures
            import traceback

            traceback.print_exc()
            rows = [{"error": repr(error)}]
        result[name] = rows
        result[f"{name}_seconds"] = round(time.perf_counter() - t0, 1)
        headers = sorted({k for row in rows for k in row}, key=lambda k: list(rows[0]).index(k) if k in rows[0] else 99)
        print(f"\n## {name} ({result[name + '_seconds']} s)\n")
        print(table(headers, [[row.get(h, "") for h in headers] for row in rows]))
        (args.out / "gpu.json").write_text(json.dumps(result, indent=1))
    result["total_seconds"] = round(time.perf_counter() - started, 1)
    (args.out / "gpu.json").write_text(json.dumps(result, indent=1))
    print(f"\ntotal {result['total_seconds']} s; written {args.out / 'gpu.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
