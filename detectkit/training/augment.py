"""Training data for torchvision detectors: a torch ``Dataset`` over a :class:`DetectionDataset`, with
train-time augmentation through ``torchvision.transforms.v2`` (boxes as ``tv_tensors.BoundingBoxes``).

Each item is ``(image, target)``: a float CHW RGB tensor in [0, 1] whose longest side is at most
``imgsz`` (images are shrunk once, before augmentation, so augmenting is cheap), and
``{"boxes": (N, 4) float xyxy, "labels": (N,) int64}`` with torchvision's labels (class id + 1;
0 is background). Augmentation (:class:`Augment`) is, in order: horizontal (and optionally
vertical) flips, a scale/translate jitter (``RandomAffine``: objects get bigger or smaller
relative to the frame, and move), colour jitter (brightness, contrast, saturation, hue); boxes
follow the geometry, are clamped to the image, and boxes that shrink below 2 px are dropped
(``SanitizeBoundingBoxes``). Validation items use no augmentation.

Example:
    >>> import tempfile
    >>> from detectkit.training.synthetic import make_shapes_dataset
    >>> from detectkit.training.datasets import load_dataset
    >>> train = load_dataset(make_shapes_dataset(tempfile.mkdtemp(), 4, 0, imgsz=64), "train")
    >>> items = TorchDetectionData(train, imgsz=48, augment=Augment())
    >>> image, target = items[0]
    >>> tuple(image.shape), image.dtype, int(target["labels"].min()) >= 1
    ((3, 48, 48), torch.float32, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .data_model import DetectionDataset

__all__ = ["Augment", "TorchDetectionData", "collate", "build_transforms"]


@dataclass(frozen=True)
class Augment:
    """Train-time augmentation settings (probabilities and ranges); ``Augment.off()`` disables all.

    Attributes:
        hflip: probability of a horizontal flip.
        vflip: probability of a vertical flip (off by default: most photos have an up).
        scale: the image is scaled by a factor in ``[1 - scale, 1 + scale]`` around its centre...
        translate: ...and moved by up to this fraction of its width/height (one ``RandomAffine``).
        affine_p: probability of applying the scale/translate jitter.
        brightness, contrast, saturation, hue: ``ColorJitter`` ranges.
        color_p: probability of applying the colour jitter.

    Example:
        >>> Augment(hflip=0.0).hflip, Augment.off().scale
        (0.0, 0.0)
    """

    hflip: float = 0.5
    vflip: float = 0.0
    scale: float = 0.25
    translate: float = 0.1
    affine_p: float = 0.5
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    hue: float = 0.02
    color_p: float = 0.8

    @classmethod
    def off(cls) -> "Augment":
        """No augmentation at all."""
        return cls(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def build_transforms(augment: Augment | None) -> Any:
    """The ``transforms.v2`` pipeline for :class:`Augment` settings (``None``: only clamp and sanitise)."""
    import torch
    from torchvision.transforms import v2

    steps: list[Any] = []
    if augment is not None:
        if augment.hflip > 0:
            steps.append(v2.RandomHorizontalFlip(augment.hflip))
        if augment.vflip > 0:
            steps.append(v2.RandomVerticalFlip(augment.vflip))
        if augment.affine_p > 0 and (augment.scale > 0 or augment.translate > 0):
            affine = v2.RandomAffine(
                degrees=0.0,
                translate=(augment.translate, augment.translate) if augment.translate > 0 else None,
                scale=(1.0 - augment.scale, 1.0 + augment.scale) if augment.scale > 0 else None,
                fill=114,
            )
            steps.append(v2.RandomApply([affine], p=augment.affine_p))
        if augment.color_p > 0 and max(augment.brightness, augment.contrast, augment.saturation, augment.hue) > 0:
            jitter = v2.ColorJitter(augment.brightness, augment.contrast, augment.saturation, augment.hue)
            steps.append(v2.RandomApply([jitter], p=augment.color_p))
    steps += [
        v2.ClampBoundingBoxes(),
        v2.SanitizeBoundingBoxes(min_size=2.0),
        v2.ToDtype(torch.float32, scale=True),
    ]
    return v2.Compose(steps)


class TorchDetectionData:
    """A map-style torch dataset of ``(image tensor, target dict)`` for torchvision detectors.

    Args:
        dataset: the labelled split (from :func:`~detectkit.training.datasets.load_dataset`).
        imgsz: longest image side fed to the model; larger images are shrunk once when read.
        augment: train-time augmentation, or ``None`` for none.
    """

    def __init__(self, dataset: DetectionDataset, imgsz: int, augment: Augment | None = None) -> None:
        self.dataset = dataset
        self.imgsz = int(imgsz)
        self.transforms = build_transforms(augment)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Any, dict[str, Any]]:
        import cv2
        import torch
        from torchvision import tv_tensors

        sample = self.dataset[index]
        image = sample.load_image()  # BGR uint8, errors name the file
        height, width = image.shape[:2]
        boxes = sample.xyxy.astype(np.float32, copy=True)
        scale = self.imgsz / max(height, width)
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            boxes *= np.array([size[0] / width, size[1] / height] * 2, np.float32)
            width, height = size
        tensor = torch.from_numpy(np.ascontiguousarray(image[:, :, ::-1])).permute(2, 0, 1)
        target = {
            "boxes": tv_tensors.BoundingBoxes(torch.from_numpy(boxes), format="XYXY", canvas_size=(height, width)),
            "labels": torch.from_numpy(sample.class_id.astype(np.int64) + 1),
        }
        image_out, target = self.transforms(tv_tensors.Image(tensor), target)
        return image_out.as_subclass(torch.Tensor), {
            "boxes": target["boxes"].as_subclass(torch.Tensor).float(),
            "labels": target["labels"],
        }


def collate(batch: list[tuple[Any, dict[str, Any]]]) -> tuple[list[Any], list[dict[str, Any]]]:
    """Keep images and targets as lists (torchvision detectors take images of different sizes).

    Example:
        >>> collate([("a", {"x": 1}), ("b", {"x": 2})])
        (['a', 'b'], [{'x': 1}, {'x': 2}])
    """
    images, targets = zip(*batch) if batch else ((), ())
    return list(images), list(targets)
