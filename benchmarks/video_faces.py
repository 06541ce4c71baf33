"""Faces on video: identity per track (embed a face once, re-check now and then, vote) vs per frame.

    python benchmarks/video_faces.py [--frames 40] [--rounds 3] [--threads N] [--weights facenet-vggface2|PATH] [--min-face 20] [--scale 1.0]

The first ``--frames`` frames of ``facenet_pytorch_video.mp4`` (1920x1080, many faces), decoded
in memory first, go through the pipeline (file mode, batch 1) twice with the same recogniser:
MTCNN detection + FaceNet embeddings + a gallery holding the faces of frame 0 as ``person 1..k``.

* per frame: every face of every frame embedded and matched (``FaceRecognizer.identify_arrays``);
* per track: faces tracked (ByteTrack) and embedded when new, every 30 frames, or every 5 while weak;
  with faces detected on every frame, and on every 2nd / 3rd frame (tracks coast in between).

Also timed: MTCNN detection alone (the floor both share). The contenders run in ``--rounds``
interleaved rounds (who goes first rotates); the speed-up is the median over rounds of the per-frame
time over the contender's time in the same round, so a load change on a shared machine hits both
sides of a ratio alike. Without the pretrained FaceNet weights
(``facenet-vggface2`` cannot be downloaded on the benchmark machine) a seeded random FaceNet is
used: throughput is the same, but names mean nothing, so label agreement is printed only with
real weights.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("DETECTKIT_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402

from _common import SHARED, machine, table  # noqa: E402

CLIP = SHARED / "data/video/facenet_pytorch_video.mp4"


def frames_of(n: int, scale: float) -> list[np.ndarray]:
    return frames_at(CLIP, 0, n, scale)


def frames_at(path, start: int, n: int, scale: float) -> list[np.ndarray]:
    """Frames ``start..start+n`` of a video file, resized by ``scale``."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    out = []
    while len(out) < n:
        ok, frame = cap.read()
        if not ok:
            break
        if scale != 1.0:
            frame = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        out.append(frame)
    cap.release()
    return out


def embedder(weights: str | None):
    """The real FaceNet when ``weights`` resolves, else a seeded random one; returns (embedder, real?)."""
    import torch
    from facenet_pytorch import InceptionResnetV1

    from detectkit.errors import WeightsError
    from detectkit.faces import FaceEmbedder

    if weights:
        try:
            return FaceEmbedder(weights, device="cpu"), True
        except WeightsError as exc:
            print(f"no real FaceNet weights ({str(exc).splitlines()[0]}): using a seeded random FaceNet")
    torch.manual_seed(0)
    path = Path(tempfile.mkdtemp()) / "facenet-random.pt"
    torch.save(InceptionResnetV1().state_dict(), path)
    return FaceEmbedder(path, device="cpu"), False


def run(frames, recognizer, identity: str, detect_every: int = 1):
    from detectkit.video import Pipeline

    options = {"detect_every": detect_every} if identity == "track" else None
    pipeline = Pipeline(frames, faces=recognizer, face_identity=identity, face_options=options, batch_size=1)
    started = time.perf_counter()
    results = list(pipeline)
    elapsed = time.perf_counter() - started
    return results, elapsed, pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's own); 1 is steadier on a CPU other jobs share")
    parser.add_argument("--weights", default="facenet-vggface2", help="FaceNet weights; random ones when absent")
    parser.add_argument("--min-face", type=int, default=20, help="MTCNN smallest face, pixels")
    parser.add_argument("--scale", type=float, default=1.0, help="resize frames first (0.5: 960x540)")
    parser.add_argument("--detect-every", type=lambda s: [int(v) for v in s.split(",")], default=[1, 2, 3],
                        help="per-track runs: detect faces every N frames (comma-separated; default 1,2,3)")
    args = parser.parse_args()
    if not CLIP.is_file():
        sys.exit(f"needs {CLIP}")

    import torch

    from detectkit.faces import FaceDetector, FaceRecognizer

    if args.threads:
        torch.set_num_threads(args.threads)
    frames = frames_of(args.frames, args.scale)
    emb, real = embedder(args.weights)
    recognizer = FaceRecognizer(detector=FaceDetector(min_face_size=args.min_face, device="cpu"), embedder=emb, device="cpu")
    first = recognizer.detect([frames[0]])[0]
    for i, vector in enumerate(recognizer.embed(frames[0], first)):
        recognizer.gallery.add(f"person {i + 1}", vector[None, :], recognizer.embedder.key)

    recognizer.detect(frames[:1])  # warm up
    # every contender runs through the pipeline, so all run in its worker thread alike
    contenders = [("none", 1), ("frame", 1)] + [("track", every) for every in args.detect_every]
    seconds: dict[tuple[str, int], list[float]] = {c: [] for c in contenders}
    last: dict[tuple[str, int], tuple] = {}
    for r in range(args.rounds):
        for c in contenders[r % len(contenders):] + contenders[: r % len(contenders)]:
            results, elapsed, pipeline = run(frames, recognizer, *c)
            seconds[c].append(elapsed)
            last[c] = (results, pipeline)
    faces = sum(len(r.faces) for r in last[("none", 1)][0])
    per_frame = last[("frame", 1)][0]
    frame_s = seconds[("frame", 1)]

    def speedup(c: tuple[str, int]) -> list[float]:
        return [f / t for f, t in zip(frame_s, seconds[c])]  # same round: same load on both sides

    n = len(frames)
    h, w = frames[0].shape[:2]
    print(f"machine: {machine()}")
    print(f"{n} frames of {CLIP.name} at {w}x{h}, {faces} faces ({faces / n:.1f} per frame), MTCNN min face {args.min_face} px, "
          f"FaceNet {'pretrained ' + str(args.weights) if real else 'seeded random weights'}, batch 1, CPU, "
          f"{torch.get_num_threads()} torch threads, {args.rounds} interleaved rounds (medians)\n")
    rows = []
    for c in contenders:
        identity, every = c
        med = statistics.median(seconds[c])
        name = {"none": "MTCNN detection only, every frame", "frame": "identity per frame"}.get(
            identity, f"identity per track, faces detected every {every}")
        embedded = {"none": "-", "frame": str(faces)}.get(identity) or str(last[c][1].stages[0].tracks.embedded)
        detected = str(len(range(0, n, every))) if identity != "none" else "-"
        ratios = speedup(c)
        rows.append([name, f"{n / med:.2f}", f"{1000 * med / n:.0f}", detected, embedded,
                     f"{statistics.median(ratios):.2f}", " ".join(f"{v:.2f}" for v in ratios)])
    print(table(["mode", "FPS", "ms/frame", "frames detected", "faces embedded", "speed-up vs per frame", "per round"], rows))
    detect_s = statistics.median(seconds[("none", 1)])
    print(f"\nFaceNet + gallery per frame (per-frame time minus detection): {1000 * (statistics.median(frame_s) - detect_s) / n:.0f} ms")
    per_track = last[("track", min(args.detect_every))][0]
    if real:
        same = total = 0
        for a, b in zip(per_frame, per_track):
            for x, y in zip(a.faces.identity, b.faces.identity):
                total += 1
                same += x == y
        print(f"label agreement, per track (detected every {min(args.detect_every)}) vs per frame: {same}/{total} = {same / max(1, total):.3f}")
    else:
        print("label agreement: not measured (random FaceNet weights: names are meaningless)")


if __name__ == "__main__":
    main()
