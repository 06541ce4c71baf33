"""The Penn-Fudan pedestrian set (torchvision's fine-tuning tutorial): ``PNGImages/``, ``PedMasks/``, ``Annotation/``.

One class, ``person``. Boxes come from the PASCAL-1.00 annotation text files (``source="annotations"``,
the default; pixel (1, 1) is the top-left, so ``Xmin..Xmax`` covers ``[Xmin - 1, Xmax]``) or from the
instance masks as the tutorial does (``source="masks"``: each mask id's pixel extent, ``[xmin, xmax + 1]``).
The set has no splits: everything is ``train``; use :func:`~detectkit.training.datasets.load_splits`.

Usage:
    ds = read(Path("PennFudanPed"), "train"); ds.names -> ['person']
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from ...errors import DatasetError
from ..data_model import DetectionDataset
from ..validate import ValidationReport
from ._common import RawImage, assemble, read_by_split

__all__ = ["read", "read_dataset", "splits", "sniff", "is_pennfudan", "find_root"]

_BOX = re.compile(
    r'Bounding box for object (\d+) "([^"]*)" \(Xmin, Ymin\) - \(Xmax, Ymax\) : '
    r"\(\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*\) - \(\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*\)"
)
_FILE = re.compile(r'Image filename : "([^"]+)"')
_SIZE = re.compile(r"Image size \(X x Y x C\) : (\d+) x (\d+)")


def find_root(folder: Path) -> Path:
    """The folder holding ``PNGImages`` and ``Annotation`` (``folder`` or its ``PennFudanPed/``).

    Usage:
        find_root(Path("data/pennfudan")) -> Path("data/pennfudan/PennFudanPed")
    """
    for candidate in (folder, folder / "PennFudanPed"):
        if (candidate / "PNGImages").is_dir() and ((candidate / "Annotation").is_dir() or (candidate / "PedMasks").is_dir()):
            return candidate
    raise DatasetError(f"{folder}: not the Penn-Fudan layout (PNGImages/ with Annotation/ or PedMasks/)")


def is_pennfudan(folder: Path) -> bool:
    """Whether :func:`find_root` finds the Penn-Fudan layout here.

    Example:
        >>> is_pennfudan(Path("no/such/folder"))
        False
    """
    try:
        find_root(folder)
        return True
    except DatasetError:
        return False


def splits(root: Path) -> list[str]:
    """Penn-Fudan has no splits: ``['train']`` (split it with :func:`~detectkit.training.datasets.load_splits`).

    Example:
        >>> splits(Path("PennFudanPed"))
        ['train']
    """
    return ["train"]


def read(
    root: Path,
    split: str = "train",
    names: Sequence[str] | None = None,
    source: Literal["annotations", "masks"] = "annotations",
) -> DetectionDataset:
    """Read Penn-Fudan, validated; problems are in ``dataset.report``.

    Usage:
        read(Path("PennFudanPed"), source="masks").num_boxes -> 423
    """
    root = find_root(Path(root))
    report = ValidationReport()
    images = sorted((root / "PNGImages").glob("*.png"))
    if source == "masks":
        raws = [_from_mask(image, root / "PedMasks" / f"{image.stem}_mask.png", report) for image in images]
    elif source == "annotations":
        raws = [_from_text(image, root / "Annotation" / f"{image.stem}.txt", report) for image in images]
    else:
        raise ValueError(f"source must be 'annotations' or 'masks', not {source!r}")
    return assemble(raws, ["person"], report, root=root, split=split, fmt="pennfudan")


def _from_text(image: Path, text_path: Path, report: ValidationReport) -> RawImage:
    raw = RawImage(image_path=image, label_path=text_path)
    try:
        text = text_path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        report.add("bad_label_file", text_path, None, f"cannot be read ({exc})")
        raw.skip = True
        return raw
    for number, line in enumerate(text.splitlines(), start=1):
        if (size := _SIZE.search(line)) is not None:
            raw.size = (int(size.group(1)), int(size.group(2)))
        elif line.startswith("Bounding box for object"):
            match = _BOX.search(line)
            if match is None:
                report.add("bad_columns", text_path, number, "expected '(Xmin, Ymin) - (Xmax, Ymax) : (x1, y1) - (x2, y2)'")
                raw.skip = True
                continue
            x1, y1, x2, y2 = (float(v) for v in match.groups()[2:])
            raw.add([x1 - 1, y1 - 1, x2, y2], 0, number, where=f"object {match.group(1)}")
    return raw


def _from_mask(image: Path, mask_path: Path, report: ValidationReport) -> RawImage:
    from ...images import _pil_open

    raw = RawImage(image_path=image, label_path=mask_path)
    try:  # PIL's own opener: ultralytics' patched Image.open would try to pip-install a plugin on a bad file
        with _pil_open()(mask_path) as handle:
            mask = np.asarray(handle)
    except (OSError, ValueError) as exc:
        report.add("bad_label_file", mask_path, None, f"cannot be read as a mask image ({exc})")
        raw.skip = True
        return raw
    raw.size = (mask.shape[1], mask.shape[0])
    for object_id in np.unique(mask)[1:]:  # 0 is background
        ys, xs = np.nonzero(mask == object_id)
        raw.add([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], 0, None, where=f"mask id {int(object_id)}")
    return raw


# --------------------------------------------------------------------------- registry entry (formats/registry.py)
def sniff(path: Path) -> bool:
    """A folder in the Penn-Fudan layout (or holding ``PennFudanPed/``); see :func:`find_root`.

    Example:
        >>> sniff(Path("no/such/folder"))
        False
    """
    return path.is_dir() and is_pennfudan(path)


read_dataset = read_by_split(splits, read)
"""``read_dataset(folder, split=None, names=None)``: everything is split ``train``."""
