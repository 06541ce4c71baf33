"""Which sources a batch command line names, how they are cut into chunks, and the output folder's bookkeeping (no Ray, no model)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from detectkit.batch.plan import chunk_source, expand_sources, probe_video, source_id
from detectkit.batch.store import BatchStore
from detectkit.errors import OutputError


def _video(path, frames: int = 7):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(frames):
        writer.write(np.full((48, 64, 3), 20 * i, np.uint8))
    writer.release()
    return path


@pytest.fixture
def archive(tmp_path):
    root = tmp_path / "archive"
    (root / "day1").mkdir(parents=True)
    (root / "day2").mkdir()
    _video(root / "day1" / "cam.avi")
    _video(root / "day2" / "cam.avi", frames=5)
    for name in ("b.png", "a.png"):
        cv2.imwrite(str(root / "day2" / name), np.zeros((16, 16, 3), np.uint8))
    (root / "notes.txt").write_text("not media")
    return root


def test_a_folder_gives_each_video_and_its_images_as_one_source(archive):
    plans = expand_sources([archive])
    assert [(p.kind, p.name) for p in plans] == [
        ("video", str(archive / "day1" / "cam.avi")),
        ("video", str(archive / "day2" / "cam.avi")),
        ("images", str(archive)),
    ]
    assert plans[2].files == [str(archive / "day2" / "a.png"), str(archive / "day2" / "b.png")] and plans[2].frames == 2
    assert plans[0].id != plans[1].id  # two cam.avi do not collide
    assert [p.name for p in expand_sources([str(archive / "*" / "*.avi")])] == [p.name for p in plans[:2]]


def test_missing_and_empty_sources_are_errors_not_exceptions(tmp_path):
    (tmp_path / "empty").mkdir()
    plans = expand_sources([tmp_path / "nothing.mp4", tmp_path / "empty"])
    assert [p.error for p in plans] == [f"{tmp_path / 'nothing.mp4'}: no such file, folder or glob", f"{tmp_path / 'empty'}: no images or videos found"]
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 100)
    (plan,) = expand_sources([broken])
    assert "broken.mp4: could not open" in probe_video(plan).error


def test_videos_are_probed_and_cut_into_chunks(archive):
    plan = probe_video(expand_sources([archive / "day1" / "cam.avi"])[0])
    assert plan.frames == 7
    assert [(c.start, c.frames, c.index) for c in chunk_source(plan, chunk_frames=3)] == [(0, 3, 0), (3, 3, 1), (6, None, 2)]
    assert [(c.start, c.frames) for c in chunk_source(plan, chunk_frames=None)] == [(0, None)]
    strided = probe_video(expand_sources([archive / "day1" / "cam.avi"])[0], stride=2, max_frames=3)
    assert strided.frames == 3
    assert [(c.start, c.frames, c.stride) for c in chunk_source(strided, chunk_frames=2, stride=2, max_frames=3)] == [(0, 2, 2), (4, 1, 2)]


def test_source_ids_are_stable_and_file_name_safe():
    assert source_id("/data/cam 1/clip.mp4") == source_id("/data/cam 1/clip.mp4")
    assert source_id("/data/cam 1/clip.mp4").startswith("clip.mp4-") and " " not in source_id("/data/cam 1/")


def test_the_store_refuses_other_options_and_keeps_only_whole_outputs(tmp_path):
    store = BatchStore(tmp_path, {"model": "a.onnx", "conf": 0.25})
    writer = store.writer("clip-1")
    writer.add(1, ['{"frame": 4}'])
    assert not store.output("clip-1").exists() and writer.part.read_text() == ""  # chunk 0 not in yet: nothing written
    writer.add(0, ['{"frame": 0}'])
    store.finish(writer, {"source": "clip.mp4", "frames": 2}, fingerprint=[1, 2, 3])
    assert store.output("clip-1").read_text() == '{"frame": 0}\n{"frame": 4}\n' and not writer.part.exists()
    with pytest.raises(OutputError, match=r"other options \(conf\)"):
        BatchStore(tmp_path, {"model": "a.onnx", "conf": 0.5})
    again = BatchStore(tmp_path, {"model": "a.onnx", "conf": 0.25})
    assert again.is_done("clip-1", [1, 2, 3]) and not again.is_done("clip-1", [1, 2, 4])
    half = again.writer("clip-2")
    half.add(0, ['{"frame": 0}'])
    again.fail("clip-2", {"source": "x.mp4", "error": "boom"}, half)
    assert not half.part.exists() and json.loads((tmp_path / "manifest.json").read_text())["sources"]["clip-2"]["status"] == "failed"
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(OutputError, match="manifest.json: unreadable batch manifest"):
        BatchStore(tmp_path, {"model": "a.onnx", "conf": 0.25})
