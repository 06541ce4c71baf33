"""Dataset validation: every problem found while reading labels, with its file and line, in one report.

Each dataset reader (YOLO, COCO, VOC, Penn-Fudan) records what it finds wrong as a
:class:`Problem` in a :class:`ValidationReport`; :func:`validate` runs the same checks on a
:class:`~detectkit.training.datasets.DetectionDataset` built in memory. A report prints as one
readable summary, grouped by kind of problem, each with ``file:line``.

What each problem does (``POLICY``; "fatal" problems make :func:`~detectkit.training.datasets.load_dataset`
raise :class:`~detectkit.errors.DatasetError` with the whole summary; the others are skipped and
the summary is given once as a :class:`DatasetWarning`):

=====================  ======  ===========================================================
code                   fatal   what happens
=====================  ======  ===========================================================
missing_image          no      the image a label/annotation names is not on disk: image skipped
unreadable_image       no      empty (0 bytes), corrupt, not an image or smaller than 8 px: image skipped
truncated_image        no      a JPEG without its end marker: kept (it decodes, the bottom may be grey)
size_mismatch          no      the annotation's width/height differ from the file's: image skipped
bad_label_file         no      a label file that cannot be read or parsed (bad XML, not UTF-8): image skipped
bad_columns            no      a label line with the wrong number of columns: image skipped
not_a_number           no      a non-numeric, NaN or infinite value, or a fractional class id: image skipped
out_of_range           no      a coordinate more than 1% outside the image (wrong units?): image skipped
degenerate_box         no      zero or negative width/height after clipping to the image: box dropped
duplicate_box          no      the same box and class twice in one image: duplicate dropped
orphan_label           no      a label file with no image: ignored
duplicate_name         no      different files with the same file name: kept (writers rename them)
train_val_overlap      no      the same image in train and val: kept (metrics will be optimistic)
class_out_of_range     yes     a class id outside ``names`` (the names table does not fit the labels)
unknown_class          yes     a class name / category id not in the dataset's class list
unknown_image          yes     a COCO annotation for an image id that is not in ``images``
duplicate_image        yes     the same image listed twice in one split (which labels are right?)
no_images              yes     a split with no usable image left
=====================  ======  ===========================================================

Boxes that stick out of the image by less than the 1% tolerance are clipped to it silently.
Images without labels, or with an empty label file, are background images: not a problem.

Example:
    >>> report = ValidationReport()
    >>> report.add("bad_columns", "labels/a.txt", 3, "4 columns, expected 5")
    >>> report.ok, len(report.warnings)
    (True, 1)
    >>> print(report)  # doctest: +NORMALIZE_WHITESPACE
    dataset check: 0 errors, 1 warning
      warning bad_columns (1): label line with the wrong number of columns; image skipped
        labels/a.txt:3: 4 columns, expected 5
"""

from __future__ import annotations

import os
import warnings
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Protocol, Sequence

import numpy as np

from ..errors import DatasetError


class LabelledImages(Protocol):
    """What the checks read of a dataset: a :class:`~detectkit.training.data_model.DetectionDataset` has it.

    (A protocol, so that this module stays below the data model and imports nothing of it.)
    """

    names: Sequence[str]
    samples: Sequence[Any]

    def __len__(self) -> int: ...


__all__ = [
    "POLICY",
    "Problem",
    "ValidationReport",
    "DatasetWarning",
    "validate",
    "check_boxes",
    "probe_image",
    "probe_images",
    "TOLERANCE",
]

TOLERANCE = 0.01
"""How far (fraction of the image side) a box may stick out before it counts as ``out_of_range``."""

