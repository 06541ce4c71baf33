"""Convert datasets between YOLO, COCO and VOC, and lay out any dataset for the ultralytics trainer.

Usage:
    convert("coco_data/", "yolo", "yolo_data/")          # -> Path("yolo_data/data.yaml")
    to_ultralytics_yaml(train_ds, val_ds, "runs/x/data")  # -> Path("runs/x/data/data.yaml")
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from ..errors import DatasetError
from .data_model import DataSpec, DetectionDataset
from .formats._common import ImagesMode
from .formats.registry import writer
from .loading import list_splits, load_dataset, read_spec
from .split import split_dataset
from .validate import ValidationReport

__all__ = ["convert", "to_ultralytics_yaml", "write_dataset"]

Format = Literal["yolo", "coco", "voc"]
"""The formats detectkit writes (any format registered with a writer in ``FORMATS`` is accepted)."""


def write_dataset(
    dataset: DetectionDataset, fmt: Format, out_dir: str | os.PathLike, *, split: str | None = None,
    images: ImagesMode = "symlink", overwrite: bool = False,
) -> Path:
    """Write one split in ``fmt`` under ``out_dir`` (the standard layout of each format; its ``FORMATS`` writer).

    * yolo: ``out/images/<split>``, ``out/labels/<split>``, ``out/data.yaml`` (returned);
    * coco: ``out/images/<split>``, ``out/annotations/instances_<split>.json``; returns ``out``;
    * voc: ``out/JPEGImages``, ``out/Annotations``, ``out/ImageSets/Main/<split>.txt``; returns ``out``.

    A file already there that differs from what would be written is an error (nothing is written);
    ``overwrite`` replaces it, only in a folder detectkit made (it leaves a ``.detectkit`` file there).

    Example:
        >>> import tempfile
        >>> from detectkit.training.synthetic import make_shapes_dataset
        >>> work = Path(tempfile.mkdtemp())
        >>> val = load_dataset(make_shapes_dataset(work / "src", n_train=2, n_val=2, imgsz=64), "val")
        >>> write_dataset(val, "coco", work / "coco").name, load_dataset(work / "coco", "val").format
        ('coco', 'coco')
    """
    write = writer(fmt)  # DatasetError for a format detectkit does not write
    return write(dataset, out_dir, split=split or dataset.split or "train", images=images, overwrite=overwrite)


def convert(
    src: str | os.PathLike,
    to: Format,
    out_dir: str | os.PathLike,
    *,
    images: ImagesMode = "symlink",
    val_fraction: float | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Convert every split of a dataset to another format.

    Args:
        src: any dataset :func:`~detectkit.training.datasets.load_dataset` reads.
        to: ``"yolo"``, ``"coco"`` or ``"voc"``.
        out_dir: where to write (made if needed).
        images: ``"symlink"`` (default), ``"copy"`` or ``"hardlink"``: how images get into ``out_dir``.
        val_fraction: when ``src`` has no val split, make one of this share of its train split
            (reproducible with ``seed``, as :func:`~detectkit.training.datasets.load_splits` does); other splits are kept.
        seed: seed for that split.
        overwrite: replace files that differ, and remove stale ones, in folders detectkit made before
            (see :func:`write_dataset`); never in other folders.

    Returns:
        What to pass to ``load_dataset`` or a trainer: ``data.yaml`` for YOLO, the folder otherwise.

    Raises:
        DatasetError: ``src`` fails validation (nothing is written then).

    Example (YOLO to VOC and back: the same boxes):
        >>> import tempfile
        >>> import numpy as np
        >>> from detectkit.training.loading import load_dataset
        >>> from detectkit.training.synthetic import make_shapes_dataset
        >>> root = Path(tempfile.mkdtemp())
        >>> yolo = make_shapes_dataset(root / "shapes", 4, 2, imgsz=64, classes=["circle", "square"])
        >>> voc = convert(yolo, "voc", root / "voc")
        >>> back = convert(voc, "yolo", root / "yolo")
        >>> load_dataset(voc, "val").format, back.name
        ('voc', 'data.yaml')
        >>> a, b = load_dataset(yolo, "train"), load_dataset(back, "train")
        >>> b.names == a.names and [len(s) for s in b] == [len(s) for s in a]
        True
        >>> all(np.allclose(s.xyxy, t.xyxy, atol=1.0) and (s.class_id == t.class_id).all() for s, t in zip(a, b))
        True
    """
    parts = {split: read_spec(src, split, None) for split in list_splits(src)}  # all read before anything is written
    report = ValidationReport()
    for part in parts.values():
        report.extend(part.report)
    report.raise_or_warn(str(src))  # one summary for every split
    if val_fraction is not None and "val" not in parts:
        if "train" not in parts:
            raise DatasetError(f"{src}: has no 'train' split to take a val split from (splits: {', '.join(parts)})")
        parts["train"], parts["val"] = split_dataset(parts["train"], val_fraction, seed)  # the other splits stay
    result = Path(out_dir)
    for split, dataset in parts.items():
        result = write_dataset(dataset, to, out_dir, split=split, images=images, overwrite=overwrite)
    return result


def to_ultralytics_yaml(
    train: DataSpec,
    val: DataSpec,
    out_dir: str | os.PathLike,
    *,
    images: ImagesMode = "symlink",
) -> Path:
    """Lay out train and val as YOLO data for the ultralytics trainer and return its data YAML.

    Whatever the source format (YOLO, COCO, VOC, Penn-Fudan, or datasets built in memory), the
    labels ultralytics reads are exactly the validated boxes in ``train``/``val`` (skipped images
    and boxes stay out; ignore regions are not written). Images are symlinked (copied where
    links are not allowed). ``out_dir`` is detectkit's own working folder: stale files from an
    earlier call are replaced.

    Args:
        train, val: datasets or dataset paths (read with ``load_dataset(spec, "train"/"val")``).
        out_dir: the folder to write (``images/``, ``labels/``, ``data.yaml``).
        images: ``"symlink"``, ``"copy"`` or ``"hardlink"``.

    Raises:
        DatasetError: the two sets have different class names.

    Usage:
        train, val = load_splits("voc_data/"); to_ultralytics_yaml(train, val, "runs/a/data")
    """
    from .formats.yolo import MARKER, write_yolo

    train_ds = load_dataset(train, "train")
    val_ds = load_dataset(val, "val")
    if list(train_ds.names) != list(val_ds.names):
        raise DatasetError(f"train and val have different class names: {train_ds.names} vs {val_ds.names}")
    out = Path(out_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    if not any(out.iterdir()) or (out / MARKER).is_file():
        (out / "data.yaml").unlink(missing_ok=True)  # a fresh YAML: names may have changed since last time
    write_yolo(train_ds, out, split="train", images=images, overwrite=True)
    return write_yolo(val_ds, out, split="val", images=images, overwrite=True)
