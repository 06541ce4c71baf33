"""Every output failure is a typed OutputError, found before the first frame (issue 17, item 2).

A full disk (``/dev/full``), a closed stdout pipe, a folder under a regular file and a path that
is a folder, for ``detectkit run --json/--save``, ``detectkit detect --json/--save-dir`` and the
``Pipeline`` sinks: an :class:`OutputError` naming the output (no raw ``OSError`` traceback), the
other outputs still finalised, and a closed stdout ends quietly (exit status 141, nothing on stderr).
Permissions cannot be tested as root (root writes anywhere): a read-only mount stands in when the
test may make one, else that case is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from video_helpers import SquareDetector, count_frames, synthetic_frame, write_video

from detectkit.cli import main
from detectkit.detection import BACKENDS, register_backend
from detectkit.errors import OutputError
from detectkit.video import Pipeline
from detectkit.video.sinks import JsonLinesSink, PipeClosed, VideoWriterSink

REPO = Path(__file__).resolve().parents[2]


class _SquareBackend:
    """SquareDetector behind the Backend protocol, so the command line can load it by name."""

    family = "test"
    names = SquareDetector.names
    device = None

    def predict(self, images, options):
        return SquareDetector().predict_arrays(images)


@pytest.fixture
def squares_model():
    register_backend("test-squares", family="test", claims=lambda spec: spec == "test-squares",
                     load=lambda spec, device, **options: _SquareBackend(), priority=500, replace=True)
    yield "test-squares"
    BACKENDS.unregister("test-squares")


@pytest.fixture
def clip(tmp_path) -> Path:
    return write_video(tmp_path / "clip.avi", 12)


@pytest.fixture
def a_file(tmp_path) -> Path:
    path = tmp_path / "plain.txt"
    path.write_text("not a folder")
    return path


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


# ------------------------------------------------------------------ detectkit run
def test_run_json_on_a_full_disk_is_an_output_error_and_the_video_is_still_finalised(clip, tmp_path, squares_model, capsys):
    saved = tmp_path / "out.avi"
    rc = main(["run", str(clip), "--model", squares_model, "--json", "/dev/full", "--save", str(saved), "--device", "cpu"])
    assert rc == 1
    err = _error_line(capsys)
    assert "/dev/full" in err and "No space left on device" in err
    frames, size = count_frames(saved)
    assert frames >= 1 and size == (160, 120)  # the other output is a playable file


def test_run_save_under_a_file_fails_before_the_model_loads(clip, a_file, capsys):
    loads = []
    register_backend("test-counting", family="test", claims=lambda spec: spec == "test-counting",
                     load=lambda spec, device, **options: loads.append(spec) or _SquareBackend(), priority=500, replace=True)
    try:
        rc = main(["run", str(clip), "--model", "test-counting", "--save", str(a_file / "out.mp4")])
    finally:
        BACKENDS.unregister("test-counting")
    assert rc == 1 and loads == []
    err = _error_line(capsys)
    assert str(a_file / "out.mp4") in err and f"{a_file} is a file, not a folder" in err


def test_run_json_path_that_is_a_folder(clip, tmp_path, squares_model, capsys):
    assert main(["run", str(clip), "--model", squares_model, "--json", str(tmp_path)]) == 1
    assert f"{tmp_path}: is a folder" in _error_line(capsys)


def _squares_cli_script(argv: list[str]) -> str:
    """A ``python -c`` script: register this module's square-finding backend as ``test-squares``, then
    ``detectkit`` with ``argv`` (exit status passed on)."""
    return (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from detectkit.detection import register_backend\n"
        "from test_hardening_outputs import _SquareBackend\n"
        "register_backend('test-squares', family='test', claims=lambda s: s == 'test-squares',"
        " load=lambda s, d, **o: _SquareBackend(), priority=500)\n"
        "from detectkit.cli import main\n"
        f"sys.exit(main({argv!r}))\n"
    )


def test_run_json_to_a_closed_pipe_ends_quietly(clip, squares_model, tmp_path):
    script = _squares_cli_script(["run", str(write_video(tmp_path / "long.avi", 200)), "--model", "test-squares",
                                  "--json", "-", "--max-frames", "200"])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(Path(__file__).parent)]))
    # the reader takes 100 bytes and goes away, as `| head -c 100` does
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    first = proc.stdout.read(100)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    rc = proc.wait(timeout=120)
    assert len(first) == 100 and first.startswith(b"{")
    assert rc == 141, err
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err


# ------------------------------------------------------------------ detectkit detect
@pytest.fixture
def images(tmp_path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), synthetic_frame(i))
    return folder


def test_detect_json_on_a_full_disk(images, squares_model, capsys):
    assert main(["detect", str(images), "--model", squares_model, "--json", "/dev/full"]) == 1
    err = _error_line(capsys)
    assert "/dev/full" in err and "No space left on device" in err


def test_detect_save_dir_under_a_file(images, a_file, squares_model, capsys):
    assert main(["detect", str(images), "--model", squares_model, "--save-dir", str(a_file / "out")]) == 1
    err = _error_line(capsys)
    assert f"{a_file / 'out'}: cannot make the folder for the annotated images: {a_file} is a file" in err


def test_detect_save_dir_that_is_a_file(images, a_file, squares_model, capsys):
    assert main(["detect", str(images), "--model", squares_model, "--save-dir", str(a_file)]) == 1
    assert "is a file, not a folder" in _error_line(capsys)


def test_detect_json_to_a_closed_pipe_ends_quietly(tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    grid = np.full((120, 160, 3), 40, np.uint8)
    for y in range(4, 112, 12):
        for x in range(4, 152, 12):
            grid[y : y + 8, x : x + 8] = 255  # about 100 boxes: long JSON lines, more than a pipe holds
    for i in range(60):
        cv2.imwrite(str(folder / f"{i:02d}.png"), grid)
    script = _squares_cli_script(["detect", str(folder), "--model", "test-squares", "--json", "-"])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(Path(__file__).parent)]))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.read(100)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert "Traceback" not in err and "Exception ignored" not in err


# ------------------------------------------------------------------ the sinks and the pipeline
def test_pipeline_opens_every_output_before_the_first_frame(clip, a_file):
    detector = SquareDetector()
    with pytest.raises(OutputError, match="is a file, not a folder"):
        Pipeline(clip, detector=detector).run([str(a_file / "sub" / "out.mp4")], summary=False)
    assert detector.batches == []  # nothing was processed


def test_json_sink_write_failure_is_an_output_error_and_the_video_is_finalised(clip, tmp_path):
    saved = tmp_path / "kept.avi"
    with pytest.raises(OutputError, match="No space left on device"):
        Pipeline(clip, detector=SquareDetector()).run([VideoWriterSink(saved), JsonLinesSink("/dev/full")], summary=False)
    assert count_frames(saved)[0] >= 1


def test_json_sink_on_a_closed_pipe_raises_pipe_closed():
    read_end, write_end = os.pipe()
    os.close(read_end)
    with os.fdopen(write_end, "w") as handle:
        sink = JsonLinesSink(handle)
        sink.open(None)

        class _Result:
            def to_json(self):
                return "{}"

        with pytest.raises(PipeClosed):
            sink.write(_Result(), None)
        sink.close()
        try:
            handle.close()
        except BrokenPipeError:
            pass


def test_video_sink_names_a_folder_path(tmp_path):
    with pytest.raises(OutputError, match="is a folder"):
        VideoWriterSink(tmp_path).open(type("Info", (), {"fps": 10.0, "live": False})())


def test_a_probed_video_file_is_not_left_behind_when_nothing_was_written(clip, tmp_path):
    target = tmp_path / "never.mp4"
    sink = VideoWriterSink(target)
    sink.open(type("Info", (), {"fps": 10.0, "live": False})())
    sink.close()
    assert not target.exists()


def _read_only_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return folder
    done = subprocess.run(["mount", "--bind", "-o", "ro", str(folder), str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("running as root (permissions are not enforced) and no read-only bind mount may be made here: "
                    + done.stderr.decode().strip()[:120])
    return folder


def test_an_output_folder_without_write_permission(tmp_path, clip):
    folder = _read_only_folder(tmp_path)
    try:
        with pytest.raises(OutputError, match="ro/out.jsonl"):
            Pipeline(clip, detector=SquareDetector()).run([str(folder / "out.jsonl")], summary=False)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(folder)], capture_output=True)
        else:
            folder.chmod(0o755)
