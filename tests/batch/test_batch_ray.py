"""``detectkit batch`` on a real local Ray cluster (2 workers) with the real COCO YOLOv8n (int8 ONNX).

Sources: three COCO128 photos and one corrupt "photo" in a folder, two 8-frame clips cut from
the shared videos, and a corrupt video file. Chunks of 3 frames, so each clip is split over
both actors and its chunks come back in any order.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from shared_data import SHARED, SHARED_ONNX, need_shared

from detectkit.batch import run_batch
from detectkit.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.shared]

CLIP_FRAMES = 8
CHUNK = 3


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    yield ray
    ray.shutdown()


def _cut(video: Path, out: Path, frames: int, start: int = 0) -> Path:
    capture = cv2.VideoCapture(str(video))
    capture.set(cv2.CAP_PROP_POS_FRAMES, start)
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    writer = None
    for _ in range(frames):
        ok, image = capture.read()
        assert ok, f"{video}: could not read a frame"
        if writer is None:
            writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), fps, (image.shape[1], image.shape[0]))
        writer.write(image)
    writer.release()
    capture.release()
    return out


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    if not SHARED_ONNX.exists():
        pytest.skip(f"needs {SHARED_ONNX}")
    coco = need_shared("data/detection/coco128/images")
    videos = need_shared("data/video")
    root = tmp_path_factory.mktemp("batch-sources")
    photos = root / "photos"
    photos.mkdir()
    for image in sorted(coco.rglob("*.jpg"))[:3]:
        shutil.copy(image, photos / image.name)
    (photos / "000000000000_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    clip_a = _cut(videos / "short_hamilton_clip.mp4", root / "hamilton.avi", CLIP_FRAMES, start=30)
    clip_b = _cut(videos / "one-by-one-person-detection.mp4", root / "people.avi", CLIP_FRAMES, start=100)
    broken = root / "broken.mp4"
    broken.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return {"photos": photos, "clip_a": clip_a, "clip_b": clip_b, "broken": broken}


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _same_frames(batch: list[dict], run: list[dict]) -> None:
    """Frame for frame: the same keys, index, name, position and boxes (to float tolerance)."""
    assert [r["frame"] for r in batch] == [r["frame"] for r in run]
    for got, want in zip(batch, run):
        assert set(got) == set(want)
        assert got.get("name") == want.get("name") and got.get("position_s") == want.get("position_s")
        assert got["image_shape"] == want["image_shape"]
        assert [d["label"] for d in got["detections"]] == [d["label"] for d in want["detections"]]
        if got["detections"]:
            np.testing.assert_allclose([d["xyxy"] for d in got["detections"]], [d["xyxy"] for d in want["detections"]], atol=0.05)
            np.testing.assert_allclose([d["confidence"] for d in got["detections"]], [d["confidence"] for d in want["detections"]], atol=1e-4)


@pytest.fixture(scope="module")
def first_run(ray_cluster, sources, tmp_path_factory):
    out = tmp_path_factory.mktemp("batch-out")
    arguments = [str(sources["photos"]), str(sources["clip_a"]), str(sources["clip_b"]), str(sources["broken"])]
    summary = run_batch(arguments, out, model=str(SHARED_ONNX), device="cpu", actors=2, chunk_frames=CHUNK, progress=False)
    return out, summary, arguments


def test_results_equal_detectkit_run_json(first_run, sources, tmp_path):
    out, summary, _ = first_run
    by_name = {s.name: s for s in summary.sources}
    for key in ("photos", "clip_a", "clip_b"):
        entry = by_name[str(sources[key])]
        assert entry.status == "done", entry
        reference = tmp_path / f"{key}.jsonl"
        # the batch runs the model on its own runtime (onnxruntime for an ONNX file); run's default is auto
        assert main(["run", str(sources[key]), "--model", str(SHARED_ONNX), "--device", "cpu", "--runtime", "onnx",
                     "--json", str(reference)]) == 0
        batch_rows = _rows(Path(entry.output))
        _same_frames(batch_rows, _rows(reference))
        assert entry.frames == len(batch_rows) and entry.objects == sum(len(r["detections"]) for r in batch_rows)
    clip = _rows(Path(by_name[str(sources["clip_a"])].output))
    assert [r["frame"] for r in clip] == list(range(CLIP_FRAMES))  # three chunks, in order
    assert any(d["label"] == "person" for r in clip for d in r["detections"])  # the Hamilton clip shows people
    assert summary.actors == 2 and summary.frames == 3 + 2 * CLIP_FRAMES


def test_corrupt_files_are_reported_and_skipped(first_run, sources):
    out, summary, _ = first_run
    by_name = {s.name: s for s in summary.sources}
    broken = by_name[str(sources["broken"])]
    assert broken.status == "failed" and "broken.mp4" in broken.error and "could not open" in broken.error
    assert not list(out.glob("broken.mp4-*.jsonl*"))
    photos = by_name[str(sources["photos"])]
    assert photos.corrupt == 1 and any("000000000000_broken.jpg" in m for m in photos.messages)
    assert [r["frame"] for r in _rows(Path(photos.output))] == [1, 2, 3]  # the unreadable one keeps its index, as in `run`
    manifest = json.loads((out / "manifest.json").read_text())
    assert {e["source"]: e["status"] for e in manifest["sources"].values()} == {
        str(sources["photos"]): "done", str(sources["clip_a"]): "done", str(sources["clip_b"]): "done", str(sources["broken"]): "failed",
    }
    assert json.loads((out / "summary.json").read_text())["failed"] == 1


def test_rerun_skips_finished_sources_and_redoes_a_half_written_one(first_run, sources):
    out, summary, arguments = first_run
    by_name = {s.name: s for s in summary.sources}
    clip_b = Path(by_name[str(sources["clip_b"])].output)
    complete = clip_b.read_text()
    finished = {name: Path(s.output).stat().st_mtime_ns for name, s in by_name.items() if s.status == "done"}
    # the state a run killed while writing clip_b leaves: a .part file, no manifest entry, no .jsonl
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["sources"][clip_b.stem]
    manifest_path.write_text(json.dumps(manifest))
    clip_b.unlink()
    clip_b.with_name(clip_b.name + ".part").write_text(complete[: len(complete) // 3])

    again = run_batch(arguments, out, model=str(SHARED_ONNX), device="cpu", actors=2, chunk_frames=CHUNK, progress=False)
    status = {s.name: s.status for s in again.sources}
    assert status == {str(sources["photos"]): "skipped", str(sources["clip_a"]): "skipped",
                      str(sources["clip_b"]): "done", str(sources["broken"]): "failed"}
    assert again.frames == CLIP_FRAMES  # only clip_b was processed
    _same_frames(_rows(clip_b), [json.loads(line) for line in complete.splitlines()])
    assert not list(out.glob("*.part"))
    for name in (str(sources["photos"]), str(sources["clip_a"])):
        assert Path(by_name[name].output).stat().st_mtime_ns == finished[name]  # not rewritten


def test_other_options_in_the_same_folder_are_refused(first_run, sources):
    from detectkit.errors import OutputError

    out, _, arguments = first_run
    with pytest.raises(OutputError, match="other options \\(conf\\)"):
        run_batch(arguments, out, model=str(SHARED_ONNX), device="cpu", conf=0.5, progress=False)


def test_cli_batch_over_one_photo(ray_cluster, sources, tmp_path, capsys):
    photo = next(p for p in sorted(sources["photos"].glob("*.jpg")) if "broken" not in p.name)
    out = tmp_path / "cli"
    assert main(["batch", str(photo), "--out", str(out), "--model", str(SHARED_ONNX), "--device", "cpu", "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert f"wrote {out / 'summary.json'}" in captured.out
    assert "1 sources: 1 done, 0 skipped (done before), 0 failed; 1 frames" in captured.err
    (row,) = _rows(next(out.glob("*.jsonl")))
    assert row["frame"] == 0 and row["name"] == str(photo) and row["detections"]


def test_faces_per_frame_equal_detectkit_run(ray_cluster, tmp_path, astronaut):
    """Actors build a FaceRecognizer too (MTCNN + FaceNet from a weights file, a SQLite gallery)."""
    import torch
    from facenet_pytorch import InceptionResnetV1

    generator_state = torch.random.get_rng_state()
    torch.manual_seed(0)
    weights = tmp_path / "facenet-test.pt"  # random FaceNet weights: the hub is unreachable here
    torch.save(InceptionResnetV1(classify=True, num_classes=5).state_dict(), weights)
    torch.random.set_rng_state(generator_state)
    photos = tmp_path / "people"
    photos.mkdir()
    face = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(photos / "a.png"), face)
    cv2.imwrite(str(photos / "b.png"), np.ascontiguousarray(face[:, ::-1]))
    db = tmp_path / "people.db"
    assert main(["faces", "enroll", "Eileen", str(photos / "a.png"), "--db", str(db), "--weights", str(weights), "--device", "cpu"]) == 0
    face_options = ["--faces", str(db), "--face-weights", str(weights), "--face-identity", "frame", "--device", "cpu"]
    reference = tmp_path / "run.jsonl"
    assert main(["run", str(photos), "--model", "none", *face_options, "--json", str(reference)]) == 0
    summary = run_batch([photos], tmp_path / "out", model="none", faces=str(db), face_weights=str(weights), face_identity="frame",
                        device="cpu", actors=2, chunk_frames=1, progress=False)
    (entry,) = summary.sources
    got, want = _rows(Path(entry.output)), _rows(reference)
    _same_frames(got, want)
    assert [[f["identity"] for f in r["faces"]] for r in got] == [[f["identity"] for f in r["faces"]] for r in want]
    np.testing.assert_allclose([f["xyxy"] for r in got for f in r["faces"]], [f["xyxy"] for r in want for f in r["faces"]], atol=0.05)
    assert got[0]["faces"] and got[0]["faces"][0]["identity"] == "Eileen"  # the enrolled photo itself
    assert entry.faces == sum(len(r["faces"]) for r in got)
