"""images.load_image: every accepted input, and every bad one with its documented error."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from detectkit.errors import ImageError
from detectkit.images import MIN_SIDE, find_images, load_image


@pytest.fixture()
def bgr() -> np.ndarray:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)
    image[0, 0] = (255, 0, 0)  # pure blue in BGR
    return image


def png_bytes(array: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", array)
    assert ok
    return buf.tobytes()


def test_bgr_array_passes_through_without_copy(bgr):
    assert load_image(bgr) is bgr


def test_rgb_array_path_bytes_and_pil_agree(bgr, tmp_path):
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), bgr)
    rgb = bgr[:, :, ::-1].copy()
    for result in (
        load_image(rgb, color="rgb"),
        load_image(path),
        load_image(str(path)),
        load_image(path.read_bytes()),
        load_image(Image.fromarray(rgb)),
        load_image(torch.from_numpy(rgb).permute(2, 0, 1).float() / 255.0),
    ):
        assert result.dtype == np.uint8 and result.shape == (40, 60, 3) and result.flags.c_contiguous
        np.testing.assert_array_equal(result, bgr)


def test_greyscale_rgba_and_16_bit(tmp_path, bgr):
    grey = bgr[:, :, 1].copy()
    out = load_image(grey)
    assert out.shape == (40, 60, 3) and (out[:, :, 0] == grey).all() and (out[:, :, 2] == grey).all()

    bgra = np.dstack([bgr, np.full(bgr.shape[:2], 7, np.uint8)])
    path = tmp_path / "rgba.png"
    cv2.imwrite(str(path), bgra)
    np.testing.assert_array_equal(load_image(path), bgr)  # alpha dropped, colours kept
    np.testing.assert_array_equal(load_image(bgra), bgr)

    sixteen = bgr.astype(np.uint16) * 256 + 100  # high byte = the 8-bit value
    path16 = tmp_path / "deep.png"
    cv2.imwrite(str(path16), sixteen)
    np.testing.assert_array_equal(load_image(path16), bgr)  # high byte
    grey16 = tmp_path / "grey16.png"
    cv2.imwrite(str(grey16), sixteen[:, :, 0])
    loaded = load_image(grey16)
    np.testing.assert_array_equal(loaded[:, :, 0], bgr[:, :, 0])
    np.testing.assert_array_equal(load_image(sixteen), bgr)

    floats = bgr.astype(np.float32) / 255.0
    np.testing.assert_array_equal(load_image(floats), bgr)


def test_exif_orientation_is_honoured(tmp_path):
    rgb = np.zeros((20, 40, 3), np.uint8)
    rgb[:, :10] = (255, 0, 0)  # red band on the left of the stored pixels
    pil = Image.fromarray(rgb)
    exif = pil.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "rotated.jpg"
    pil.save(path, exif=exif, quality=95)
    out = load_image(path)
    assert out.shape == (40, 20, 3)  # displayed upright: portrait
    top = out[:8].reshape(-1, 3).mean(axis=0)  # the left band is now on top
    assert top[2] > 200 and top[0] < 60


def test_truncated_jpeg(tmp_path, bgr):
    ok, buf = cv2.imencode(".jpg", cv2.resize(bgr, (240, 160)))
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.tobytes()[: len(buf) // 2])
    with pytest.raises(ImageError, match=r"cut\.jpg: corrupt or truncated"):
        load_image(path)


def test_zero_bytes_text_and_garbage(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty\.jpg: file is empty"):
        load_image(empty)
    text = tmp_path / "notes.png"
    text.write_text("this is not a picture\n")
    with pytest.raises(ImageError, match=r"notes\.png: cannot be decoded as an image: a text file"):
        load_image(text)
    with pytest.raises(ImageError, match="not a known image format"):
        load_image(b"\x00\x01\x02\x03garbage")


def test_too_small_and_too_large(tmp_path):
    one = tmp_path / "one.png"
    cv2.imwrite(str(one), np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(ImageError, match=rf"one\.png: image is 1x1 pixels; at least {MIN_SIDE}x{MIN_SIDE}"):
        load_image(one)
    big = tmp_path / "big.png"
    cv2.imwrite(str(big), np.zeros((300, 400, 3), np.uint8))
    with pytest.raises(ImageError, match=r"400x300 = 120,000 pixels, over the limit of 100,000"):
        load_image(big, max_pixels=100_000)
    assert load_image(big).shape == (300, 400, 3)


def test_missing_folder_and_unsupported_objects(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match="is a folder"):
        load_image(tmp_path)
    with pytest.raises(ImageError, match="expected a path, bytes"):
        load_image(12345)
    with pytest.raises(ImageError, match="shape"):
        load_image(np.zeros((10, 10, 2), np.uint8))
    with pytest.raises(ImageError, match="NaN"):
        load_image(np.full((10, 10, 3), np.nan, np.float32))


def test_find_images_expands_folders_and_globs(tmp_path, bgr):
    (tmp_path / "sub").mkdir()
    for name in ("b.jpg", "a.png", "sub/c.JPG"):
        cv2.imwrite(str(tmp_path / name), bgr)
    (tmp_path / "readme.txt").write_text("x")
    found = find_images([tmp_path])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a.png", "b.jpg", "sub/c.JPG"]
    assert find_images(str(tmp_path / "*.jpg")) == [tmp_path / "b.jpg"]
    assert find_images([tmp_path / "a.png", tmp_path / "a.png"]) == [tmp_path / "a.png"]
    with pytest.raises(ImageError, match="no such file or folder"):
        find_images([tmp_path / "missing"])
    with pytest.raises(ImageError, match="no images found"):
        find_images([str(tmp_path / "*.gif")])
