"""``detectkit batch SOURCES... --out DIR``: an archive of images and videos over a Ray cluster.

A thin layer over :func:`detectkit.batch.run_batch`; needs ``pip install detectkit[ray]``.

Example:
    >>> from detectkit.cli import build_parser
    >>> args = build_parser().parse_args(["batch", "clips/", "photos/*.jpg", "--out", "out", "--actors", "2"])
    >>> args.sources, str(args.out), args.actors, args.chunk_frames
    (['clips/', 'photos/*.jpg'], 'out', 2, 64)
    >>> spec_from_args(args).model, spec_from_args(args).face_identity
    ('auto', 'frame')
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .options import add_model_options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "batch",
        help="run detection (and face recognition) over many images and videos on a Ray cluster",
        description=(
            "Fan SOURCES (video files, image files, folders, globs) out over Ray actors: one JSON lines file per "
            "source in --out (each line what `detectkit run SOURCE --json` writes for that frame), a manifest and "
            "summary.json. A rerun with the same --out skips finished sources and redoes unfinished ones; a file "
            "that cannot be read is reported and skipped."
        ),
    )
    parser.add_argument("sources", nargs="+", metavar="SOURCE", help="video file, image file, folder or glob")
    parser.add_argument("--out", "-o", type=Path, required=True, metavar="DIR", help="output folder")
    parser.add_argument("--address", default=None, help="a running Ray cluster (default: start a local one on this machine)")
    parser.add_argument("--actors", type=int, default=None, metavar="N", help="workers (default: one per CPU, or per GPU share)")
    parser.add_argument("--gpus-per-actor", type=float, default=None, metavar="F",
                        help="GPU share of each worker when the cluster has GPUs (default 1; 0.25: four per GPU)")
    parser.add_argument("--cpus-per-actor", type=int, default=None, metavar="N",
                        help="CPU workers: cores (and threads) each (default: the cluster's CPUs / workers)")
    add_model_options(parser, "auto")
    parser.add_argument("--faces", metavar="GALLERY", default=None, help="recognise faces enrolled in this gallery")
    parser.add_argument("--face-identity", choices=("frame", "track"), default="frame",
                        help="frame (default): identify faces per frame; track: vote per face track (a video is then not split)")
    parser.add_argument("--face-weights", default="auto",
                        help="face embedder for --faces (default: auto: FaceNet when its weights are here, else dlib-resnet)")
    parser.add_argument("--face-threshold", type=float, default=None, help="face similarity threshold (default: the model's)")
    parser.add_argument("--track", action="store_true", help="give objects track ids (ByteTrack; a video is then not split)")
    parser.add_argument("--batch", type=int, default=None, help="frames per model call (default: 8 on CUDA, 1 on CPU)")
    parser.add_argument("--chunk-frames", type=int, default=64, metavar="N", help="frames per unit of work (default: 64; 0: whole sources, for files whose seeks are not exact)")
    parser.add_argument("--stride", type=int, default=1, help="video files: process every N-th frame (default: 1, all)")
    parser.add_argument("--max-frames", type=int, default=None, help="per source, stop after this many frames")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def spec_from_args(args: argparse.Namespace):
    """The :class:`~detectkit.batch.specs.ModelSpec` the options describe."""
    from ..batch.specs import ModelSpec

    return ModelSpec(
        model=args.model,
        conf=args.conf,
        iou=args.iou,
        classes=tuple(args.classes) if args.classes else None,
        max_det=args.max_det,
        imgsz=args.imgsz,
        device=args.device,
        faces=args.faces,
        face_weights=args.face_weights,
        face_threshold=args.face_threshold,
        face_identity=args.face_identity,
        track=args.track,
        batch=args.batch,
        runtime=getattr(args, "runtime", None),
    )


def run(args: argparse.Namespace) -> int:
    from ..batch import run_batch

    summary = run_batch(
        args.sources,
        args.out,
        spec=spec_from_args(args),
        address=args.address,
        actors=args.actors,
        gpus_per_actor=args.gpus_per_actor,
        cpus_per_actor=args.cpus_per_actor,
        chunk_frames=args.chunk_frames or None,
        stride=args.stride,
        max_frames=args.max_frames,
        progress=not args.no_progress,
        log=lambda message: print(message, file=sys.stderr, flush=True),
    )
    print(f"wrote {args.out / 'summary.json'}")
    return 1 if summary.failed and summary.failed == len(summary.sources) else 0