# code -> (fatal, short description, what happens)
POLICY: dict[str, tuple[bool, str, str]] = {
    "missing_image": (False, "image not found", "image skipped"),
    "unreadable_image": (False, "empty, corrupt or too small image", "image skipped"),
    "truncated_image": (False, "JPEG without its end marker", "kept"),
    "size_mismatch": (False, "annotated size differs from the image file", "image skipped"),
    "bad_label_file": (False, "label file cannot be read or parsed", "image skipped"),
    "bad_columns": (False, "label line with the wrong number of columns", "image skipped"),
    "not_a_number": (False, "non-numeric, NaN or infinite value", "image skipped"),
    "out_of_range": (False, "coordinates outside the image", "image skipped"),
    "degenerate_box": (False, "box with no width or height", "box dropped"),
    "duplicate_box": (False, "the same box twice", "duplicate dropped"),
    "orphan_label": (False, "label file without an image", "ignored"),
    "duplicate_name": (False, "different files with the same name", "kept"),
    "train_val_overlap": (False, "image in both train and val", "kept"),
    "class_out_of_range": (True, "class id outside names", "fatal"),
    "unknown_class": (True, "class not in the dataset's class list", "fatal"),
    "unknown_image": (True, "annotation for an unknown image id", "fatal"),
    "duplicate_image": (True, "image listed twice in one split", "fatal"),
    "no_images": (True, "no usable images", "fatal"),
}

SHOW_PER_CODE = 10
"""How many occurrences of each problem the printed summary lists before '... and N more'."""


class DatasetWarning(UserWarning):
    """Problems in a dataset that were skipped (the summary of a :class:`ValidationReport`)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a dataset.

    Attributes:
        code: the kind of problem (a key of ``POLICY``).
        file: the file it is in (label file, annotation file or image).
        line: 1-based line in ``file``, when there is one (COCO json problems have none: the
            detail names the annotation or image id instead).
        detail: what exactly is wrong.

    Example:
        >>> problem = Problem("bad_columns", "labels/a.txt", 3, "4 columns")
        >>> str(problem), problem.fatal
        ('labels/a.txt:3: 4 columns', False)
    """

    code: str
    file: str | None
    line: int | None
    detail: str

    @property
    def fatal(self) -> bool:
        """Whether this kind of problem stops reading (``POLICY``)."""
        return POLICY[self.code][0]

    @property
    def where(self) -> str:
        """``file:line``, ``file``, or ``dataset`` for problems of the whole set."""
        if self.file is None:
            return "dataset"
        return f"{self.file}:{self.line}" if self.line is not None else str(self.file)

    def __str__(self) -> str:
        return f"{self.where}: {self.detail}"


