"""COCO json (``images``, ``annotations`` with ``bbox = [x, y, w, h]`` in pixels, ``categories``).

Class names are the categories in id order, so class ``i`` is the i-th smallest category id
(COCO's 80 classes come out in the usual 0..79 order). ``iscrowd`` annotations become ignore
regions (``Sample.ignore_xyxy``), not training boxes. A json's split is read from its name
(``instances_val2017.json`` -> ``val``); a folder may hold one json per split, in it or in
``annotations/``. Images are looked for, in order, beside the json, in ``<parent>/images/<split
name>``, ``<parent>/<split name>``, ``<parent>/images`` and ``<parent>`` (``<split name>`` is
the json's name without ``instances_``, e.g. ``train2017``).

Writing (:func:`write_coco`) numbers categories ``1..K`` in ``names`` order and images ``1..N``.

Usage:
    ds = read(Path("coco128/annotations/instances_train2017.json"), "train")
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any, Sequence

from ...errors import DatasetError
from ..data_model import SPLIT_ALIASES, DetectionDataset, check_class_names, shown
from ..validate import ValidationReport
from ._common import (
    ImagesMode,
    RawImage,
    assemble,
    check_targets,
    open_output,
    place_image,
    read_by_split,
    unique_names,
    write_text,
)

__all__ = [
    "read", "read_dataset", "splits", "sniff", "write_coco", "write_split", "coco_dict", "find_jsons", "split_of",
]


def _looks_like_coco(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return b'"images"' in head or b'"annotations"' in head or b'"categories"' in head or path.stat().st_size > 4096


def find_jsons(folder: Path) -> list[Path]:
    """COCO json files in a folder or its ``annotations/``.

    Usage:
        find_jsons(Path("coco128")) -> [Path("coco128/annotations/instances_train2017.json")]
    """
    found = []
    for where in (folder, folder / "annotations"):
        if where.is_dir():
            found += [p for p in sorted(where.glob("*.json")) if _looks_like_coco(p)]
    return found


def split_of(path: Path) -> str:
    """A json's split from its name: ``instances_train2017.json`` -> ``train``, ``val.json`` -> ``val``.

    Example:
        >>> split_of(Path("instances_val2017.json")), split_of(Path("labels.json"))
        ('val', 'train')
    """
    tokens = [re.sub(r"\d+$", "", t) for t in re.split(r"[_\-.\s]+", path.stem.lower())]
    for token in reversed(tokens):
        token = SPLIT_ALIASES.get(token, token)
        if token in ("train", "val", "test"):
            return token
    return "train"


def _jsons_by_split(path: Path) -> dict[str, Path]:
    files = [path] if path.is_file() else find_jsons(path)
    if not files:
        raise DatasetError(f"{path}: no COCO json found here or in annotations/")
    by_split: dict[str, Path] = {}
    for file in files:
        split = split_of(file)
        if split in by_split:
            raise DatasetError(
                f"{path}: two COCO json files for split '{split}' ({by_split[split].name}, {file.name}); "
                "pass the json you mean"
            )
        by_split[split] = file
    return by_split


def splits(path: Path) -> list[str]:
    """Splits available: one per json (a single json given directly is split ``train``, and ``val`` if named so).

    Usage:
        splits(Path("coco/annotations")) -> ['train', 'val']
    """
    by_split = _jsons_by_split(path)
    return [s for s in ("train", "val", "test") if s in by_split]


def load_json(path: Path) -> dict[str, Any]:
    """A COCO json as a dict, its structure checked; DatasetError naming the file and what is wrong.

    Checked here: the file is json (not nested too deeply to read), a mapping with an ``images``
    list, a non-empty ``categories`` list and (if present) an ``annotations`` list, each entry a
    mapping. Each entry's fields are checked by :func:`read`.

    Usage:
        load_json(Path("annotations/instances_val2017.json"))["categories"][0] -> {'id': 1, 'name': 'person', ...}
    """
    try:
        with open(path, encoding="utf-8-sig") as handle:
            data = json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: not a readable json file ({exc})") from exc
    except RecursionError:  # json's decoder recurses once per level: ~1,000 levels exhaust the stack
        raise DatasetError(f"{path}: not COCO json: nested too deeply to read") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: not COCO json: the top level must be a mapping with 'images', not a {type(data).__name__}")
    if not isinstance(data.get("images"), list):
        raise DatasetError(
            f"{path}: not COCO json: it needs an 'images' list (and 'annotations', 'categories'), "
            f"not {shown(data.get('images'))}"
        )
    if not isinstance(data.get("categories"), list) or not data["categories"]:
        raise DatasetError(f"{path}: has no 'categories' list: COCO json must list its classes, not {shown(data.get('categories'))}")
    annotations = data.get("annotations")
    if annotations is not None and not isinstance(annotations, list):
        raise DatasetError(f"{path}: 'annotations' must be a list of annotations, not {shown(annotations)}")
    for key, what in (("images", "image entry"), ("annotations", "annotation"), ("categories", "category")):
        for k, entry in enumerate(data.get(key) or []):
            if not isinstance(entry, dict):
                raise DatasetError(f"{path}: {what} #{k + 1} must be a mapping, not {shown(entry)}")
    return data


def _whole_number(value: Any) -> int | None:
    """A json id as an int: a whole number (``3``, ``3.0``); None for anything else (text, bool, 1.5, NaN, lists)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def _id(entry: dict, key: str, json_path: Path, where: str) -> int:
    number = _whole_number(entry.get(key))
    if number is None:
        raise DatasetError(f"{json_path}: {where} needs a whole-number '{key}', not {shown(entry.get(key))}")
    return number


