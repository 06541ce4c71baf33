"""The video pipeline against the model alone and against a naive loop; live frame age; memory.

    python benchmarks/video_pipeline.py [--frames 150] [--rounds 3] [--live-frames 2000] [--camera-fps 100]
                                        [--memory-frames 10000] [--parts file,batch,live,memory]

* file: frames ``240..240+N`` of ``one-by-one-person-detection.mp4`` (768x432) with the shared COCO
  YOLOv8n (int8 ONNX), three contenders in interleaved rounds (median frames per second):
  the model alone on the same frames already decoded in memory (the ceiling); the pipeline in
  file mode (decode in the reader thread, detect, draw, write an mp4); a naive sequential loop
  (read, predict, draw, write).
* batch: the model alone, batch sizes 1, 2 and 4 (is batching worth it on this CPU?).
* live: a fake camera that delivers the clip's frames at ``--camera-fps`` in real time and
  buffers what is not read (as a stream or a driver queue does); frame age at the sink
  (now minus the capture time) over the frames each contender showed while the camera
  produced ``--live-frames`` frames: the pipeline in live mode vs the naive loop.
* memory: resident memory (RSS) of a pipeline over a fast synthetic source with a cheap
  stage, tracking, an mp4 writer and a JSON lines sink, after 1,000 and 10,000 frames.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("DETECTKIT_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402

from _common import SHARED, machine, table  # noqa: E402

CLIP = SHARED / "data/video/one-by-one-person-detection.mp4"
ONNX = SHARED / "weights/yolov8n_int8.onnx"
START = 240  # people walk through from here on


def decoded(n: int) -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(CLIP))
    cap.set(cv2.CAP_PROP_POS_FRAMES, START)
    frames = [cap.read()[1] for _ in range(n)]
    cap.release()
    return frames


# ----------------------------------------------------------------------------- file mode
def model_alone(detector, frames) -> float:
    started = time.perf_counter()
    for frame in frames:
        detector.predict_arrays([frame])
    return len(frames) / (time.perf_counter() - started)


def pipeline_file(detector, n: int, out: Path) -> float:
    from detectkit.video import Pipeline
    from detectkit.video.sources import CaptureSource

    started = time.perf_counter()
    stats = Pipeline(CaptureSource(CLIP, start=START), detector=detector, max_frames=n).run(str(out), summary=False)
    elapsed = time.perf_counter() - started
    assert stats.frames_processed == n
    return n / elapsed


def naive_file(detector, n: int, out: Path) -> float:
    import cv2

    from detectkit.video.annotate import Annotator

    annotator = Annotator()
    started = time.perf_counter()
    cap = cv2.VideoCapture(str(CLIP))
    cap.set(cv2.CAP_PROP_POS_FRAMES, START)
    writer = None
    for _ in range(n):
        ok, frame = cap.read()
        detections = detector.predict_arrays([frame])[0]
        image = annotator.draw(frame, detections)
        if writer is None:
            writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (image.shape[1], image.shape[0]))
        writer.write(image)
    writer.release()
    cap.release()
    return n / (time.perf_counter() - started)


def bench_file(detector, n: int, rounds: int) -> list[list[str]]:
    frames = decoded(n)
    detector.predict_arrays(frames[:2])  # warm up
    fps: dict[str, list[float]] = {"model alone (decoded frames)": [], "pipeline, file mode": [], "naive loop": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            order = list(fps)[r % 3:] + list(fps)[: r % 3]  # rotate who goes first
            for name in order:
                if name.startswith("model"):
                    fps[name].append(model_alone(detector, frames))
                elif name.startswith("pipeline"):
                    fps[name].append(pipeline_file(detector, n, Path(tmp) / "p.mp4"))
                else:
                    fps[name].append(naive_file(detector, n, Path(tmp) / "n.mp4"))
    ceiling = statistics.median(fps["model alone (decoded frames)"])
    rows = []
    for name, values in fps.items():
        med = statistics.median(values)
        rows.append([name, f"{med:.2f}", f"{1000 / med:.1f}", f"{med / ceiling:.3f}", " ".join(f"{v:.2f}" for v in values)])
    return rows


def bench_batch(detector, n: int) -> list[list[str]]:
    frames = decoded(n)
    rows, base = [], None
    for size in (1, 2, 4):
        detector.predict_arrays(frames[:size])
        started = time.perf_counter()
        for i in range(0, n - n % size, size):
            detector.predict_arrays(frames[i : i + size])
        ms = 1000 * (time.perf_counter() - started) / (n - n % size)
        base = base or ms
        rows.append([str(size), f"{ms:.1f}", f"{base / ms:.3f}"])
    return rows


# ----------------------------------------------------------------------------- live mode
class BufferedCamera:
    """Frame k is captured at t0 + k / fps; reading hands out frames in order, the oldest not yet read first.

    A reader slower than the camera gets an ever older backlog, as from a stream or a
    driver queue; a reader that keeps up waits for each frame.
    """

    def __init__(self, frames, fps: float, total: int) -> None:
        self.frames, self.period, self.total = frames, 1.0 / fps, total
        self.t0: float | None = None
        self.k = 0

    def next(self):
        if self.t0 is None:
            self.t0 = time.perf_counter()
        if self.k >= self.total:
            return None
        captured = self.t0 + self.k * self.period
        wait = captured - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        frame = self.frames[self.k % len(self.frames)]
        self.k += 1
        return frame, captured

    @property
    def finished_at(self) -> float:
        return self.t0 + self.total * self.period


def camera_source(camera):
    from detectkit.video.sources import SourceInfo, VideoSource

    class Source(VideoSource):
        reconnectable = False

        def __init__(self):
            super().__init__(SourceInfo("buffered camera", "webcam", True, fps=1.0 / camera.period))

        def _open(self):
            pass

        def _read(self):
            item = camera.next()
            if item is None:
                return None
            frame, captured = item
            return frame, {"timestamp": captured}

    return Source()


def live_pipeline(detector, frames, fps, total):
    from detectkit.video import Pipeline

    camera = BufferedCamera(frames, fps, total)
    ages: list[float] = []
    pipeline = Pipeline(camera_source(camera), detector=detector, mode="live")
    pipeline.run(lambda result, image: ages.append(time.perf_counter() - result.frame.timestamp), summary=False)
    return ages, pipeline.stats.frames_dropped


def live_naive(detector, frames, fps, total):
    from detectkit.video.annotate import Annotator

    annotator = Annotator()
    camera = BufferedCamera(frames, fps, total)
    ages: list[float] = []
    while True:
        item = camera.next()
        if item is None or time.perf_counter() > camera.finished_at:
            break  # the camera has stopped: same wall-clock window as the pipeline
        frame, captured = item
        image = annotator.draw(frame, detector.predict_arrays([frame])[0])
        ages.append(time.perf_counter() - captured)
        del image
    return ages, 0


def bench_live(detector, total: int, fps: float) -> list[list[str]]:
    frames = decoded(50)
    rows = []
    for name, fn in (("pipeline, live mode", live_pipeline), ("naive loop", live_naive)):
        ages, dropped = fn(detector, frames, fps, total)
        a = np.asarray(ages) * 1000
        q = max(1, len(a) // 4)
        rows.append([
            name, str(len(a)), str(dropped), f"{np.percentile(a, 50):.0f}", f"{np.percentile(a, 99):.0f}",
            f"{a[:q].mean():.0f}", f"{a[-q:].mean():.0f}",
        ])
    return rows


# ----------------------------------------------------------------------------- memory
def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def bench_memory(frames_total: int) -> list[list[str]]:
    import cv2

    from detectkit import Detections
    from detectkit.video import Pipeline

    def synthetic():
        base = np.full((240, 320, 3), 40, np.uint8)
        for i in range(frames_total):
            frame = base.copy()
            x = 10 + (5 * i) % 280
            cv2.rectangle(frame, (x, 60), (x + 30, 90), (255, 255, 255), -1)
            yield frame

    class Threshold:
        names = {0: "square"}
        batch_size = 1

        def predict_arrays(self, images):
            out = []
            for image in images:
                ys, xs = np.nonzero(image[:, :, 0] > 200)
                box = [[xs.min(), ys.min(), xs.max(), ys.max()]] if len(xs) else np.zeros((0, 4))
                out.append(Detections(box, [0.9] * len(box), [0] * len(box), self.names, image_shape=image.shape[:2]))
            return out

    marks = {n: None for n in (1000, 2000, 5000, frames_total) if n <= frames_total}

    def record(result, image):
        n = result.index + 1
        if n in marks:
            marks[n] = rss_mb()

    with tempfile.TemporaryDirectory() as tmp:
        Pipeline(synthetic(), detector=Threshold(), track=True).run(
            [str(Path(tmp) / "m.mp4"), str(Path(tmp) / "m.jsonl"), record], summary=False
        )
    base = marks[1000]
    return [[f"{n:,}", f"{mb:.1f}", f"{mb / base:.3f}"] for n, mb in marks.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--live-frames", type=int, default=2000)
    parser.add_argument("--camera-fps", type=float, default=100.0)
    parser.add_argument("--memory-frames", type=int, default=10_000)
    parser.add_argument("--parts", default="file,batch,live,memory")
    args = parser.parse_args()
    parts = set(args.parts.split(","))

    from detectkit import Detector

    print(f"machine: {machine()}")
    print(f"threads at start: {threading.active_count()}")
    if parts & {"file", "batch", "live"}:
        if not (CLIP.is_file() and ONNX.is_file()):
            sys.exit(f"needs {CLIP} and {ONNX}")
        detector = Detector(ONNX, device="cpu")
    if "file" in parts:
        print(f"\nfile mode: {args.frames} frames of {CLIP.name} (768x432) from frame {START}, {args.rounds} rounds interleaved")
        print(table(["contender", "FPS (median)", "ms/frame", "vs model alone", "FPS per round"], bench_file(detector, args.frames, args.rounds)))
    if "batch" in parts:
        print(f"\nmodel alone by batch size ({args.frames} decoded frames, CPU)")
        print(table(["batch", "ms/frame", "speed-up vs 1"], bench_batch(detector, args.frames)))
    if "live" in parts:
        print(f"\nlive: a camera at {args.camera_fps:g} FPS producing {args.live_frames} frames ({args.live_frames / args.camera_fps:.0f} s); frame age at the sink, ms")
        print(table(["contender", "frames shown", "dropped", "p50", "p99", "first quarter mean", "last quarter mean"],
                    bench_live(detector, args.live_frames, args.camera_fps)))
    if "memory" in parts:
        print(f"\nmemory: {args.memory_frames:,} synthetic 320x240 frames, cheap detector + tracking + mp4 + JSON lines")
        print(table(["frames", "RSS MiB", "vs 1,000"], bench_memory(args.memory_frames)))
    print(f"\nthreads at the end: {threading.active_count()}")


if __name__ == "__main__":
    main()
