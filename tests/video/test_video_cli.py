"""`detectkit run` and `detectkit demo` from the command line (in-process, through cli.main)."""

from __future__ import annotations

import json
import os

import cv2
import pytest
from video_helpers import SIZE, count_frames, synthetic_frame

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
    # MTCNN ran, and dlib-resnet (offline) named her from her own photo
    assert "person" in rows["astronaut"] and "faces: Eileen Collins" in rows["astronaut"]
    assert "cat" in rows["chelsea"] and "cup" in rows["coffee"]
    # no FaceNet weights in the test environment: said, and dlib's ResNet (offline) names faces instead
    assert "face embedder: dlib-resnet" in printed and "FaceNet's facenet-vggface2 weights are not here" in printed
    assert "not run: face names" not in printed


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


def test_demo_with_a_webcam_and_a_display_is_live(tmp_path, capsys, monkeypatch):
    """The live branch end to end, with OpenCV's camera and window replaced by fakes (q after 5 frames)."""
    import cv2

    import detectkit.demo

    class FakeWebcam:
        def __init__(self, index):
            self.i = 0

        def isOpened(self):
            return True

        def set(self, prop, value):
            return True

        def get(self, prop):
            return {cv2.CAP_PROP_FPS: 30.0, cv2.CAP_PROP_FRAME_WIDTH: 160, cv2.CAP_PROP_FRAME_HEIGHT: 120}.get(prop, 0.0)

        def read(self):
            self.i += 1
            return True, synthetic_frame(self.i)

        def release(self):
            pass

    keys = iter([-1, -1, -1, -1, ord("q")])
    shown: list[int] = []
    monkeypatch.setattr(cv2, "VideoCapture", FakeWebcam)
    monkeypatch.setattr(cv2, "namedWindow", lambda *a: None)
    monkeypatch.setattr(cv2, "resizeWindow", lambda *a: None)
    monkeypatch.setattr(cv2, "imshow", lambda title, image: shown.append(image.shape[1]))
    monkeypatch.setattr(cv2, "waitKey", lambda delay: next(keys, -1))
    monkeypatch.setattr(cv2, "getWindowProperty", lambda *a: 1.0)
    monkeypatch.setattr(cv2, "destroyWindow", lambda *a: None)
    monkeypatch.setattr(detectkit.demo, "live_available", lambda camera=0: (True, ""))
    monkeypatch.setenv("DISPLAY", ":99")
    saved = tmp_path / "live.avi"
    assert main(["demo", "--model", "yolov8n.yaml", "--gallery", str(tmp_path / "none.db"), "--save", str(saved), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert shown == [160] * 5
    assert "frames: 5 processed" in printed and "latency capture->sink" in printed
    assert "face embedder: dlib-resnet" in printed  # no FaceNet weights here: dlib's ResNet names faces offline
    monkeypatch.undo()  # the real VideoCapture again, to read the saved file
    frames, size = count_frames(saved)  # 5 shown; a live file repeats frames to keep the capture clock's pace
    assert frames >= 5 and size == SIZE


@pytest.mark.slow
def test_demo_names_the_astronaut_when_facenet_weights_are_there(tmp_path, capsys, monkeypatch, coco_onnx):
    """FaceNet weights found under their known name (seeded random ones: the real file cannot be downloaded here)."""
    import shutil

    import torch
    from facenet_pytorch import InceptionResnetV1

    weights = tmp_path / "weights"
    weights.mkdir()
    torch.manual_seed(0)
    torch.save(InceptionResnetV1().state_dict(), weights / "facenet-vggface2.pt")
    shutil.copy(coco_onnx, weights / coco_onnx.name)
    monkeypatch.setenv("DETECTKIT_WEIGHTS", str(weights))
    monkeypatch.delenv("DISPLAY", raising=False)
    assert main(["demo", "--out", str(tmp_path / "demo"), "--frames-per-scene", "2", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "enrolled Eileen Collins from skimage.data.astronaut()" in printed
    assert "faces: MTCNN + facenet-vggface2, identity per track" in printed and "not run" not in printed
    astronaut = next(line for line in printed.splitlines() if line.startswith("  astronaut"))
    assert astronaut.endswith("faces: Eileen Collins")  # her own photo, zoomed: she matches herself
