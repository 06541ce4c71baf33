"""The dataset data model: :class:`Sample` (one labelled image) and :class:`DetectionDataset`.

The bottom of ``detectkit.training``: every format reader in :mod:`detectkit.training.formats`
builds these, and the trainers, the evaluator and the writers take them. It depends on nothing
above it (only :mod:`detectkit.training.validate` for the report type and the checks). The
fields are described in :mod:`detectkit.training.datasets`, which re-exports everything here.

Example:
    >>> ds = DetectionDataset(["cat"], [Sample(Path("a.jpg"), [[0, 0, 4, 4]], [0], 8, 8)])
    >>> len(ds), ds.num_boxes, normalize_split("valid")
    (1, 1, 'val')
"""

from __future__ import annotations

import os
import reprlib
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Sequence, Union, overload

import numpy as np

from ..errors import DatasetError
from .validate import ValidationReport, validate

__all__ = ["Sample", "DetectionDataset", "DataSpec", "SPLIT_ALIASES", "normalize_split", "check_class_names", "shown"]

DataSpec = Union[str, os.PathLike, "DetectionDataset"]
"""What dataset arguments accept: a path (YAML, json, folder) or a loaded :class:`DetectionDataset`."""

SPLIT_ALIASES = {"valid": "val", "validation": "val", "training": "train", "testing": "test"}
"""Other names of the standard splits (``valid`` is ``val``...), as folder and file names use them."""


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

        Usage:
            Sample(Path("a.jpg"), [], [], 640, 480).load_image().shape -> (480, 640, 3)
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


_SHORT = reprlib.Repr()
_SHORT.maxstring, _SHORT.maxother, _SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict = 40, 40, 3, 4, 4


def shown(value: Any) -> str:
    """A short ``repr`` for messages about file contents: long strings cut, deep nesting elided (never recurses far).

    Example:
        >>> len(shown("x" * 100)), shown([[[[[1]]]]])
        (40, '[[[[...]]]]')
    """
    return _SHORT.repr(value)


def check_class_names(names: Sequence[Any], source: str | os.PathLike) -> list[str]:
    """The class names as strings, or a :class:`DatasetError` naming ``source`` and what is wrong.

    A class name must be text (not a number, null, list or mapping), hold something visible
    (not empty, blank, or only zero-width/format characters such as U+200B, U+2060, U+FEFF)
    and no control characters (tabs, newlines: they break label files); duplicates are refused,
    since two classes of one name cannot be told apart by name (filters, reports, evaluation).
    Names are returned as given (not stripped); duplicates are compared stripped and NFC-normalised.

    Example:
        >>> check_class_names(["cat", "Zoë"], "data.yaml")
        ['cat', 'Zoë']
        >>> check_class_names(["cat", None], "data.yaml")
        Traceback (most recent call last):
        detectkit.errors.DatasetError: data.yaml: the class name of class 1 is None (NoneType), not text; class names must be strings
        >>> check_class_names(["cat", "dog", "cat"], "data.yaml")
        Traceback (most recent call last):
        detectkit.errors.DatasetError: data.yaml: duplicate class name 'cat' (classes 0 and 2); each class needs its own name
    """
    out: list[str] = []
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise DatasetError(
                f"{source}: the class name of class {i} is {shown(name)} ({type(name).__name__}), not text; "
                "class names must be strings"
            )
        clean = unicodedata.normalize("NFC", name).strip()
        if not clean:
            raise DatasetError(f"{source}: the class name of class {i} is empty ({name!r})")
        for char in clean:
            if unicodedata.category(char) in ("Cc", "Zl", "Zp", "Cs"):
                raise DatasetError(f"{source}: the class name of class {i} ({shown(name)}) contains control character U+{ord(char):04X}")
        if all(unicodedata.category(c) == "Cf" or c.isspace() for c in clean):
            raise DatasetError(
                f"{source}: the class name of class {i} ({name!r}) is invisible: only zero-width or format characters"
            )
        if clean in first:
            raise DatasetError(
                f"{source}: duplicate class name {shown(clean)} (classes {first[clean]} and {i}); each class needs its own name"
            )
        first[clean] = i
        out.append(name)
    return out


def normalize_split(split: str | None) -> str | None:
    """``'valid'``/``'validation'`` -> ``'val'``; ``None``/``'all'`` -> None (every split).

    Example:
        >>> normalize_split("Validation"), normalize_split("all"), normalize_split("test")
        ('val', None, 'test')
    """
    if split is None or split == "all":
        return None
    return SPLIT_ALIASES.get(split.lower(), split.lower())
