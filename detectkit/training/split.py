"""Reproducible train/val split of one dataset.

Images are sorted by path, then shuffled with a seeded NumPy generator, so the same files and
seed give the same split on every machine and Python version.

Example:
    >>> from pathlib import Path
    >>> from detectkit.training.data_model import DetectionDataset, Sample
    >>> ds = DetectionDataset(["a"], [Sample(Path(f"{i}.jpg"), [], [], 8, 8) for i in range(10)])
    >>> train, val = split_dataset(ds, val_fraction=0.3, seed=0)
    >>> len(train), len(val), sorted(s.image_path.name for s in val) == sorted(s.image_path.name for s in split_dataset(ds, 0.3, 0)[1])
    (7, 3, True)
"""

from __future__ import annotations

import numpy as np

from ..errors import DatasetError
from .data_model import DetectionDataset

__all__ = ["split_dataset"]


def split_dataset(
    dataset: DetectionDataset, val_fraction: float = 0.2, seed: int = 0
) -> tuple[DetectionDataset, DetectionDataset]:
    """Split into ``(train, val)``: ``round(n * val_fraction)`` images for val, at least one on each side.

    Raises:
        DatasetError: fewer than two images, or ``val_fraction`` not in (0, 1).

    Example:
        >>> from pathlib import Path
        >>> from detectkit.training.data_model import Sample
        >>> ds = DetectionDataset(["a"], [Sample(Path(f"{i}.jpg"), [], [], 8, 8) for i in range(5)])
        >>> [len(part) for part in split_dataset(ds, 0.4, seed=3)], split_dataset(ds, 0.4, seed=3)[1].split
        ([3, 2], 'val')
    """
    if not 0.0 < val_fraction < 1.0:
        raise DatasetError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    n = len(dataset)
    if n < 2:
        raise DatasetError(f"{dataset.root or 'dataset'}: {n} image(s) cannot be split into train and val")
    order = sorted(range(n), key=lambda i: str(dataset.samples[i].image_path))
    shuffled = np.asarray(order)[np.random.default_rng(seed).permutation(n)]
    n_val = min(n - 1, max(1, int(round(n * val_fraction))))
    val_idx, train_idx = sorted(shuffled[:n_val].tolist()), sorted(shuffled[n_val:].tolist())
    return dataset.subset(train_idx, split="train"), dataset.subset(val_idx, split="val")
