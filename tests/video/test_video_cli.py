"""`detectkit run` and `detectkit demo` from the command line (in-process, through cli.main)."""

from __future__ import annotations

import json
import os

import cv2
import pytest
from conftest import SIZE, count_frames, synthetic_frame

from detectkit.cli import main


@pytest.fixture
def image_folder(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(6):
        cv2.imwrite(str(folder / f"{i:03d}.png"), synthetic_frame(i))
    return folder


def test_run_writes_video_and_json_lines_and_prints_stats(image_folder, tmp_path, capsys):
    out_video, out_json = tmp_path / "out.avi", tmp_path / "out.jsonl"
    rc = main(["run", str(image_folder), "--model", "yolov8n.yaml", "--imgsz", "160", "--track",
               "--save", str(out_video), "--json", str(out_json)])
    assert rc == 0
    rows = [json.loads(line) for line in out_json.read_text().splitlines()]
    assert [r["frame"] for r in rows] == list(range(6)) and rows[2]["name"].endswith("002.png")
    assert count_frames(out_video) == (6, SIZE)
    printed = capsys.readouterr().out
    assert "frames: 6 processed, 6 read, 0 dropped, 0 corrupt" in printed and "ms per frame: detect" in printed


def test_run_without_outputs_prints_each_frame(image_folder, capsys):
    assert main(["run", str(image_folder), "--model", "yolov8n.yaml", "--imgsz", "160", "--max-frames", "3"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("frame ")]
    assert [line.split(":")[0] for line in lines] == ["frame 0", "frame 1", "frame 2"]


def test_run_errors_are_one_clear_line(tmp_path, image_folder, capsys, monkeypatch):
    assert main(["run", str(tmp_path / "nope.mp4"), "--model", "yolov8n.yaml"]) == 1
    assert "nope.mp4: no such file, folder or camera" in capsys.readouterr().err
    assert main(["run", str(image_folder), "--model", "none"]) == 2
    assert "nothing to run" in capsys.readouterr().err
    assert main(["run", str(image_folder), "--model", "none", "--faces", str(tmp_path / "people.db")]) == 1
    assert "people.db: no such gallery" in capsys.readouterr().err
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["run", str(image_folder), "--model", "yolov8n.yaml", "--imgsz", "160", "--show"]) == 1
    assert "cannot open a window: no display" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_runs_the_clip_end_to_end(tmp_path, capsys, monkeypatch, coco_onnx):
    monkeypatch.setenv("DETECTKIT_WEIGHTS", str(coco_onnx.parent))
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--frames-per-scene", "3", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "no live demo here (no display" in printed
    assert count_frames(out / "demo.mp4") == (12, (480, 360))
    assert sorted(p.name for p in out.glob("*.jpg")) == ["astronaut.jpg", "camera.jpg", "chelsea.jpg", "coffee.jpg"]
    rows = {line.split()[0]: line for line in printed.splitlines() if line.startswith("  ") and "objects:" in line}
    assert "person" in rows["astronaut"] and "faces: face" in rows["astronaut"]  # MTCNN ran
    assert "cat" in rows["chelsea"] and "cup" in rows["coffee"]
    # no FaceNet weights in the test environment: said, with where to put them, and the rest ran
    assert "FaceNet weights are missing" in printed and "20180402-114759-vggface2.pt" in printed
    assert "not run: face names" in printed


@pytest.mark.slow
def test_demo_without_any_detector_weights_still_runs_faces(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./weights here
    monkeypatch.delenv("DETECTKIT_WEIGHTS", raising=False)
    assert os.environ.get("DETECTKIT_OFFLINE") == "1"
    assert main(["demo", "--clip", "--out", "demo", "--frames-per-scene", "2", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "No object-detector weights are available" in printed and "yolo11n.pt" in printed
    assert "not run: object detection" in printed
    assert count_frames(tmp_path / "demo" / "demo.mp4") == (8, (480, 360))
    assert "objects: (not run)" in printed
