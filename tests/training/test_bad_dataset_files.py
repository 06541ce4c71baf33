"""Malformed dataset files (COCO json, data YAMLs, class-name files): a DatasetError naming the file, never a builtin error.

A corpus of hostile and broken inputs, each read through every entry point that reads it:
``load_dataset``, ``check_dataset``, ``detectkit data check`` and ``finetune`` (which refuses the
data before any training starts). The issue's examples are in it (issue 17, items 5 and 6).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np
import pytest

from detectkit.cli import main as cli_main
from detectkit.errors import DatasetError
from detectkit.training.datasets import check_dataset, load_dataset, load_splits
from detectkit.training.validate import ValidationReport

DEEP = 100_000  # json.loads raises RecursionError at about 1,000 levels; PyYAML's composer likewise


def _image(folder: Path, name: str = "a.png") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    cv2.imwrite(str(path), np.full((16, 16, 3), 127, np.uint8))
    return path


GOOD_COCO: dict[str, Any] = {
    "images": [{"id": 1, "file_name": "a.png", "width": 16, "height": 16}],
    "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 2, 8, 8], "iscrowd": 0}],
    "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
}


def _coco(change: Callable[[dict], Any]) -> Callable[[dict], Any]:
    def edit(data: dict) -> Any:
        result = change(data)
        return data if result is None else result
    return edit


def _set(path: tuple, value: Any) -> Callable[[dict], Any]:
    def change(data: dict) -> None:
        where: Any = data
        for key in path[:-1]:
            where = where[key]
        where[path[-1]] = value
    return change


# (case id, change to the good COCO data (returns the new top-level value, or edits in place), words the message must hold)
BAD_COCO = [
    ("annotations-a-string", _set(("annotations",), "oops"), "'annotations'"),
    ("annotations-a-dict", _set(("annotations",), {"id": 1}), "'annotations'"),
    ("images-a-dict", _set(("images",), {"id": 1}), "'images'"),
    ("images-missing", lambda d: d.pop("images") and None, "'images'"),
    ("categories-a-string", _set(("categories",), "cat"), "'categories'"),
    ("top-level-a-list", lambda d: [d], "not COCO json"),
    ("top-level-a-number", lambda d: 3, "not COCO json"),
    ("image-entry-a-string", _set(("images", 0), "a.png"), "image entry #1"),
    ("image-id-a-string", _set(("images", 0, "id"), "1"), "whole-number"),
    ("image-id-a-float", _set(("images", 0, "id"), 1.5), "whole-number"),
    ("image-id-a-bool", _set(("images", 0, "id"), True), "whole-number"),
    ("image-id-a-list", _set(("images", 0, "id"), [1]), "whole-number"),
    ("image-file-name-a-number", _set(("images", 0, "file_name"), 7), "'file_name'"),
    ("image-file-name-empty", _set(("images", 0, "file_name"), ""), "'file_name'"),
    ("image-file-name-a-dict", _set(("images", 0, "file_name"), {"a": 1}), "'file_name'"),
    ("annotation-a-list", _set(("annotations", 0), [1, 1, 1]), "annotation #1"),
    ("annotation-image-id-a-list", _set(("annotations", 0, "image_id"), [1]), "whole-number"),
    ("annotation-image-id-a-dict", _set(("annotations", 0, "image_id"), {"id": 1}), "whole-number"),
    ("annotation-category-id-a-list", _set(("annotations", 0, "category_id"), [1]), "whole-number"),
    ("annotation-category-id-a-string", _set(("annotations", 0, "category_id"), "1"), "whole-number"),
    ("annotation-iscrowd-a-string", _set(("annotations", 0, "iscrowd"), "no"), "'iscrowd'"),
    ("category-a-string", _set(("categories", 0), "cat"), "category #1"),
    ("category-id-a-string", _set(("categories", 0, "id"), "1"), "whole-number"),
    ("category-id-a-list", _set(("categories", 0, "id"), [1]), "whole-number"),
    # item 6: class names
    ("category-name-null", _set(("categories", 0, "name"), None), "class name"),
    ("category-name-missing", lambda d: d["categories"][0].pop("name") and None, "class name"),
    ("category-name-a-number", _set(("categories", 0, "name"), 1), "class name"),
    ("category-name-a-dict", _set(("categories", 0, "name"), {"a": "b"}), "class name"),
    ("category-name-empty", _set(("categories", 0, "name"), ""), "empty"),
    ("category-name-blank", _set(("categories", 0, "name"), "   "), "empty"),
    ("category-name-zero-width", _set(("categories", 0, "name"), "\u200b\u2060"), "invisible"),
    ("category-name-newline", _set(("categories", 0, "name"), "ca\nt"), "control character"),
    ("category-names-duplicate", _set(("categories", 1, "name"), "cat"), "duplicate"),
]


def _deep_json(kind: str) -> str:
    if kind == "list":
        return "[" * DEEP + "]" * DEEP
    return '{"a": ' * DEEP + "1" + "}" * DEEP


@pytest.fixture()
def coco_dir(tmp_path: Path) -> Path:
    _image(tmp_path)
    (tmp_path / "train.json").write_text(json.dumps(GOOD_COCO))
    return tmp_path


def _every_reader_refuses(path: Path, words: str, capsys: pytest.CaptureFixture) -> None:
    """load_dataset, load_splits, check_dataset and `detectkit data check` all say what is wrong, naming the file."""
    for read in (lambda: load_dataset(path), lambda: load_splits(path), lambda: check_dataset(path)):
        with pytest.raises(DatasetError) as caught:
            read()
        message = str(caught.value)
        assert str(path) in message, message
        assert words in message, message
    capsys.readouterr()
    assert cli_main(["data", "check", str(path)]) == 1
    err = capsys.readouterr().err
    assert str(path) in err and words in err and "Traceback" not in err, err


def test_the_good_coco_file_reads(coco_dir: Path) -> None:
    dataset = load_dataset(coco_dir / "train.json")
    assert dataset.names == ["cat", "dog"] and dataset.num_boxes == 1
    assert dataset[0].xyxy.tolist() == [[2.0, 2.0, 10.0, 10.0]]


@pytest.mark.parametrize("change, words", [pytest.param(c, w, id=i) for i, c, w in BAD_COCO])
def test_malformed_coco_json_is_a_dataset_error(coco_dir: Path, change, words: str, capsys) -> None:
    data = _coco(change)(copy.deepcopy(GOOD_COCO))
    path = coco_dir / "train.json"
    path.write_text(json.dumps(data))
    _every_reader_refuses(path, words, capsys)


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_json_nested_100000_deep_is_a_dataset_error(coco_dir: Path, kind: str, capsys) -> None:
    path = coco_dir / "train.json"
    path.write_text(_deep_json(kind))
    _every_reader_refuses(path, "nested too deeply", capsys)


@pytest.mark.parametrize(
    "text, words",
    [
        pytest.param("{", "not a readable json file", id="truncated"),
        pytest.param('{"images": [], "categories": [{"id": 1, "name": "a"}]} trailing', "not a readable json file", id="trailing"),
        pytest.param(b"\xff\xfe\x00garbage", "not a readable json file", id="not-utf8"),
        pytest.param("", "not a readable json file", id="empty"),
        pytest.param('{"images": [], "categories": [{"id": 1e999, "name": "a"}]}', "whole-number", id="id-infinite"),
        pytest.param('{"images": [], "categories": [{"id": NaN, "name": "a"}]}', "whole-number", id="id-nan"),
    ],
)
def test_unreadable_coco_json_is_a_dataset_error(coco_dir: Path, text, words: str, capsys) -> None:
    path = coco_dir / "train.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    _every_reader_refuses(path, words, capsys)


# ----------------------------------------------------------------------------------- data YAMLs
@pytest.fixture()
def yolo_dir(tmp_path: Path) -> Path:
    _image(tmp_path / "images" / "train")
    (tmp_path / "labels" / "train").mkdir(parents=True)
    (tmp_path / "labels" / "train" / "a.txt").write_text("0 0.5 0.5 0.25 0.25\n")
    return tmp_path


T = "train: images/train\n"
BAD_YAML = [
    # item 6: names
    ("names-mixed-types", T + "names: [1, null, {a: b}]", "class name"),
    ("names-a-number", T + "names: [cat, 7]", "class name"),
    ("names-a-null", T + "names: [cat, null]", "class name"),
    ("names-a-bool", T + "names: [cat, true]", "class name"),
    ("names-a-list", T + "names: [cat, [a, b]]", "class name"),
    ("names-empty-string", T + "names: [cat, '']", "empty"),
    ("names-blank", T + "names: ['  ', cat]", "empty"),
    ("names-zero-width", T + 'names: [cat, "\\u200B"]', "invisible"),
    ("names-bom-only", T + 'names: [cat, "\\uFEFF\\u2060"]', "invisible"),
    ("names-control", T + 'names: [cat, "d\\tog"]', "control character"),
    ("names-duplicate", T + "names: [cat, dog, cat]", "duplicate"),
    ("names-dict-null-value", T + "names: {0: cat, 1: null}", "class name"),
    ("names-dict-duplicate", T + "names: {0: cat, 1: cat}", "duplicate"),
    ("names-a-string", T + "names: cat", "'names'"),
    ("names-dict-bad-key", T + "names: {a: cat}", "class ids"),
    ("names-dict-unhashable-key", T + "names: {[0, 1]: cat}", "not a readable YAML"),
    ("nc-a-list", T + "nc: [1]\nnames: [cat]", "'nc"),
    ("nc-only-a-string", T + "nc: two", "whole number"),
    ("nc-negative", T + "nc: -3", "whole number"),
    ("nc-huge", T + "nc: 1e999", "whole number"),
    # structure
    ("top-level-a-list", "- train: images/train", "mapping"),
    ("top-level-a-string", "just text", "mapping"),
    ("train-a-mapping", "names: [cat]\ntrain: {a: b}", "'train'"),
    ("train-a-number", "names: [cat]\ntrain: 3", "'train'"),
    ("path-a-list", T + "names: [cat]\npath: [a, b]", "'path'"),
    ("tab-indented", T + "names:\n\t- cat", "not a readable YAML"),
]


@pytest.mark.parametrize("text, words", [pytest.param(t, w, id=i) for i, t, w in BAD_YAML])
def test_malformed_data_yaml_is_a_dataset_error(yolo_dir: Path, text: str, words: str, capsys) -> None:
    path = yolo_dir / "data.yaml"
    path.write_text(text, encoding="utf-8")
    _every_reader_refuses(path, words, capsys)


def test_the_good_data_yaml_reads(yolo_dir: Path) -> None:
    path = yolo_dir / "data.yaml"
    path.write_text("train: images/train\nnames: [cat, dog]\n")
    dataset = load_dataset(path)
    assert dataset.names == ["cat", "dog"] and dataset.num_boxes == 1
    path.write_text("train: images/train\nnames: {1: dog, 0: cat}\n")
    assert load_dataset(path).names == ["cat", "dog"]


@pytest.mark.parametrize("kind", ["flow", "block"])
def test_yaml_nested_100000_deep_is_a_dataset_error(yolo_dir: Path, kind: str, capsys) -> None:
    path = yolo_dir / "data.yaml"
    if kind == "flow":
        path.write_text("train: images/train\nnames: " + "[" * DEEP + "]" * DEEP + "\n")
    else:
        path.write_text("train: images/train\nnames:\n" + "".join(" " * i + "- \n" for i in range(2000)))
    _every_reader_refuses(path, "nested too deeply", capsys)


@pytest.mark.parametrize(
    "lines, words",
    [
        pytest.param("cat\ndog\ncat\n", "duplicate", id="duplicate"),
        pytest.param("cat\n\u200b\n", "invisible", id="zero-width"),
    ],
)
def test_bad_classes_txt_is_a_dataset_error(yolo_dir: Path, lines: str, words: str, capsys) -> None:
    path = yolo_dir / "classes.txt"
    path.write_text(lines, encoding="utf-8")
    for read in (lambda: load_dataset(yolo_dir), lambda: check_dataset(yolo_dir)):
        with pytest.raises(DatasetError, match=words) as caught:
            read()
        assert str(path) in str(caught.value)


@pytest.mark.parametrize("names", [[1, "dog"], ["cat", ""], ["cat", "cat"], ["\u2060"]], ids=["number", "empty", "duplicate", "invisible"])
def test_bad_names_argument_is_a_dataset_error(yolo_dir: Path, names: list) -> None:
    with pytest.raises(DatasetError, match="class name|duplicate|empty|invisible"):
        load_dataset(yolo_dir, names=names)


def test_a_refused_class_table_reports_nothing_else(yolo_dir: Path) -> None:
    """The good cases still read: unicode names with marks, names that merely contain a zero-width joiner."""
    path = yolo_dir / "data.yaml"
    path.write_text('train: images/train\nnames: [Zoë, "👩\u200d👩\u200d👧", "Straße"]\n', encoding="utf-8")
    assert load_dataset(path).names == ["Zoë", "👩\u200d👩\u200d👧", "Straße"]
    assert isinstance(check_dataset(path), ValidationReport)


def test_finetune_refuses_a_malformed_coco_json_before_training(coco_dir: Path, tmp_path: Path) -> None:
    from detectkit.training.finetune import finetune

    path = coco_dir / "train.json"
    path.write_text(json.dumps({**GOOD_COCO, "annotations": "oops"}))
    out = tmp_path / "runs"
    with pytest.raises(DatasetError, match="'annotations'") as caught:
        finetune("fasterrcnn_mobilenet_v3_large_320_fpn", path, epochs=1, out=out, device="cpu")
    assert not out.exists()  # refused before the run folder was made
    assert str(path) in str(caught.value)
    path.write_text(_deep_json("list"))
    with pytest.raises(DatasetError, match="nested too deeply"):
        finetune("fasterrcnn_mobilenet_v3_large_320_fpn", path, epochs=1, out=out, device="cpu")
    assert not out.exists()  # refused before the run folder was made


def test_yaml_nesting_is_refused_without_libyaml_too(yolo_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """PyYAML's pure-Python loader recurses once per level (RecursionError): the same DatasetError."""
    import yaml

    monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    path = yolo_dir / "data.yaml"
    path.write_text("train: images/train\nnames: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(DatasetError, match="nested too deeply") as caught:
        load_dataset(path)
    assert str(path) in str(caught.value)
    path.write_text("train: images/train\nnames: [cat, dog]\n")
    assert load_dataset(path).names == ["cat", "dog"]


@pytest.mark.parametrize("name, words", [("\u200b\u2060", "invisible"), ("c\tt", "control character")], ids=["invisible", "control"])
def test_a_voc_object_name_that_cannot_be_a_class_is_a_dataset_error(tmp_path: Path, name: str, words: str) -> None:
    """VOC without classes.txt takes its classes from the xml files: each name is checked, naming its xml."""
    from detectkit.training.synthetic import make_shapes_dataset

    root = make_shapes_dataset(tmp_path / "voc", n_train=2, n_val=1, imgsz=64, format="voc", seed=0)
    (root / "classes.txt").unlink()
    xml = sorted((root / "Annotations").glob("*.xml"))[0]
    text = xml.read_text(encoding="utf-8")
    first = text.index("<name>") + len("<name>")
    xml.write_text(text[:first] + name + text[text.index("</name>", first):], encoding="utf-8")
    with pytest.raises(DatasetError, match=words) as caught:
        load_dataset(root)
    assert str(xml) in str(caught.value)
