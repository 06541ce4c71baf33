"""Dataset formats: detection of the layout, round trips between YOLO/COCO/VOC keep every box, splits, ultralytics layout."""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from shared_data import need_shared

from detectkit.errors import DatasetError
from detectkit.training.convert import convert, to_ultralytics_yaml, write_dataset
from detectkit.training.datasets import (
    DetectionDataset,
    Sample,
    detect_format,
    list_splits,
    load_dataset,
    load_splits,
    write_yolo,
)
from detectkit.training.split import split_dataset
from detectkit.training.synthetic import make_shapes_dataset

FORMATS = ["yolo", "coco", "voc"]


def boxes_by_image(dataset: DetectionDataset) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {s.image_path.stem: (s.xyxy, s.class_id) for s in dataset}


def assert_same_boxes(a: DetectionDataset, b: DetectionDataset, tol: float = 1e-3) -> None:
    assert a.names == b.names
    left, right = boxes_by_image(a), boxes_by_image(b)
    assert sorted(left) == sorted(right)
    for stem, (boxes, ids) in left.items():
        other_boxes, other_ids = right[stem]
        assert boxes.shape == other_boxes.shape, stem
        np.testing.assert_allclose(boxes, other_boxes, atol=tol)
        np.testing.assert_array_equal(ids, other_ids)


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sources")
    return {fmt: make_shapes_dataset(root / fmt, n_train=5, n_val=3, imgsz=72, format=fmt, seed=3) for fmt in FORMATS}


def test_the_three_formats_hold_the_same_generated_data(sources):
    for split in ("train", "val"):
        yolo = load_dataset(sources["yolo"], split)
        assert yolo.format == "yolo" and len(yolo) == (5 if split == "train" else 3)
        for fmt in ("coco", "voc"):
            other = load_dataset(sources[fmt], split)
            assert other.format == fmt and other.split == split
            assert_same_boxes(yolo, other)


@pytest.mark.parametrize("src", FORMATS)
@pytest.mark.parametrize("dst", FORMATS)
def test_convert_round_trip_keeps_boxes_classes_and_splits(sources, tmp_path, src, dst):
    out = convert(sources[src], dst, tmp_path / dst)
    assert list_splits(out) == ["train", "val"]
    for split in ("train", "val"):
        assert_same_boxes(load_dataset(sources[src], split), load_dataset(out, split))


def test_chain_yolo_coco_voc_yolo_returns_the_original(sources, tmp_path):
    coco = convert(sources["yolo"], "coco", tmp_path / "c", images="copy")
    voc = convert(coco, "voc", tmp_path / "v", images="hardlink")
    back = convert(voc, "yolo", tmp_path / "y")
    assert_same_boxes(load_dataset(sources["yolo"], "val"), load_dataset(back, "val"))
    assert not (tmp_path / "c" / "images" / "train" / "train_00000.png").is_symlink()


def test_crowd_and_difficult_regions_survive_coco_voc_round_trips(tmp_path):
    image = tmp_path / "img" / "a.png"
    image.parent.mkdir()
    cv2.imwrite(str(image), np.zeros((50, 80, 3), np.uint8))
    sample = Sample(image, [[1, 2, 30, 40]], [1], 80, 50, ignore_xyxy=[[40, 5, 70, 45]], ignore_class_id=[0])
    dataset = DetectionDataset(["a", "b"], [sample], split="train")
    coco_json = write_dataset(dataset, "coco", tmp_path / "coco") / "annotations" / "instances_train.json"
    assert [a["iscrowd"] for a in json.loads(coco_json.read_text())["annotations"]] == [0, 1]
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(coco_json))  # the real reader: x, y, w, h from the top-left, ids from 1
    assert [(a["bbox"], a["category_id"]) for a in coco.loadAnns(coco.getAnnIds(imgIds=[1]))] == [
        ([1, 2, 29, 38], 2), ([40, 5, 30, 40], 1)]
    assert coco.loadImgs(1)[0]["file_name"] == "a.png" and [c["name"] for c in coco.loadCats([1, 2])] == ["a", "b"]
    voc = convert(tmp_path / "coco", "voc", tmp_path / "voc")
    assert "<difficult>1</difficult>" in (voc / "Annotations" / "a.xml").read_text()
    again = load_dataset(convert(voc, "coco", tmp_path / "coco2"))[0]
    np.testing.assert_allclose(again.xyxy, [[1, 2, 30, 40]], atol=1e-3)
    np.testing.assert_allclose(again.ignore_xyxy, [[40, 5, 70, 45]], atol=1e-3)
    assert again.class_id.tolist() == [1] and again.ignore_class_id.tolist() == [0]


