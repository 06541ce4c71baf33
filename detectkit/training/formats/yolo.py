"""YOLO (ultralytics / darknet) labels: a data YAML or a bare folder; ``cls cx cy w h`` per line, 0..1.

Reading follows ultralytics' rules: a split entry in the YAML is an image folder (searched
recursively), a ``.txt`` list of images, or a list of those; each image's labels are found by
replacing the last ``/images/`` in its path with ``/labels/`` and the suffix with ``.txt`` (or
beside the image when there is no ``images`` folder). A relative ``path:`` is taken from the
YAML's own folder first, then from the working folder. Lines with 7+ (odd) columns are polygons
(``cls x1 y1 x2 y2 ...``): their bounding box is used. No label file, or an empty one, means
a background image.

Writing (:func:`write_yolo`) makes ``images/<split>/`` (symlinks to the images by default),
``labels/<split>/*.txt`` and a ``data.yaml`` with an absolute ``path``, which ultralytics
reads as it is. Ignore regions (crowd/difficult) have no YOLO form and are not written.

Usage:
    ds = read(Path("coco128/coco128.yaml"), "train"); write_yolo(ds, "out/") -> Path("out/data.yaml")
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ...errors import DatasetError
from ...images import IMAGE_SUFFIXES
from ..data_model import SPLIT_ALIASES, DetectionDataset, check_class_names, shown
from ..validate import ValidationReport
from ._common import (
    MARKER,
    ImagesMode,
    RawImage,
    assemble,
    check_targets,
    dataset_names_file,
    images_in,
    is_image,
    open_output,
    place_image,
    prepare_dir,
    read_by_split,
    unique_names,
    write_text,
)

__all__ = [
    "read", "read_dataset", "splits", "sniff", "guess", "locate", "find_yaml", "write_yolo", "is_yolo_folder",
    "label_path_for", "read_yaml", "MARKER",
]

SPLIT_KEYS = ("train", "val", "test")


def label_path_for(image: Path) -> Path:
    """Where ultralytics looks for an image's labels: last ``/images/`` -> ``/labels/``, suffix -> ``.txt``.

    Example:
        >>> label_path_for(Path("/d/images/train/a.jpg")).as_posix()
        '/d/labels/train/a.txt'
    """
    text = str(image)
    marker = f"{os.sep}images{os.sep}"
    if marker in text:
        head, tail = text.rsplit(marker, 1)
        text = f"{head}{os.sep}labels{os.sep}{tail}"
    return Path(text).with_suffix(".txt")


# --------------------------------------------------------------------------- the YAML
def read_yaml(path: Path) -> dict[str, Any]:
    """A data YAML as a dict (DatasetError naming the file when it is not one); ``valid:`` is read as ``val:``.

    Usage:
        read_yaml(Path("coco128/coco128.yaml"))["names"][0] -> 'person'
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: fast, and it refuses deep nesting itself
    try:
        data = yaml.load(path.read_text(encoding="utf-8-sig"), Loader=loader)
    except yaml.YAMLError as exc:
        if "nesting depth" in str(exc):
            raise DatasetError(f"{path}: not a data YAML: nested too deeply to read") from None
        raise DatasetError(f"{path}: not a readable YAML file ({exc})") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not a readable YAML file ({exc})") from exc
    except RecursionError:  # PyYAML without libyaml recurses once per level
        raise DatasetError(f"{path}: not a data YAML: nested too deeply to read") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: a data YAML must be a mapping with train/val/names, got {type(data).__name__}")
    for alias, key in SPLIT_ALIASES.items():
        if alias in data and key not in data:
            data[key] = data.pop(alias)
    return data


