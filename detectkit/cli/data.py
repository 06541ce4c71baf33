"""``detectkit data check SRC``, ``detectkit data convert SRC --to yolo|coco|voc OUT`` and ``detectkit data shapes OUT``.

``check`` prints the validation summary of every split (exit 1 when something is fatal);
``convert`` writes every split in another format (images symlinked unless ``--copy``);
``shapes`` writes a small synthetic set (coloured shapes on busy backgrounds) to try training on.

Example:
    >>> from detectkit.cli import build_parser
    >>> args = build_parser().parse_args(["data", "convert", "voc/", "--to", "yolo", "out/"])
    >>> args.to, str(args.out)
    ('yolo', 'out')
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "data",
        help="check or convert labelled datasets (YOLO, COCO, VOC)",
        description="Check labelled detection datasets and convert them between YOLO txt, COCO json and Pascal VOC xml.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    check = actions.add_parser(
        "check",
        help="validate a dataset and print every problem with file and line",
        description="Read every split (or --split), print one summary of every problem found (file:line), "
        "and exit 1 when a problem is fatal.",
    )
    check.add_argument("src", metavar="SRC", help="data YAML, COCO json, or dataset folder")
    check.add_argument("--split", default=None, help="only this split (default: all)")
    check.add_argument("--limit", type=int, default=10, help="examples listed per kind of problem (default: 10)")
    check.set_defaults(func=run_check)

    convert = actions.add_parser(
        "convert",
        help="convert a dataset to YOLO, COCO or VOC",
        description="Write every split of SRC to OUT in another format. Nothing is written if SRC fails validation.",
    )
    convert.add_argument("src", metavar="SRC", help="data YAML, COCO json, or dataset folder")
    convert.add_argument("--to", required=True, choices=["yolo", "coco", "voc"], help="output format")
    convert.add_argument("out", type=Path, metavar="OUT", help="output folder")
    convert.add_argument("--copy", action="store_true", help="copy the images (default: symlink them)")
    convert.add_argument(
        "--val-fraction", type=float, default=None,
        help="when SRC has no val split, make one of this share (e.g. 0.2)",
    )
    convert.add_argument("--seed", type=int, default=0, help="seed of that split (default: 0)")
    convert.add_argument("--overwrite", action="store_true", help="in a folder detectkit wrote before: replace files that differ and remove stale ones "
        "(never in other folders)")
    convert.set_defaults(func=run_convert)

    shapes = actions.add_parser(
        "shapes",
        help="write a synthetic dataset of coloured shapes (to try training anywhere)",
        description="Write circles, squares and triangles on busy backgrounds, labelled, with train and val splits.",
    )
    shapes.add_argument("out", type=Path, metavar="OUT", help="output folder (new or empty)")
    shapes.add_argument("--to", dest="format", default="yolo", choices=["yolo", "coco", "voc"], help="format (default: yolo)")
    shapes.add_argument("--train", type=int, default=64, help="training images (default: 64)")
    shapes.add_argument("--val", type=int, default=16, help="validation images (default: 16)")
    shapes.add_argument("--imgsz", type=int, default=128, help="image size in pixels (default: 128)")
    shapes.add_argument("--classes", default=None, help="comma-separated subset of circle,square,triangle")
    shapes.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    shapes.set_defaults(func=run_shapes)


def run_check(args: argparse.Namespace) -> int:
    from ..training.datasets import check_dataset, detect_format, list_splits

    fmt, path = detect_format(args.src)
    splits = [args.split] if args.split else list_splits(args.src)
    print(f"{path}: {fmt} dataset, splits: {', '.join(splits)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = check_dataset(args.src, split=args.split)
    print(report.summary(limit=args.limit))
    return 0 if report.ok else 1


def run_convert(args: argparse.Namespace) -> int:
    from ..training.convert import convert
    from ..training.validate import DatasetWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DatasetWarning)
        result = convert(
            args.src, args.to, args.out, images="copy" if args.copy else "symlink",
            val_fraction=args.val_fraction, seed=args.seed, overwrite=args.overwrite,
        )
    for warning in caught:
        print(str(warning.message), file=sys.stderr)
    print(f"wrote {args.to} dataset: {result}")
    return 0


def run_shapes(args: argparse.Namespace) -> int:
    from ..errors import DatasetError
    from ..training.synthetic import SHAPES, make_shapes_dataset

    if args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
        raise DatasetError(f"{args.out}: not an empty folder; pick a new one (nothing there is overwritten)")
    classes = [c.strip() for c in args.classes.split(",")] if args.classes else list(SHAPES)
    path = make_shapes_dataset(args.out, n_train=args.train, n_val=args.val, imgsz=args.imgsz, classes=classes,
                               format=args.format, seed=args.seed)
    print(f"wrote {args.format} dataset: {path} ({args.train} train / {args.val} val images, classes {', '.join(classes)})")
    return 0
