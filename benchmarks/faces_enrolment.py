"""Enrolment throughput: detectkit's batched enrolment against a plain per-image facenet-pytorch loop.

Same LFW photos (``../shared/data/faces/lfw``, the people of ``gallery_identities.txt``,
10 photos each), same networks and weights (a seeded random InceptionResnetV1: the pretrained
files cannot be downloaded here, and the cost of a forward pass does not depend on the
weight values), same crop (160 px, margin 14). Variants, run in turn, each round in a
different order:

* ``facenet-pytorch loop``: the README recipe, one photo at a time: ``MTCNN(image_size=160,
  margin=14)`` on the PIL image, then ``InceptionResnetV1`` on the one face;
* ``facenet-pytorch batched``: the library's own batching: ``MTCNN`` on lists of same-size
  PIL images (LFW photos are all 250x250), then the faces in one network call (it crashes
  when a photo of the batch has no face, facenet-pytorch issue 224: then the round is
  marked failed);
* ``detectkit one photo per call``: ``FaceRecognizer.enroll(name, [photo])`` per photo;
* ``detectkit batched``: ``FaceRecognizer.enroll_many({name: photos})``: photos detected in
  batches, all faces embedded in batches of 32, each person written to an SQLite gallery
  file in one transaction. detectkit also checks each photo's quality and rejects some
  (counted: faces enrolled < photos).

Throughput is photos per second (the work in), and faces stored per second. The table
gives the median over rounds and the ratio to the facenet-pytorch loop.

Run:  python benchmarks/faces_enrolment.py --people 40 --rounds 3 [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import SHARED, machine, table  # noqa: E402


def lfw_people(count: int) -> dict[str, list[Path]]:
    root = SHARED / "data/faces/lfw"
    names = [n.strip() for n in (root / "gallery_identities.txt").read_text().splitlines() if n.strip()][:count]
    return {n: sorted((root / "lfw-deepfunneled" / n).glob("*.jpg"))[:10] for n in names}


def random_weights(seed: int = 0) -> dict:
    import torch
    from facenet_pytorch import InceptionResnetV1

    torch.manual_seed(seed)
    return InceptionResnetV1(pretrained=None, classify=False).state_dict()


def facenet_loop(paths: list[Path], state: dict) -> int:
    import torch
    from facenet_pytorch import MTCNN, InceptionResnetV1
    from PIL import Image

    mtcnn = MTCNN(image_size=160, margin=14, device="cpu")
    resnet = InceptionResnetV1(pretrained=None, classify=False).eval()
    resnet.load_state_dict(state)
    faces = 0
    vectors = []
    for path in paths:
        face = mtcnn(Image.open(path).convert("RGB"))
        if face is not None:
            with torch.no_grad():
                vectors.append(resnet(face.unsqueeze(0)).numpy())
            faces += 1
    return faces


def facenet_batched(paths: list[Path], state: dict, batch: int) -> int:
    import torch
    from facenet_pytorch import MTCNN, InceptionResnetV1
    from PIL import Image

    mtcnn = MTCNN(image_size=160, margin=14, device="cpu")
    resnet = InceptionResnetV1(pretrained=None, classify=False).eval()
    resnet.load_state_dict(state)
    faces = 0
    for start in range(0, len(paths), batch):
        images = [Image.open(p).convert("RGB") for p in paths[start : start + batch]]
        crops = [c for c in mtcnn(images) if c is not None]
        if crops:
            with torch.no_grad():
                resnet(torch.stack(crops)).numpy()
            faces += len(crops)
    return faces


REJECTED: dict[str, int] = {}  # rejection reasons of the last batched detectkit run


def detectkit_run(people: dict[str, list[Path]], state: dict, batched: bool) -> int:
    from detectkit.faces import FaceDetector, FaceEmbedder, FaceRecognizer, Gallery

    with tempfile.TemporaryDirectory() as tmp:
        recognizer = FaceRecognizer(
            Gallery(Path(tmp) / "people.db"),
            detector=FaceDetector(device="cpu", batch_size=32),
            embedder=FaceEmbedder(state, model_name="bench", device="cpu"),
        )
        faces = 0
        if batched:
            from collections import Counter

            reports = recognizer.enroll_many(people).values()
            faces = sum(report.faces_used for report in reports)
            REJECTED.clear()
            REJECTED.update(Counter(r.reason for report in reports for r in report.rejected))
        else:
            from detectkit.errors import FaceError

            for name, paths in people.items():
                for path in paths:
                    try:
                        faces += recognizer.enroll(name, [path]).faces_used
                    except FaceError:
                        pass
        recognizer.gallery.close()
    return faces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=40, help="LFW gallery people, 10 photos each (default 40)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32, help="photos per facenet-pytorch batched MTCNN call")
    parser.add_argument("--skip", nargs="*", default=[], help="variants to leave out (loop, fbatched, one, batched)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads for every variant (default: torch's)")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    people = lfw_people(args.people)
    paths = [p for ps in people.values() for p in ps]
    state = random_weights()
    print(f"# enrolment, {machine()}, torch threads {torch.get_num_threads()}")
    print(f"# {len(paths)} LFW photos of {len(people)} people, {args.rounds} rounds")
    variants = {
        "loop": ("facenet-pytorch loop (per image)", lambda: facenet_loop(paths, state)),
        "fbatched": (f"facenet-pytorch batched ({args.batch} photos per MTCNN call)", lambda: facenet_batched(paths, state, args.batch)),
        "one": ("detectkit, one photo per enroll()", lambda: detectkit_run(people, state, batched=False)),
        "batched": ("detectkit enroll_many (batched)", lambda: detectkit_run(people, state, batched=True)),
    }
    variants = {k: v for k, v in variants.items() if k not in args.skip}
    # warm-up (first calls allocate and pick kernels)
    facenet_loop(paths[:3], state)
    detectkit_run({n: ps[:2] for n, ps in list(people.items())[:2]}, state, batched=True)
    seconds: dict[str, list[float]] = {k: [] for k in variants}
    faces: dict[str, int] = {}
    order = list(variants)
    for round_ in range(args.rounds):
        for key in order[round_ % len(order):] + order[: round_ % len(order)]:
            label, run = variants[key]
            t = time.perf_counter()
            try:
                faces[key] = run()
            except Exception as exc:  # facenet-pytorch batched: issue 224
                print(f"  round {round_ + 1}: {label} failed: {type(exc).__name__}: {str(exc)[:120]}", flush=True)
                continue
            seconds[key].append(time.perf_counter() - t)
            print(f"  round {round_ + 1}: {label}: {seconds[key][-1]:.1f} s, {faces[key]} faces", flush=True)
    base = statistics.median(seconds["loop"]) if seconds.get("loop") else None
    base_faces = faces["loop"] / base if base else None  # the goal is in faces per second
    rows = []
    for key, (label, _) in variants.items():
        if not seconds[key]:
            rows.append([label, "failed", "", "", "", "", ""])
            continue
        median = statistics.median(seconds[key])
        spread = f"{min(seconds[key]):.1f}-{max(seconds[key]):.1f}"
        ratio = f"{base / median:.2f}x" if base else ""
        faces_ratio = f"{faces[key] / median / base_faces:.2f}x" if base_faces else ""
        rows.append([label, f"{median:.1f} ({spread})", f"{len(paths) / median:.1f}", faces[key],
                     f"{faces[key] / median:.1f}", ratio, faces_ratio])
    print(table(["variant", "seconds, median (range)", "photos/s", "faces stored", "faces/s", "photos/s vs loop",
                 "faces/s vs loop"], rows))
    if REJECTED:
        print("detectkit rejected: " + ", ".join(f"{n} {reason}" for reason, n in sorted(REJECTED.items())))


if __name__ == "__main__":
    main()