def test_voc_coordinates_are_one_based_inclusive(tmp_path):
    make_shapes_dataset(tmp_path / "v", n_train=1, n_val=0, imgsz=64, format="voc", seed=0)
    xml = tmp_path / "v" / "Annotations" / "train_00000.xml"
    sample = load_dataset(tmp_path / "v")[0]
    x1, y1, x2, y2 = sample.xyxy[0]
    text = xml.read_text()
    assert f"<xmin>{int(x1) + 1}</xmin>" in text and f"<xmax>{int(x2)}</xmax>" in text


# --------------------------------------------------------------------------- layouts
def make_bare(root: Path, n: int, names_file: bool = True, polygon: bool = False) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for i in range(n):
        cv2.imwrite(str(root / "images" / f"im{i:02d}.jpg"), np.full((40, 60, 3), 90, np.uint8))
        line = f"{i % 2} 0.1 0.25 0.4 0.25 0.4 0.75" if polygon else f"{i % 2} 0.5 0.5 0.5 0.5"
        (root / "labels" / f"im{i:02d}.txt").write_text(line + "\n")
    if names_file:
        (root / "classes.txt").write_text("cat\ndog\n")
    return root


def test_bare_yolo_folder_with_and_without_a_names_file(tmp_path):
    named = load_dataset(make_bare(tmp_path / "a", 4))
    assert detect_format(tmp_path / "a")[0] == "yolo" and named.names == ["cat", "dog"]
    np.testing.assert_allclose(named[0].xyxy, [[15, 10, 45, 30]])
    unnamed = load_dataset(make_bare(tmp_path / "b", 4, names_file=False))
    assert unnamed.names == ["class_0", "class_1"]


def test_polygon_label_lines_become_their_bounding_box(tmp_path):
    dataset = load_dataset(make_bare(tmp_path / "p", 2, polygon=True))
    np.testing.assert_allclose(dataset[0].xyxy, [[6, 10, 24, 30]], atol=1e-4)


def test_exif_rotated_jpeg_gets_the_displayed_size(tmp_path):
    from PIL import Image

    root = make_bare(tmp_path / "exif", 1)
    pil = Image.fromarray(np.zeros((40, 60, 3), np.uint8))
    exif = Image.Exif()
    exif[274] = 6  # rotate 90 degrees: displayed as 40 wide, 60 high
    pil.save(root / "images" / "im00.jpg", exif=exif.tobytes())
    sample = load_dataset(root)[0]
    assert (sample.width, sample.height) == (40, 60)
    np.testing.assert_allclose(sample.xyxy, [[10, 15, 30, 45]])


def test_roboflow_style_yaml_with_parent_relative_splits(tmp_path):
    root = tmp_path / "rf"
    for split in ("train", "valid"):
        make_bare(root / split, 3, names_file=False)
    (root / "data.yaml").write_text("train: ../train/images\nval: ../valid/images\nnc: 2\nnames: ['cat', 'dog']\n")
    train, val = load_splits(root)
    assert (len(train), len(val), train.names) == (3, 3, ["cat", "dog"])
    assert list_splits(root) == ["train", "val"]


