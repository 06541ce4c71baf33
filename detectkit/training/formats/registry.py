"""``FORMATS``: the dataset formats detectkit reads and writes, one registry entry each.

An entry (:class:`DatasetFormat`) says how to recognise the format (``sniff``), how to read it
(``read``, ``splits``) and how to write one split of it (``write``, or None for a read-only
format). :func:`~detectkit.training.datasets.load_dataset`, :func:`~detectkit.training.convert.convert`
and the writers ask this registry, so a new format is one module plus one :func:`register_format`
call (here for a built-in format, in the plugin's own ``__init__`` for one outside detectkit).

Formats are asked highest ``priority`` first; ``guess`` (a weaker sign than ``sniff``, such as
images with ``.txt`` files beside them) only after no format's ``sniff`` matched.

Example:
    >>> [f.name for f in FORMATS]
    ['pennfudan', 'yolo', 'coco', 'voc']
    >>> FORMATS.get("voc").write is not None, FORMATS.get("pennfudan").write is None
    (True, True)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ...errors import DatasetError, ModelError
from ...registry import Registry
from ..data_model import DetectionDataset
from . import coco, pennfudan, voc, yolo

__all__ = ["DatasetFormat", "FORMATS", "register_format", "find_format", "writer"]


def _same(path: Path) -> Path:
    return path


@dataclass(frozen=True)
class DatasetFormat:
    """One dataset format.

    Attributes:
        name: what ``DetectionDataset.format`` and ``convert(..., to=name)`` call it.
        sniff: ``sniff(path) -> bool``: the path (file or folder) holds data in this format.
        read: ``read(path, split=None, names=None) -> DetectionDataset``: one split, or every split
            (``None``), validated (problems in ``dataset.report``); ``path`` is what ``locate`` returned.
        splits: ``splits(path) -> list[str]``: the splits the path defines (``['train']`` if none).
        write: ``write(dataset, out_dir, *, split, images, overwrite) -> Path``: one split in the
            format's standard layout; returns what ``read`` takes. None: detectkit only reads it.
        locate: ``locate(path) -> Path``: the file or folder to read (default: the path itself).
        guess: ``guess(path) -> bool``: a weaker sign, asked after every format's ``sniff`` said no.
    """

    name: str
    sniff: Callable[[Path], bool]
    read: Callable[..., DetectionDataset]
    splits: Callable[[Path], list[str]]
    write: Callable[..., Path] | None = None
    locate: Callable[[Path], Path] = _same
    guess: Callable[[Path], bool] | None = None


FORMATS: Registry[DatasetFormat] = Registry("dataset format")


def register_format(
    name: str,
    *,
    sniff: Callable[[Path], bool],
    read: Callable[..., DetectionDataset],
    splits: Callable[[Path], list[str]],
    write: Callable[..., Path] | None = None,
    locate: Callable[[Path], Path] | None = None,
    guess: Callable[[Path], bool] | None = None,
    priority: int = 0,
    replace: bool = False,
) -> DatasetFormat:
    """Add a dataset format to :data:`FORMATS` (see :class:`DatasetFormat` for the functions).

    Example:
        >>> entry = register_format("mine", sniff=lambda p: p.suffix == ".mine", read=yolo.read_dataset, splits=yolo.splits)
        >>> entry.write is None, "mine" in FORMATS
        (True, True)
        >>> FORMATS.unregister("mine").name
        'mine'
    """
    entry = DatasetFormat(name, sniff, read, splits, write, locate or _same, guess)
    FORMATS.register(name, entry, priority=priority, replace=replace)
    return entry


def find_format(spec: str | os.PathLike) -> tuple[DatasetFormat, Path]:
    """The format a dataset path is in, and the file or folder its reader takes.

    Raises:
        DatasetError: the path does not exist or is in no registered format.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "data.yaml").write_text("train: images\\nnames: [cat]\\n")
        >>> fmt, path = find_format(folder); fmt.name, path.name
        ('yolo', 'data.yaml')
    """
    path = Path(spec).expanduser()
    if not path.exists():
        raise DatasetError(f"{path}: no such dataset file or folder")
    entries = list(FORMATS)
    for entry in entries:
        if entry.sniff(path):
            return entry, entry.locate(path)
    for entry in entries:
        if entry.guess is not None and entry.guess(path):
            return entry, entry.locate(path)
    if path.is_file():
        raise DatasetError(f"{path}: not a dataset file (expected a YOLO .yaml, a COCO .json, or a folder)")
    raise DatasetError(
        f"{path}: not a dataset detectkit can read: no data YAML, no COCO json (here or in annotations/), "
        "no VOC Annotations/*.xml, and no images with YOLO .txt labels"
    )


def writer(name: str) -> Callable[..., Path]:
    """The ``write`` function of format ``name``.

    Raises:
        DatasetError: no such format, or detectkit only reads it; the message lists the writable ones.

    Example:
        >>> writer("yolo").__name__
        'write_yolo'
    """
    try:
        entry: DatasetFormat | None = FORMATS.get(name)
    except ModelError:
        entry = None
    if entry is None or entry.write is None:
        writable = [repr(f.name) for f in FORMATS if f.write is not None]
        listed = ", ".join(writable[:-1]) + f" and {writable[-1]}" if len(writable) > 1 else "".join(writable)
        raise DatasetError(f"unknown dataset format {name!r}; detectkit writes {listed}")
    return entry.write


# The built-in formats. Order of the folder checks: Penn-Fudan's layout, a data YAML, COCO json
# files, VOC xml files; a bare YOLO folder (images with .txt beside them) last, as a guess.
register_format(
    "pennfudan", sniff=pennfudan.sniff, read=pennfudan.read_dataset, splits=pennfudan.splits,
    locate=pennfudan.find_root, priority=40,
)
register_format(
    "yolo", sniff=yolo.sniff, read=yolo.read_dataset, splits=yolo.splits, write=yolo.write_yolo,
    locate=yolo.locate, guess=yolo.guess, priority=30,
)
register_format("coco", sniff=coco.sniff, read=coco.read_dataset, splits=coco.splits, write=coco.write_split, priority=20)
register_format(
    "voc", sniff=voc.sniff, read=voc.read_dataset, splits=voc.splits, write=voc.write_voc, locate=voc.locate, priority=10,
)
