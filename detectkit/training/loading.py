"""Reading datasets: :func:`load_dataset`, :func:`load_splits`, :func:`list_splits`, :func:`check_dataset`.

The format of a path is found by asking :data:`~detectkit.training.formats.registry.FORMATS`; what
paths each format accepts is in :mod:`detectkit.training.datasets`, which re-exports these.

Example:
    >>> from detectkit.training.synthetic import make_shapes_dataset
    >>> import tempfile
    >>> spec = make_shapes_dataset(tempfile.mkdtemp(), n_train=3, n_val=2, imgsz=64, seed=0)
    >>> list_splits(spec), len(load_dataset(spec, "all"))
    (['train', 'val'], 5)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from ..errors import DatasetError
from .data_model import DataSpec, DetectionDataset, normalize_split
from .formats.registry import find_format
from .split import split_dataset
from .validate import ValidationReport, check_overlap

__all__ = ["load_dataset", "load_splits", "list_splits", "check_dataset", "detect_format", "read_spec"]


def detect_format(spec: str | os.PathLike) -> tuple[str, Path]:
    """Which format a dataset path is in, and the file or folder to read (asks :data:`~detectkit.training.formats.registry.FORMATS`).

    Returns:
        ``(format, path)`` with format a registered name: ``"yolo"``, ``"coco"``, ``"voc"``, ``"pennfudan"``...

    Raises:
        DatasetError: the path does not exist or is in no format detectkit reads.

    Example (four generated images and two for val, YOLO format):
        >>> import tempfile
        >>> from detectkit.training.synthetic import make_shapes_dataset
        >>> spec = make_shapes_dataset(Path(tempfile.mkdtemp()) / "shapes", 4, 2, imgsz=64, classes=["circle", "square"])
        >>> detect_format(spec) == ("yolo", spec), detect_format(spec.parent)[0]
        (True, 'yolo')
    """
    fmt, path = find_format(spec)
    return fmt.name, path


def list_splits(spec: str | os.PathLike) -> list[str]:
    """The splits a dataset defines (``['train', 'val']``...); a dataset without splits has ``['train']``.

    Example:
        >>> import tempfile
        >>> from detectkit.training.synthetic import make_shapes_dataset
        >>> list_splits(make_shapes_dataset(Path(tempfile.mkdtemp()) / "shapes", 4, 2, imgsz=64))
        ['train', 'val']
    """
    fmt, path = find_format(spec)
    return fmt.splits(path)


def read_spec(spec: str | os.PathLike, split: str | None, names: Sequence[str] | None = None) -> DetectionDataset:
    """Read a split (``None``/``'all'``: every split) through its format's reader; nothing raised for content problems.

    Problems are in ``dataset.report`` (:func:`load_dataset` raises or warns about them).

    Usage:
        read_spec("coco128/coco128.yaml", "train").report.images_kept -> 128
    """
    fmt, path = find_format(spec)
    return fmt.read(path, normalize_split(split), names=names)


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
        >>> import tempfile
        >>> from detectkit.training.synthetic import make_shapes_dataset
        >>> spec = make_shapes_dataset(Path(tempfile.mkdtemp()) / "shapes", 4, 2, imgsz=64, classes=["circle", "square"])
        >>> train = load_dataset(spec, "train")
        >>> len(train), train.names, train.split, train.num_boxes == sum(len(s) for s in train)
        (4, ['circle', 'square'], 'train', True)
        >>> load_dataset(spec, "test")
        Traceback (most recent call last):
        detectkit.errors.DatasetError: ...
    """
    if isinstance(spec, DetectionDataset):
        return spec
    dataset = read_spec(spec, split, names)
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

    Usage:
        print(check_dataset("my_data/data.yaml"))
    """
    fmt, path = find_format(spec)
    splits = fmt.splits(path) if normalize_split(split) is None else [normalize_split(split)]
    report = ValidationReport()
    loaded: dict[str, DetectionDataset] = {}
    for name in splits:
        part = read_spec(spec, name, None)
        loaded[name] = part
        report.extend(part.report)
    if "train" in loaded and "val" in loaded:
        check_overlap(loaded["train"], loaded["val"], report)
    return report


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

    Usage:
        train, val = load_splits("my_photos/", val_fraction=0.25, seed=1)
    """
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
