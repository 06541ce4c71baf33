"""Faces on video: identity per track (embed a face once, re-check now and then, vote) vs per frame.

    python benchmarks/video_faces.py [--frames 40] [--weights facenet-vggface2|PATH] [--min-face 20] [--scale 1.0]

The first ``--frames`` frames of ``facenet_pytorch_video.mp4`` (1920x1080, many faces), decoded
in memory first, go through the pipeline (file mode, batch 1) twice with the same recogniser:
MTCNN detection + FaceNet embeddings + a gallery holding the faces of frame 0 as ``person 1..k``.

* per frame: every face of every frame embedded and matched (``FaceRecognizer.identify_arrays``);
* per track: faces tracked (ByteTrack) and embedded when new, every 30 frames, or every 5 while weak;
  with faces detected on every frame, and on every 2nd / 3rd frame (tracks coast in between).

Also timed: MTCNN detection alone (the floor both share). Without the pretrained FaceNet weights
(``facenet-vggface2`` cannot be downloaded on the benchmark machine) a seeded random FaceNet is
used: throughput is the same, but names mean nothing, so label agreement is printed only with
real weights.
"""

from __future__ import annotations

import argparse
import os
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
    import cv2

    cap = cv2.VideoCapture(str(CLIP))
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
    parser.add_argument("--weights", default="facenet-vggface2", help="FaceNet weights; random ones when absent")
    parser.add_argument("--min-face", type=int, default=20, help="MTCNN smallest face, pixels")
    parser.add_argument("--scale", type=float, default=1.0, help="resize frames first (0.5: 960x540)")
    parser.add_argument("--detect-every", type=lambda s: [int(v) for v in s.split(",")], default=[1, 2, 3],
                        help="per-track runs: detect faces every N frames (comma-separated; default 1,2,3)")
    args = parser.parse_args()
    if not CLIP.is_file():
        sys.exit(f"needs {CLIP}")

    from detectkit.faces import FaceDetector, FaceRecognizer

    frames = frames_of(args.frames, args.scale)
    emb, real = embedder(args.weights)
    recognizer = FaceRecognizer(detector=FaceDetector(min_face_size=args.min_face, device="cpu"), embedder=emb, device="cpu")
    first = recognizer.detect([frames[0]])[0]
    for i, vector in enumerate(recognizer.embed(frames[0], first)):
        recognizer.gallery.add(f"person {i + 1}", vector[None, :], recognizer.embedder.key)

    recognizer.detect(frames[:1])  # warm up
    # every contender runs through the pipeline, so all run in its worker thread alike
    found, detect_s, _ = run(frames, recognizer, "none")
    faces = sum(len(r.faces) for r in found)
    per_frame, frame_s, _ = run(frames, recognizer, "frame")
    runs = {every: run(frames, recognizer, "track", every) for every in args.detect_every}

    n = len(frames)
    h, w = frames[0].shape[:2]
    print(f"machine: {machine()}")
    print(f"{n} frames of {CLIP.name} at {w}x{h}, {faces} faces ({faces / n:.1f} per frame), MTCNN min face {args.min_face} px, "
          f"FaceNet {'pretrained ' + str(args.weights) if real else 'seeded random weights'}, batch 1, CPU\n")
    rows = [
        ["MTCNN detection only, every frame", f"{n / detect_s:.2f}", f"{1000 * detect_s / n:.0f}", "-", "-", f"{frame_s / detect_s:.2f}"],
        ["identity per frame", f"{n / frame_s:.2f}", f"{1000 * frame_s / n:.0f}", str(n), str(faces), "1.00"],
    ]
    for every, (_, track_s, pipeline) in runs.items():
        tracks = pipeline.stages[0].tracks
        detected = len(range(0, n, every))
        rows.append([f"identity per track, faces detected every {every}", f"{n / track_s:.2f}", f"{1000 * track_s / n:.0f}",
                     str(detected), str(tracks.embedded), f"{frame_s / track_s:.2f}"])
    print(table(["mode", "FPS", "ms/frame", "frames detected", "faces embedded", "speed-up vs per frame"], rows))
    print(f"\nFaceNet + gallery per frame (per-frame time minus detection): {1000 * (frame_s - detect_s) / n:.0f} ms")
    per_track = runs[min(runs)][0]
    if real:
        same = total = 0
        for a, b in zip(per_frame, per_track):
            for x, y in zip(a.faces.identity, b.faces.identity):
                total += 1
                same += x == y
        print(f"label agreement, per track (detected every {min(runs)}) vs per frame: {same}/{total} = {same / max(1, total):.3f}")
    else:
        print("label agreement: not measured (random FaceNet weights: names are meaningless)")


if __name__ == "__main__":
    main()