def _image_dir(json_path: Path, file_names: list[str]) -> Path:
    stem = json_path.stem
    split_name = stem[len("instances_"):] if stem.startswith("instances_") else stem
    parent = json_path.parent.parent if json_path.parent.name == "annotations" else json_path.parent
    candidates = [json_path.parent, parent / "images" / split_name, parent / split_name, parent / "images", parent]
    split = split_of(json_path)
    candidates += [parent / "images" / split, parent / split]
    probe = [n for n in file_names[:20]]
    best, best_hits = candidates[0], -1
    for folder in candidates:
        hits = sum((folder / n).is_file() for n in probe)
        if hits > best_hits:
            best, best_hits = folder, hits
        if probe and hits == len(probe):
            return folder
    return best


def _categories(entries: list, json_path: Path) -> list[tuple[int, str]]:
    """``(id, name)`` of each category, by id; DatasetError naming the json for a broken class table.

    Names must be text, visible and unique (:func:`~detectkit.training.data_model.check_class_names`).
    """
    table: dict[int, Any] = {}
    for k, entry in enumerate(entries):
        cat_id = _id(entry, "id", json_path, f"category #{k + 1} ({shown(entry)})")
        if cat_id in table:
            raise DatasetError(f"{json_path}: category id {cat_id} is listed twice ({shown(table[cat_id])}, {shown(entry.get('name'))})")
        table[cat_id] = entry.get("name")
    ordered = sorted(table.items())
    names = check_class_names([name for _, name in ordered], json_path)
    return [(cat_id, name) for (cat_id, _), name in zip(ordered, names)]


