"""Pascal VOC xml: one ``Annotations/<id>.xml`` per image, ``JPEGImages/``, ``ImageSets/Main/<split>.txt``.

Also read: a folder of images with an ``.xml`` beside each (LabelImg). VOC pixel coordinates are
1-based and inclusive, so a box ``xmin..xmax`` covers ``[xmin - 1, xmax]`` in detectkit's
continuous pixels (detectron2's reading); writing does the inverse. ``difficult`` objects become
ignore regions (``Sample.ignore_xyxy``). Class order: ``classes.txt`` / ``labels.txt`` in the folder
if present, else the ``names`` argument, else the sorted names found in all the xml files (so
every split gets the same table). Splits: each ``ImageSets/Main/<split>.txt`` (``trainval`` too);
without them, everything is ``train``.

Usage:
    ds = read(Path("VOC2012"), "val")
"""

from __future__ import annotations

import os
import xml.parsers.expat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence
from xml.sax.saxutils import escape

from ...errors import DatasetError
from ..data_model import SPLIT_ALIASES, DetectionDataset, check_class_names
from ..validate import ValidationReport
from ._common import (
    ImagesMode,
    RawImage,
    assemble,
    check_targets,
    dataset_names_file,
    format_number,
    open_output,
    place_image,
    read_by_split,
    unique_names,
    write_text,
)

__all__ = ["read", "read_dataset", "splits", "sniff", "locate", "write_voc", "is_voc"]


@dataclass
class _Node:
    tag: str
    line: int
    children: list["_Node"] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.parts).strip()

    def find(self, tag: str) -> "_Node | None":
        return next((c for c in self.children if c.tag == tag), None)

    def findtext(self, tag: str, default: str = "") -> str:
        node = self.find(tag)
        return node.text if node is not None else default


def parse_xml(path: Path) -> _Node:
    """An xml file as a small tree whose nodes know their line (expat; no external entities).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "a.xml"
        >>> _ = path.write_text("<annotation>\\n  <object>\\n    <name>cat</name>\\n  </object>\\n</annotation>\\n")
        >>> obj = parse_xml(path).find("object")
        >>> obj.findtext("name"), obj.find("name").line
        ('cat', 3)
    """
    parser = xml.parsers.expat.ParserCreate()
    stack: list[_Node] = []
    roots: list[_Node] = []

    def start(tag: str, attrs: dict) -> None:
        node = _Node(tag, parser.CurrentLineNumber)
        (stack[-1].children if stack else roots).append(node)
        stack.append(node)

    def end(tag: str) -> None:
        stack.pop()

    def chars(data: str) -> None:
        if stack:
            stack[-1].parts.append(data)

    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, chars
    with open(path, "rb") as handle:
        parser.ParseFile(handle)
    return roots[0]


def _annotation_dir(root: Path) -> Path:
    return root / "Annotations" if (root / "Annotations").is_dir() else root


def is_voc(folder: Path) -> bool:
    """A folder with ``Annotations/*.xml``, or with xml files beside its images.

    Usage:
        is_voc(Path("VOCdevkit/VOC2012")) -> True
    """
    return any(_annotation_dir(folder).glob("*.xml"))


def _split_files(root: Path) -> dict[str, Path]:
    main = root / "ImageSets" / "Main"
    if not main.is_dir():
        return {}
    found = {}
    for txt in sorted(main.glob("*.txt")):
        if "_" not in txt.stem:  # aeroplane_train.txt etc. are per-class lists
            found[SPLIT_ALIASES.get(txt.stem.lower(), txt.stem.lower())] = txt
    return found


def splits(root: Path) -> list[str]:
    """``ImageSets/Main`` splits (train, val, test first), or ``['train']``.

    Usage:
        splits(Path("VOCdevkit/VOC2012")) -> ['train', 'val', 'trainval']
    """
    found = _split_files(root)
    if not found:
        return ["train"]
    order = [s for s in ("train", "val", "test") if s in found]
    return order + [s for s in found if s not in order]


@dataclass
class _Parsed:
    raw: RawImage
    objects: list[tuple[str, list[str], int, bool, str, int]]  # name, [xmin..ymax], bndbox line, difficult, where, name line


