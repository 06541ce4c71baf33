"""What the format readers and writers share: raw label records -> validated Samples, image placement."""

from __future__ import annotations

import filecmp
import os
import shutil
from dataclasses import dataclass, field
from dataclasses import replace as _replace
from pathlib import Path
from typing import Callable, Iterable, Literal, Sequence

import numpy as np

from ...errors import DatasetError
from ...images import IMAGE_SUFFIXES
from ..data_model import DetectionDataset, Sample, check_class_names
from ..validate import ValidationReport, check_boxes, check_duplicates, probe_images, record_probe

ImagesMode = Literal["symlink", "copy", "hardlink"]


@dataclass
class RawImage:
    """One image's labels as a reader found them, before validation.

    ``boxes`` rows are ``x1, y1, x2, y2`` in pixels, or ``cx, cy, w, h`` in 0..1 when
    ``normalized`` (YOLO). ``skip`` is set when the reader already found the labels unusable.

    Example:
        >>> raw = RawImage(Path("a.jpg"), Path("a.txt"), normalized=True)
        >>> raw.add([0.5, 0.5, 0.2, 0.2], 1, line=3); raw.boxes, raw.class_id, raw.lines
        ([[0.5, 0.5, 0.2, 0.2]], [1.0], [3])
    """

    image_path: Path
    label_path: Path | None = None
    boxes: list[list[float]] = field(default_factory=list)
    class_id: list[float] = field(default_factory=list)
    lines: list[int | None] = field(default_factory=list)
    where: list[str] | None = None
    ignore: list[bool] = field(default_factory=list)
    size: tuple[int, int] | None = None  # (width, height) the annotation says, if it says
    normalized: bool = False
    skip: bool = False

    def add(self, box: Sequence[float], cls: float, line: int | None = None, ignore: bool = False, where: str | None = None) -> None:
        """One box with its class, source line, ignore flag (crowd / difficult) and name for messages."""
        self.boxes.append([float(v) for v in box])
        self.class_id.append(float(cls))
        self.lines.append(line)
        self.ignore.append(bool(ignore))
        if where is not None:
            if self.where is None:
                self.where = [""] * (len(self.boxes) - 1)
            self.where.append(where)
        elif self.where is not None:
            self.where.append("")


def assemble(
    raws: Sequence[RawImage],
    names: Sequence[str],
    report: ValidationReport,
    *,
    root: Path | None,
    split: str | None,
    fmt: str,
) -> DetectionDataset:
    """Validate raw records (images probed, boxes checked) and build the dataset; problems go to ``report``.

    Example:
        >>> report = ValidationReport()
        >>> ds = assemble([RawImage(Path("gone.jpg"))], ["cat"], report, root=None, split="train", fmt="yolo")
        >>> len(ds), [p.code for p in report.problems]
        (0, ['missing_image', 'no_images'])
    """
    report.images_checked += len(raws)
    keep = check_duplicates(raws, report, split)
    raws = [raws[i] for i in keep]
    probes = probe_images([r.image_path for r in raws])
    samples: list[Sample] = []
    for raw, probe in zip(raws, probes):
        if not record_probe(report, raw.image_path, probe):
            continue
        width, height = int(probe[0]), int(probe[1])  # type: ignore[index]
        if raw.size is not None and all(raw.size) and tuple(raw.size) != (width, height):
            report.add(
                "size_mismatch", raw.label_path or raw.image_path, None,
                f"annotated as {raw.size[0]}x{raw.size[1]}, but {raw.image_path.name} is {width}x{height}",
            )
            continue
        boxes = np.asarray(raw.boxes, dtype=np.float64).reshape(-1, 4)
        if raw.normalized and len(boxes):
            cx, cy, w, h = boxes.T
            boxes = np.stack([(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height], 1)
        xyxy, ids, kept, usable = check_boxes(
            boxes, np.asarray(raw.class_id, dtype=np.float64), width=width, height=height, num_classes=len(names),
            file=raw.label_path or raw.image_path, lines=raw.lines, report=report, where=raw.where,
        )
        if raw.skip or not usable:
            continue
        ignore = np.asarray(raw.ignore, dtype=bool)[kept] if len(kept) else np.zeros(0, bool)
        samples.append(
            Sample(
                image_path=raw.image_path,
                xyxy=xyxy[~ignore],
                class_id=ids[~ignore],
                width=width,
                height=height,
                ignore_xyxy=xyxy[ignore],
                ignore_class_id=ids[ignore],
                label_path=raw.label_path,
            )
        )
    report.images_kept += len(samples)
    report.boxes_kept += sum(len(s) for s in samples)
    report.background_images += sum(1 for s in samples if len(s) == 0)
    if not samples:
        where = f"split '{split}' of {root}" if split else str(root)
        report.add("no_images", root, None, f"{where}: none of the {len(raws)} images is usable")
    return DetectionDataset(names=list(names), samples=samples, root=root, split=split, format=fmt, report=report)


def is_image(path: Path) -> bool:
    """Whether the suffix is one detectkit reads as an image (case ignored).

    Example:
        >>> is_image(Path("a.JPG")), is_image(Path("a.txt"))
        (True, False)
    """
    return path.suffix.lower() in IMAGE_SUFFIXES


def images_in(folder: Path, recursive: bool = True) -> list[Path]:
    """Image files under a folder (and its subfolders when ``recursive``), sorted.

    Usage:
        images_in(Path("coco128/images/train2017"))[:1] -> [Path(".../000000000009.jpg")]
    """
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in folder.glob(pattern) if p.is_file() and is_image(p))