def read(
    path: Path,
    split: str,
    names: Sequence[str] | None = None,
    image_dir: str | os.PathLike | None = None,
    as_split: str | None = None,
) -> DetectionDataset:
    """Read one split (one json), validated; problems are in ``dataset.report`` (``as_split``: name it so).

    Usage:
        read(Path("coco128/annotations/instances_train2017.json"), "train").names[:2] -> ['person', 'bicycle']
    """
    json_path = _jsons_by_split(path).get(split)
    if json_path is None:
        raise DatasetError(f"{path}: no COCO json for split '{split}'")
    data = load_json(json_path)
    report = ValidationReport()
    categories = _categories(data["categories"], json_path)
    cat_index = {cat_id: i for i, (cat_id, _) in enumerate(categories)}
    class_names = [name for _, name in categories]
    images = data["images"]
    for k, entry in enumerate(images):
        where = f"image entry #{k + 1}"
        _id(entry, "id", json_path, where)
        if not isinstance(entry.get("file_name"), str) or not entry["file_name"].strip():
            raise DatasetError(
                f"{json_path}: {where}: 'file_name' must be the image's path (non-empty text), not {shown(entry.get('file_name'))}"
            )
    folder = Path(image_dir) if image_dir is not None else _image_dir(json_path, [i["file_name"] for i in images])
    raws: dict[int, RawImage] = {}
    order: list[RawImage] = []
    for entry in images:
        try:
            size: tuple[int, int] | None = (int(entry.get("width") or 0), int(entry.get("height") or 0))
        except (TypeError, ValueError, OverflowError):
            size = None  # not numbers: the file's own size is used (and checked)
        raw = RawImage(image_path=folder / entry["file_name"], label_path=json_path, size=size)
        image_id = _whole_number(entry["id"])
        assert image_id is not None  # checked above
        if image_id in raws:
            report.add("duplicate_image", json_path, None, f"image id {image_id} is listed twice")
            continue
        raws[image_id] = raw
        order.append(raw)
    for k, ann in enumerate(data.get("annotations") or []):
        where = f"annotation #{k + 1} (id {shown(ann.get('id'))})" if "id" in ann else f"annotation #{k + 1}"
        image_id = _id(ann, "image_id", json_path, where)
        cat = _id(ann, "category_id", json_path, where)
        crowd = ann.get("iscrowd", 0)
        if crowd not in (0, 1, None):  # True/False are 1/0
            raise DatasetError(f"{json_path}: {where}: 'iscrowd' must be 0 or 1, not {shown(crowd)}")
        raw = raws.get(image_id)
        if raw is None:
            report.add("unknown_image", json_path, None, f"{where}: image_id {image_id} is not in 'images'")
            continue
        if cat not in cat_index:
            report.add("unknown_class", json_path, None, f"{where}: category_id {cat} is not in 'categories'")
            continue
        bbox = ann.get("bbox")
        if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
            report.add("bad_columns", json_path, None, f"{where}: bbox {bbox!r} must be [x, y, width, height]")
            raw.skip = True
            continue
        try:
            x, y, w, h = (float(v) for v in bbox)
        except (TypeError, ValueError):
            report.add("not_a_number", json_path, None, f"{where}: bbox {bbox!r} holds a non-number")
            raw.skip = True
            continue
        raw.add([x, y, x + w, y + h], cat_index[cat], None, ignore=bool(crowd), where=where)
    root = json_path.parent.parent if json_path.parent.name == "annotations" else json_path.parent
    return assemble(order, class_names, report, root=root, split=as_split or split, fmt="coco")


def coco_dict(
    dataset: DetectionDataset, file_names: Sequence[str] | None = None, decimals: int | None = 3
) -> dict[str, Any]:
    """A dataset as COCO json data: images ``1..N``, categories ``1..K`` in ``names`` order, ``bbox`` x, y, w, h.

    Boxes are ``[x1, y1, x2 - x1, y2 - y1]`` in detectkit's continuous pixels (0 is the left edge of
    the first pixel), as COCO has them; ignore regions become ``iscrowd: 1`` annotations; ``area``
    is the box's area (COCOeval uses it only for its small/medium/large ranges).

    Args:
        dataset: what to describe.
        file_names: ``file_name`` per sample (default: the image paths as they are).
        decimals: round coordinates to this many decimals (None: keep them exact, for scoring).

    Example:
        >>> from detectkit.training.data_model import Sample
        >>> ds = DetectionDataset(["cat"], [Sample(Path("a.jpg"), [[10, 20, 40, 60]], [0], 64, 64)])
        >>> data = coco_dict(ds, ["a.jpg"])
        >>> data["annotations"][0]["bbox"], data["annotations"][0]["category_id"], data["categories"][0]["id"]
        ([10.0, 20.0, 30.0, 40.0], 1, 1)
    """
    rounded = (lambda v: v) if decimals is None else (lambda v: round(v, decimals))
    names = [str(s.image_path) for s in dataset.samples] if file_names is None else list(file_names)
    images, annotations = [], []
    for image_id, (sample, name) in enumerate(zip(dataset.samples, names), start=1):
        images.append({"id": image_id, "file_name": name, "width": sample.width, "height": sample.height})
        for boxes, ids, crowd in ((sample.xyxy, sample.class_id, 0), (sample.ignore_xyxy, sample.ignore_class_id, 1)):
            for (x1, y1, x2, y2), cls in zip(boxes.tolist(), ids.tolist()):
                w, h = x2 - x1, y2 - y1
                annotations.append({
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(cls) + 1,
                    "bbox": [rounded(x1), rounded(y1), rounded(w), rounded(h)],
                    "area": rounded(w * h),
                    "iscrowd": crowd,
                    "segmentation": [],
                })
    return {
        "info": {"description": f"written by detectkit from {dataset.root or 'memory'}"},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i + 1, "name": n, "supercategory": ""} for i, n in enumerate(dataset.names)],
    }


