"""``detectkit detect SOURCE... --model M``: detect objects in image files, folders and globs."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import IO, Iterator

from .options import add_model_options, detector_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..detection import DEFAULT_MODEL

    parser = subparsers.add_parser(
        "detect",
        help="detect objects in images",
        description="Detect objects in image files, folders (searched recursively) and glob patterns.",
    )
    parser.add_argument("sources", nargs="+", metavar="SOURCE", help="image files, folders or globs")
    add_model_options(parser, DEFAULT_MODEL)
    parser.add_argument("--save-dir", type=Path, default=None, help="write annotated images here")
    parser.add_argument("--json", dest="json_path", default=None, help="write JSON lines here ('-' for stdout)")
    parser.add_argument("--batch", type=int, default=None, help="images per model call")
    parser.set_defaults(func=run)


@contextlib.contextmanager
def _open_json(path: str | None) -> Iterator[IO[str] | None]:
    if path is None:
        yield None
    elif path == "-":
        yield sys.stdout
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            yield handle


def _output_name(path: Path, used: set[str]) -> str:
    name = path.name
    if name in used:
        name = f"{path.parent.name}_{path.name}"
    stem, suffix, n = Path(name).stem, Path(name).suffix, 1
    while name in used:
        name, n = f"{stem}_{n}{suffix}", n + 1
    used.add(name)
    return name


def run(args: argparse.Namespace) -> int:
    import cv2
    from tqdm import tqdm

    from ..errors import ImageError
    from ..factories import summarize_labels
    from ..images import find_images, load_image
    from ..video.annotate import Annotator

    paths = find_images(args.sources)
    detector = detector_from_args(args)
    if args.batch:
        detector.batch_size = args.batch
    annotator = Annotator()
    if args.save_dir is not None:
        args.save_dir.mkdir(parents=True, exist_ok=True)
    failed: list[str] = []
    used_names: set[str] = set()
    quiet_stdout = args.json_path == "-"
    with _open_json(args.json_path) as json_out, tqdm(
        total=len(paths), unit="img", disable=len(paths) < 2, file=sys.stderr, leave=False
    ) as progress:
        for start in range(0, len(paths), detector.batch_size):
            chunk = paths[start : start + detector.batch_size]
            images, good = [], []
            for path in chunk:
                try:
                    images.append(load_image(path))
                    good.append(path)
                except ImageError as exc:
                    failed.append(str(exc))
                    progress.write(f"skipped {exc}", file=sys.stderr)
            for path, image, detections in zip(good, images, detector.predict_arrays(images)):
                if json_out is not None:
                    json_out.write(detections.to_json(source=str(path)) + "\n")
                if not quiet_stdout:
                    progress.write(f"{path}: {summarize_labels(detections.labels)}", file=sys.stdout)
                if args.save_dir is not None:
                    target = args.save_dir / _output_name(path, used_names)
                    if not cv2.imwrite(str(target), annotator.draw(image, detections, copy=False)):
                        raise OSError(f"{target}: could not write the annotated image")
            progress.update(len(chunk))
    if failed:
        print(f"detectkit detect: {len(failed)} of {len(paths)} images could not be read", file=sys.stderr)
        return 1
    return 0