def yaml_names(data: dict[str, Any], path: Path) -> list[str]:
    """``names`` as a list (a list, or a dict ``{id: name}`` with ids 0..n-1), or ``class_i`` from ``nc``.

    Each name must be text, visible and unique (:func:`~detectkit.training.data_model.check_class_names`).

    Example:
        >>> yaml_names({"names": {1: "dog", 0: "cat"}}, Path("d.yaml")), yaml_names({"nc": 2}, Path("d.yaml"))
        (['cat', 'dog'], ['class_0', 'class_1'])
    """
    names = data.get("names")
    nc = data.get("nc")
    if names is None:
        if nc is None:
            raise DatasetError(f"{path}: has neither 'names' nor 'nc'; list the class names under 'names:'")
        if isinstance(nc, bool) or not isinstance(nc, int) or nc < 1:
            raise DatasetError(f"{path}: 'nc: {shown(nc)}' is not a whole number of classes (1 or more)")
        return [f"class_{i}" for i in range(nc)]
    if isinstance(names, dict):
        if not all(_class_id(k) is not None for k in names):
            raise DatasetError(f"{path}: 'names' keys must be class ids 0, 1, 2, ..., got {shown(list(names))}")
        table = {_class_id(k): v for k, v in names.items()}
        if sorted(table) != list(range(len(table))):
            raise DatasetError(f"{path}: 'names' ids must be 0..{len(table) - 1} without gaps, got {sorted(table)}")
        result = [table[i] for i in range(len(table))]
    elif isinstance(names, (list, tuple)):
        result = list(names)
    else:
        raise DatasetError(f"{path}: 'names' must be a list or a mapping id -> name, not {shown(names)}")
    if nc is not None and not _whole(nc, len(result)):
        raise DatasetError(f"{path}: 'nc: {shown(nc)}' but {len(result)} names")
    if not result:
        raise DatasetError(f"{path}: 'names' is empty")
    return check_class_names(result, path)


def _class_id(key: Any) -> int | None:
    """A ``names`` mapping key as a class id: a whole number, or its digits as text (``"0"``); else None."""
    if isinstance(key, int) and not isinstance(key, bool):
        return key
    if isinstance(key, str) and key.isascii() and key.isdigit():
        return int(key)
    return None


def _whole(value: Any, expected: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value == expected


def yaml_root(data: dict[str, Any], path: Path) -> Path:
    """The dataset root: ``path:`` (relative: from the YAML's folder, then the working folder), else the YAML's folder.

    Example:
        >>> yaml_root({"names": ["a"]}, Path("/data/set/data.yaml")).as_posix()
        '/data/set'
    """
    value = data.get("path")
    if not value:
        return path.parent
    if not isinstance(value, str):
        raise DatasetError(f"{path}: 'path' must be the dataset folder (text), not {shown(value)}")
    root = Path(str(value)).expanduser()
    if root.is_absolute():
        return root if root.exists() else path.parent  # a moved dataset: its YAML travelled with it
    for base in (path.parent, Path.cwd()):
        if (base / root).exists():
            return (base / root).resolve()
    raise DatasetError(f"{path}: 'path: {value}' not found beside the YAML ({path.parent}) or in {Path.cwd()}")


def _entries(data: dict[str, Any], split: str, path: Path) -> list[str]:
    value = data.get(split)
    if value is None or value == "" or value == []:
        return []
    entries = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) and v for v in entries):
        raise DatasetError(
            f"{path}: '{split}' must be an image folder, a .txt list of images, an image, or a list of those "
            f"(paths as text), not {shown(value)}"
        )
    return entries


def _images_for(root: Path, entry: str, yaml_path: Path) -> tuple[list[Path], list[Path]]:
    """Images an entry names, and the image folders (to look for orphan labels in)."""
    target = Path(entry).expanduser()
    if not target.is_absolute():
        target = root / target
        if not target.exists() and entry.startswith("../"):
            target = root / entry[3:]  # ultralytics' fallback for Roboflow-style YAMLs
    if target.is_dir():
        return images_in(target), [target]
    if target.is_file() and target.suffix.lower() == ".txt":
        listed: list[Path] = []
        for line in target.read_text(encoding="utf-8-sig").splitlines():
            line = line.strip()
            if not line:
                continue
            item = Path(line)
            if not item.is_absolute():
                item = target.parent / line if line.startswith("./") else root / line
                if not item.exists() and (target.parent / line).exists():
                    item = target.parent / line
            listed.append(item)
        return listed, []
    if target.is_file() and is_image(target):
        return [target], []
    raise DatasetError(f"{yaml_path}: split entry '{entry}' -> {target} does not exist")