@dataclass
class ValidationReport:
    """All problems found in a dataset, printable as one summary.

    Attributes:
        problems: every problem, in the order found.
        images_checked: how many images were looked at.
        images_kept: how many are usable.
        boxes_kept: how many boxes the usable images hold.
        background_images: usable images with no boxes (no label file or an empty one).

    Example:
        >>> report = ValidationReport()
        >>> report.add("degenerate_box", "labels/a.txt", 2, "box [5, 5, 5, 9] has no area")
        >>> report.ok, dict(report.codes())
        (True, {'degenerate_box': 1})
        >>> report.add("class_out_of_range", "labels/b.txt", 1, "class id 7 is outside names")
        >>> [str(p) for p in report.errors], len(report.warnings)
        (['labels/b.txt:1: class id 7 is outside names'], 1)
        >>> report.raise_or_warn("my_data")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        detectkit.errors.DatasetError: my_data: failed validation
        dataset check: 1 error, 1 warning
        ...
    """

    problems: list[Problem] = field(default_factory=list)
    images_checked: int = 0
    images_kept: int = 0
    boxes_kept: int = 0
    background_images: int = 0

    def add(self, code: str, file: str | os.PathLike | None, line: int | None, detail: str) -> None:
        """Record one problem (``code`` must be a key of ``POLICY``)."""
        if code not in POLICY:
            raise KeyError(f"unknown problem code {code!r}")
        self.problems.append(Problem(code, None if file is None else str(file), line, detail))

    def extend(self, other: "ValidationReport") -> None:
        """Add another report's problems and counts to this one."""
        self.problems.extend(other.problems)
        self.images_checked += other.images_checked
        self.images_kept += other.images_kept
        self.boxes_kept += other.boxes_kept
        self.background_images += other.background_images

    @property
    def errors(self) -> list[Problem]:
        """The fatal problems."""
        return [p for p in self.problems if p.fatal]

    @property
    def warnings(self) -> list[Problem]:
        """The problems that were skipped."""
        return [p for p in self.problems if not p.fatal]

    @property
    def ok(self) -> bool:
        """True when nothing fatal was found (warnings allowed)."""
        return not self.errors

    def codes(self) -> Counter:
        """How many problems of each kind."""
        return Counter(p.code for p in self.problems)

    def summary(self, limit: int = SHOW_PER_CODE) -> str:
        """The report as text: one header line, then each kind of problem with up to ``limit`` examples."""
        n_err, n_warn = len(self.errors), len(self.warnings)
        lines = [f"dataset check: {n_err} error{'s' * (n_err != 1)}, {n_warn} warning{'s' * (n_warn != 1)}"]
        if self.images_checked:
            lines[0] += (
                f" ({self.images_checked} images checked, {self.images_kept} usable with "
                f"{self.boxes_kept} boxes, {self.background_images} background)"
            )
        grouped: dict[str, list[Problem]] = defaultdict(list)
        for problem in self.problems:
            grouped[problem.code].append(problem)
        order = sorted(grouped, key=lambda c: (not POLICY[c][0], list(POLICY).index(c)))
        for code in order:
            fatal, title, action = POLICY[code]
            items = grouped[code]
            label = "ERROR" if fatal else "warning"
            lines.append(f"  {label} {code} ({len(items)}): {title}; {action}")
            for problem in items[:limit]:
                lines.append(f"    {problem}")
            if len(items) > limit:
                lines.append(f"    ... and {len(items) - limit} more")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def raise_or_warn(self, what: str = "dataset", stacklevel: int = 3) -> None:
        """Raise :class:`DatasetError` with the summary if anything is fatal; else warn once if anything was skipped."""
        if self.errors:
            raise DatasetError(f"{what}: failed validation\n{self.summary()}")
        if self.problems:
            warnings.warn(f"{what}: some labels were skipped\n{self.summary()}", DatasetWarning, stacklevel=stacklevel)


# --------------------------------------------------------------------------- images
def probe_image(path: str | os.PathLike) -> tuple[int, int, str | None]:
    """Width and height of an image file (EXIF orientation applied) from its header, without decoding it.

    Returns:
        ``(width, height, warning)``: ``warning`` is ``"truncated"`` for a JPEG without its end marker, else None.

    Raises:
        FileNotFoundError: no such file.
        ValueError: empty, not an image, corrupt header, or smaller than 8 pixels on a side.

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> path = Path(tempfile.mkdtemp()) / "photo.jpg"
        >>> Image.new("RGB", (64, 48)).save(path)
        >>> probe_image(path)
        (64, 48, None)
        >>> path.write_bytes(path.read_bytes()[:-2]) and probe_image(path)[2]   # the end marker cut off
        'truncated'
    """
    from PIL import Image

    from ..images import MIN_SIDE, _pil_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    size = path.stat().st_size
    if size == 0:
        raise ValueError("file is empty (0 bytes)")
    opener = _pil_open()  # PIL's own: ultralytics' patched Image.open would pip-install a plugin on a bad file
    try:  # one open: the header gives size, format and EXIF; verify() checks the structure without decoding
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with opener(path) as image:
                width, height = image.size
                fmt = image.format
                orientation = _orientation(image, fmt)
                image.verify()
    except Exception as exc:  # PIL raises many types for bad files
        raise ValueError(f"not a readable image ({type(exc).__name__}: {exc})") from None
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    if width < MIN_SIDE or height < MIN_SIDE:
        raise ValueError(f"image is {width}x{height} pixels; at least {MIN_SIDE}x{MIN_SIDE} is needed")
    warning = None
    if fmt in ("JPEG", "MPO"):
        with open(path, "rb") as handle:
            handle.seek(-2, os.SEEK_END)
            if handle.read(2) != b"\xff\xd9":
                warning = "truncated"
    return width, height, warning


