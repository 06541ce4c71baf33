"""Faces on video with a real model (dlib-resnet): identity per track against per frame, label agreement and speed-up.

    python benchmarks/video_faces_dlib.py [--frames 30] [--scale 0.5] [--enrol-at 60] [--clips facenet_pytorch_video.mp4 short_hamilton_clip.mp4]

For each clip, the people are enrolled from *another* frame of the clip (``--enrol-at``, outside the
measured frames): each face MTCNN finds there becomes ``person 1..k``. Then the first ``--frames``
frames go through the video pipeline (file mode, batch 1) twice with the same recogniser
(``benchmarks/video_faces.py``'s ``run``): identity per frame (every face embedded and matched)
and per track (ByteTrack; embedded when new, every 30 frames or every 5 while weak). Printed:
time of each, speed-up, and how many faces both label alike (names or unknown).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("DETECTKIT_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(__file__))

from _common import SHARED, machine, table  # noqa: E402
from video_faces import frames_at, run  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--scale", type=float, default=0.5)
    parser.add_argument("--enrol-at", type=int, default=60, help="frame the people are enrolled from")
    parser.add_argument("--clips", nargs="+", default=["facenet_pytorch_video.mp4", "short_hamilton_clip.mp4"])
    args = parser.parse_args()

    from detectkit.faces import FaceDetector, FaceRecognizer

    print(f"machine: {machine()}\n")
    rows = []
    for name in args.clips:
        path = SHARED / "data/video" / name
        frames = frames_at(path, 0, args.frames, args.scale)
        enrol = frames_at(path, args.enrol_at, 1, args.scale)
        recognizer = FaceRecognizer(detector=FaceDetector(device="cpu"), embedder="dlib-resnet", device="cpu")
        faces = recognizer.detect(enrol)[0]
        for i, vector in enumerate(recognizer.embed(enrol[0], faces)):
            recognizer.gallery.add(f"person {i + 1}", vector[None, :], recognizer.embedder.key)
        timings, labels = {}, {}
        for mode in ("frame", "track"):
            started = time.perf_counter()
            results, elapsed, _ = run(frames, recognizer, mode)
            timings[mode] = elapsed
            labels[mode] = [list(r.faces.identity) if r.faces is not None and r.faces.identity is not None else [] for r in results]
        same = total = named = 0
        for a, b in zip(labels["frame"], labels["track"]):
            for x, y in zip(a, b):
                total += 1
                same += x == y
                named += x is not None
        h, w = frames[0].shape[:2]
        rows.append([f"{name} ({len(frames)} frames {w}x{h}, {len(faces)} enrolled from frame {args.enrol_at})",
                     total, named, f"{timings['frame']:.1f}", f"{timings['track']:.1f}",
                     f"{timings['frame'] / timings['track']:.2f}x", f"{same}/{total} = {same / max(total, 1):.3f}"])
        recognizer.close()
    print(table(["clip", "faces", "named per frame", "per frame s", "per track s", "speed-up", "label agreement"], rows))


if __name__ == "__main__":
    main()