def _orphans(folders: list[Path], images: list[Path], report: ValidationReport) -> None:
    expected = {os.path.normcase(str(label_path_for(p))) for p in images}
    for folder in folders:
        labels = label_path_for(folder / "x.jpg").parent
        if labels == folder or not labels.is_dir():
            continue
        for txt in sorted(labels.rglob("*.txt")):
            if os.path.normcase(str(txt)) not in expected and txt.name not in ("classes.txt", "obj.names", "names.txt"):
                report.add("orphan_label", txt, None, "no image for this label file")


# --------------------------------------------------------------------------- label files
def parse_label_file(image: Path, label: Path, report: ValidationReport) -> RawImage:
    """One image's label file as a raw record (problems of form recorded; numbers checked later).

    Usage:
        parse_label_file(Path("images/a.jpg"), Path("labels/a.txt"), report).boxes -> [[0.5, 0.5, 0.2, 0.1]]
    """
    raw = RawImage(image_path=image, label_path=label, normalized=True)
    if not label.is_file():
        raw.label_path = None
        return raw
    try:
        text = label.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        report.add("bad_label_file", label, None, f"cannot be read as UTF-8 text ({exc})")
        raw.skip = True
        return raw
    for number, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        n = len(tokens)
        if n != 5 and (n < 7 or n % 2 == 0):
            report.add(
                "bad_columns", label, number,
                f"{n} columns; expected 5 (class cx cy w h) or a polygon (class x1 y1 x2 y2 x3 y3 ...)",
            )
            raw.skip = True
            continue
        try:
            values = [float(t) for t in tokens]
        except ValueError:
            bad = next(t for t in tokens if not _is_float(t))
            report.add("not_a_number", label, number, f"{bad!r} is not a number")
            raw.skip = True
            continue
        if n == 5:
            box = values[1:]
        else:  # polygon -> its bounding box, as cx cy w h
            xy = np.asarray(values[1:]).reshape(-1, 2)
            (x1, y1), (x2, y2) = xy.min(0), xy.max(0)
            box = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]
        raw.add(box, values[0], number)
    return raw


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


# --------------------------------------------------------------------------- bare folders
def _bare_layout(folder: Path) -> dict[str, Path]:
    """Split name -> image folder for a YOLO folder without a YAML."""
    images = folder / "images"
    if images.is_dir():
        subdirs = {SPLIT_ALIASES.get(p.name.lower(), p.name.lower()): p for p in sorted(images.iterdir()) if p.is_dir()}
        direct = [p for p in images.iterdir() if p.is_file() and is_image(p)]
        if subdirs and not direct:
            return subdirs
        return {"train": images}
    roboflow = {
        SPLIT_ALIASES.get(p.name.lower(), p.name.lower()): p / "images"
        for p in sorted(folder.iterdir())
        if p.is_dir() and (p / "images").is_dir()
    }
    if roboflow:
        return roboflow
    return {"train": folder}


def is_yolo_folder(folder: Path) -> bool:
    """True for a folder laid out as YOLO data (``images/`` + ``labels/``, or images with ``.txt`` beside them).

    Usage:
        is_yolo_folder(Path("coco128")) -> True
    """
    if (folder / "images").is_dir() and (folder / "labels").is_dir():
        return True
    layout = _bare_layout(folder)
    for image_dir in layout.values():
        images = images_in(image_dir)
        if images and any(label_path_for(p).is_file() for p in images[:200]):
            return True
    return False


# --------------------------------------------------------------------------- reader API
def splits(path: Path) -> list[str]:
    """The splits a YAML or folder defines.

    Usage:
        splits(Path("coco128/coco128.yaml")) -> ['train', 'val']
    """
    if path.is_file():
        data = read_yaml(path)
        found = [k for k in SPLIT_KEYS if _entries(data, k, path)]
        if not found:
            raise DatasetError(f"{path}: names no split; add 'train:' (and 'val:') image folders")
        return found
    return list(_bare_layout(path))