def _orientation(image: Any, fmt: str | None) -> int | None:
    """The EXIF orientation tag of an opened image, read without decoding pixels.

    PNG: only an eXIf chunk before the image data (``getexif()`` would decode the image to look further).
    """
    if fmt not in ("JPEG", "MPO", "TIFF", "WEBP", "PNG"):
        return None
    try:
        if fmt == "PNG":
            if "exif" not in image.info:
                return None
            from PIL import Image

            exif = Image.Exif()
            exif.load(image.info["exif"])
            return exif.get(274)
        return image.getexif().get(274)
    except Exception:  # a broken EXIF block is not a broken image
        return None


def probe_images(paths: Sequence[Path]) -> list[tuple[int, int, str | None] | Exception]:
    """:func:`probe_image` for many files (threads for large lists); failures are returned, not raised.

    Example:
        >>> [type(r).__name__ for r in probe_images([Path("no/such.jpg")])]
        ['FileNotFoundError']
    """

    def one(path: Path) -> tuple[int, int, str | None] | Exception:
        try:
            return probe_image(path)
        except (OSError, ValueError) as exc:
            return exc

    if len(paths) < 64:
        return [one(p) for p in paths]
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2) * 2)) as pool:
        return list(pool.map(one, paths))


def record_probe(report: ValidationReport, path: Path, result: tuple[int, int, str | None] | Exception) -> bool:
    """Add the problem a :func:`probe_images` result shows; True when the image is usable.

    Example:
        >>> report = ValidationReport()
        >>> record_probe(report, Path("a.jpg"), (640, 480, None)), record_probe(report, Path("b.jpg"), ValueError("file is empty"))
        (True, False)
        >>> [str(p) for p in report.problems]
        ['b.jpg: file is empty']
    """
    if isinstance(result, FileNotFoundError):
        report.add("missing_image", path, None, "no such file")
        return False
    if isinstance(result, Exception):
        report.add("unreadable_image", path, None, str(result))
        return False
    if result[2] == "truncated":
        report.add("truncated_image", path, None, "JPEG ends without its end-of-image marker (truncated download?)")
    return True


