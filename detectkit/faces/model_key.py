"""`ModelKey`: which face embedder made a vector (name, version, dimension).

The gallery stores the key with every vector and never compares vectors of different
keys; every embedder (:mod:`detectkit.faces.embedders`) has one. This module holds
only the key, so the gallery depends on no model code.

Example:
    >>> from detectkit.faces.model_key import ModelKey
    >>> ModelKey("toy", "v1", 3).dim
    3
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ModelKey"]


@dataclass(frozen=True)
class ModelKey:
    """Which model made a vector: name, version (weights digest) and dimension.

    Example:
        >>> str(ModelKey("facenet-vggface2", "0123456789abcdef", 512))
        'facenet-vggface2@0123456789abcdef (512-d)'
    """

    name: str
    version: str
    dim: int

    def __str__(self) -> str:
        return f"{self.name}@{self.version} ({self.dim}-d)"
