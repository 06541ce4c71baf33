"""OpenVINO on a plain CPU, side by side in one run: YOLO (PyTorch, onnxruntime fp32, the shared int8
ONNX, detectkit runtime="auto" fp32 and int8), Faster R-CNN mobilenet-v3-320 (PyTorch, onnxruntime,
OpenVINO), MTCNN and FaceNet (PyTorch, OpenVINO), and the whole pipeline end to end.

    python benchmarks/cpu_runtimes.py [--images 24] [--frames 90] [--out runs/cpu_runtimes]

* YOLO: the COCO YOLOv8n ``.pt`` that ``benchmarks/yolo_from_int8_onnx.py`` rebuilds (rebuilt here
  into ``--out`` when absent), at imgsz 640, batch 1, on ``--images`` COCO128 photos; runtimes are
  interleaved image by image; median ms per image through ``Detector``. ``auto`` converts the
  ``.pt`` once into detectkit's cache (fp32; int8 with ``calibration=`` COCO128); the cache-hit
  load time is measured on a second load. mAP50-95 of each on COCO128 by detectkit's evaluator.
* Faster R-CNN: ``fasterrcnn_mobilenet_v3_large_320_fpn`` with seeded random weights (no COCO
  weights or fine-tune can be downloaded here), so mAP is not measured; box agreement is the share of
  PyTorch's boxes (conf >= 0.05) that each runtime finds within 0.05 px with the same class.
* MTCNN on the first frame of ``facenet_pytorch_video.mp4`` (1080p), median of 3; FaceNet
  (random weights: same network, same cost) per face crop.
* End to end: the pipeline (file mode, ByteTrack, MTCNN + FaceNet with identity per track) on the
  demo's built-in clip and on ``short_hamilton_clip.mp4`` (``--frames`` frames): today's path (the
  shared int8 ONNX on onnxruntime, faces on PyTorch) against ``auto`` (OpenVINO int8, faces on OpenVINO).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("DETECTKIT_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402

from _common import SHARED, machine, table  # noqa: E402

COCO128 = SHARED / "data" / "detection" / "coco128" / "coco128.yaml"
VIDEO = SHARED / "data" / "video"


def _median_ms(fn, items, repeat: int = 1) -> float:
    times = []
    for item in items:
        for _ in range(repeat):
            start = time.perf_counter()
            fn(item)
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _interleaved(runners: dict, images: list) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in runners}
    for name, run in runners.items():  # warm-up
        run(images[0])
    for image in images:
        for name, run in runners.items():
            start = time.perf_counter()
            run(image)
            times[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(values) for name, values in times.items()}


def _agreement(reference, other, tolerance: float = 0.05) -> float:
    if len(reference) == 0:
        return float("nan")
    found = 0
    for box, cls in zip(reference.xyxy, reference.class_id):
        gap = np.abs(other.xyxy - box).max(axis=1) + 1e3 * (other.class_id != cls) if len(other) else np.array([1e9])
        found += bool(gap.min() < tolerance)
    return found / len(reference)


def yolo_section(out: Path, n_images: int) -> tuple[str, dict]:
    import torch

    from detectkit import Detector
    from detectkit.runtimes.auto import load_on_runtime
    from detectkit.training.datasets import load_dataset
    from detectkit.training.evaluate import evaluate
    from detectkit.deploy.onnx import export
    from detectkit.images import load_image

    pt = out / "yolov8n-coco.pt"
    if not pt.is_file():
        from yolo_from_int8_onnx import rebuild

        rebuild(SHARED / "weights" / "yolov8n_int8.onnx", pt)
    onnx_fp32 = out / "yolov8n-coco.onnx"
    if not onnx_fp32.is_file():
        export(pt, out=onnx_fp32, imgsz=640)
    cpu = torch.device("cpu")
    loads = {}
    start = time.perf_counter()
    fp32 = load_on_runtime(pt, cpu, runtime="auto", imgsz=640)
    loads["auto fp32 (first: convert)"] = time.perf_counter() - start
    start = time.perf_counter()
    fp32 = load_on_runtime(pt, cpu, runtime="auto", imgsz=640)
    loads["auto fp32 (cache hit)"] = time.perf_counter() - start
    start = time.perf_counter()
    int8 = load_on_runtime(pt, cpu, runtime="auto", imgsz=640, calibration=COCO128)
    loads["auto int8 (first: calibrate + convert)"] = time.perf_counter() - start
    start = time.perf_counter()
    int8 = load_on_runtime(pt, cpu, runtime="auto", imgsz=640, calibration=COCO128)
    loads["auto int8 (cache hit)"] = time.perf_counter() - start
    detectors = {
        "PyTorch fp32": Detector(pt, device="cpu", imgsz=640),
        "onnxruntime fp32": Detector(onnx_fp32, device="cpu", imgsz=640),
        "onnxruntime int8 (shared file)": Detector(SHARED / "weights" / "yolov8n_int8.onnx", device="cpu", imgsz=640),
        "auto fp32 (OpenVINO)": Detector(fp32, device="cpu", imgsz=640),
        "auto int8 (OpenVINO, NNCF)": Detector(int8, device="cpu", imgsz=640),
    }
    samples = load_dataset(COCO128, "val").samples[:n_images]
    images = [load_image(s.image_path) for s in samples]
    ms = _interleaved({name: d for name, d in detectors.items()}, images)
    maps = {}
    for name in ("onnxruntime fp32", "auto fp32 (OpenVINO)", "auto int8 (OpenVINO, NNCF)", "PyTorch fp32"):
        maps[name] = evaluate(detectors[name], COCO128, split="val").map
    base = ms["onnxruntime fp32"]
    rows = [[name, f"{value:.1f}", f"{base / value:.2f}x", f"{maps[name]:.3f}" if name in maps else "-"] for name, value in ms.items()]
    text = table(["YOLOv8n, imgsz 640, batch 1", "ms / image (median)", "vs onnxruntime fp32", "mAP50-95 COCO128"], rows)
    text += "\n\n" + table(["load", "seconds"], [[k, f"{v:.2f}"] for k, v in loads.items()])
    return text, {"int8": int8, "pt": pt, "ms": ms, "maps": maps}


def frcnn_section(out: Path, n_images: int) -> str:
    import torch

    from detectkit import Detector
    from detectkit.detection.torchvision_backend import TorchvisionBackend
    from detectkit.images import load_image
    from detectkit.runtimes.convert import to_openvino
    from detectkit.runtimes.openvino_backend import load_openvino_backend
    from detectkit.training.datasets import load_dataset
    from detectkit.deploy.onnx import export_torchvision_onnx

    builder = "fasterrcnn_mobilenet_v3_large_320_fpn"
    torch.manual_seed(0)
    pytorch = Detector(builder, weights=None, device="cpu", conf=0.05)
    state = out / "frcnn_random.pth"
    torch.save(pytorch.backend.model.state_dict(), state)
    onnx_path = export_torchvision_onnx(builder, out / "frcnn.onnx", weights=state)
    ov_folder = to_openvino(builder, out / "frcnn_openvino_model", weights=state)
    pytorch = Detector(builder, weights=state, device="cpu", conf=0.05)
    onnx = Detector(onnx_path, device="cpu", conf=0.05)
    openvino = Detector(load_openvino_backend(ov_folder, torch.device("cpu")), device="cpu", conf=0.05)
    images = [load_image(s.image_path) for s in load_dataset(COCO128, "val").samples[:n_images]]
    runners = {"PyTorch": pytorch, "onnxruntime": onnx, "OpenVINO": openvino}
    ms = _interleaved(runners, images)
    agree = {name: statistics.mean(_agreement(pytorch(im), det(im)) for im in images[:5]) for name, det in runners.items()}
    rows = [[name, f"{ms[name]:.1f}", f"{ms['onnxruntime'] / ms[name]:.2f}x", f"{agree[name]:.3f}"] for name in runners]
    return table(["Faster R-CNN mobilenet-v3-320 (random weights)", "ms / image", "vs onnxruntime", "PyTorch boxes matched"], rows)


def faces_section(frame: np.ndarray) -> str:
    import torch
    from facenet_pytorch import InceptionResnetV1

    from detectkit.faces.detector import FaceDetector
    from detectkit.faces.embedder import FaceEmbedder
    from detectkit.runtimes.face_nets import use_openvino

    torch.manual_seed(0)
    state = InceptionResnetV1(pretrained=None, classify=False).state_dict()
    detectors = {"PyTorch": FaceDetector(device="cpu"), "OpenVINO": use_openvino(FaceDetector(device="cpu"))}
    embedders = {"PyTorch": FaceEmbedder(state, device="cpu"), "OpenVINO": use_openvino(FaceEmbedder(state, device="cpu"))}
    faces = detectors["PyTorch"].detect([frame])[0]
    crops = embedders["PyTorch"].crops(frame, faces)
    rows = []
    for name in detectors:
        detectors[name].detect([frame])
        mtcnn = _median_ms(lambda f: detectors[name].detect([f]), [frame], repeat=3)
        embedders[name].embed_crops(crops)
        embed = _median_ms(lambda c: embedders[name].embed_crops(c), [crops], repeat=3) / max(1, len(crops))
        rows.append([name, f"{mtcnn:.0f}", f"{embed:.1f}"])
    found = len(detectors["OpenVINO"].detect([frame])[0])
    return table([f"faces, 1080p frame ({len(faces)} faces; OpenVINO finds {found})", "MTCNN ms / frame", "FaceNet ms / face"], rows)


def pipeline_section(yolo: dict, frames: int) -> str:
    import torch
    from facenet_pytorch import InceptionResnetV1

    from detectkit import Detector
    from detectkit.demo import demo_clip
    from detectkit.faces.detector import FaceDetector
    from detectkit.faces.embedder import FaceEmbedder
    from detectkit.faces.recognizer import FaceRecognizer
    from detectkit.runtimes.face_nets import use_openvino
    from detectkit.video.pipeline import Pipeline
    from detectkit.video.sources import IterableSource

    torch.manual_seed(0)
    state = InceptionResnetV1(pretrained=None, classify=False).state_dict()

    def make(new: bool):
        if new:
            detector = Detector(yolo["int8"], device="cpu")
            faces = FaceRecognizer(detector=use_openvino(FaceDetector(min_face_size=40, device="cpu")),
                                   embedder=use_openvino(FaceEmbedder(state, device="cpu")), device="cpu")
        else:
            detector = Detector(SHARED / "weights" / "yolov8n_int8.onnx", device="cpu")
            faces = FaceRecognizer(detector=FaceDetector(min_face_size=40, device="cpu"),
                                   embedder=FaceEmbedder(state, device="cpu"), device="cpu")
        return detector, faces

    clip = demo_clip(10)
    rows = []
    for label, source in (("demo clip (60 frames, 480x360)", lambda: IterableSource(clip, fps=10.0, name="demo clip")),
                          (f"short_hamilton_clip.mp4 ({frames} frames, 640x360)", lambda: str(VIDEO / "short_hamilton_clip.mp4"))):
        fps = {}
        for name, new in (("today (int8 ONNX + PyTorch faces)", False), ("auto (OpenVINO int8 + OpenVINO faces)", True)):
            detector, faces = make(new)
            pipeline = Pipeline(source(), detector=detector, faces=faces, face_identity="track", track=True, mode="file",
                                max_frames=frames, overlay=False)
            stats = pipeline.run([], summary=False)
            fps[name] = stats.as_dict()["throughput_fps"]
        names = list(fps)
        rows.append([label, f"{fps[names[0]]:.1f}", f"{fps[names[1]]:.1f}", f"{fps[names[1]] / fps[names[0]]:.2f}x"])
    return table(["end to end (objects + tracks + faces)", "today FPS", "auto FPS", "speed-up"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--out", type=Path, default=Path("runs") / "cpu_runtimes")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    warnings.simplefilter("ignore")
    import cv2

    print(f"Machine: {machine()}\n")
    text, yolo = yolo_section(args.out, args.images)
    print(text + "\n", flush=True)
    print(frcnn_section(args.out, min(args.images, 10)) + "\n", flush=True)
    capture = cv2.VideoCapture(str(VIDEO / "facenet_pytorch_video.mp4"))
    ok, frame = capture.read()
    capture.release()
    if ok:
        print(faces_section(frame) + "\n", flush=True)
    print(pipeline_section(yolo, args.frames), flush=True)


if __name__ == "__main__":
    main()
