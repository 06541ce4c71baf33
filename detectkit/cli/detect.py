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
    """The JSON lines output; opening and closing failures are OutputError naming it."""
    from ..errors import OutputError
    from ..video.sinks import output_error

    if path is None:
        yield None
        return
    if path == "-":
        yield sys.stdout
        return
    target = Path(path)
    if target.is_dir():
        raise OutputError(f"{target}: is a folder; give a file name for the JSON lines")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle = open(target, "w", encoding="utf-8")
    except OSError as exc:
        raise output_error(target, "write the JSON lines file", exc) from exc
    try:
        yield handle
    finally:
        try:
            handle.close()
        except OSError:  # the write that failed was reported already
            pass


def _write_json(handle: IO[str], line: str, path: str) -> None:
    from ..video.sinks import output_error

    try:
        handle.write(line)
        handle.flush()
    except OSError as exc:
        raise output_error("stdout" if path == "-" else path, "write the JSON lines file", exc) from exc


def _prepare_save_dir(folder: Path) -> None:
    """Make the folder for annotated images and check a file can be written there (OutputError if not)."""
    import tempfile

    from ..errors import OutputError
    from ..video.sinks import output_error

    from ..video.sinks import file_in_the_way

    blocking = file_in_the_way(folder)
    if blocking == folder:
        raise OutputError(f"{folder}: is a file, not a folder for the annotated images")
    if blocking is not None:
        raise OutputError(f"{folder}: cannot make the folder for the annotated images: {blocking} is a file")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise output_error(folder, "write annotated images there", exc) from exc


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
    from ..errors import ModelError
    from ..images import find_images

    paths = find_images(args.sources)
    if args.save_dir is not None:  # outputs first: a bad one fails before any model is loaded
        _prepare_save_dir(args.save_dir)
    if args.batch is not None and args.batch < 1:
        raise ModelError(f"--batch must be at least 1, got {args.batch}")
    with _open_json(args.json_path) as json_out:
        return _detect(args, paths, json_out)


def _detect(args: argparse.Namespace, paths: list[Path], json_out: IO[str] | None) -> int:
    import cv2
    from tqdm import tqdm

    from ..errors import ImageError, OutputError
    from ..factories import summarize_labels
    from ..images import load_image
    from ..video.annotate import Annotator

    detector = detector_from_args(args)
    if args.batch:
        detector.batch_size = args.batch
    annotator = Annotator()
    failed: list[str] = []
    used_names: set[str] = set()
    quiet_stdout = args.json_path == "-"
    with tqdm(total=len(paths), unit="img", disable=len(paths) < 2, file=sys.stderr, leave=False) as progress:
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
                    _write_json(json_out, detections.to_json(source=str(path)) + "\n", args.json_path)
                if not quiet_stdout:
                    progress.write(f"{path}: {summarize_labels(detections.labels)}", file=sys.stdout)
                if args.save_dir is not None:
                    target = args.save_dir / _output_name(path, used_names)
                    if not cv2.imwrite(str(target), annotator.draw(image, detections, copy=False)):
                        raise OutputError(f"{target}: could not write the annotated image (no space or no permission?)")
            progress.update(len(chunk))
    if failed:
        print(f"detectkit detect: {len(failed)} of {len(paths)} images could not be read", file=sys.stderr)
        return 1
    return 0