def unique_names(paths: Sequence[Path], taken: Iterable[str] = ()) -> list[str]:
    """A distinct file name per path: the name itself, else prefixed by parent folders, else numbered.

    Example:
        >>> unique_names([Path("a/x.jpg"), Path("b/x.jpg"), Path("c/y.jpg")])
        ['a_x.jpg', 'b_x.jpg', 'y.jpg']
    """
    from collections import Counter

    counts = Counter(p.name.lower() for p in paths)
    used = {t.lower() for t in taken}
    out: list[str] = []
    for path in paths:
        name = path.name
        if counts[name.lower()] > 1:
            name = f"{path.parent.name}_{path.name}" if path.parent.name else path.name
        stem, suffix, n = Path(name).stem, Path(name).suffix, 1
        while name.lower() in used:
            name, n = f"{stem}_{n}{suffix}", n + 1
        used.add(name.lower())
        out.append(name)
    return out


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


MARKER = ".detectkit"
"""File a writer leaves in a folder it made: only such folders may have files replaced or removed (``overwrite``)."""


def open_output(out_dir: str | os.PathLike) -> tuple[Path, bool]:
    """Make the output folder; returns it and whether detectkit owns it (made it, or found it empty).

    Example:
        >>> import tempfile
        >>> out, owned = open_output(Path(tempfile.mkdtemp()) / "new")
        >>> owned, (out / MARKER).is_file()
        (True, True)
    """
    out = Path(out_dir).expanduser().resolve()
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    if created or not any(out.iterdir()):
        (out / MARKER).write_text("written by detectkit; stale files here may be replaced\n", encoding="utf-8")
    return out, (out / MARKER).is_file()


def _image_clash(source: Path, target: Path) -> bool:
    """A real file (not a link) at ``target`` that is neither ``source`` nor a byte-for-byte copy of it."""
    if target.is_symlink() or not target.exists():
        return False
    return not (_same_file(source, target) or (target.is_file() and filecmp.cmp(source, target, shallow=False)))


def _text_clash(path: Path, text: str) -> bool:
    if not (path.exists() or path.is_symlink()):
        return False
    try:
        return path.read_text(encoding="utf-8") != text
    except (OSError, UnicodeDecodeError):
        return True


def check_targets(
    images: Iterable[tuple[Path, Path]], texts: Iterable[tuple[Path, str]], replace: bool
) -> None:
    """Refuse, before anything is written, to replace a file that holds something else (unless ``replace``).

    Args:
        images: ``(source, target)`` pairs :func:`place_image` will make.
        texts: ``(path, text)`` pairs :func:`write_text` will write (labels, annotations, lists).
        replace: allowed to replace (``overwrite`` in a folder detectkit made).

    Raises:
        DatasetError: naming the first such file and how many there are.

    Example:
        >>> import tempfile
        >>> mine = Path(tempfile.mkdtemp()) / "a.txt"
        >>> _ = mine.write_text("my labels")
        >>> check_targets([], [(mine, "my labels")], replace=False)  # the same text: nothing to lose
        >>> check_targets([], [(mine, "0 0.5 0.5 0.1 0.1")], replace=False)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        detectkit.errors.DatasetError: ...a.txt: a different file is already there; ...
    """
    if replace:
        return
    clashes = [t for s, t in images if _image_clash(s, t)] + [p for p, text in texts if _text_clash(p, text)]
    if clashes:
        more = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
        raise DatasetError(
            f"{clashes[0]}: a different file is already there{more}; nothing was written. Write to an empty "
            "folder (or, in a folder detectkit wrote, pass overwrite=True)"
        )


