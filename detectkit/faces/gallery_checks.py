"""Checks every gallery store applies before it writes: names, metadata, vectors and model keys.

The :class:`~detectkit.faces.Gallery` API runs them on every call, whatever the storage
engine behind it (SQLite or PostgreSQL), so both engines accept and refuse the same input
with the same :class:`~detectkit.errors.GalleryError` messages; the import of an exported
gallery runs them on every record of the file.

Example:
    >>> import numpy as np
    >>> from detectkit.faces.model_key import ModelKey
    >>> check_vectors([[3.0, 4.0]], ModelKey("toy", "v1", 2)).tolist()
    [[0.6000000238418579, 0.800000011920929]]
    >>> metadata_json({"desk": 4})
    '{"desk": 4}'
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any, Mapping

import numpy as np

from ..errors import GalleryError
from .model_key import ModelKey

__all__ = ["validate_name", "metadata_json", "check_vectors", "check_model", "MAX_NAME_LENGTH", "MAX_METADATA_BYTES"]

MAX_NAME_LENGTH = 128
MAX_METADATA_BYTES = 64 * 1024

_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
"""Hangul fillers and the blank Braille pattern: letters (not format characters) that draw nothing."""

_BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Direction marks, embeddings, overrides and isolates: they reorder how a name is displayed."""


def validate_name(name: Any) -> str:
    """A clean identity name, or a :class:`GalleryError` saying what is wrong with it.

    Names are Unicode-normalised (NFC) and stripped of surrounding white space; they
    must then be non-empty, at most ``MAX_NAME_LENGTH`` characters, free of control
    characters (tabs, newlines, escape sequences, line separators...), and not invisible:
    a name of only zero-width or format characters (U+200B, U+2060, U+FEFF, soft hyphens...)
    and spaces is refused like an empty one (a zero-width joiner inside a visible name is fine).

    Example:
        >>> validate_name("  Zoë ")
        'Zoë'
        >>> validate_name("a\\nb")
        Traceback (most recent call last):
        ...
        detectkit.errors.GalleryError: invalid name 'a\\nb': contains control character U+000A
    """
    if not isinstance(name, str):
        raise GalleryError(f"invalid name {name!r}: a name must be a string, not {type(name).__name__}")
    clean = unicodedata.normalize("NFC", name).strip()
    if not clean:
        raise GalleryError(f"invalid name {name!r}: empty")
    if len(clean) > MAX_NAME_LENGTH:
        raise GalleryError(f"invalid name {clean[:20]!r}...: {len(clean)} characters, at most {MAX_NAME_LENGTH}")
    for char in clean:
        if unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp") or char in _BIDI_CONTROLS:
            raise GalleryError(f"invalid name {name!r}: contains control character U+{ord(char):04X}")
    if all(unicodedata.category(c) == "Cf" or c.isspace() or c in _BLANK_LETTERS for c in clean):
        raise GalleryError(f"invalid name {name!r}: invisible (only zero-width or format characters), like an empty name")
    return clean


def metadata_json(metadata: Mapping[str, Any] | None) -> str:
    """Metadata as the JSON text a store keeps (``"{}"`` for ``None``), or a :class:`GalleryError`.

    Example:
        >>> metadata_json(None), metadata_json({"b": 1, "a": "x"})
        ('{}', '{"a": "x", "b": 1}')
        >>> metadata_json({"when": object()})
        Traceback (most recent call last):
        ...
        detectkit.errors.GalleryError: metadata must be JSON-serialisable: Object of type object is not JSON serializable
    """
    if metadata is None:
        return "{}"
    if not isinstance(metadata, Mapping):
        raise GalleryError(f"metadata must be a dict, not {type(metadata).__name__}")
    try:
        text = json.dumps(dict(metadata), ensure_ascii=False, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise GalleryError(f"metadata must be JSON-serialisable: {exc}") from exc
    except RecursionError:
        raise GalleryError("metadata is nested too deeply to store as JSON") from None
    if len(text.encode()) > MAX_METADATA_BYTES:
        raise GalleryError(f"metadata is {len(text.encode())} bytes as JSON, at most {MAX_METADATA_BYTES}")
    return text


def check_vectors(vectors: Any, model: ModelKey, what: str = "embeddings") -> np.ndarray:
    """``(K, model.dim)`` finite, non-zero vectors, L2-normalised as little-endian float32; else a :class:`GalleryError`.

    Example:
        >>> check_vectors(np.zeros((1, 2)), ModelKey("toy", "v1", 2))
        Traceback (most recent call last):
        ...
        detectkit.errors.GalleryError: embeddings: contains an all-zero vector
    """
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[0] == 0:
        raise GalleryError(f"{what}: expected a (K, {model.dim}) array with K >= 1, got shape {array.shape}")
    if array.shape[1] != model.dim:
        raise GalleryError(f"{what}: vectors are {array.shape[1]}-d but the model {model} makes {model.dim}-d vectors")
    if not np.all(np.isfinite(array)):
        raise GalleryError(f"{what}: contains NaN or infinite values")
    norms = np.linalg.norm(array, axis=1)
    if np.any(norms < 1e-6):
        raise GalleryError(f"{what}: contains an all-zero vector")
    return np.ascontiguousarray(array / norms[:, None], dtype="<f4")


def check_model(model: Any) -> ModelKey:
    """``model`` if it is a usable :class:`ModelKey`, else a :class:`GalleryError`.

    Example:
        >>> check_model(ModelKey("toy", "", 2))
        Traceback (most recent call last):
        ...
        detectkit.errors.GalleryError: invalid model key ModelKey(name='toy', version='', dim=2)
    """
    if not isinstance(model, ModelKey):
        raise GalleryError(f"model must be a ModelKey (e.g. FaceEmbedder.key), not {type(model).__name__}")
    if not model.name or not model.version or int(model.dim) < 1:
        raise GalleryError(f"invalid model key {model!r}")
    return model