def _parse(xml_path: Path, root: Path, report: ValidationReport) -> _Parsed:
    raw = RawImage(image_path=xml_path.with_suffix(".jpg"), label_path=xml_path)
    try:
        tree = parse_xml(xml_path)
    except xml.parsers.expat.ExpatError as exc:
        report.add("bad_label_file", xml_path, exc.lineno, f"not well-formed XML ({xml.parsers.expat.ErrorString(exc.code)})")
        raw.skip = True
        return _Parsed(raw, [])
    except OSError as exc:
        report.add("bad_label_file", xml_path, None, f"cannot be read ({exc})")
        raw.skip = True
        return _Parsed(raw, [])
    raw.image_path = _find_image(xml_path, root, tree.findtext("filename"), tree.findtext("path"))
    size = tree.find("size")
    if size is not None:
        try:
            raw.size = (int(float(size.findtext("width", "0") or 0)), int(float(size.findtext("height", "0") or 0)))
        except ValueError:
            raw.size = None
    objects = []
    for k, obj in enumerate(c for c in tree.children if c.tag == "object"):
        box = obj.find("bndbox")
        where = f"object {k + 1}"
        if box is None:
            report.add("bad_columns", xml_path, obj.line, f"{where}: has no <bndbox>")
            raw.skip = True
            continue
        values = [box.findtext(t) for t in ("xmin", "ymin", "xmax", "ymax")]
        if any(v == "" for v in values):
            report.add("bad_columns", xml_path, box.line, f"{where}: <bndbox> needs xmin, ymin, xmax and ymax")
            raw.skip = True
            continue
        difficult = obj.findtext("difficult", "0") in ("1", "true", "True")
        name_node = obj.find("name")
        objects.append((obj.findtext("name"), values, box.line, difficult, where, name_node.line if name_node is not None else obj.line))
    return _Parsed(raw, objects)


