"""Dataset validation: one malformed file per problem, each reported with its file and line, fatal or skipped as documented."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from detectkit.errors import DatasetError
from detectkit.training.convert import convert
from detectkit.training.datasets import DetectionDataset, Sample, check_dataset, load_dataset, load_splits
from detectkit.training.synthetic import make_shapes_dataset
from detectkit.training.validate import POLICY, DatasetWarning, ValidationReport, validate


@pytest.fixture()
def yolo(tmp_path: Path) -> Path:
    return make_shapes_dataset(tmp_path / "yolo", n_train=4, n_val=2, imgsz=64, seed=0)


@pytest.fixture()
def coco(tmp_path: Path) -> Path:
    return make_shapes_dataset(tmp_path / "coco", n_train=4, n_val=2, imgsz=64, format="coco", seed=0)


@pytest.fixture()
def voc(tmp_path: Path) -> Path:
    return make_shapes_dataset(tmp_path / "voc", n_train=4, n_val=2, imgsz=64, format="voc", seed=0)


def label(spec: Path, i: int, split: str = "train") -> Path:
    return spec.parent / "labels" / split / f"{split}_{i:05d}.txt"


def load_warned(spec, split="train", **kwargs) -> tuple[DetectionDataset, str]:
    """Load, and return the one DatasetWarning's text (there must be exactly one)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load_dataset(spec, split, **kwargs)
    messages = [str(w.message) for w in caught if issubclass(w.category, DatasetWarning)]
    assert len(messages) == 1, messages
    return dataset, messages[0]


def edit_coco(coco: Path, change) -> Path:
    """Apply ``change(data)`` to the train json; returns its path."""
    path = coco / "annotations" / "instances_train.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


def codes(report: ValidationReport) -> set[str]:
    return {p.code for p in report.problems}


# --------------------------------------------------------------------------- label lines (YOLO)
def test_clean_dataset_has_no_problems(yolo):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dataset = load_dataset(yolo)
    assert len(dataset) == 4 and dataset.report.problems == []
    assert dataset.report.images_kept == 4 and dataset.report.boxes_kept == dataset.num_boxes > 0


def test_wrong_column_count_skips_the_image_and_names_file_and_line(yolo):
    path = label(yolo, 1)
    path.write_text(path.read_text() + "0 0.5 0.5 0.2\n")
    n_lines = len(path.read_text().splitlines())
    dataset, message = load_warned(yolo)
    assert len(dataset) == 3 and path.name not in {s.image_path.stem + ".txt" for s in dataset}
    assert f"{path}:{n_lines}: 4 columns" in message and "bad_columns" in message and "image skipped" in message


@pytest.mark.parametrize(
    "line, detail",
    [("0 nan 0.5 0.2 0.2", "NaN or infinite"), ("0 0.5 abc 0.2 0.2", "'abc' is not a number"),
     ("1.5 0.5 0.5 0.2 0.2", "class id 1.5 is not a whole number"), ("0 0.5 0.5 inf 0.2", "NaN or infinite")],
)
def test_not_a_number_skips_the_image(yolo, line, detail):
    path = label(yolo, 0)
    path.write_text(line + "\n" + path.read_text())
    dataset, message = load_warned(yolo)
    assert len(dataset) == 3
    assert f"{path}:1: " in message and detail in message and "not_a_number" in message


def test_out_of_range_coordinates_skip_the_image_but_small_overhang_is_clipped(yolo):
    bad, fine = label(yolo, 2), label(yolo, 3)
    bad.write_text("0 35.0 20.0 10.0 12.0\n")  # pixel values written where 0..1 belongs
    fine.write_text("1 0.995 0.5 0.02 0.2\n")  # sticks out by 0.5% of the width: clipped silently
    dataset, message = load_warned(yolo)
    assert f"{bad}:1: " in message and "outside the 64x64 image" in message and "out_of_range" in message
    assert f"{fine}" not in message
    kept = {s.image_path.stem: s for s in dataset}
    assert "train_00002" not in kept
    box = kept["train_00003"].xyxy[0]
    assert box[2] == 64.0 and box[0] == pytest.approx(63.04, abs=1e-3)