def test_unknown_paths_and_missing_splits_are_clear_errors(tmp_path, sources):
    with pytest.raises(DatasetError, match="no such dataset"):
        load_dataset(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="not a dataset detectkit can read"):
        load_dataset(tmp_path / "empty")
    with pytest.raises(DatasetError, match="has no 'test' split; its splits are: train, val"):
        load_dataset(sources["yolo"], "test")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: images\n")
    with pytest.raises(DatasetError, match="neither 'names' nor 'nc'"):
        load_dataset(bad)


def test_single_coco_json_serves_any_split(sources):
    json_path = Path(sources["coco"]) / "annotations" / "instances_train.json"
    dataset = load_dataset(json_path, "val")
    assert dataset.split == "val" and len(dataset) == 5


# --------------------------------------------------------------------------- splits
def test_split_is_reproducible_and_independent_of_listing_order(tmp_path):
    samples = [Sample(Path(f"img{i:03d}.jpg"), [], [], 10, 10) for i in range(50)]
    shuffled = samples[:]
    random.Random(1).shuffle(shuffled)
    names = lambda ds: [s.image_path.name for s in ds]  # noqa: E731
    a_train, a_val = split_dataset(DetectionDataset(["x"], samples), 0.2, seed=7)
    b_train, b_val = split_dataset(DetectionDataset(["x"], shuffled), 0.2, seed=7)
    assert len(a_val) == 10 and len(a_train) == 40
    assert sorted(names(a_val)) == sorted(names(b_val)) and set(names(a_val)).isdisjoint(names(a_train))
    _, c_val = split_dataset(DetectionDataset(["x"], samples), 0.2, seed=8)
    assert sorted(names(c_val)) != sorted(names(a_val))
    with pytest.raises(DatasetError, match="between 0 and 1"):
        split_dataset(DetectionDataset(["x"], samples), 1.0)


def test_load_splits_uses_own_val_else_splits_reproducibly(tmp_path, sources):
    train, val = load_splits(sources["voc"])
    assert (len(train), len(val)) == (5, 3)
    root = make_bare(tmp_path / "single", 10)
    first = load_splits(root, val_fraction=0.3, seed=1)
    second = load_splits(root, val_fraction=0.3, seed=1)
    assert [len(p) for p in first] == [7, 3]
    assert [s.image_path for s in first[1]] == [s.image_path for s in second[1]]


def test_convert_with_val_fraction_splits_train_and_keeps_the_other_splits(tmp_path):
    src = make_shapes_dataset(tmp_path / "voc", n_train=10, n_val=3, imgsz=64, format="voc", seed=4)
    sets = src / "ImageSets" / "Main"
    (sets / "val.txt").rename(sets / "test.txt")  # train and test, no val
    out = convert(src, "yolo", tmp_path / "yolo", val_fraction=0.2, seed=5)
    assert list_splits(out) == ["train", "val", "test"]
    train, val = split_dataset(load_dataset(src, "train"), 0.2, seed=5)  # the same split as load_splits makes
    for split, expected in (("train", train), ("val", val), ("test", load_dataset(src, "test"))):
        assert_same_boxes(load_dataset(out, split), expected)


# --------------------------------------------------------------------------- writing for ultralytics
def test_to_ultralytics_yaml_is_read_by_ultralytics_with_the_same_boxes(sources, tmp_path):
    from detectkit._ultralytics_env import import_ultralytics

    import_ultralytics()
    from ultralytics.cfg import get_cfg
    from ultralytics.data import build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset

    train, val = load_splits(sources["voc"])
    yaml_path = to_ultralytics_yaml(train, val, tmp_path / "ul")
    data = check_det_dataset(str(yaml_path))
    assert data["names"] == {0: "circle", 1: "square", 2: "triangle"}
    built = build_yolo_dataset(get_cfg(), data["val"], 2, data, mode="val")
    theirs = {Path(label["im_file"]).stem: label for label in built.labels}
    for sample in val:
        label = theirs[sample.image_path.stem]
        assert label["cls"].reshape(-1).astype(int).tolist() == sample.class_id.tolist()
        cx, cy, w, h = np.asarray(label["bboxes"]).T * 72
        np.testing.assert_allclose(np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1), sample.xyxy, atol=1e-3)