def _find_image(xml_path: Path, root: Path, filename: str, path_text: str) -> Path:
    folders = [root / "JPEGImages", xml_path.parent, root / "images", root]
    names = [filename] if filename else []
    names += [xml_path.stem + s for s in (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG", ".bmp", ".webp")]
    for folder in folders:
        for name in names:
            if (folder / name).is_file():
                return folder / name
    if path_text and Path(path_text).is_file():
        return Path(path_text)
    return (root / "JPEGImages" if (root / "JPEGImages").is_dir() else xml_path.parent) / (filename or xml_path.stem + ".jpg")


def _xml_files(root: Path, split: str, report: ValidationReport) -> list[Path]:
    ann = _annotation_dir(root)
    files = _split_files(root)
    if not files:
        return sorted(ann.glob("*.xml"))
    if split not in files:
        raise DatasetError(f"{root}: has no '{split}' split in ImageSets/Main; it has: {', '.join(files)}")
    listed = []
    for number, line in enumerate(files[split].read_text(encoding="utf-8-sig").splitlines(), start=1):
        image_id = line.split()[0] if line.split() else ""
        if not image_id:
            continue
        xml_path = ann / f"{image_id}.xml"
        if not xml_path.is_file():
            report.add("bad_label_file", files[split], number, f"no annotation file {xml_path.name} for id {image_id!r}")
            continue
        listed.append(xml_path)
    return listed


def read(root: Path, split: str, names: Sequence[str] | None = None) -> DetectionDataset:
    """Read one split of a VOC folder, validated; problems are in ``dataset.report``.

    Usage:
        read(Path("VOCdevkit/VOC2012"), "val").names[:2] -> ['aeroplane', 'bicycle']
    """
    report = ValidationReport()
    files = _xml_files(root, split, report)
    scratch = ValidationReport()
    parsed = [_parse(p, root, report) for p in files]
    class_names = dataset_names_file(root) or (check_class_names(names, "the names argument") if names else None)
    if class_names is None:  # every xml in the folder, so all splits share one table
        done = {p.resolve() for p in files}
        others = [_parse(p, root, scratch) for p in sorted(_annotation_dir(root).glob("*.xml")) if p.resolve() not in done]
        found = {o[0]: p.raw.label_path for p in others + parsed for o in p.objects if o[0]}
        for name, xml_path in found.items():  # each name checked with the xml that holds it
            check_class_names([name], xml_path)
        class_names = check_class_names(sorted(found), f"{root} (the object names of its xml files)")
        if not class_names:
            class_names = ["object"]
    index = {n: i for i, n in enumerate(class_names)}
    for item in parsed:
        for name, values, line, difficult, where, name_line in item.objects:
            if name not in index:
                report.add("unknown_class", item.raw.label_path, name_line, f"{where}: class {name!r} is not in {class_names}")
                continue
            try:
                xmin, ymin, xmax, ymax = (float(v) for v in values)
            except ValueError:
                report.add("not_a_number", item.raw.label_path, line, f"{where}: bndbox {values} holds a non-number")
                item.raw.skip = True
                continue
            item.raw.add([xmin - 1, ymin - 1, xmax, ymax], index[name], line, ignore=difficult, where=where)
    return assemble([p.raw for p in parsed], class_names, report, root=root, split=split, fmt="voc")


def _targets(samples: list, jpeg_dir: Path) -> list[str]:
    """Image names in JPEGImages that clash with no other image already there (VOC keeps every split in one folder)."""
    taken = []
    if jpeg_dir.is_dir():
        mine = {os.path.normcase(str(s.image_path.resolve())) for s in samples}
        for existing in jpeg_dir.iterdir():
            if os.path.normcase(str(existing.resolve())) not in mine:
                taken.append(existing.name)
    names = unique_names([s.image_path for s in samples], taken=taken)
    stems: set[str] = {Path(t).stem.lower() for t in taken}
    out = []
    for name in names:
        stem, suffix, k = Path(name).stem, Path(name).suffix, 1
        while stem.lower() in stems:
            stem, k = f"{Path(name).stem}_{k}", k + 1
        stems.add(stem.lower())
        out.append(stem + suffix)
    return out


def write_voc(
    dataset: DetectionDataset,
    out_dir: str | os.PathLike,
    *,
    split: str | None = None,
    images: ImagesMode = "symlink",
    overwrite: bool = False,
) -> Path:
    """Write one split in VOC layout: ``Annotations/``, ``JPEGImages/``, ``ImageSets/Main/<split>.txt``, ``classes.txt``.

    Call once per split into the same folder. ``classes.txt`` keeps the class order for reading back.
    Images get names no other image in ``JPEGImages`` has. Coordinates are written 1-based
    (``xmin = x1 + 1``, ``xmax = x2``) with up to 3 decimals: whole numbers for boxes on pixel edges.

    Args:
        dataset: the split to write.
        out_dir: the VOC root (made if needed).
        split: the split's name (default: ``dataset.split`` or ``"train"``).
        images: ``"symlink"`` (default), ``"copy"`` or ``"hardlink"``.
        overwrite: replace an annotation or split list that differs from what this writes; only in a
            folder detectkit made (marked by a ``.detectkit`` file); elsewhere that is an error.

    Returns:
        ``out_dir``.

    Raises:
        DatasetError: ``out_dir`` already has a ``classes.txt`` with other names, or a different
            annotation or split list under a name to write (nothing is written then).

    Usage:
        write_voc(load_dataset("coco/", "train"), "voc_out/"); write_voc(load_dataset("coco/", "val"), "voc_out/")
    """
    out, owned = open_output(out_dir)
    split = split or dataset.split or "train"
    classes = out / "classes.txt"
    if classes.is_file():
        existing = dataset_names_file(out)
        if existing != list(dataset.names):
            raise DatasetError(f"{classes}: holds other class names ({existing}); this dataset has {dataset.names}")
    ann_dir, jpeg_dir, sets = out / "Annotations", out / "JPEGImages", out / "ImageSets" / "Main"
    targets = _targets(dataset.samples, jpeg_dir)
    placed = [(sample.image_path, jpeg_dir / name) for sample, name in zip(dataset.samples, targets)]
    texts = [(ann_dir / (Path(name).stem + ".xml"), _xml(s, name, dataset.names)) for s, name in zip(dataset.samples, targets)]
    texts.append((sets / f"{split}.txt", "".join(Path(n).stem + "\n" for n in targets)))
    replace = overwrite and owned
    check_targets(placed, texts, replace)
    write_text(classes, "\n".join(dataset.names) + "\n")
    for source, target in placed:
        place_image(source, target, images, replace=replace)
    for path, text in texts:
        write_text(path, text)
    return out


def _xml(sample: Any, filename: str, names: list[str]) -> str:
    objects = []
    for boxes, ids, difficult in ((sample.xyxy, sample.class_id, 0), (sample.ignore_xyxy, sample.ignore_class_id, 1)):
        for (x1, y1, x2, y2), cls in zip(boxes.tolist(), ids.tolist()):
            objects.append(
                "  <object>\n"
                f"    <name>{escape(names[int(cls)])}</name>\n"
                "    <pose>Unspecified</pose>\n    <truncated>0</truncated>\n"
                f"    <difficult>{difficult}</difficult>\n"
                "    <bndbox>\n"
                f"      <xmin>{format_number(x1 + 1)}</xmin>\n      <ymin>{format_number(y1 + 1)}</ymin>\n"
                f"      <xmax>{format_number(x2)}</xmax>\n      <ymax>{format_number(y2)}</ymax>\n"
                "    </bndbox>\n  </object>\n"
            )
    return (
        "<annotation>\n"
        "  <folder>JPEGImages</folder>\n"
        f"  <filename>{escape(filename)}</filename>\n"
        f"  <size>\n    <width>{sample.width}</width>\n    <height>{sample.height}</height>\n    <depth>3</depth>\n  </size>\n"
        "  <segmented>0</segmented>\n"
        + "".join(objects)
        + "</annotation>\n"
    )


# --------------------------------------------------------------------------- registry entry (formats/registry.py)
def sniff(path: Path) -> bool:
    """An ``.xml`` annotation file, or a VOC folder (:func:`is_voc`).

    Example:
        >>> sniff(Path("2007_000027.xml")), sniff(Path("no/such/folder"))
        (True, False)
    """
    if path.is_dir():
        return is_voc(path)
    return path.suffix.lower() == ".xml"


def locate(path: Path) -> Path:
    """What :func:`read` takes: the folder (an ``.xml`` file given: its folder).

    Example:
        >>> locate(Path("labelled/a.xml"))
        PosixPath('labelled')
    """
    return path if path.is_dir() else path.parent


read_dataset = read_by_split(splits, read)
"""``read_dataset(root, split=None, names=None)``: one split, or every split (``None``) together."""