# --------------------------------------------------------------------------- boxes
def check_boxes(
    xyxy: np.ndarray,
    class_id: np.ndarray,
    *,
    width: int,
    height: int,
    num_classes: int,
    file: str | os.PathLike | None,
    lines: Sequence[int | None] | None,
    report: ValidationReport,
    where: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Check and clean one image's boxes (absolute pixels), recording problems in ``report``.

    Args:
        xyxy: (N, 4) float boxes in pixels, possibly NaN or out of range.
        class_id: (N,) class ids (float or int; fractional ids are an error).
        width, height: the image size in pixels.
        num_classes: ``len(names)``; ids must be in ``[0, num_classes)``.
        file, lines: where each box came from, for the messages (``lines[i]`` may be None).
        report: where problems go.
        where: optional per-box text to name the box in messages (e.g. ``'object 2'``).

    Returns:
        ``(xyxy float32, class_id int64, kept_index, usable)``: the clean boxes, which input rows they
        are, and False when the whole image must be skipped.

    Example:
        >>> r = ValidationReport()
        >>> boxes, ids, kept, usable = check_boxes(np.array([[-1, 0, 50, 40], [5, 5, 5, 9]], float),
        ...     np.array([0, 0]), width=100, height=80, num_classes=1, file="a.txt", lines=[1, 2], report=r)
        >>> boxes.tolist(), kept.tolist(), usable, [p.code for p in r.problems]
        ([[0.0, 0.0, 50.0, 40.0]], [0], True, ['degenerate_box'])
    """
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    ids = np.asarray(class_id, dtype=np.float64).reshape(-1)
    n = len(xyxy)
    if lines is None:
        lines = [None] * n

    def name(i: int) -> str:
        return f"{where[i]}: " if where is not None else ""

    usable = True
    finite = np.isfinite(xyxy).all(axis=1) & np.isfinite(ids)
    for i in np.flatnonzero(~finite):
        report.add("not_a_number", file, lines[i], f"{name(i)}NaN or infinite value in {_fmt_row(ids[i], xyxy[i])}")
        usable = False
    integral = finite & (ids == np.round(ids))
    for i in np.flatnonzero(finite & ~integral):
        report.add("not_a_number", file, lines[i], f"{name(i)}class id {ids[i]:g} is not a whole number")
        usable = False
    bad_class = integral & ((ids < 0) | (ids >= num_classes))
    for i in np.flatnonzero(bad_class):
        report.add(
            "class_out_of_range", file, lines[i],
            f"{name(i)}class id {int(ids[i])} is outside names (0..{num_classes - 1}, {num_classes} classes)",
        )
    tol_x, tol_y = max(1.0, TOLERANCE * width), max(1.0, TOLERANCE * height)
    with np.errstate(invalid="ignore"):
        outside = finite & (
            (xyxy[:, [0, 2]] < -tol_x).any(axis=1)
            | (xyxy[:, [0, 2]] > width + tol_x).any(axis=1)
            | (xyxy[:, [1, 3]] < -tol_y).any(axis=1)
            | (xyxy[:, [1, 3]] > height + tol_y).any(axis=1)
        )
    for i in np.flatnonzero(outside):
        report.add(
            "out_of_range", file, lines[i],
            f"{name(i)}box {_fmt_box(xyxy[i])} is outside the {width}x{height} image",
        )
        usable = False
    keep = finite & integral & ~bad_class & ~outside
    clipped = xyxy.copy()
    clipped[:, [0, 2]] = np.clip(clipped[:, [0, 2]], 0, width)
    clipped[:, [1, 3]] = np.clip(clipped[:, [1, 3]], 0, height)
    with np.errstate(invalid="ignore"):
        degenerate = keep & ((clipped[:, 2] <= clipped[:, 0]) | (clipped[:, 3] <= clipped[:, 1]))
    for i in np.flatnonzero(degenerate):
        report.add(
            "degenerate_box", file, lines[i],
            f"{name(i)}box {_fmt_box(xyxy[i])} has no area (width {xyxy[i, 2] - xyxy[i, 0]:g}, "
            f"height {xyxy[i, 3] - xyxy[i, 1]:g})",
        )
    keep &= ~degenerate
    kept = np.flatnonzero(keep)
    seen: dict[tuple, int] = {}
    unique: list[int] = []
    for i in kept:
        key = (int(ids[i]), *np.round(clipped[i], 3).tolist())
        if key in seen:
            first = lines[seen[key]]
            report.add(
                "duplicate_box", file, lines[i],
                f"{name(i)}same class and box as " + (f"line {first}" if first is not None else "an earlier box"),
            )
            continue
        seen[key] = i
        unique.append(int(i))
    index = np.asarray(unique, dtype=np.int64)
    return clipped[index].astype(np.float32), ids[index].astype(np.int64), index, usable


def _fmt_box(box: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:g}" for v in box) + "]"


def _fmt_row(cls: float, box: np.ndarray) -> str:
    return f"class {cls:g} box {_fmt_box(box)}"


# --------------------------------------------------------------------------- whole datasets
def check_duplicates(samples: Iterable, report: ValidationReport, split: str | None = None) -> list[int]:
    """Record ``duplicate_image`` (same file twice) and ``duplicate_name`` (same name, different files).

    Returns the indices of samples to keep (first occurrence of each file).

    Example:
        >>> from detectkit.training.datasets import Sample
        >>> report = ValidationReport()
        >>> samples = [Sample(Path(p), [], [], 8, 8) for p in ("a/x.jpg", "a/x.jpg", "b/x.jpg")]
        >>> check_duplicates(samples, report, "train"), [p.code for p in report.problems]
        ([0, 2], ['duplicate_image', 'duplicate_name'])
    """
    first: dict[str, int] = {}
    names: dict[str, list[Path]] = defaultdict(list)
    keep: list[int] = []
    in_split = f" in split '{split}'" if split else ""
    for i, sample in enumerate(samples):
        key = os.path.normcase(os.path.abspath(sample.image_path))
        if key in first:
            report.add(
                "duplicate_image", getattr(sample, "label_path", None) or sample.image_path, None,
                f"{sample.image_path} is listed again{in_split} (first as item {first[key] + 1})",
            )
            continue
        first[key] = i
        names[Path(sample.image_path).name.lower()].append(Path(sample.image_path))
        keep.append(i)
    for name, paths in names.items():
        if len(paths) > 1:
            report.add(
                "duplicate_name", paths[1], None,
                f"{len(paths)} different files are called {name!r}{in_split}: "
                + ", ".join(str(p) for p in paths[:3]) + (" ..." if len(paths) > 3 else ""),
            )
    return keep


def check_overlap(train: LabelledImages, val: LabelledImages, report: ValidationReport) -> None:
    """Record ``train_val_overlap`` for images that are in both splits.

    Example:
        >>> from detectkit.training.data_model import DetectionDataset, Sample
        >>> train = DetectionDataset(["a"], [Sample(Path(p), [], [], 8, 8) for p in ("1.jpg", "2.jpg")])
        >>> report = ValidationReport()
        >>> check_overlap(train, train[1:], report); [str(p) for p in report.problems]
        ['2.jpg: 1 of 1 val images are also in train']
    """
    keys = {os.path.normcase(os.path.abspath(s.image_path)) for s in train.samples}
    both = [s.image_path for s in val.samples if os.path.normcase(os.path.abspath(s.image_path)) in keys]
    if both:
        report.add(
            "train_val_overlap", both[0], None,
            f"{len(both)} of {len(val)} val images are also in train"
            + (" (val is the same set as train)" if len(both) == len(val) == len(train) else ""),
        )


def validate(dataset: LabelledImages, *, check_images: bool = True) -> ValidationReport:
    """Check a dataset built in memory (or re-check a loaded one) and return the report; never raises.

    Checks every sample's arrays (shape, NaN, range against its width/height, class ids against
    ``names``, degenerate and duplicate boxes), duplicate images and names, and, with
    ``check_images``, that each image exists, is readable and has the recorded size.

    Example:
        >>> from detectkit.training.data_model import DetectionDataset, Sample
        >>> s = Sample(Path("missing.jpg"), np.array([[0, 0, 5, 5]], np.float32), np.array([3]), 10, 10)
        >>> report = validate(DetectionDataset(["a"], [s], None), check_images=False)
        >>> [p.code for p in report.errors]
        ['class_out_of_range']
    """
    report = ValidationReport()
    samples = list(dataset.samples)
    report.images_checked = len(samples)
    probes = probe_images([Path(s.image_path) for s in samples]) if check_images else [None] * len(samples)
    keep = set(check_duplicates(samples, report, getattr(dataset, "split", None)))
    for i, (sample, probe) in enumerate(zip(samples, probes)):
        if i not in keep:
            continue
        if probe is not None:
            if not record_probe(report, Path(sample.image_path), probe):
                continue
            if (probe[0], probe[1]) != (sample.width, sample.height):
                report.add(
                    "size_mismatch", sample.image_path, None,
                    f"recorded as {sample.width}x{sample.height}, the file is {probe[0]}x{probe[1]}",
                )
                continue
        xyxy = np.asarray(sample.xyxy)
        if xyxy.size and (xyxy.ndim != 2 or xyxy.shape[1] != 4):
            report.add("bad_columns", sample.image_path, None, f"xyxy has shape {xyxy.shape}, expected (N, 4)")
            continue
        if len(np.asarray(sample.class_id).reshape(-1)) != len(xyxy.reshape(-1, 4)):
            report.add(
                "bad_columns", sample.image_path, None,
                f"{len(xyxy)} boxes but {len(np.asarray(sample.class_id).reshape(-1))} class ids",
            )
            continue
        boxes, _, _, usable = check_boxes(
            xyxy, sample.class_id, width=sample.width, height=sample.height, num_classes=len(dataset.names),
            file=sample.image_path, lines=None, report=report,
            where=[f"box {j}" for j in range(len(xyxy.reshape(-1, 4)))],
        )
        if usable:
            report.images_kept += 1
            report.boxes_kept += len(boxes)
            report.background_images += int(len(boxes) == 0)
    if report.images_kept == 0:
        report.add("no_images", None, None, f"none of the {len(samples)} images is usable")
    return report
