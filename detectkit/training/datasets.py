"""Labelled detection datasets: one in-memory form for YOLO, COCO, Pascal VOC and Penn-Fudan data.

Every reader turns its format into the same objects, which the trainers, the evaluator and
the writers use:

* :class:`Sample`: one image: ``image_path``, ``xyxy`` (N, 4) float32 boxes in absolute pixels
  of the image as stored (EXIF orientation applied), ``class_id`` (N,) int64 0-based indices into
  ``DetectionDataset.names``, ``width`` and ``height`` in pixels. Extra fields: ``ignore_xyxy`` /
  ``ignore_class_id`` hold regions that are neither objects to learn nor background (COCO
  ``iscrowd`` and VOC ``difficult`` objects; YOLO has none): trainers use ``xyxy``/``class_id``
  only, the evaluator passes ignore regions to pycocotools as crowd regions. ``label_path`` is the
  label or annotation file the boxes came from (for messages).
* :class:`DetectionDataset`: ``names`` (list of class names; ``class_id`` indexes it), ``samples``,
  ``root`` (the dataset's folder), ``split`` (``"train"``, ``"val"``, ...), ``format`` (``"yolo"``,
  ``"coco"``, ``"voc"``, ``"pennfudan"`` or None for data built in memory) and ``report`` (the
  :class:`~detectkit.training.validate.ValidationReport` made while reading). ``len()``,
  indexing (an int gives a Sample, a slice or index list a smaller DetectionDataset) and iteration work.

Reading (:func:`load_dataset`) validates as it goes: fatal problems raise
:class:`~detectkit.errors.DatasetError` with the whole summary; everything else is skipped and
reported once as a :class:`~detectkit.training.validate.DatasetWarning`. The table of which
problem does what is in :mod:`detectkit.training.validate`.

What ``spec`` may be (:func:`detect_format`):

* a YOLO data YAML (``path``, ``train``, ``val``, ``test``, ``names`` or ``nc``), or a folder holding one;
* a YOLO folder without a YAML: ``images/`` + ``labels/`` (with ``train``/``val`` subfolders or
  not), or images with ``.txt`` files beside them; class names from ``classes.txt`` /
  ``obj.names`` / ``names.txt``, else ``class_0, class_1, ...``;
* a COCO json file, or a folder with ``annotations/*.json`` (``instances_train2017.json`` is
  split ``train``); images are looked for beside the json, then in ``images/<split>``, ``<split>``
  and ``images`` under its parent folder;
* a Pascal VOC folder: ``Annotations/*.xml`` (+ ``JPEGImages/``, ``ImageSets/Main/<split>.txt``),
  or a folder of images with ``.xml`` files beside them (LabelImg); class order from
  ``classes.txt`` / ``labels.txt`` if there is one, else sorted names;
* the Penn-Fudan pedestrian folder (``PNGImages/`` + ``Annotation/``): one class, ``person``.

Example:
    >>> from detectkit.training.synthetic import make_shapes_dataset
    >>> import tempfile
    >>> spec = make_shapes_dataset(tempfile.mkdtemp(), n_train=4, n_val=2, imgsz=64, seed=0)
    >>> train = load_dataset(spec, "train")
    >>> len(train), train.names, train[0].xyxy.dtype
    (4, ['circle', 'square', 'triangle'], dtype('float32'))
    >>> train, val = load_splits(spec)
    >>> len(train), len(val)
    (4, 2)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Sequence, Union, overload

import numpy as np

from ..errors import DatasetError
from .validate import ValidationReport, check_overlap, validate

__all__ = [
    "Sample",
    "DetectionDataset",
    "DataSpec",
    "load_dataset",
    "load_splits",
    "list_splits",
    "check_dataset",
    "detect_format",
    "write_yolo",
    "write_coco",
    "write_voc",
    "to_ultralytics_yaml",
]

DataSpec = Union[str, os.PathLike, "DetectionDataset"]
"""What dataset arguments accept: a path (YAML, json, folder) or a loaded :class:`DetectionDataset`."""

FORMATS = ("yolo", "coco", "voc", "pennfudan")
SPLIT_ALIASES = {"valid": "val", "validation": "val", "training": "train", "testing": "test"}


def _empty_boxes() -> np.ndarray:
    return np.zeros((0, 4), np.float32)


def _empty_ids() -> np.ndarray:
    return np.zeros((0,), np.int64)


@dataclass(eq=False)
class Sample:
    """One labelled image (see the module docstring for the fields).

    Example:
        >>> s = Sample(Path("a.jpg"), np.array([[1, 2, 30, 40]]), np.array([0]), width=64, height=48)
        >>> s.xyxy.dtype, s.class_id.dtype, len(s)
        (dtype('float32'), dtype('int64'), 1)
    """

    image_path: Path
    xyxy: np.ndarray
    class_id: np.ndarray
    width: int
    height: int
    ignore_xyxy: np.ndarray = field(default_factory=_empty_boxes)
    ignore_class_id: np.ndarray = field(default_factory=_empty_ids)
    label_path: Path | None = None

    def __post_init__(self) -> None:
        self.image_path = Path(self.image_path)
        self.xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        self.class_id = np.asarray(self.class_id, dtype=np.int64).reshape(-1)
        self.ignore_xyxy = np.asarray(self.ignore_xyxy, dtype=np.float32).reshape(-1, 4)
        self.ignore_class_id = np.asarray(self.ignore_class_id, dtype=np.int64).reshape(-1)
        self.width, self.height = int(self.width), int(self.height)
        if len(self.xyxy) != len(self.class_id):
            raise ValueError(f"{self.image_path}: {len(self.xyxy)} boxes but {len(self.class_id)} class ids")
        if len(self.ignore_xyxy) != len(self.ignore_class_id):
            raise ValueError(f"{self.image_path}: ignore_xyxy and ignore_class_id differ in length")

    def __len__(self) -> int:
        return len(self.xyxy)

    def load_image(self) -> np.ndarray:
        """The image as HxWx3 uint8 BGR (through :func:`detectkit.images.load_image`; EXIF orientation applied).

        Example:
            >>> # Sample(Path("a.jpg"), [], [], 640, 480).load_image().shape -> (480, 640, 3)
        """
        from ..images import load_image

        return load_image(self.image_path)


@dataclass(eq=False)
class DetectionDataset:
    """Labelled images and their class names (see the module docstring).

    Example:
        >>> ds = DetectionDataset(["cat"], [Sample(Path("a.jpg"), [[0, 0, 4, 4]], [0], 8, 8)], root=None)
        >>> len(ds), ds[0].class_id.tolist(), ds.class_counts()
        (1, [0], {'cat': 1})
    """

    names: list[str]
    samples: list[Sample]
    root: Path | None = None
    split: str | None = None
    format: str | None = None
    report: ValidationReport = field(default_factory=ValidationReport)

    def __post_init__(self) -> None:
        self.names = [str(n) for n in self.names]
        self.samples = list(self.samples)
        self.root = Path(self.root) if self.root is not None else None

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    @overload
    def __getitem__(self, index: int) -> Sample: ...
    @overload
    def __getitem__(self, index: slice | Sequence[int] | np.ndarray) -> "DetectionDataset": ...

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, (int, np.integer)):
            return self.samples[int(index)]
        if isinstance(index, slice):
            return self.subset(range(len(self))[index])
        return self.subset(index)

    def subset(self, indices: Sequence[int] | np.ndarray, split: str | None = None) -> "DetectionDataset":
        """A dataset with the samples at ``indices`` (same names, root and format).

        Example:
            >>> ds = DetectionDataset(["cat"], [Sample(Path(f"{i}.jpg"), [], [], 8, 8) for i in range(4)])
            >>> [s.image_path.name for s in ds.subset([3, 0], split="val")], ds.subset([1]).split
            (['3.jpg', '0.jpg'], None)
        """
        picked = [self.samples[int(i)] for i in np.asarray(list(indices), dtype=np.int64).reshape(-1)]
        return replace(self, samples=picked, split=split or self.split, report=ValidationReport())

    @property
    def num_classes(self) -> int:
        """``len(names)``."""
        return len(self.names)

    @property
    def num_boxes(self) -> int:
        """Boxes in all samples (ignore regions not counted)."""
        return int(sum(len(s) for s in self.samples))

    def class_counts(self) -> dict[str, int]:
        """Boxes per class name (every name listed, zero included).

        Example:
            >>> ds = DetectionDataset(["cat", "dog"], [Sample(Path("a.jpg"), [[0, 0, 4, 4], [1, 1, 5, 5]], [0, 0], 8, 8)])
            >>> ds.class_counts(), ds.num_boxes, ds.num_classes
            ({'cat': 2, 'dog': 0}, 2, 2)
        """
        counts = np.zeros(len(self.names), np.int64)
        for sample in self.samples:
            np.add.at(counts, sample.class_id, 1)
        return {name: int(n) for name, n in zip(self.names, counts)}

    def validate(self, check_images: bool = True) -> ValidationReport:
        """Check this dataset again (see :func:`detectkit.training.validate.validate`); never raises.

        Example:
            >>> ds = DetectionDataset(["cat"], [Sample(Path("a.jpg"), [[0, 0, 4, 4]], [1], 8, 8)])
            >>> [p.code for p in ds.validate(check_images=False).errors]
            ['class_out_of_range']
        """
        return validate(self, check_images=check_images)

    def __repr__(self) -> str:
        where = f", root={str(self.root)!r}" if self.root else ""
        return (
            f"DetectionDataset({len(self)} images, {self.num_boxes} boxes, {len(self.names)} classes, "
            f"split={self.split!r}, format={self.format!r}{where})"
        )


# --------------------------------------------------------------------------- format detection
def _yaml_in(folder: Path) -> Path | None:
    for name in ("data.yaml", "dataset.yaml", "data.yml", "dataset.yml"):
        if (folder / name).is_file():
            return folder / name
    candidates = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    data_yamls = []
    for path in candidates:
        try:
            text = path.read_text(encoding="utf-8-sig", errors="replace")
        except OSError:
            continue
        if "names" in text or "nc:" in text:
            data_yamls.append(path)
    return data_yamls[0] if len(data_yamls) == 1 else None


def detect_format(spec: str | os.PathLike) -> tuple[str, Path]:
    """Which format a dataset path is in, and the file or folder to read.

    Returns:
        ``(format, path)`` with format one of ``"yolo"``, ``"coco"``, ``"voc"``, ``"pennfudan"``.

    Raises:
        DatasetError: the path does not exist or is in no format detectkit reads.

    Example:
        >>> # detect_format("coco128/coco128.yaml") -> ("yolo", Path("coco128/coco128.yaml"))
    """
    path = Path(spec).expanduser()
    if not path.exists():
        raise DatasetError(f"{path}: no such dataset file or folder")
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in (".yaml", ".yml"):
            return "yolo", path
        if suffix == ".json":
            return "coco", path
        if suffix == ".xml":
            return "voc", path.parent
        raise DatasetError(f"{path}: not a dataset file (expected a YOLO .yaml, a COCO .json, or a folder)")
    from .formats import coco, pennfudan, voc, yolo

    if pennfudan.is_pennfudan(path):
        return "pennfudan", pennfudan.find_root(path)
    yaml_path = _yaml_in(path)
    if yaml_path is not None:
        return "yolo", yaml_path
    if coco.find_jsons(path):
        return "coco", path
    if voc.is_voc(path):
        return "voc", path
    if yolo.is_yolo_folder(path):
        return "yolo", path
    raise DatasetError(
        f"{path}: not a dataset detectkit can read: no data YAML, no COCO json (here or in annotations/), "
        "no VOC Annotations/*.xml, and no images with YOLO .txt labels"
    )


def _reader(fmt: str) -> Any:
    from .formats import coco, pennfudan, voc, yolo

    return {"yolo": yolo, "coco": coco, "voc": voc, "pennfudan": pennfudan}[fmt]


def normalize_split(split: str | None) -> str | None:
    """``'valid'``/``'validation'`` -> ``'val'``; ``None``/``'all'`` -> None (every split).

    Example:
        >>> normalize_split("Validation"), normalize_split("all"), normalize_split("test")
        ('val', None, 'test')
    """
    if split is None or split == "all":
        return None
    return SPLIT_ALIASES.get(split.lower(), split.lower())


def list_splits(spec: str | os.PathLike) -> list[str]:
    """The splits a dataset defines (``['train', 'val']``...); a dataset without splits has ``['train']``.

    Example:
        >>> # list_splits("coco128/coco128.yaml") -> ['train', 'val']
    """
    fmt, path = detect_format(spec)
    return _reader(fmt).splits(path)


def _read(spec: str | os.PathLike, split: str | None, names: Sequence[str] | None) -> DetectionDataset:
    fmt, path = detect_format(spec)
    reader = _reader(fmt)
    wanted = normalize_split(split)
    available = reader.splits(path)
    if fmt == "coco" and path.is_file():  # one json given: it is the split asked for
        return reader.read(path, available[0], names=names, as_split=wanted)
    if wanted is None:
        parts = [reader.read(path, s, names=names) for s in available]
        return _concat(parts, split=None)
    if wanted not in available:
        raise DatasetError(
            f"{path}: has no '{wanted}' split; its splits are: {', '.join(available)}. "
            "Use load_splits() to split it, or split='all' for everything"
        )
    return reader.read(path, wanted, names=names)


def _concat(parts: list[DetectionDataset], split: str | None) -> DetectionDataset:
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
    return replace(first, samples=samples, split=split, report=report)


def load_dataset(
    spec: DataSpec,
    split: str | None = "train",
    *,
    names: Sequence[str] | None = None,
    strict: bool = True,
) -> DetectionDataset:
    """Read a labelled dataset (format detected from the path) and validate it.

    Args:
        spec: a YOLO data YAML, a COCO json, or a dataset folder (YOLO, COCO, VOC, Penn-Fudan);
            a :class:`DetectionDataset` is returned as it is.
        split: ``"train"``, ``"val"``, ``"test"`` (``"valid"`` means ``"val"``), or ``None``/``"all"``
            for every split together. A dataset without splits has only ``"train"``.
        names: class names in id order, for formats that store names, not ids (VOC), or that may
            have no names file (a bare YOLO folder). Ignored where the format defines them.
        strict: raise :class:`DatasetError` on fatal problems (True) or return what could be read
            with the report in ``dataset.report`` (False). Skipped problems are warned about once either way.

    Raises:
        DatasetError: the path is not a dataset, the split does not exist, or a fatal problem was found
            (the message holds the whole validation summary).

    Example:
        >>> # ds = load_dataset("coco128/coco128.yaml", "train"); ds.names[:2] -> ['person', 'bicycle']
    """
    if isinstance(spec, DetectionDataset):
        return spec
    dataset = _read(spec, split, names)
    if strict:
        dataset.report.raise_or_warn(str(spec))
    elif dataset.report.problems:
        import warnings

        from .validate import DatasetWarning

        warnings.warn(f"{spec}: problems found\n{dataset.report.summary()}", DatasetWarning, stacklevel=2)
    return dataset


def check_dataset(spec: str | os.PathLike, split: str | None = None) -> ValidationReport:
    """Validate every split of a dataset (or one) and return one report; does not raise for content problems.

    Raises:
        DatasetError: only when ``spec`` is not a dataset at all or the split does not exist.

    Example:
        >>> # print(check_dataset("my_data/data.yaml"))
    """
    fmt, path = detect_format(spec)
    reader = _reader(fmt)
    splits = reader.splits(path) if normalize_split(split) is None else [normalize_split(split)]
    report = ValidationReport()
    loaded: dict[str, DetectionDataset] = {}
    for name in splits:
        part = _read(spec, name, None)
        loaded[name] = part
        report.extend(part.report)
    if "train" in loaded and "val" in loaded:
        check_overlap(loaded["train"], loaded["val"], report)
    return report


# --------------------------------------------------------------------------- splitting
def load_splits(
    spec: DataSpec,
    val_fraction: float = 0.2,
    seed: int = 0,
    *,
    names: Sequence[str] | None = None,
) -> tuple[DetectionDataset, DetectionDataset]:
    """Train and val sets: the dataset's own ``val`` split when it has one, else a reproducible split.

    The split (when made here) sorts images by path and shuffles them with ``seed``, so the same
    files and seed always give the same split on every machine. Given a :class:`DetectionDataset`,
    it is split. A val split that repeats the train images (coco128's YAML does) is used as given,
    with a ``train_val_overlap`` warning.

    Args:
        spec: dataset path or a loaded :class:`DetectionDataset`.
        val_fraction: share of images for val when splitting (at least one image each side).
        seed: shuffling seed for the split.
        names: see :func:`load_dataset`.

    Example:
        >>> # train, val = load_splits("my_photos/", val_fraction=0.25, seed=1)
    """
    from .split import split_dataset

    if isinstance(spec, DetectionDataset):
        return split_dataset(spec, val_fraction, seed)
    available = list_splits(spec)
    if "val" in available:
        train = load_dataset(spec, "train", names=names)
        val = load_dataset(spec, "val", names=names)
        if train.names != val.names:
            raise DatasetError(f"{spec}: train and val have different class names: {train.names} vs {val.names}")
        report = ValidationReport()
        check_overlap(train, val, report)
        if report.problems:
            report.raise_or_warn(str(spec))
        return train, val
    return split_dataset(load_dataset(spec, "train", names=names), val_fraction, seed)


# --------------------------------------------------------------------------- writers (re-exported)
def write_yolo(dataset: DetectionDataset, out_dir: str | os.PathLike, **kwargs: Any) -> Path:
    """Write a split in YOLO layout; see :func:`detectkit.training.formats.yolo.write_yolo`.

    Example:
        >>> import tempfile
        >>> from detectkit.training.synthetic import make_shapes_dataset
        >>> work = Path(tempfile.mkdtemp())
        >>> coco = load_dataset(make_shapes_dataset(work / "coco", n_train=3, n_val=0, imgsz=64, format="coco"))
        >>> yaml_path = write_yolo(coco, work / "yolo")
        >>> yaml_path.name, len(load_dataset(yaml_path)), (work / "yolo" / "labels" / "train").is_dir()
        ('data.yaml', 3, True)
    """
    from .formats.yolo import write_yolo as _write

    return _write(dataset, out_dir, **kwargs)


def write_coco(dataset: DetectionDataset, json_path: str | os.PathLike, **kwargs: Any) -> Path:
    """Write a COCO json; see :func:`detectkit.training.formats.coco.write_coco`.

    Example:
        >>> import tempfile
        >>> from detectkit.training.synthetic import make_shapes_dataset
        >>> work = Path(tempfile.mkdtemp())
        >>> yolo = load_dataset(make_shapes_dataset(work / "yolo", n_train=3, n_val=0, imgsz=64))
        >>> json_path = write_coco(yolo, work / "coco" / "train.json")
        >>> load_dataset(json_path).format, len(load_dataset(json_path))
        ('coco', 3)
    """
    from .formats.coco import write_coco as _write

    return _write(dataset, json_path, **kwargs)


def write_voc(dataset: DetectionDataset, out_dir: str | os.PathLike, **kwargs: Any) -> Path:
    """Write a split in Pascal VOC layout; see :func:`detectkit.training.formats.voc.write_voc`.

    Example:
        >>> import tempfile
        >>> from detectkit.training.synthetic import make_shapes_dataset
        >>> work = Path(tempfile.mkdtemp())
        >>> yolo = load_dataset(make_shapes_dataset(work / "yolo", n_train=3, n_val=0, imgsz=64))
        >>> root = write_voc(yolo, work / "voc")
        >>> sorted(p.name for p in root.iterdir() if p.is_dir()), load_dataset(root).names
        (['Annotations', 'ImageSets', 'JPEGImages'], ['circle', 'square', 'triangle'])
    """
    from .formats.voc import write_voc as _write

    return _write(dataset, out_dir, **kwargs)


def to_ultralytics_yaml(
    train: DataSpec, val: DataSpec, out_dir: str | os.PathLike, **kwargs: Any
) -> Path:
    """A data YAML for the ultralytics trainer; see :func:`detectkit.training.convert.to_ultralytics_yaml`.

    Example:
        >>> import tempfile
        >>> from detectkit.training.synthetic import make_shapes_dataset
        >>> work = Path(tempfile.mkdtemp())
        >>> train, val = load_splits(make_shapes_dataset(work / "voc", n_train=3, n_val=2, imgsz=64, format="voc"))
        >>> yaml_path = to_ultralytics_yaml(train, val, work / "for_ultralytics")
        >>> [len(load_dataset(yaml_path, s)) for s in ("train", "val")]
        [3, 2]
    """
    from .convert import to_ultralytics_yaml as _to

    return _to(train, val, out_dir, **kwargs)