def write_coco(
    dataset: DetectionDataset,
    json_path: str | os.PathLike,
    *,
    image_dir: str | os.PathLike | None = None,
    images: ImagesMode = "symlink",
    overwrite: bool = False,
) -> Path:
    """Write a dataset as one COCO json.

    Args:
        dataset: what to write.
        json_path: the json file (its folder is made).
        image_dir: link (or copy) the images into this folder and name them relative to it; by default
            they stay where they are and ``file_name`` is their path relative to the json's folder.
        images: ``"symlink"``, ``"copy"`` or ``"hardlink"`` (with ``image_dir``).
        overwrite: replace a json (and images in ``image_dir``) that differ from what this writes;
            without it such files are an error and nothing is written.

    Returns:
        ``json_path``.

    Raises:
        DatasetError: a different file is already at ``json_path`` or under an image's name (without ``overwrite``).

    Usage:
        write_coco(load_dataset("data.yaml", "val"), "out/annotations/instances_val.json", image_dir="out/images/val")
    """
    json_path = Path(json_path).expanduser().resolve()
    placed: list[tuple[Path, Path]] = []
    if image_dir is not None:
        folder = Path(image_dir).expanduser().resolve()
        file_names = unique_names([s.image_path for s in dataset.samples])
        placed = [(s.image_path, folder / name) for s, name in zip(dataset.samples, file_names)]
    else:
        file_names = [os.path.relpath(s.image_path.resolve(), json_path.parent).replace(os.sep, "/") for s in dataset.samples]
    text = json.dumps(coco_dict(dataset, file_names))
    check_targets(placed, [(json_path, text)], overwrite)
    for source, target in placed:
        place_image(source, target, images, replace=overwrite)
    write_text(json_path, text)  # atomic: never leaves a half-written json behind
    return json_path


# --------------------------------------------------------------------------- registry entry (formats/registry.py)
def sniff(path: Path) -> bool:
    """A ``.json`` file, or a folder with COCO json files (in it or in ``annotations/``).

    Example:
        >>> sniff(Path("instances_val2017.json")), sniff(Path("no/such/folder"))
        (True, False)
    """
    if path.is_dir():
        return bool(find_jsons(path))
    return path.suffix.lower() == ".json"


_read_folder = read_by_split(splits, read)


def read_dataset(path: Path, split: str | None = None, names: Sequence[str] | None = None) -> DetectionDataset:
    """One split (``None``: every split) of a COCO folder; a single json given is the split asked for.

    Usage:
        read_dataset(Path("coco128/annotations"), "train").format -> 'coco'
    """
    if path.is_file():
        return read(path, splits(path)[0], names=names, as_split=split)
    return _read_folder(path, split, names=names)


def write_split(
    dataset: DetectionDataset, out_dir: str | os.PathLike, *, split: str | None = None,
    images: ImagesMode = "symlink", overwrite: bool = False,
) -> Path:
    """Write one split in the COCO layout: ``out/images/<split>``, ``out/annotations/instances_<split>.json``.

    Returns ``out_dir`` (what :func:`read_dataset` reads). ``overwrite`` only in a folder detectkit made.

    Usage:
        write_split(val, "coco_out/", split="val") -> Path("coco_out")
    """
    split = split or dataset.split or "train"
    out, owned = open_output(out_dir)
    write_coco(
        dataset, out / "annotations" / f"instances_{split}.json", image_dir=out / "images" / split,
        images=images, overwrite=overwrite and owned,
    )
    return out
