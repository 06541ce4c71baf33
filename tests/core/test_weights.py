"""weights: search order, checksums, offline behaviour, safe loading."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from detectkit.errors import ChecksumError, WeightsFormatError, WeightsNotFoundError
from detectkit.weights import cache_dir, known_weights, load_torch_file, resolve_weights, search_dirs, sha256_of


@pytest.fixture()
def folders(tmp_path, monkeypatch):
    """Two DETECTKIT_WEIGHTS folders, a ./weights folder (cwd) and a private cache."""
    a, b, work, cache = (tmp_path / n for n in ("a", "b", "work", "cache"))
    for folder in (a, b, work / "weights", cache):
        folder.mkdir(parents=True)
    monkeypatch.setenv("DETECTKIT_WEIGHTS", f"{a}{os.pathsep}{b}")
    monkeypatch.setenv("DETECTKIT_CACHE", str(cache))
    monkeypatch.chdir(work)
    return a, b, work / "weights", cache


def test_search_order(folders):
    a, b, local, cache = folders
    labels = [(path, label) for path, label in search_dirs()]
    assert labels[:4] == [(a, "DETECTKIT_WEIGHTS"), (b, "DETECTKIT_WEIGHTS"), (local, "./weights"), (cache, "detectkit cache")]
    for folder in (cache, local, b):
        (folder / "m.onnx").write_bytes(b"model from " + folder.name.encode())
    assert resolve_weights("m.onnx") == b / "m.onnx"
    (b / "m.onnx").unlink()
    assert resolve_weights("m.onnx") == local / "m.onnx"
    (local / "m.onnx").unlink()
    assert resolve_weights("m.onnx") == cache / "m.onnx"
    explicit = a.parent / "elsewhere.onnx"
    explicit.write_bytes(b"x")
    assert resolve_weights(explicit) == explicit


def test_missing_file_lists_every_place_and_how_to_provide(folders):
    a, b, local, cache = folders
    with pytest.raises(WeightsNotFoundError) as info:
        resolve_weights("yolo11n.pt")  # offline in tests: no download attempted
    message = str(info.value)
    for folder in (a, b, local, cache):
        assert str(folder) in message
    assert "not attempted (offline" in message
    assert "https://github.com/ultralytics/assets/releases/download/v8.4.0/yolo11n.pt" in message
    assert "DETECTKIT_WEIGHTS" in message
    with pytest.raises(WeightsNotFoundError, match="no such model file"):
        resolve_weights("./models/none.pt")


def test_download_failure_is_reported(folders, monkeypatch):
    monkeypatch.delenv("DETECTKIT_OFFLINE")
    import torch.hub

    def refuse(url, dst, hash_prefix=None, progress=True):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    with pytest.raises(WeightsNotFoundError, match="failed: OSError: network is unreachable"):
        resolve_weights("yolov8n.pt")
    assert not any(cache_dir().iterdir())  # nothing half-written left in the cache


def test_download_records_and_checks_a_hash(folders, monkeypatch):
    monkeypatch.delenv("DETECTKIT_OFFLINE")
    import torch.hub

    def fake_download(url, dst, hash_prefix=None, progress=True):
        Path(dst).write_bytes(b"pretend weights for " + url.encode())

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    path = resolve_weights("yolov8s.pt")
    assert path == cache_dir() / "yolov8s.pt" and path.read_bytes().startswith(b"pretend")
    assert resolve_weights("yolov8s.pt") == path  # found in the cache now, hash matches the record
    path.write_bytes(b"tampered")
    with pytest.raises(ChecksumError, match="yolov8s.pt"):
        resolve_weights("yolov8s.pt")


def test_published_checksum_is_checked(folders):
    a, *_ = folders
    known = known_weights("fasterrcnn_mobilenet_v3_large_320_fpn")
    (a / known.filename).write_bytes(b"not the real file")
    with pytest.raises(ChecksumError, match="should start with 907ea3f9"):
        resolve_weights(known.name)
    (a / known.filename).unlink()
    (a / "yolov8n_int8.onnx").write_bytes(b"")
    with pytest.raises(WeightsFormatError, match="empty"):
        resolve_weights("yolov8n_int8.onnx")


def test_shared_onnx_passes_its_published_checksum(coco_onnx):
    assert sha256_of(coco_onnx) == known_weights("yolov8n_int8.onnx").sha256
    assert resolve_weights(coco_onnx) == coco_onnx


class NotATensor:
    pass


def test_load_torch_file_refuses_pickled_objects(tmp_path):
    good = tmp_path / "state.pt"
    torch.save({"w": torch.ones(3)}, good)
    assert load_torch_file(good)["w"].sum() == 3
    evil = tmp_path / "object.pt"
    torch.save({"obj": NotATensor()}, evil)
    with pytest.raises(WeightsFormatError, match="does not unpickle"):
        load_torch_file(evil)
    text = tmp_path / "text.pt"
    text.write_text("hello")
    with pytest.raises(WeightsFormatError, match=r"text\.pt: not a readable PyTorch"):
        load_torch_file(text)
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(WeightsFormatError, match=r"raw\.pkl: not a readable PyTorch model file \(Unsupported operand"):
        load_torch_file(raw)  # a bare pickle is not a torch.save file
