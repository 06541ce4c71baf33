"""A small generated detection set: filled circles, squares and triangles on varied backgrounds.

For tests, demos and smoke runs of the trainers: it is fast to make (a few ms an image), needs no
download, and is easy to learn (a tiny detector reaches a high mAP@0.5 in a few epochs), yet not
trivial: backgrounds are noise, gradients or flat random colours, shapes have random colours,
sizes and positions, and images hold one to ``max_objects`` shapes that do not overlap. Boxes are
the exact pixel extents of the drawn shapes.

Example:
    >>> import tempfile
    >>> from detectkit.training.datasets import load_dataset
    >>> spec = make_shapes_dataset(tempfile.mkdtemp(), n_train=6, n_val=2, imgsz=96, format="coco", seed=1)
    >>> val = load_dataset(spec, "val")
    >>> len(val), val.names, val.format
    (2, ['circle', 'square', 'triangle'], 'coco')
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from ..errors import DatasetError
from .data_model import DetectionDataset, Sample

__all__ = ["make_shapes_dataset", "draw_shapes_image", "SHAPES"]

SHAPES = ("circle", "square", "triangle")
"""The shapes the generator can draw; ``classes`` picks some of them (in that order of ids)."""


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    kind = rng.integers(3)
    if kind == 0:  # noise around a random colour
        base = rng.integers(0, 256, 3)
        noise = rng.normal(0, 28, (size, size, 3))
        image = np.clip(base + noise, 0, 255)
    elif kind == 1:  # linear gradient between two colours, random direction
        a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        angle = rng.uniform(0, 2 * np.pi)
        ys, xs = np.mgrid[0:size, 0:size] / max(size - 1, 1)
        t = (np.cos(angle) * xs + np.sin(angle) * ys)
        t = (t - t.min()) / max(t.max() - t.min(), 1e-6)
        image = a + (b - a) * t[..., None]
    else:  # flat colour with faint noise
        image = np.clip(rng.integers(0, 256, 3) + rng.normal(0, 6, (size, size, 3)), 0, 255)
    return image.astype(np.uint8)


def _colour(rng: np.random.Generator, background: np.ndarray) -> tuple[int, int, int]:
    mean = background.reshape(-1, 3).mean(0)
    for _ in range(50):
        colour = rng.integers(0, 256, 3)
        if np.abs(colour - mean).sum() > 180:
            break
    return tuple(int(c) for c in colour)


def _draw(shape: str, mask: np.ndarray, cx: float, cy: float, r: float, rng: np.random.Generator) -> None:
    import cv2

    if shape == "circle":
        cv2.circle(mask, (int(round(cx)), int(round(cy))), int(round(r)), 255, -1, lineType=cv2.LINE_8)
    elif shape == "square":
        cv2.rectangle(mask, (int(round(cx - r)), int(round(cy - r))), (int(round(cx + r)), int(round(cy + r))), 255, -1)
    elif shape == "triangle":
        turn = rng.uniform(0, 2 * np.pi)
        points = [(cx + r * np.cos(turn + k * 2 * np.pi / 3), cy + r * np.sin(turn + k * 2 * np.pi / 3)) for k in range(3)]
        cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 255)
    else:
        raise ValueError(f"unknown shape {shape!r}; choose from {SHAPES}")


def draw_shapes_image(
    rng: np.random.Generator,
    imgsz: int,
    classes: Sequence[str] = SHAPES,
    max_objects: int = 3,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image: ``(bgr uint8 HxWx3, xyxy (N,4) float32, class_id (N,) int64)``.

    Example:
        >>> image, boxes, ids = draw_shapes_image(np.random.default_rng(0), 64)
        >>> image.shape, boxes.shape[1], len(boxes) == len(ids) >= 1
        ((64, 64, 3), 4, True)
    """
    image = _background(rng, imgsz)
    boxes: list[list[float]] = []
    ids: list[int] = []
    wanted = int(rng.integers(1, max_objects + 1))
    for _ in range(wanted * 20):  # rejection sampling for shapes that do not touch
        if len(boxes) == wanted:
            break
        cls = int(rng.integers(len(classes)))
        r = rng.uniform(0.12, 0.24) * imgsz
        cx, cy = rng.uniform(r + 1, imgsz - r - 1, 2)
        mask = np.zeros((imgsz, imgsz), np.uint8)
        _draw(classes[cls], mask, cx, cy, r, rng)
        ys, xs = np.nonzero(mask)
        if len(xs) == 0:
            continue
        box = [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]
        if any(not (box[2] + 2 <= b[0] or b[2] + 2 <= box[0] or box[3] + 2 <= b[1] or b[3] + 2 <= box[1]) for b in boxes):
            continue
        image[mask > 0] = _colour(rng, image)
        boxes.append(box)
        ids.append(cls)
    return image, np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(ids, np.int64)


def make_shapes_dataset(
    out_dir: str | os.PathLike,
    n_train: int = 64,
    n_val: int = 16,
    imgsz: int = 128,
    classes: Sequence[str] = SHAPES,
    format: Literal["yolo", "coco", "voc"] = "yolo",
    seed: int = 0,
    max_objects: int = 3,
) -> Path:
    """Write a synthetic shapes dataset and return what ``load_dataset`` takes.

    Args:
        out_dir: folder to write into (made if needed; should be empty).
        n_train, n_val: images in each split (``n_val=0``: no val split).
        imgsz: image side in pixels (square images; 64-160 keeps training fast).
        classes: which shapes, in class-id order (a subset of ``SHAPES``).
        format: ``"yolo"`` (returns the data YAML), ``"coco"`` or ``"voc"`` (return the folder).
        seed: the same seed makes the same images and labels.
        max_objects: at most this many shapes an image (at least one).

    Example:
        >>> import tempfile
        >>> from detectkit.training.loading import load_dataset
        >>> spec = make_shapes_dataset(Path(tempfile.mkdtemp()) / "shapes", 4, 2, imgsz=96, seed=1)
        >>> spec.name, len(load_dataset(spec, "train")), len(load_dataset(spec, "val"))
        ('data.yaml', 4, 2)
        >>> sample = load_dataset(spec, "val").samples[0]
        >>> (sample.width, sample.height), 1 <= len(sample) <= 3, bool((sample.xyxy[:, 2:] <= 96).all())
        ((96, 96), True, True)
    """
    import cv2

    from .convert import write_dataset

    classes = list(classes)
    unknown = [c for c in classes if c not in SHAPES]
    if unknown or not classes:
        raise DatasetError(f"classes must be some of {SHAPES}, got {classes}")
    if imgsz < 32:
        raise DatasetError(f"imgsz must be at least 32, got {imgsz}")
    if format not in ("yolo", "coco", "voc"):
        raise DatasetError(f"format must be 'yolo', 'coco' or 'voc', not {format!r}")
    out = Path(out_dir).expanduser().resolve()
    rng = np.random.default_rng(seed)
    result = out
    for split, count in (("train", n_train), ("val", n_val)):
        if count <= 0:
            continue
        folder = out / "JPEGImages" if format == "voc" else out / "images" / split
        folder.mkdir(parents=True, exist_ok=True)
        samples = []
        for i in range(count):
            image, boxes, ids = draw_shapes_image(rng, imgsz, classes, max_objects)
            path = folder / f"{split}_{i:05d}.png"
            if not cv2.imwrite(str(path), image):
                raise OSError(f"{path}: could not write the image")
            samples.append(Sample(path, boxes, ids, imgsz, imgsz))
        dataset = DetectionDataset(classes, samples, out, split, format)
        result = write_dataset(dataset, format, out, split=split)
    return result
