"""Labelled detection datasets: one in-memory form for YOLO, COCO, Pascal VOC and Penn-Fudan data.

This module is the public face of the dataset side: the data model lives in
:mod:`~detectkit.training.data_model`, the readers in :mod:`~detectkit.training.formats` (one
module per format, registered in :data:`~detectkit.training.formats.registry.FORMATS`), reading in
:mod:`~detectkit.training.loading`; all are re-exported here.

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
from pathlib import Path
from typing import Any

from .convert import to_ultralytics_yaml as _to_ultralytics_yaml
from .data_model import SPLIT_ALIASES, DataSpec, DetectionDataset, Sample, normalize_split  # noqa: F401
from .formats.registry import FORMATS, writer  # noqa: F401
from .loading import check_dataset, detect_format, list_splits, load_dataset, load_splits, read_spec  # noqa: F401

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
    return writer("yolo")(dataset, out_dir, **kwargs)


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
    from .formats.coco import write_coco as _write  # one json, not the folder layout writer("coco") makes

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
    return writer("voc")(dataset, out_dir, **kwargs)


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
    return _to_ultralytics_yaml(train, val, out_dir, **kwargs)