def test_to_ultralytics_yaml_replaces_stale_files_of_an_earlier_call(sources, tmp_path):
    train, val = load_splits(sources["yolo"])
    out = tmp_path / "ul"
    to_ultralytics_yaml(train, val, out)
    to_ultralytics_yaml(train[:2], val[:1], out)
    assert len(list((out / "images" / "train").iterdir())) == 2
    assert len(list((out / "labels" / "val").iterdir())) == 1


def test_write_yolo_never_deletes_files_in_a_folder_it_did_not_make(sources, tmp_path):
    out = tmp_path / "mine"
    (out / "images" / "train").mkdir(parents=True)
    precious = out / "images" / "train" / "holiday.jpg"
    precious.write_bytes(b"my photo")
    with pytest.raises(DatasetError, match="not part of this dataset"):
        write_yolo(load_dataset(sources["yolo"]), out, overwrite=True)
    assert precious.read_bytes() == b"my photo"
    same_name = out / "images" / "train" / "train_00000.png"  # a different picture under a dataset image's name
    same_name.write_bytes(b"my other photo")
    precious.unlink()
    with pytest.raises(DatasetError, match="a different file is already there"):
        write_yolo(load_dataset(sources["yolo"]), out, overwrite=True)
    assert same_name.read_bytes() == b"my other photo"


@pytest.mark.parametrize("fmt", FORMATS)
def test_writers_never_replace_a_users_label_file_and_write_nothing_then(sources, tmp_path, fmt):
    out = tmp_path / "users"
    theirs = {
        "yolo": out / "labels" / "train" / "train_00003.txt",
        "coco": out / "annotations" / "instances_train.json",
        "voc": out / "Annotations" / "train_00003.xml",
    }[fmt]
    theirs.parent.mkdir(parents=True)
    theirs.write_text("the user's own labels\n")
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    with pytest.raises(DatasetError, match=f"{theirs}: a different file is already there; nothing was written"):
        convert(sources["yolo"], fmt, out, overwrite=True)  # overwrite is no licence in a folder detectkit did not make
    assert theirs.read_text() == "the user's own labels\n"
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_converting_again_into_detectkits_own_folder_needs_overwrite_for_changed_labels(sources, tmp_path, fmt):
    out = tmp_path / "mine"
    convert(sources["yolo"], fmt, out)
    convert(sources["yolo"], fmt, out)  # the same data again: nothing differs, nothing to refuse
    train = load_dataset(sources["yolo"], "train")
    relabelled = [Sample(s.image_path, s.xyxy, (s.class_id + 1) % 3, s.width, s.height) for s in train]
    moved = DetectionDataset(train.names, relabelled)
    with pytest.raises(DatasetError, match="a different file is already there"):
        write_dataset(moved, fmt, out, split="train")
    assert_same_boxes(load_dataset(out, "train"), train)
    write_dataset(moved, fmt, out, split="train", overwrite=True)
    assert_same_boxes(load_dataset(out, "train"), moved)


def test_images_are_symlinked_by_default(sources, tmp_path):
    out = convert(sources["coco"], "yolo", tmp_path / "y")
    link = out.parent / "images" / "train" / "train_00000.png"
    assert link.is_symlink() and os.path.samefile(link, Path(sources["coco"]) / "images" / "train" / "train_00000.png")


