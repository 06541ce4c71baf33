"""The dataset readers' edge cases that a wrong comparison would get wrong (found by tools/mutation.py):
sizes that are missing, empty or disagree with the image, image entries lacking a field, polygon
label lines with an odd or even number of coordinates. Small sets (64 px, a few images): fast."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from detectkit.errors import DatasetError
from detectkit.training.datasets import load_dataset
from detectkit.training.synthetic import make_shapes_dataset
from detectkit.training.validate import DatasetWarning


def load_quietly(spec, split="train"):
    """Load and return (dataset, the DatasetWarnings' texts)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load_dataset(spec, split)
    return dataset, [str(w.message) for w in caught if issubclass(w.category, DatasetWarning)]


# --------------------------------------------------------------------------- Pascal VOC <size>
@pytest.fixture()
def voc(tmp_path: Path) -> Path:
    return make_shapes_dataset(tmp_path / "voc", n_train=3, n_val=1, imgsz=64, format="voc", seed=0)


def _edit_xml(voc: Path, old: str, new: str, name: str = "train_00000.xml") -> Path:
    path = voc / "Annotations" / name
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


def test_voc_size_that_disagrees_with_the_image_skips_it_naming_both(voc):
    path = _edit_xml(voc, "<width>64</width>", "<width>100</width>")
    dataset, messages = load_quietly(voc)
    assert len(dataset) == 2 and "train_00000" not in {s.image_path.stem for s in dataset}
    [message] = messages
    assert "size_mismatch" in message and f"{path}: annotated as 100x64, but train_00000.png is 64x64" in message


@pytest.mark.parametrize("change", [
    ("<size>\n    <width>64</width>\n    <height>64</height>\n    <depth>3</depth>\n  </size>\n", ""),  # no <size>
    ("<width>64</width>", "<width></width>"),   # an empty width: unknown, the file's own is used
    ("<width>64</width>", "<width/>"),
    ("<height>64</height>", ""),                # no height
    ("<height>64</height>", "<height></height>"),
])
def test_voc_size_missing_or_empty_uses_the_files_own(voc, change):
    _edit_xml(voc, *change)
    dataset, messages = load_quietly(voc)
    assert messages == [] and len(dataset) == 3
    first = next(s for s in dataset if s.image_path.stem == "train_00000")
    assert (first.width, first.height) == (64, 64) and len(first) >= 1


def test_voc_objects_are_read_with_their_names_boxes_and_difficult_flag(voc):
    _edit_xml(voc, "<difficult>0</difficult>", "<difficult>1</difficult>")
    dataset, messages = load_quietly(voc)
    assert messages == []
    first = next(s for s in dataset if s.image_path.stem == "train_00000")
    # train_00000.xml: one square at xmin 2, ymin 29, xmax 27, ymax 53 (VOC's 1-based inclusive pixels)
    assert len(first) == 0 and [dataset.names[c] for c in first.ignore_class_id] == ["square"]  # difficult: ignored
    assert np.allclose(first.ignore_xyxy, [[1, 28, 27, 53]])
    second = next(s for s in dataset if s.image_path.stem == "train_00001")
    assert len(second) >= 1 and len(second.ignore_xyxy) == 0


def test_voc_bndbox_missing_a_corner_is_named(voc):
    path = _edit_xml(voc, "      <ymax>53</ymax>\n", "")
    dataset, messages = load_quietly(voc)
    assert len(dataset) == 2
    [message] = messages
    assert str(path) in message and "object 1" in message


# --------------------------------------------------------------------------- COCO image entries
@pytest.fixture()
def coco(tmp_path: Path) -> Path:
    return make_shapes_dataset(tmp_path / "coco", n_train=3, n_val=1, imgsz=64, format="coco", seed=0)


def _edit_images(coco: Path, change) -> Path:
    path = coco / "annotations" / "instances_train.json"
    data = json.loads(path.read_text())
    change(data["images"][0])
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("drop", [("width",), ("height",), ("width", "height")])
def test_coco_image_without_width_or_height_uses_the_files_own(coco, drop):
    _edit_images(coco, lambda entry: [entry.pop(key) for key in drop])
    dataset, messages = load_quietly(coco)
    assert messages == [] and len(dataset) == 3
    assert all((s.width, s.height) == (64, 64) for s in dataset)


@pytest.mark.parametrize("key, value", [("width", 100), ("height", 100)])
def test_coco_image_whose_size_disagrees_is_skipped(coco, key, value):
    path = _edit_images(coco, lambda entry: entry.update({key: value}))
    dataset, messages = load_quietly(coco)
    assert len(dataset) == 2
    [message] = messages
    size = "100x64" if key == "width" else "64x100"
    assert "size_mismatch" in message and f"{path}: annotated as {size}, but train_00000.png is 64x64" in message


@pytest.mark.parametrize("change, detail", [
    (lambda entry: entry.pop("file_name"), "'file_name' must be the image's path (non-empty text), not None"),
    (lambda entry: entry.update(file_name="  "), "'file_name' must be the image's path (non-empty text), not '  '"),
    (lambda entry: entry.update(file_name=7), "'file_name' must be the image's path (non-empty text), not 7"),
    (lambda entry: entry.pop("id"), "image entry #1"),
])
def test_coco_image_entry_lacking_id_or_file_name_is_an_error_naming_it(coco, change, detail):
    path = _edit_images(coco, change)
    with pytest.raises(DatasetError) as info:
        load_dataset(coco)
    assert str(info.value).startswith(f"{path}: ") and detail in str(info.value)


def test_coco_category_without_id_is_named_by_its_place(coco):
    path = coco / "annotations" / "instances_train.json"
    data = json.loads(path.read_text())
    data["categories"][1].pop("id")
    path.write_text(json.dumps(data))
    with pytest.raises(DatasetError) as info:
        load_dataset(coco)
    assert f"{path}: category #2 (" in str(info.value) and "needs a whole-number 'id'" in str(info.value)


def test_coco_annotations_are_named_by_place_and_id_and_iscrowd_defaults_to_a_box(coco):
    path = coco / "annotations" / "instances_train.json"
    data = json.loads(path.read_text())
    for ann in data["annotations"]:
        ann.pop("iscrowd", None)  # optional in COCO: an ordinary box
    path.write_text(json.dumps(data))
    plain, _ = load_quietly(coco)
    data["annotations"][0]["bbox"] = [1, 2, 3]
    data["annotations"][1].pop("id")
    data["annotations"][1]["bbox"] = [1, 2]
    path.write_text(json.dumps(data))
    _, messages = load_quietly(coco)
    [message] = messages
    first_id = data["annotations"][0]["id"]
    assert f"annotation #1 (id {first_id}): bbox [1, 2, 3]" in message and "annotation #2: bbox [1, 2]" in message
    total = sum(len(s) for s in plain)
    assert total == len(data["annotations"]) and all(len(s.ignore_xyxy) == 0 for s in plain)


def test_coco_dataset_root_is_the_folder_above_annotations(coco, tmp_path):
    assert load_dataset(coco).root == coco
    loose = tmp_path / "loose"
    loose.mkdir()
    data = json.loads((coco / "annotations" / "instances_train.json").read_text())
    (loose / "train.json").write_text(json.dumps(data))
    shutil.copytree(coco / "images" / "train", loose / "images" / "train")
    dataset = load_dataset(loose / "train.json")
    assert dataset.root == loose and len(dataset) == 3


# --------------------------------------------------------------------------- YOLO polygon lines
@pytest.fixture()
def yolo(tmp_path: Path) -> Path:
    return make_shapes_dataset(tmp_path / "yolo", n_train=3, n_val=1, imgsz=64, seed=0)


def test_yolo_polygon_of_four_points_is_read_as_its_bounding_box(yolo):
    label = yolo.parent / "labels" / "train" / "train_00000.txt"
    label.write_text("1 0.25 0.25 0.75 0.25 0.75 0.5 0.25 0.5\n")  # 9 tokens: class + 4 points
    dataset, messages = load_quietly(yolo)
    assert messages == []
    first = next(s for s in dataset if s.image_path.stem == "train_00000")
    assert np.allclose(first.xyxy, [[16, 16, 48, 32]]) and list(first.class_id) == [1]


@pytest.mark.parametrize("tokens", [6, 8, 10])
def test_yolo_line_with_an_odd_coordinate_count_is_named(yolo, tokens):
    label = yolo.parent / "labels" / "train" / "train_00001.txt"
    label.write_text("0 " + " ".join(["0.5"] * (tokens - 1)) + "\n")
    dataset, messages = load_quietly(yolo)
    assert len(dataset) == 2
    [message] = messages
    assert f"{label}:1: {tokens} columns" in message and "bad_columns" in message