def test_degenerate_box_is_dropped_and_the_image_kept(yolo):
    path = label(yolo, 0)
    before = len(load_dataset(yolo)[0])
    path.write_text(path.read_text() + "1 0.5 0.5 0.0 0.2\n")
    dataset, message = load_warned(yolo)
    assert len(dataset) == 4 and len(dataset[0]) == before
    assert "degenerate_box" in message and f"{path}:{before + 1}: " in message and "box dropped" in message


def test_duplicate_box_lines_are_removed(yolo):
    path = label(yolo, 0)
    first = path.read_text().splitlines()[0]
    before = len(path.read_text().splitlines())
    path.write_text(path.read_text() + first + "\n")
    dataset, message = load_warned(yolo)
    assert len(dataset[0]) == before
    assert f"{path}:{before + 1}: same class and box as line 1" in message


def test_class_id_outside_names_is_fatal_and_every_error_is_in_one_summary(yolo):
    a, b = label(yolo, 0), label(yolo, 3)
    a.write_text(a.read_text() + "7 0.5 0.5 0.2 0.2\n")
    b.write_text("-1 0.5 0.5 0.2 0.2\n")
    with pytest.raises(DatasetError) as info:
        load_dataset(yolo)
    message = str(info.value)
    assert "2 errors" in message and "class_out_of_range" in message
    assert f"{a}:{len(a.read_text().splitlines())}: class id 7 is outside names (0..2, 3 classes)" in message
    assert f"{b}:1: class id -1 is outside names" in message


def test_orphan_label_file_is_reported(yolo):
    ghost = yolo.parent / "labels" / "train" / "ghost.txt"
    ghost.write_text("0 0.5 0.5 0.2 0.2\n")
    dataset, message = load_warned(yolo)
    assert len(dataset) == 4 and "orphan_label" in message and str(ghost) in message


def test_label_file_that_is_not_utf8_skips_the_image(yolo):
    path = label(yolo, 1)
    path.write_bytes(b"0 0.5 0.5 \xff\xfe 0.2\n")
    dataset, message = load_warned(yolo)
    assert len(dataset) == 3 and "bad_label_file" in message and str(path) in message


# --------------------------------------------------------------------------- images
@pytest.mark.parametrize("kind", ["empty", "text", "tiny"])
def test_unreadable_images_are_skipped(yolo, kind):
    image = yolo.parent / "images" / "train" / "train_00002.png"
    if kind == "empty":
        image.write_bytes(b"")
        detail = "file is empty (0 bytes)"
    elif kind == "text":
        image.write_text("not a picture")
        detail = "not a readable image"
    else:
        cv2.imwrite(str(image), np.zeros((4, 4, 3), np.uint8))
        detail = "image is 4x4 pixels"
    dataset, message = load_warned(yolo)
    assert len(dataset) == 3 and "unreadable_image" in message and f"{image}: {detail}" in message