def read(path: Path, split: str, names: Sequence[str] | None = None) -> DetectionDataset:
    """Read one split of a YOLO YAML or folder, validated; problems are in ``dataset.report``.

    Usage:
        read(Path("coco128/coco128.yaml"), "train").num_boxes -> 929
    """
    report = ValidationReport()
    folders: list[Path]
    if path.is_file():
        data = read_yaml(path)
        root = yaml_root(data, path)
        class_names: list[str] | None = yaml_names(data, path)
        images, folders = [], []
        for entry in _entries(data, split, path):
            found, dirs = _images_for(root, entry, path)
            images += found
            folders += dirs
    else:
        root = path
        layout = _bare_layout(path)
        if split not in layout:
            raise DatasetError(f"{path}: has no '{split}' split; it has: {', '.join(layout)}")
        folders = [layout[split]]
        images = images_in(layout[split])
        class_names = check_class_names(names, "the names argument") if names else dataset_names_file(path)
        if class_names is None and layout[split].parent.name == "images":
            class_names = dataset_names_file(layout[split].parent.parent)
    raws = [parse_label_file(image, label_path_for(image), report) for image in images]
    _orphans(folders, images, report)
    if class_names is None:  # a bare folder with no names file: as many classes as the largest id needs
        ids = [c for r in raws for c in r.class_id if np.isfinite(c) and c >= 0 and c == int(c)]
        class_names = [f"class_{i}" for i in range(int(max(ids)) + 1 if ids else 1)]
    if not images:
        report.add("no_images", root, None, f"split '{split}' lists no images")
        return DetectionDataset(class_names, [], root, split, "yolo", report)
    return assemble(raws, class_names, report, root=root, split=split, fmt="yolo")


# --------------------------------------------------------------------------- writer
def write_yolo(
    dataset: DetectionDataset,
    out_dir: str | os.PathLike,
    *,
    split: str | None = None,
    images: ImagesMode = "symlink",
    overwrite: bool = False,
) -> Path:
    """Write one split as YOLO data: ``images/<split>``, ``labels/<split>`` and ``data.yaml``.

    Call it once per split into the same ``out_dir`` to build a full dataset; ``data.yaml``
    gains each split. Images already in place are left as they are; others are linked (or copied).

    Args:
        dataset: the split to write.
        out_dir: the dataset folder (made if needed).
        split: the split's name (default: ``dataset.split`` or ``"train"``).
        images: ``"symlink"`` (default; falls back to copying where links are not allowed), ``"copy"`` or ``"hardlink"``.
        overwrite: replace label files and images that differ from this dataset's, and remove files in
            ``images/<split>``/``labels/<split>`` that are not part of it. Only in folders detectkit made
            (marked by a ``.detectkit`` file); elsewhere such files are an error and nothing is written.

    Returns:
        The path of ``data.yaml``.

    Raises:
        DatasetError: other files in the target folders, or different ones under the names to write
            (without ``overwrite``), or a ``data.yaml`` there with other class names.

    Usage:
        write_yolo(load_dataset("voc/", "train"), "yolo_out/"); write_yolo(load_dataset("voc/", "val"), "yolo_out/")
    """
    import yaml

    out, owned = open_output(out_dir)
    split = split or dataset.split or "train"
    yaml_path = out / "data.yaml"
    data: dict[str, Any] = read_yaml(yaml_path) if yaml_path.is_file() else {}
    if data.get("names") is not None and yaml_names(data, yaml_path) != list(dataset.names):
        raise DatasetError(
            f"{yaml_path}: already holds other class names ({yaml_names(data, yaml_path)}); "
            f"this dataset has {dataset.names}. Write to another folder"
        )
    image_dir, label_dir = out / "images" / split, out / "labels" / split
    targets = _target_names(dataset, image_dir)
    replace = overwrite and owned
    placed = [(sample.image_path, image_dir / name) for sample, name in zip(dataset.samples, targets)]
    labels = [(label_dir / (Path(name).stem + ".txt"), format_labels(s)) for s, name in zip(dataset.samples, targets)]
    check_targets(placed, labels, replace)
    prepare_dir(image_dir, set(targets), IMAGE_SUFFIXES, replace, "images")
    prepare_dir(label_dir, {path.name for path, _ in labels}, (".txt",), replace, "label files")
    for cache in (out / "labels").glob(f"{split}*.cache"):
        cache.unlink()  # ultralytics' label cache would hide the new labels
    for (source, target), (label_path, text) in zip(placed, labels):
        place_image(source, target, images, replace=replace)
        write_text(label_path, text)
    data["path"] = str(out)
    data[split] = f"images/{split}"
    data["names"] = {i: n for i, n in enumerate(dataset.names)}
    data.pop("nc", None)
    ordered = {k: data[k] for k in ("path", *SPLIT_KEYS) if k in data}
    ordered.update({k: v for k, v in data.items() if k not in ordered})
    write_text(yaml_path, yaml.safe_dump(ordered, sort_keys=False, allow_unicode=True))
    return yaml_path


