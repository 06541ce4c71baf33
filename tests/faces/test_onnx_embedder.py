"""The `onnx` face embedder on small models exported here with torch.onnx.export."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
torch = pytest.importorskip("torch")

from detectkit.detections import Detections  # noqa: E402
from detectkit.errors import ModelError, WeightsFormatError, WeightsNotFoundError  # noqa: E402
from detectkit.faces.onnx_embedder import ARCFACE_TEMPLATE, OnnxFaceEmbedder, arcface_template  # noqa: E402


class TinyNet(torch.nn.Module):
    """conv -> pool -> linear: a 16-d "face embedding" of a (N, 3, S, S) or (N, S, S, 3) chip."""

    def __init__(self, nhwc: bool = False, out_shape: str = "nd") -> None:
        super().__init__()
        torch.manual_seed(0)
        self.nhwc, self.out_shape = nhwc, out_shape
        self.conv = torch.nn.Conv2d(3, 8, 5, stride=4)
        self.fc = torch.nn.Linear(8, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.nhwc:
            x = x.permute(0, 3, 1, 2)
        y = torch.nn.functional.adaptive_avg_pool2d(torch.relu(self.conv(x)), 1).flatten(1)
        y = self.fc(y)
        return y.unsqueeze(-1).repeat(1, 1, 2) if self.out_shape == "nd2" else y


def export(net: torch.nn.Module, path: Path, shape: tuple[int, ...], meta: dict[str, str] | None = None,
           dynamic_hw: bool = False) -> Path:
    axes = {"chips": {0: "n"}, "embedding": {0: "n"}}
    if dynamic_hw:
        axes["chips"].update({2: "h", 3: "w"})
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter: no onnxscript here
        torch.onnx.export(net.eval(), (torch.zeros(shape),), str(path), dynamo=False, opset_version=17,
                          input_names=["chips"], output_names=["embedding"], dynamic_axes=axes)
    if meta:
        model = onnx.load(str(path))
        onnx.helper.set_model_props(model, meta)
        onnx.save(model, str(path))
    return path


def face(image_size: int = 200) -> tuple[np.ndarray, Detections]:
    yy, xx = np.mgrid[:image_size, :image_size]
    image = np.stack([xx, yy, (xx * 7 + yy * 3) % 256], axis=2).astype(np.uint8)  # blue = x, green = y
    points = (ARCFACE_TEMPLATE * 1.3 + 30).astype(np.float32)[None]
    faces = Detections(xyxy=np.array([[30, 50, 180, 190]], np.float32), confidence=np.ones(1, np.float32),
                       class_id=np.zeros(1, np.int64), names={0: "face"}, landmarks=points)
    return image, faces


def test_arcface_model_matches_torch_on_aligned_chip(tmp_path: Path) -> None:
    net = TinyNet()
    path = export(net, tmp_path / "arc.onnx", (1, 3, 112, 112))
    embedder = OnnxFaceEmbedder(path, device="cpu")
    assert (embedder.crop_size, embedder.layout, embedder.dim, embedder.color) == (112, "NCHW", 16, "rgb")
    image, faces = face()
    chip = embedder.chips(image, faces)[0]
    # the chip's pixel at each template point comes from the landmark (blue = x, green = y in this image)
    for (tx, ty), (lx, ly) in zip(ARCFACE_TEMPLATE, faces.landmarks[0]):
        b, g, _ = chip[int(round(ty)), int(round(tx))].astype(float)
        assert abs(b - lx) <= 1.5 and abs(g - ly) <= 1.5
    expected_input = ((chip[..., ::-1].astype(np.float32) - 127.5) / 127.5).transpose(2, 0, 1)[None]
    np.testing.assert_allclose(embedder.crops(image, faces), expected_input, atol=1e-6)
    with torch.no_grad():
        ref = net(torch.from_numpy(expected_input)).numpy()
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    got = embedder.embed(image, faces)
    assert got.shape == (1, 16)
    np.testing.assert_allclose(got, ref, atol=1e-5)
    assert embedder.key.name == "arc" and embedder.key.dim == 16 and len(embedder.key.version) == 16


def test_metadata_sets_colour_scale_size_and_name(tmp_path: Path) -> None:
    net = TinyNet(nhwc=True)
    meta = {"mean": "0", "scale": "1", "color": "bgr", "input_size": "96", "model_name": "sface-like"}
    path = export(net, tmp_path / "sf.onnx", (1, 96, 96, 3), meta)
    embedder = OnnxFaceEmbedder(path, device="cpu")
    assert (embedder.layout, embedder.crop_size, embedder.color, embedder.model_name) == ("NHWC", 96, "bgr", "sface-like")
    image, faces = face()
    chip = embedder.chips(image, faces)
    # raw BGR pixels; crops are channels-first like every embedder's, transposed for the NHWC model
    np.testing.assert_array_equal(embedder.crops(image, faces), chip.astype(np.float32).transpose(0, 3, 1, 2))
    with torch.no_grad():
        ref = net(torch.from_numpy(chip.astype(np.float32))).numpy()
    np.testing.assert_allclose(embedder.embed(image, faces), ref / np.linalg.norm(ref), atol=1e-5)
    # arguments win over metadata
    override = OnnxFaceEmbedder(path, device="cpu", mean=127.5, scale=1 / 128, color="rgb", model_name="mine")
    np.testing.assert_allclose(override.crops(image, faces), ((chip[..., ::-1] - 127.5) / 128).transpose(0, 3, 1, 2), atol=1e-5)
    assert override.key.name == "mine" and override.key.version == embedder.key.version


def test_dynamic_size_dlib_alignment_and_batching(tmp_path: Path) -> None:
    path = export(TinyNet(), tmp_path / "dyn.onnx", (2, 3, 150, 150), dynamic_hw=True)
    embedder = OnnxFaceEmbedder(path, input_size=150, alignment="dlib", batch_size=2, device="cpu")
    assert embedder.crop_size == 150
    image, faces = face()
    from detectkit.faces.dlib_chip import face_chips

    np.testing.assert_array_equal(embedder.chips(image, faces), face_chips(image, faces.landmarks))
    crops = np.concatenate([embedder.crops(image, faces)] * 5)
    vectors = embedder.embed_crops(crops)  # 5 chips in batches of 2
    assert vectors.shape == (5, 16)
    np.testing.assert_allclose(vectors, np.repeat(vectors[:1], 5, axis=0), atol=1e-6)
    with pytest.raises(ModelError, match=r"face crops must have shape \(N, 3, 150, 150\)"):
        embedder.embed_crops(np.zeros((1, 3, 112, 112), np.float32))


def test_arcface_template_scales() -> None:
    np.testing.assert_allclose(arcface_template(112), ARCFACE_TEMPLATE)
    np.testing.assert_allclose(arcface_template(224), ARCFACE_TEMPLATE * 2)


def test_wrong_output_shape_names_the_file(tmp_path: Path) -> None:
    path = export(TinyNet(out_shape="nd2"), tmp_path / "bad_out.onnx", (1, 3, 112, 112))
    with pytest.raises(WeightsFormatError, match=r"bad_out\.onnx: output 'embedding' has shape \[2, 16, 2\] for 2 chips"):
        OnnxFaceEmbedder(path, device="cpu")


def test_wrong_input_layout_names_the_file(tmp_path: Path) -> None:
    class Gray(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean(dim=(2, 3)).repeat(1, 8)

    path = export(Gray(), tmp_path / "gray.onnx", (1, 1, 112, 112))
    with pytest.raises(WeightsFormatError, match=r"gray\.onnx: input 'chips' has shape \['n', 1, 112, 112\]: neither"):
        OnnxFaceEmbedder(path, device="cpu")
    flat = export(torch.nn.Linear(12, 4), tmp_path / "flat.onnx", (1, 12))
    with pytest.raises(WeightsFormatError, match=r"flat\.onnx: input 'chips' has shape \['n', 12\]; expected an image batch"):
        OnnxFaceEmbedder(flat, device="cpu")


def test_not_onnx_and_missing_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a protobuf at all" * 10)
    with pytest.raises(WeightsFormatError, match=r"junk\.onnx: not a loadable ONNX model"):
        OnnxFaceEmbedder(junk, device="cpu")
    with pytest.raises(WeightsNotFoundError):
        OnnxFaceEmbedder(tmp_path / "absent.onnx", device="cpu")
    path = export(TinyNet(), tmp_path / "ok.onnx", (1, 3, 112, 112))
    with pytest.raises(ModelError, match="color must be 'rgb' or 'bgr'"):
        OnnxFaceEmbedder(path, color="yuv", device="cpu")
    with pytest.raises(ModelError, match=r"input is 112x112, not input_size=96"):
        OnnxFaceEmbedder(path, input_size=96, device="cpu")
