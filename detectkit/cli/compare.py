"""``detectkit compare``: deep models vs classical baselines on the same data; Markdown table + bar chart.

Runs HOG + SVM vs YOLO vs Faster R-CNN (person detection, Penn-Fudan), Haar vs MTCNN
(face detection, LFW and group photos) and HOG embeddings vs FaceNet, each with k-NN and
an SVM (face identification, ORL and LFW), from the shared data folder. Models whose
weights are not here are listed as "not run: weights missing" with how to provide them.

Example:
    >>> from detectkit.cli import build_parser
    >>> args = build_parser().parse_args(["compare", "--limit", "5", "--task", "face-identification"])
    >>> args.limit, args.task
    (5, ['face-identification'])
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

_TASK_FLAGS = {"person-detection": "person detection", "face-detection": "face detection",
               "face-identification": "face identification"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="deep models vs classical baselines (HOG, Haar, SVM) on the same data",
        description="Measure deep detectors and face models against classical computer vision on the shared "
        "data sets; writes report.md (tables), report.json and chart.png.",
    )
    parser.add_argument("--out", type=Path, default=Path("compare-report"), help="output folder (default: compare-report)")
    parser.add_argument("--shared", type=Path, default=None, help="the shared data folder (default: $DETECTKIT_SHARED or ../shared)")
    parser.add_argument("--limit", type=int, default=None, help="at most N photos / people per data set (quick run)")
    parser.add_argument("--task", action="append", choices=sorted(_TASK_FLAGS), default=None,
                        help="run only this task (repeatable; default: all three)")
    parser.add_argument("--yolo", default=None, help="YOLO model (default: <shared>/weights/yolov8n_int8.onnx)")
    parser.add_argument("--frcnn", default="fasterrcnn_resnet50_fpn_v2", help="torchvision Faster R-CNN builder (COCO weights found offline)")
    parser.add_argument("--facenet", default="facenet-vggface2", help="FaceNet weights: known name or path (found offline)")
    parser.add_argument("--device", default="cpu", help="device for the deep models (default: cpu)")
    parser.set_defaults(func=run)


def command_line(args: argparse.Namespace) -> str:
    """The ``detectkit compare`` command equivalent to ``args`` (for the report; ``sys.argv`` is
    another program's when the command runs through ``detectkit.cli.main([...])``).

    Example:
        >>> from detectkit.cli import build_parser
        >>> command_line(build_parser().parse_args(["compare", "--limit", "5", "--task", "face-detection"]))
        'detectkit compare --out compare-report --limit 5 --task face-detection'
    """
    parts = ["detectkit", "compare", "--out", str(args.out)]
    if args.shared is not None:
        parts += ["--shared", str(args.shared)]
    if args.limit is not None:
        parts += ["--limit", str(args.limit)]
    for task in args.task or []:
        parts += ["--task", task]
    defaults = {"yolo": None, "frcnn": "fasterrcnn_resnet50_fpn_v2", "facenet": "facenet-vggface2", "device": "cpu"}
    for name, default in defaults.items():
        value = getattr(args, name)
        if value != default:
            parts += [f"--{name}", str(value)]
    return shlex.join(parts)


def run(args: argparse.Namespace) -> int:
    from ..compare import CompareConfig, run_comparison

    options = dict(limit=args.limit, yolo=args.yolo, frcnn=args.frcnn, facenet=args.facenet, device=args.device, progress=True)
    if args.shared is not None:
        options["shared"] = args.shared
    if args.task:
        options["tasks"] = [_TASK_FLAGS[t] for t in args.task]
    report = run_comparison(CompareConfig(**options), command=command_line(args))
    paths = report.write(args.out)
    print(report.to_markdown())
    for kind, path in paths.items():
        print(f"{kind}: {path}", file=sys.stderr)
    return 0
