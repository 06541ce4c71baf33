"""The face-embedder and face-detector seams: a toy embedder registered from a test drives enrolment,
identification, calibration and the video face stage at its own crop size; the registries; template alignment."""

from __future__ import annotations

import hashlib
import threading

import numpy as np
import pytest

from detectkit.detections import Detections
from detectkit.errors import ModelError
from detectkit.faces import FaceRecognizer, ModelKey
from detectkit.faces.align import ARCFACE_TEMPLATE, align_faces, box_crops, similarity_transforms
from detectkit.faces.embedders import EMBEDDERS, CropSpec, Embedder, l2_normalise, make_embedder, register_embedder
from detectkit.faces.face_detectors import FACE_DETECTORS, make_face_detector, register_face_detector
from detectkit.faces.quality import QualityPolicy


class ToyEmbedder:
    """64 px box crops, each pooled to 8x8 per channel (192-d), centred and L2-normalised."""

    def __init__(self, size: int = 64, device: str = "cpu") -> None:
        self.crop = CropSpec(size, margin=4)
        self.device = device
        self.key = ModelKey("toy", hashlib.sha256(b"toy-pool-8").hexdigest()[:16], 192)
        self.seen: list[tuple[int, ...]] = []  # shapes of every crop batch embedded
        self._lock = threading.Lock()

    def crops(self, image, faces, out=None):
        return box_crops(image, faces, self.crop, out=out)

    def embed_crops(self, crops):
        crops = np.asarray(crops, np.float32)
        with self._lock:
            self.seen.append(crops.shape)
        n, c, s, _ = crops.shape
        pooled = crops.reshape(n, c, 8, s // 8, 8, s // 8).mean(axis=(3, 5)).reshape(n, -1)
        pooled -= pooled.mean(axis=1, keepdims=True)
        return l2_normalise(pooled)

    def embed(self, image, faces):
        return self.embed_crops(self.crops(image, faces))


class CentreBox:
    """A face detector that finds one 'face': the box around the image centre (half its side)."""

    def detect(self, images):
        out = []
        for image in images:
            h, w = image.shape[:2]
            box = np.array([[w / 4, h / 4, 3 * w / 4, 3 * h / 4]], np.float32)
            eyes_nose_mouth = np.array([[[0.4, 0.4], [0.6, 0.4], [0.5, 0.5], [0.42, 0.6], [0.58, 0.6]]], np.float32)
            landmarks = eyes_nose_mouth * np.array([w, h], np.float32)
            out.append(Detections(box, [0.99], [0], {0: "face"}, landmarks=landmarks, image_shape=(h, w)))
        return out


@pytest.fixture()
def toy_registered():
    register_embedder("toy-64", lambda device="cpu", **options: ToyEmbedder(device=str(device), **options))
    register_face_detector("centre-box", lambda device="cpu", **options: CentreBox())
    try:
        yield
    finally:
        EMBEDDERS.unregister("toy-64")
        FACE_DETECTORS.unregister("centre-box")


@pytest.fixture(scope="module")
def photos():
    import skimage.data

    bgr = lambda rgb: np.ascontiguousarray(rgb[:, :, ::-1])  # noqa: E731
    return {"astronaut": bgr(skimage.data.astronaut()), "cat": bgr(skimage.data.chelsea()), "coffee": bgr(skimage.data.coffee())}


def test_toy_embedder_satisfies_the_protocol_and_resolves_by_name(toy_registered) -> None:
    toy = make_embedder("toy-64", device="cpu")
    assert isinstance(toy, Embedder) and isinstance(toy, ToyEmbedder) and toy.crop.size == 64
    assert make_embedder(toy) is toy
    assert "toy-64" in EMBEDDERS.names() and {"facenet", "hog-face"} <= set(EMBEDDERS.names())
    assert isinstance(make_face_detector("centre-box"), CentreBox)


def test_recognizer_enrols_and_identifies_at_the_embedders_crop_size(toy_registered, photos) -> None:
    with FaceRecognizer(None, detector="centre-box", embedder="toy-64", threshold=0.9, quality=QualityPolicy(min_sharpness=0)) as faces:
        toy = faces.embedder
        assert isinstance(toy, ToyEmbedder) and isinstance(faces.detector, CentreBox)
        reports = faces.enroll_many({"Ann": [photos["astronaut"]], "Tom": [photos["cat"]]})
        assert [r.faces_used for r in reports.values()] == [1, 1]
        assert faces.gallery.models() == {toy.key: 2}

        found = faces.identify_arrays([photos["cat"], photos["astronaut"], photos["coffee"]])
        assert [f.identity.tolist() for f in found] == [["Tom"], ["Ann"], [None]]
        np.testing.assert_allclose([float(f.similarity[0]) for f in found[:2]], [1.0, 1.0], atol=1e-5)
        assert float(found[2].similarity[0]) < 0.9
        assert [f.embedding.shape for f in found] == [(1, 192)] * 3

        best = faces.identify(photos["astronaut"], top_k=2)[0]
        assert best.identity == "Ann" and [m.name for m in best.candidates] == ["Ann", "Tom"]
        assert faces.verify(photos["astronaut"], "Ann").verified
        assert not faces.verify(photos["coffee"], "Ann").verified

        result = faces.calibrate([(photos["astronaut"], photos["astronaut"], True), (photos["astronaut"], photos["cat"], False),
                                  (photos["cat"], photos["cat"], True), (photos["cat"], photos["coffee"], False)])
        assert result.skipped == 0 and result.auc == 1.0

    # enrolment's buffer (chunk of 2), identify_arrays' (3 faces), identify/verify (1 face), calibration's (3 photos)
    assert toy.seen and all(shape[1:] == (3, 64, 64) for shape in toy.seen)
    assert (2, 3, 64, 64) in toy.seen and (3, 3, 64, 64) in toy.seen


def test_the_video_face_stage_uses_the_embedder_through_the_recogniser(toy_registered, photos) -> None:
    from detectkit.video.face_tracks import FaceTrackIdentity

    with FaceRecognizer(None, detector="centre-box", embedder="toy-64", threshold=0.9, quality=QualityPolicy(min_sharpness=0)) as faces:
        faces.enroll("Ann", photos["astronaut"])
        identity = FaceTrackIdentity(faces, recheck_every=2)
        out = identity.process([photos["astronaut"]] * 5)
    assert [f.identity.tolist() for f in out] == [["Ann"]] * 5
    assert identity.embedded == 3, "frames 1, 3 and 5 (new track, then every 2nd)"
    assert all(shape[1:] == (3, 64, 64) for shape in faces.embedder.seen)


def test_hog_embedder_and_haar_detector_through_the_registries(photos) -> None:
    from detectkit.classical import HaarFaceDetector, HogFaceEmbedder

    with FaceRecognizer(None, detector="haar", embedder="hog-face", threshold=0.5, quality=QualityPolicy(min_probability=0.5)) as faces:
        assert type(faces.embedder) is HogFaceEmbedder and type(faces.detector) is HaarFaceDetector
        assert faces.embedder.key == HogFaceEmbedder().key
        faces.enroll("Eileen", photos["astronaut"])
        match = faces.identify(photos["astronaut"])
    assert [m.identity for m in match] == ["Eileen"] and match[0].similarity == pytest.approx(1.0, abs=1e-5)


def test_bad_specs_are_refused_clearly(toy_registered) -> None:
    with pytest.raises(ModelError, match="Embedder protocol"):
        make_embedder(3.5)
    with pytest.raises(ModelError, match="options"):
        make_embedder(ToyEmbedder(), size=32)
    with pytest.raises(ModelError, match="unknown face detector 'nope'; known: centre-box, haar, mtcnn"):
        FaceRecognizer(None, detector="nope", embedder="toy-64")
    with pytest.raises(ModelError, match="detect"):
        make_face_detector(object())
    with pytest.raises(ModelError, match="lacks the Embedder protocol"):
        register_embedder("broken", lambda device="cpu": object())
        try:
            make_embedder("broken")
        finally:
            EMBEDDERS.unregister("broken")


def test_crop_spec_expresses_box_crops_and_aligned_chips() -> None:
    facenet = CropSpec(160, margin=14)
    assert not facenet.aligned and facenet.shape == (3, 160, 160) and facenet.buffer(2).shape == (2, 3, 160, 160)
    arcface = CropSpec(112, template=ARCFACE_TEMPLATE)
    np.testing.assert_allclose(arcface.template_pixels()[[0, 4]], [[38.2946, 51.6963], [70.7299, 92.2041]], atol=1e-4)
    # dlib-style: 150 px chip, 25% padding on each side of the template's unit square
    dlib = CropSpec(150, template=[(0.0, 0.0), (1.0, 0.0), (0.5, 0.5), (0.0, 1.0), (1.0, 1.0)], padding=0.25)
    np.testing.assert_allclose(dlib.template_pixels()[[0, 1, 2, 4]], [[25, 25], [125, 25], [75, 75], [125, 125]])
    with pytest.raises(ModelError, match="not both"):
        CropSpec(112, margin=4, template=ARCFACE_TEMPLATE)
    with pytest.raises(ModelError, match="template"):
        CropSpec(112, template=[(0.5, 0.5)])
    with pytest.raises(ModelError, match="margin"):
        CropSpec(64, margin=64)


def test_align_faces_puts_the_landmarks_on_the_template() -> None:
    import cv2

    spec = CropSpec(112, template=ARCFACE_TEMPLATE)
    target = spec.template_pixels().astype(np.float64)
    angle, scale, shift = np.deg2rad(20.0), 1.7, np.array([130.0, 60.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = target @ rotation.T + shift  # the face, rotated, scaled and moved in a bigger image
    image = np.zeros((400, 400, 3), np.uint8)
    for x, y in landmarks:
        cv2.circle(image, (int(round(x)), int(round(y))), 4, (255, 255, 255), -1)

    matrix = similarity_transforms(landmarks[None], target)[0]
    np.testing.assert_allclose(np.c_[landmarks, np.ones(5)] @ matrix.T, target, atol=1e-6)
    chip = align_faces(image, landmarks[None], spec)[0]
    assert chip.shape == (112, 112, 3) and chip.dtype == np.uint8
    for x, y in target:  # each dot lands on its template point (its radius shrinks by 1/1.7)
        assert chip[int(round(y)), int(round(x)), 0] > 200
    assert chip[5, 5, 0] == 0 and chip[56, 20, 0] == 0
    box_spec = CropSpec(64, margin=4)
    with pytest.raises(ValueError, match="no landmark template"):
        align_faces(image, landmarks[None], box_spec)
    with pytest.raises(ValueError, match=r"\(N, 5, 2\)"):
        similarity_transforms(landmarks[None, :3], target)


def test_classical_parts_are_imported_on_first_lookup_and_faces_never_imports_classical() -> None:
    import ast
    import subprocess
    import sys
    from pathlib import Path

    import detectkit.faces

    code = (
        "import sys, detectkit.faces\n"
        "before = 'detectkit.classical' in sys.modules\n"
        "from detectkit.faces import FACE_DETECTORS\n"
        "names = FACE_DETECTORS.names()\n"
        "print(before, names, 'detectkit.classical.haar_faces' in sys.modules, 'torch' in sys.modules)\n"
    )
    root = Path(detectkit.faces.__file__).parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root,
                         env={**__import__("os").environ, "PYTHONPATH": str(root)})
    assert out.stdout.split("\n")[0] == "False ['haar', 'mtcnn'] True False"
    for path in Path(detectkit.faces.__file__).parent.glob("*.py"):  # function-local imports included
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                target = ("." * node.level) + (node.module or "")
                assert not target.startswith(("..classical", "detectkit.classical")), f"{path.name} imports {target}"
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("detectkit.classical") for a in node.names), path.name


def test_facenet_is_the_protocol_and_the_registrys_default(embedder, facenet_file, facenet_state) -> None:
    from detectkit.faces import FaceEmbedder

    assert isinstance(embedder, Embedder) and embedder.crop == CropSpec(160, margin=14)
    by_path = make_embedder(facenet_file, device="cpu")  # weights, as FaceEmbedder takes them
    by_name = make_embedder("facenet", weights=facenet_file, device="cpu", margin=20)
    assert type(by_path) is FaceEmbedder and by_path.key == embedder.key == by_name.key
    assert by_name.crop == CropSpec(160, margin=20)
    assert make_embedder(facenet_state, device="cpu").key.name == "facenet-custom"
    box = np.array([[40, 30, 120, 130]], np.float32)
    image = np.random.default_rng(0).integers(0, 255, (160, 160, 3), dtype=np.uint8)
    np.testing.assert_array_equal(by_path.embed(image, box), embedder.embed(image, box))