def write_text(path: Path, text: str) -> None:
    """Write a text file atomically (a temporary file renamed into place: never half written).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "sub" / "a.txt"
        >>> write_text(path, "0 0.5 0.5 0.2 0.2"); path.read_text()
        '0 0.5 0.5 0.2 0.2'
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        path.unlink()  # write a file of our own, not through a link into someone else's
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def place_image(source: Path, target: Path, mode: ImagesMode, replace: bool = False) -> None:
    """Put ``source`` at ``target`` as a symlink, hard link or copy (nothing to do if it already is that file).

    A link at ``target`` is replaced; another real file only with ``replace`` (else DatasetError: nothing is lost).

    Usage:
        place_image(Path("src/a.jpg"), Path("out/images/train/a.jpg"), "symlink")
    """
    if target.exists() or target.is_symlink():
        if _same_file(source, target) or (target.is_file() and filecmp.cmp(source, target, shallow=False)):
            return
        check_targets([(source, target)], [], replace)
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    if mode == "symlink":
        try:
            target.symlink_to(source.resolve())
            return
        except OSError:  # no symlinks here (Windows without the privilege): copy instead
            pass
    elif mode == "hardlink":
        try:
            os.link(source, target)
            return
        except OSError:
            pass
    elif mode != "copy":
        raise ValueError(f"images must be 'symlink', 'copy' or 'hardlink', not {mode!r}")
    shutil.copy2(source, target)


def prepare_dir(folder: Path, keep: set[str], suffixes: tuple[str, ...], overwrite: bool, what: str) -> None:
    """Make ``folder``; files in it with ``suffixes`` not named in ``keep`` are stale: removed with ``overwrite``, else an error.

    Usage:
        prepare_dir(Path("out/labels/train"), {"a.txt"}, (".txt",), overwrite=False, what="label files")
    """
    folder.mkdir(parents=True, exist_ok=True)
    stale = sorted(
        p for p in folder.iterdir() if (p.is_file() or p.is_symlink()) and p.suffix.lower() in suffixes and p.name not in keep
    )
    if stale and not overwrite:
        raise DatasetError(
            f"{folder}: already holds {len(stale)} {what} that are not part of this dataset "
            f"(e.g. {stale[0].name}); write to an empty folder or pass overwrite=True to replace them"
        )
    for path in stale:
        path.unlink()


def format_number(value: float) -> str:
    """Shortest text for a coordinate that keeps 1/1000 pixel.

    Example:
        >>> format_number(12.0), format_number(12.34567), format_number(-0.0001)
        ('12', '12.346', '0')
    """
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def dataset_names_file(root: Path) -> list[str] | None:
    """Class names from a ``classes.txt`` / ``labels.txt`` / ``obj.names`` / ``names.txt`` in ``root`` (None: none there).

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> _ = (root / "classes.txt").write_text("cat\\ndog\\n")
        >>> dataset_names_file(root)
        ['cat', 'dog']
    """
    for name in ("classes.txt", "labels.txt", "obj.names", "names.txt"):
        path = root / name
        if path.is_file():
            try:
                names = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
            except (OSError, UnicodeDecodeError) as exc:
                raise DatasetError(f"{path}: cannot read the class names ({exc})") from exc
            if names:
                return check_class_names(names, path)
    return None


def concat_splits(parts: Sequence[DetectionDataset], split: str | None) -> DetectionDataset:
    """Several splits of one dataset as one (an image in two splits counts once); reports merged.

    Raises:
        DatasetError: the splits disagree on class names.

    Example:
        >>> a = DetectionDataset(["cat"], [Sample(Path("1.jpg"), [], [], 8, 8)], split="train")
        >>> b = DetectionDataset(["cat"], [Sample(Path("1.jpg"), [], [], 8, 8), Sample(Path("2.jpg"), [], [], 8, 8)])
        >>> both = concat_splits([a, b], split=None); len(both), both.split
        (2, None)
    """
    first = parts[0]
    report = ValidationReport()
    samples: list[Sample] = []
    seen: set[str] = set()
    for part in parts:
        if part.names != first.names:
            raise DatasetError(f"splits of {first.root} disagree on class names: {first.names} vs {part.names}")
        report.extend(part.report)
        for sample in part.samples:  # the same image in two splits (coco128: val = train) counts once
            key = os.path.normcase(os.path.abspath(sample.image_path))
            if key not in seen:
                seen.add(key)
                samples.append(sample)
    return _replace(first, samples=samples, split=split, report=report)


SplitReader = Callable[..., DetectionDataset]
"""``read(path, split, names=None) -> DetectionDataset``: one split of a format."""


def read_by_split(splits: Callable[[Path], list[str]], read_one: SplitReader) -> Callable[..., DetectionDataset]:
    """A format's whole reader from its per-split one: ``split=None`` reads every split (concatenated).

    The returned ``read(path, split=None, names=None)`` raises :class:`DatasetError` for a split the
    path does not have, naming the ones it has.

    Example:
        >>> one = lambda path, split, names=None: DetectionDataset(["a"], [Sample(Path(f"{split}.jpg"), [], [], 8, 8)], split=split)
        >>> read = read_by_split(lambda path: ["train", "val"], one)
        >>> len(read(Path("x"), None)), read(Path("x"), "val").split
        (2, 'val')
    """

    def read(path: Path, split: str | None = None, names: Sequence[str] | None = None) -> DetectionDataset:
        available = splits(path)
        if split is None:
            return concat_splits([read_one(path, s, names=names) for s in available], split=None)
        if split not in available:
            raise DatasetError(
                f"{path}: has no '{split}' split; its splits are: {', '.join(available)}. "
                "Use load_splits() to split it, or split='all' for everything"
            )
        return read_one(path, split, names=names)

    return read