# --------------------------------------------------------------------------- real data beside the repo
def test_coco128_yolo_labels_and_coco_json_agree():
    root = need_shared("data/detection/coco128")
    yolo = load_dataset(root / "coco128.yaml", "train")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        coco = load_dataset(root / "annotations" / "instances_train2017.json")
    assert (len(yolo), yolo.num_boxes, len(yolo.names)) == (128, 929, 80) and yolo.names == coco.names
    assert sum(len(s.ignore_xyxy) for s in coco) == 10  # iscrowd annotations, not in the YOLO labels
    assert_same_boxes(yolo, coco, tol=1e-3)


def test_pennfudan_boxes_from_annotations_and_masks_agree():
    from detectkit.training.formats import pennfudan

    root = need_shared("data/detection/pennfudan")
    text = load_dataset(root)
    masks = pennfudan.read(pennfudan.find_root(root), source="masks")
    assert (text.format, text.names, len(text), text.num_boxes) == ("pennfudan", ["person"], 170, 423)
    differences = [np.abs(a.xyxy - b.xyxy).max() for a, b in zip(text, masks)]
    assert len(masks) == 170 and np.mean(differences) < 0.5 and max(differences) <= 6


def test_the_pennfudan_converter_example_in_the_docs_runs(tmp_path):
    root = need_shared("data/detection/pennfudan/PennFudanPed")
    text = (Path(__file__).resolve().parents[2] / "docs" / "datasets.md").read_text()
    code = text.split("<!-- pennfudan-example -->", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    code = code.replace('Path("../shared/data/detection/pennfudan/PennFudanPed")', f"Path({str(root)!r})")
    code = code.replace('Path("pennfudan_yolo")', f"Path({str(tmp_path / 'out')!r})")
    scope: dict = {}
    exec(compile(code, "docs/datasets.md", "exec"), scope)
    train, val = load_splits(scope["data_yaml"])
    assert (len(train), len(val), train.names) == (136, 34, ["person"])
    assert train.num_boxes + val.num_boxes == 423


def test_a_format_registered_from_outside_is_read_checked_and_converted(sources, tmp_path):
    """One module + one register_format call: load_dataset, list_splits, check_dataset and convert take it."""
    from detectkit.training.datasets import check_dataset
    from detectkit.training.formats.registry import FORMATS, register_format

    yolo = load_dataset(sources["yolo"], "train")
    listing = tmp_path / "train.boxes"  # one line per box: image path, class name, x1 y1 x2 y2
    listing.write_text("".join(
        f"{s.image_path}\t{yolo.names[c]}\t{' '.join(f'{v:.3f}' for v in box)}\n"
        for s in yolo for box, c in zip(s.xyxy.tolist(), s.class_id.tolist())
    ))

    def read(path: Path, split=None, names=None) -> DetectionDataset:
        rows: dict[str, list] = {}
        for line in path.read_text().splitlines():
            image, name, coords = line.split("\t")
            rows.setdefault(image, []).append(([float(v) for v in coords.split()], yolo.names.index(name)))
        samples = [Sample(Path(image), [b for b, _ in r], [c for _, c in r], 72, 72) for image, r in rows.items()]
        return DetectionDataset(list(yolo.names), samples, root=path.parent, split=split or "train", format="boxes")

    register_format("boxes", sniff=lambda path: path.suffix == ".boxes", read=read, splits=lambda path: ["train"], priority=5)
    try:
        assert detect_format(listing) == ("boxes", listing) and list_splits(listing) == ["train"]
        mine = load_dataset(listing)
        assert mine.format == "boxes" and mine.num_boxes == yolo.num_boxes > 0
        assert check_dataset(listing).ok
        assert_same_boxes(load_dataset(convert(listing, "coco", tmp_path / "coco"), "train"), yolo)
        with pytest.raises(DatasetError, match="detectkit writes 'yolo', 'coco' and 'voc'"):
            convert(listing, "boxes", tmp_path / "out")  # registered without a writer
    finally:
        FORMATS.unregister("boxes")
    with pytest.raises(DatasetError, match="not a dataset file"):
        load_dataset(listing)
