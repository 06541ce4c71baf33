"""Live webcam demo: objects and enrolled faces labelled in a window (q or Esc quits).

    python demos/webcam.py [--camera 0] [--model yolo11n.pt] [--gallery faces.db] [--save out.mp4] [--detect-faces-every 2]

Enrol people first (photos with one clear face each):

    detectkit faces enroll "Ada Lovelace" ada1.jpg ada2.jpg --db faces.db

This script is the Python API written out: a Detector, a FaceRecognizer over the gallery,
a Pipeline in live mode (it shows the newest frame, never a backlog) with tracking, and
two sinks. No webcam or no display? It says so and runs `detectkit demo`'s built-in clip.
Statistics (FPS, latency, dropped frames, time per stage) are printed at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main() -> int:
    """Parse the options, then run the live demo (or the built-in clip); returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--camera", type=int, default=0, help="webcam index (default 0)")
    parser.add_argument("--model", default="auto", help="detector weights (default: a local COCO YOLO, else yolo11n.pt)")
    parser.add_argument("--gallery", default=os.environ.get("DETECTKIT_GALLERY", "faces.db"), help="enrolled faces (SQLite)")
    parser.add_argument("--save", default=None, help="also save the annotated video (.mp4 or .avi)")
    parser.add_argument("--detect-faces-every", type=int, default=1, help="look for faces every N frames (tracked in between)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    from detectkit import Detector, FaceRecognizer, Pipeline
    from detectkit.demo import live_available, run_clip_demo
    from detectkit.factories import auto_model
    from detectkit.errors import WeightsError

    ok, why = live_available(args.camera)
    if not ok:
        print(f"no live demo here ({why}); running the built-in clip instead")
        report = run_clip_demo("demo-output", device=args.device)
        return 0 if report.video else 1

    weights = auto_model() if args.model == "auto" else args.model
    detector = Detector(weights, device=args.device) if weights else None
    faces, identity = None, "none"
    try:
        gallery = args.gallery if Path(args.gallery).is_file() else None
        faces, identity = FaceRecognizer(gallery=gallery, device=args.device), "track"
        print(f"faces: {len(faces.gallery)} people enrolled" + ("" if gallery else f" (no gallery at {args.gallery})"))
    except WeightsError as exc:  # no FaceNet weights: faces are found, not named
        from detectkit.faces import FaceDetector

        print(f"faces will not be named: {str(exc).splitlines()[0]}")
        faces = FaceDetector(device=args.device)

    pipeline = Pipeline(
        args.camera,
        detector=detector,
        faces=faces,
        face_identity=identity,
        face_options={"detect_every": args.detect_faces_every} if identity == "track" else None,
        track=detector is not None,
        mode="live",
    )
    sinks = ["window"] + ([args.save] if args.save else [])
    pipeline.run(sinks)  # Ctrl-C or q/Esc: every thread stops, the saved video is complete
    return 0


if __name__ == "__main__":
    sys.exit(main())
