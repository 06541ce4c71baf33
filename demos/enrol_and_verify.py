"""Enrol people from folders of photos, then identify the people in other photos.

    python demos/enrol_and_verify.py [--train DIR] [--test DIR] [--db faces.db] [--weights facenet-vggface2]

``--train`` holds one folder per person (``train/<name>/*.jpg``); ``--test`` holds photos
to identify. The defaults are face_recognition's example people in ``../shared`` (five
people, nine photos; two of the test photos show two people).

This is the Python API written out: a FaceRecognizer over an SQLite gallery, enrolment with
its quality report, identification with the top candidates, and verification. It needs the
FaceNet weights (``20180402-114759-vggface2.pt``: downloaded on first use when the network
is there, otherwise put it in ./weights/ or a folder in DETECTKIT_WEIGHTS); without them it
says so, and where it looked.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1].parent / "shared/data/faces/face_recognition_examples/examples/knn_examples"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, default=EXAMPLES / "train", help="one folder of photos per person")
    parser.add_argument("--test", type=Path, default=EXAMPLES / "test", help="photos to identify")
    parser.add_argument("--db", default="faces.db", help="the gallery (SQLite file; created if absent)")
    parser.add_argument("--weights", default="facenet-vggface2", help="FaceNet weights: a known name or a state dict")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    from detectkit import FaceRecognizer
    from detectkit.errors import DetectKitError, WeightsError
    from detectkit.images import find_images

    if not args.train.is_dir() or not args.test.is_dir():
        print(f"no photos at {args.train} / {args.test}: pass --train and --test", file=sys.stderr)
        return 1
    try:
        faces = FaceRecognizer(gallery=args.db, embedder=args.weights, device=args.device)
    except WeightsError as exc:
        print(f"cannot name faces without FaceNet weights:\n{exc}", file=sys.stderr)
        return 1

    with faces:
        print(f"gallery {args.db}: {len(faces.gallery)} people before; threshold {faces.threshold:.2f}")
        for person in sorted(p for p in args.train.iterdir() if p.is_dir()):
            report = faces.enroll(person.name, find_images(person), replace=True)
            print("  " + report.summary().replace("\n", "\n  "))
        for photo in find_images(args.test):
            try:
                found = faces.identify(photo, top_k=2)
            except DetectKitError as exc:
                print(f"{photo.name}: {exc}")
                continue
            names = ", ".join(f"{f.identity or 'unknown'} ({f.similarity:.2f})" for f in found)
            print(f"{photo.name}: {len(found)} face(s): {names}")
        first = next(iter(sorted(p for p in args.train.iterdir() if p.is_dir())), None)
        if first is not None:
            probe = find_images(first)[0]
            result = faces.verify(probe, first.name)
            print(f"verify {probe.name} as {first.name}: {result.verified} (similarity {result.similarity:.2f}, "
                  f"threshold {result.threshold:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