def _target_names(dataset: DetectionDataset, image_dir: Path) -> list[str]:
    paths = [s.image_path for s in dataset.samples]
    names = unique_names(paths)
    # images already inside the target folder keep their names (in-place writing, e.g. the synthetic set)
    for i, path in enumerate(paths):
        if path.parent.resolve() == image_dir.resolve():
            names[i] = path.name
    if len({n.lower() for n in names}) != len(names):
        names = unique_names([image_dir / n for n in names])
    stems = [Path(n).stem.lower() for n in names]
    if len(set(stems)) != len(stems):  # a.jpg and a.png would share a.txt: number the later ones
        seen: set[str] = set()
        for i, name in enumerate(names):
            stem, suffix, k = Path(name).stem, Path(name).suffix, 1
            while stem.lower() in seen:
                stem, k = f"{Path(name).stem}_{k}", k + 1
            seen.add(stem.lower())
            names[i] = stem + suffix
    return names


def format_labels(sample: Any) -> str:
    """A sample's boxes as YOLO label lines (``cls cx cy w h``, 6 decimals of the image side).

    Example:
        >>> from detectkit.training.data_model import Sample
        >>> format_labels(Sample(Path("a.jpg"), [[10, 20, 40, 60]], [2], 100, 80))
        '2 0.250000 0.500000 0.300000 0.500000\\n'
    """
    lines = []
    w, h = float(sample.width), float(sample.height)
    for (x1, y1, x2, y2), cls in zip(sample.xyxy.tolist(), sample.class_id.tolist()):
        cx, cy, bw, bh = (x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h
        lines.append(f"{int(cls)} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f}")
    return "\n".join(lines) + ("\n" if lines else "")


# --------------------------------------------------------------------------- registry entry (formats/registry.py)
def find_yaml(folder: Path) -> Path | None:
    """The data YAML in a folder: ``data.yaml`` (or ``dataset.yaml``...), else the only YAML naming classes.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "shapes.yaml").write_text("names: [a]")
        >>> find_yaml(folder).name
        'shapes.yaml'
    """
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


def sniff(path: Path) -> bool:
    """A YOLO data YAML (``.yaml``/``.yml``), or a folder holding one.

    Example:
        >>> sniff(Path("coco128.yaml")), sniff(Path("labels.json"))
        (True, False)
    """
    if path.is_dir():
        return find_yaml(path) is not None
    return path.suffix.lower() in (".yaml", ".yml")


def guess(path: Path) -> bool:
    """A folder without a YAML laid out as YOLO data (asked only when no format's :func:`sniff` matched).

    Example:
        >>> guess(Path("no/such/folder"))
        False
    """
    return path.is_dir() and is_yolo_folder(path)


def locate(path: Path) -> Path:
    """What :func:`read` takes: the data YAML of a folder holding one, else the path itself.

    Example:
        >>> locate(Path("coco128.yaml"))
        PosixPath('coco128.yaml')
    """
    if path.is_dir():
        return find_yaml(path) or path
    return path


read_dataset = read_by_split(splits, read)
"""``read_dataset(path, split=None, names=None)``: one split, or every split (``None``) together."""