def test_images_are_probed_from_their_headers_not_decoded(yolo, monkeypatch):
    from PIL import ImageFile

    def no_decoding(self, *args, **kwargs):
        raise AssertionError(f"{self.filename} was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    dataset = load_dataset(yolo)
    assert len(dataset) == 4 and dataset.report.problems == []
    assert {(s.width, s.height) for s in dataset} == {(64, 64)}


def test_bad_image_and_mask_files_get_pils_error_not_ultralytics_plugin_install(tmp_path, monkeypatch):
    from detectkit._ultralytics_env import import_ultralytics
    from detectkit.training.formats import pennfudan

    import_ultralytics()  # patches PIL.Image.open: an unidentified file makes it pip-install a HEIF plugin
    import ultralytics.utils.checks as checks

    def no_install(*args, **kwargs):
        raise AssertionError("ultralytics tried to install a package")

    monkeypatch.setattr(checks, "check_requirements", no_install)
    root = tmp_path / "PennFudanPed"
    for folder in ("PNGImages", "PedMasks"):
        (root / folder).mkdir(parents=True)
    for name in ("a", "b"):
        cv2.imwrite(str(root / "PNGImages" / f"{name}.png"), np.zeros((40, 50, 3), np.uint8))
    mask = np.zeros((40, 50), np.uint8)
    mask[5:20, 10:30] = 1
    cv2.imwrite(str(root / "PedMasks" / "a_mask.png"), mask)
    (root / "PedMasks" / "b_mask.png").write_text("not a mask")
    dataset = pennfudan.read(root, source="masks")
    assert len(dataset) == 1 and dataset[0].xyxy.tolist() == [[10, 5, 30, 20]]
    [problem] = dataset.report.problems
    assert problem.code == "bad_label_file" and problem.file == str(root / "PedMasks" / "b_mask.png")
    assert "UnidentifiedImageError" in problem.detail or "cannot identify" in problem.detail
    (root / "PNGImages" / "a.png").write_text("not a picture either")
    dataset = pennfudan.read(root, source="masks")
    [problem] = [p for p in dataset.report.problems if p.code == "unreadable_image"]
    assert problem.file == str(root / "PNGImages" / "a.png") and "UnidentifiedImageError" in problem.detail


def test_truncated_jpeg_is_kept_with_a_warning(tmp_path):
    root = tmp_path / "bare"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        cv2.imwrite(str(root / "images" / f"{i}.jpg"), rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
        (root / "labels" / f"{i}.txt").write_text("0 0.5 0.5 0.25 0.25\n")
    data = (root / "images" / "1.jpg").read_bytes()
    (root / "images" / "1.jpg").write_bytes(data[: len(data) - 200])
    dataset, message = load_warned(root)
    assert len(dataset) == 2 and "truncated_image" in message and "1.jpg" in message


def test_missing_image_named_by_coco_json_is_skipped(coco):
    (coco / "images" / "train" / "train_00001.png").unlink()
    dataset, message = load_warned(coco)
    assert len(dataset) == 3 and "missing_image" in message and "train_00001.png: no such file" in message


def test_missing_image_in_a_yolo_image_list(yolo, tmp_path):
    listing = yolo.parent / "train.txt"
    listing.write_text("images/train/train_00000.png\nimages/train/nope.png\n")
    text = yolo.read_text().replace("train: images/train", "train: train.txt")
    yolo.write_text(text)
    dataset, message = load_warned(yolo)
    assert len(dataset) == 1 and "missing_image" in message and "nope.png" in message


def test_size_mismatch_between_annotation_and_file_skips_the_image(coco):
    path = edit_coco(coco, lambda data: data["images"][0].update(width=100))
    dataset, message = load_warned(coco)
    assert len(dataset) == 3 and "size_mismatch" in message
    assert f"{path}: annotated as 100x64, but train_00000.png is 64x64" in message


# --------------------------------------------------------------------------- COCO / VOC structure
def test_coco_unknown_category_and_unknown_image_are_fatal(coco):
    def change(data):
        data["annotations"][0]["category_id"] = 99
        data["annotations"][1]["image_id"] = 999

    path = edit_coco(coco, change)
    with pytest.raises(DatasetError) as info:
        load_dataset(coco)
    message = str(info.value)
    assert str(path) in message
    assert "unknown_class" in message and "category_id 99 is not in 'categories'" in message
    assert "unknown_image" in message and "image_id 999 is not in 'images'" in message


@pytest.mark.parametrize(
    "categories, detail",
    [([{"name": "circle"}], "needs a whole-number 'id'"), ([{"id": "one", "name": "circle"}], "needs a whole-number 'id'"),
     ([{"id": 1, "name": "circle"}, {"id": 1, "name": "square"}], "category id 1 is listed twice ('circle', 'square')")],
)
def test_coco_broken_category_table_is_an_error_naming_the_json(coco, categories, detail):
    path = edit_coco(coco, lambda data: data.update(categories=categories))
    with pytest.raises(DatasetError) as info:
        load_dataset(coco)
    assert str(info.value).startswith(f"{path}: ") and detail in str(info.value)


def test_coco_bbox_of_wrong_length_skips_the_image(coco):
    edit_coco(coco, lambda data: data["annotations"][0].update(bbox=[1, 2, 3]))
    dataset, message = load_warned(coco)
    assert len(dataset) == 3 and "bad_columns" in message and "must be [x, y, width, height]" in message


def test_same_image_listed_twice_is_fatal(coco, yolo):
    path = edit_coco(coco, lambda data: data["images"].append(dict(data["images"][0], id=1000)))
    with pytest.raises(DatasetError) as info:
        load_dataset(coco)
    assert "duplicate_image" in str(info.value) and f"{path}: " in str(info.value) and "train_00000.png is listed again" in str(info.value)
    yolo.write_text(yolo.read_text().replace("train: images/train", "train: [images/train, images/train]"))
    with pytest.raises(DatasetError, match=r"train_00000.png is listed again in split 'train'"):
        load_dataset(yolo)


def test_different_files_with_the_same_name_are_kept_and_renamed_when_written(yolo, tmp_path):
    extra = yolo.parent / "extra"
    extra.mkdir()
    (extra / "train_00000.png").write_bytes((yolo.parent / "images" / "val" / "val_00000.png").read_bytes())
    shutil.copy(label(yolo, 0, "val"), extra / "train_00000.txt")
    yolo.write_text(yolo.read_text().replace("train: images/train", "train: [images/train, extra]"))
    dataset, message = load_warned(yolo)
    assert len(dataset) == 5 and "duplicate_name" in message
    with pytest.warns(DatasetWarning, match="duplicate_name"):
        out = convert(yolo, "yolo", tmp_path / "out")
    written = sorted(p.name for p in (out.parent / "images" / "train").iterdir())
    assert len(written) == 5 and len(set(written)) == 5


def test_malformed_voc_xml_is_reported_with_its_line(voc):
    path = voc / "Annotations" / "train_00001.xml"
    lines = path.read_text().splitlines()
    lines[5] = "    <height>64</heigth>"
    path.write_text("\n".join(lines))
    dataset, message = load_warned(voc)
    assert len(dataset) == 3 and "bad_label_file" in message and f"{path}:6: not well-formed XML" in message


def test_voc_class_not_in_classes_txt_is_fatal(voc):
    path = voc / "Annotations" / "train_00002.xml"
    text = path.read_text()
    path.write_text(text.replace("<name>", "<name>hexagon-", 1))
    line = 1 + text[: text.index("<name>")].count("\n")
    with pytest.raises(DatasetError) as info:
        load_dataset(voc)
    assert f"{path}:{line}: object 1: class 'hexagon-" in str(info.value) and "unknown_class" in str(info.value)


def test_voc_object_without_bndbox_and_a_split_list_naming_no_xml(voc):
    path = voc / "Annotations" / "train_00001.xml"
    lines = path.read_text().splitlines()
    start, end = lines.index("    <bndbox>"), lines.index("    </bndbox>")
    object_line = 1 + next(i for i in range(start, -1, -1) if lines[i] == "  <object>")
    path.write_text("\n".join(lines[:start] + lines[end + 1 :]) + "\n")
    listing = voc / "ImageSets" / "Main" / "train.txt"
    listing.write_text(listing.read_text() + "train_09999\n")
    dataset, message = load_warned(voc)
    assert len(dataset) == 3 and "bad_columns" in message and f"{path}:{object_line}: object 1: has no <bndbox>" in message
    assert f"{listing}:5: no annotation file train_09999.xml for id 'train_09999'" in message and "bad_label_file" in message


def test_voc_non_numeric_bndbox_skips_the_image(voc):
    path = voc / "Annotations" / "train_00000.xml"
    path.write_text(path.read_text().replace("<xmin>", "<xmin>x", 1))
    dataset, message = load_warned(voc)
    assert len(dataset) == 3 and "not_a_number" in message and str(path) in message


# --------------------------------------------------------------------------- splits and sets
def test_val_that_repeats_train_warns_train_val_overlap(yolo):
    yolo.write_text(yolo.read_text().replace("val: images/val", "val: images/train"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train, val = load_splits(yolo)
    message = "\n".join(str(w.message) for w in caught)
    assert len(train) == len(val) == 4
    assert "train_val_overlap" in message and "4 of 4 val images are also in train (val is the same set as train)" in message


def test_no_usable_images_is_fatal(yolo):
    for i in range(4):
        label(yolo, i).write_text("0 0.5 0.5 0.2\n")
    with pytest.raises(DatasetError) as info:
        load_dataset(yolo)
    assert "no_images" in str(info.value) and "none of the 4 images is usable" in str(info.value)
    assert "bad_columns (4)" in str(info.value)


def test_strict_false_returns_what_was_read_with_the_report(yolo):
    label(yolo, 0).write_text("9 0.5 0.5 0.2 0.2\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = load_dataset(yolo, strict=False)
    assert not dataset.report.ok and codes(dataset.report) == {"class_out_of_range"}


def test_summary_lists_ten_examples_per_kind_then_counts_the_rest():
    report = ValidationReport()
    for i in range(13):
        report.add("degenerate_box", "labels/a.txt", i + 1, "no area")
    report.add("class_out_of_range", "labels/b.txt", 4, "class id 9 is outside names")
    text = str(report)
    assert text.splitlines()[0] == "dataset check: 1 error, 13 warnings"
    assert text.index("ERROR class_out_of_range") < text.index("warning degenerate_box (13)")
    assert "labels/a.txt:10: no area" in text and "labels/a.txt:11" not in text and "... and 3 more" in text


def test_every_policy_entry_is_documented():
    import detectkit.training.validate as module

    for code, (fatal, _, action) in POLICY.items():
        assert code in module.__doc__
        assert fatal == (action == "fatal")


def test_validate_checks_datasets_built_in_memory(tmp_path):
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.zeros((40, 50, 3), np.uint8))
    samples = [
        Sample(image, [[1, 1, 20, 20], [np.nan, 0, 5, 5]], [0, 0], 50, 40),
        Sample(image, [[0, 0, 10, 10]], [0], 50, 40),  # the same image again
        Sample(tmp_path / "gone.png", [[0, 0, 10, 10]], [0], 50, 40),
        Sample(image.with_name("b.png"), [], [], 50, 40),
    ]
    cv2.imwrite(str(image.with_name("b.png")), np.zeros((30, 50, 3), np.uint8))  # 50x30, recorded as 50x40
    report = validate(DetectionDataset(["x"], samples))
    assert codes(report) == {"not_a_number", "duplicate_image", "missing_image", "size_mismatch", "no_images"}
    assert "recorded as 50x40, the file is 50x30" in str(report)


def test_check_dataset_covers_every_split_and_convert_writes_nothing_on_failure(yolo, tmp_path):
    label(yolo, 0, "val").write_text("5 0.5 0.5 0.2 0.2\n")
    label(yolo, 1).write_text("0 0.5 0.5\n")
    report = check_dataset(yolo)
    assert codes(report) == {"class_out_of_range", "bad_columns"}
    out = tmp_path / "converted"
    with pytest.raises(DatasetError) as info:
        convert(yolo, "coco", out)
    assert "1 error, 1 warning" in str(info.value)  # both splits in one summary
    assert not out.exists()


def test_data_commands_check_and_convert(yolo, tmp_path, capsys):
    from detectkit.cli import main

    assert main(["data", "check", str(yolo)]) == 0
    assert "0 errors, 0 warnings (6 images checked" in capsys.readouterr().out
    assert main(["data", "convert", str(yolo), "--to", "voc", str(tmp_path / "voc")]) == 0
    assert load_dataset(tmp_path / "voc", "val").format == "voc"
    bad = label(yolo, 2)
    bad.write_text("4 0.5 0.5 0.2 0.2\n")
    assert main(["data", "check", str(yolo)]) == 1
    assert f"{bad}:1: class id 4 is outside names" in capsys.readouterr().out
    assert main(["data", "convert", str(yolo), "--to", "coco", str(tmp_path / "never")]) == 1
    assert "failed validation" in capsys.readouterr().err and not (tmp_path / "never").exists()


def test_data_shapes_command_writes_a_valid_set_and_never_overwrites(tmp_path, capsys):
    from detectkit.cli import main

    out = tmp_path / "shapes"
    assert main(["data", "shapes", str(out), "--train", "4", "--val", "2", "--imgsz", "64", "--classes", "circle,square"]) == 0
    assert f"wrote yolo dataset: {out / 'data.yaml'}" in capsys.readouterr().out
    train, val = load_dataset(out / "data.yaml", "train"), load_dataset(out / "data.yaml", "val")
    assert (len(train), len(val), train.names) == (4, 2, ["circle", "square"])
    assert all(1 <= len(s.class_id) <= 3 for s in train.samples) and check_dataset(out / "data.yaml").ok
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert main(["data", "shapes", str(out), "--seed", "1"]) == 1
    assert "not an empty folder" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert main(["data", "shapes", str(tmp_path / "voc"), "--to", "voc", "--train", "2", "--val", "0"]) == 0
    assert load_dataset(tmp_path / "voc", None).format == "voc"
