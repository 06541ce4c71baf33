"""`detectkit detect` end to end on a folder, and its failures."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from detectkit.cli import main


@pytest.fixture()
def photo_folder(tmp_path, astronaut, coffee, chelsea):
    folder = tmp_path / "photos"
    (folder / "more").mkdir(parents=True)
    cv2.imwrite(str(folder / "astronaut.jpg"), astronaut)
    cv2.imwrite(str(folder / "coffee.png"), coffee)
    cv2.imwrite(str(folder / "more" / "chelsea.jpg"), chelsea)
    return folder


def test_detect_folder_writes_annotated_images_and_json(photo_folder, coco_onnx, tmp_path, capsys):
    out, jsonl = tmp_path / "out", tmp_path / "found.jsonl"
    code = main(["detect", str(photo_folder), "--model", str(coco_onnx), "--save-dir", str(out), "--json", str(jsonl)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "astronaut.jpg: 1 person" in printed and "chelsea.jpg: 1 cat" in printed
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    by_name = {r["source"].rsplit("/", 1)[-1]: r for r in records}
    assert set(by_name) == {"astronaut.jpg", "coffee.png", "chelsea.jpg"}
    assert {d["label"] for d in by_name["coffee.png"]["detections"]} == {"cup", "dining table"}
    assert by_name["astronaut.jpg"]["image_shape"] == [512, 512]
    written = sorted(p.name for p in out.iterdir())
    assert written == ["astronaut.jpg", "chelsea.jpg", "coffee.png"]
    annotated = cv2.imread(str(out / "coffee.png"))
    original = cv2.imread(str(photo_folder / "coffee.png"))
    assert annotated.shape == original.shape and (annotated != original).any()


def test_detect_filters_and_globs(photo_folder, coco_onnx, tmp_path):
    jsonl = tmp_path / "cats.jsonl"
    code = main(["detect", str(photo_folder / "**" / "*.jpg"), "-m", str(coco_onnx), "--classes", "cat", "--json", str(jsonl)])
    assert code == 0
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(records) == 2
    assert [d["label"] for r in records for d in r["detections"]] == ["cat"]


def test_unreadable_image_is_reported_and_the_rest_still_processed(photo_folder, coco_onnx, tmp_path, capsys):
    (photo_folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    jsonl = tmp_path / "all.jsonl"
    code = main(["detect", str(photo_folder), "-m", str(coco_onnx), "--json", str(jsonl)])
    err = capsys.readouterr().err
    assert code == 1
    assert "broken.jpg" in err and "1 of 4 images could not be read" in err
    assert len(jsonl.read_text().splitlines()) == 3  # the good ones are all there


def test_failures_exit_non_zero_with_one_line(tmp_path, photo_folder, capsys):
    assert main(["detect", str(tmp_path / "nowhere"), "-m", "yolov8n.yaml"]) == 1
    assert "nowhere: no such file or folder" in capsys.readouterr().err
    assert main(["detect", str(photo_folder), "-m", str(tmp_path / "missing.onnx")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("detectkit detect: error:") and "missing.onnx: no such model file" in err


def test_console_script_entry_point(photo_folder, coco_onnx):
    result = subprocess.run(
        [sys.executable, "-m", "detectkit", "detect", str(photo_folder / "coffee.png"), "-m", str(coco_onnx), "--json", "-"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout.strip().splitlines()[-1])
    cup = [d for d in record["detections"] if d["label"] == "cup"][0]
    x1, y1, x2, y2 = cup["xyxy"]
    assert 150 < (x1 + x2) / 2 < 330 and 100 < (y1 + y2) / 2 < 250 and cup["confidence"] > 0.5
