"""`Detections`: the one result type that crosses module lines in detectkit.

A `Detections` holds the N boxes found in one image as NumPy arrays, in pixels of
the caller's original image, plus the class-name table of the model that made them
and optional per-box extras (tracker ids, face landmarks, embeddings, identities).

Example:
    >>> import numpy as np
    >>> from detectkit import Detections
    >>> d = Detections(
    ...     xyxy=np.array([[10, 20, 110, 220], [5, 5, 50, 50]], dtype=np.float32),
    ...     confidence=np.array([0.9, 0.3], dtype=np.float32),
    ...     class_id=np.array([0, 2]),
    ...     names={0: "person", 2: "car"},
    ... )
    >>> len(d), d.labels
    (2, ['person', 'car'])
    >>> d.filter(min_confidence=0.5).labels
    ['person']
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

__all__ = ["Detections"]

# Per-box optional fields: name -> (dtype, shape after N). None dtype = object array.
_EXTRAS: dict[str, tuple[Any, tuple[int, ...] | None]] = {
    "tracker_id": (np.int64, ()),
    "landmarks": (np.float32, (5, 2)),
    "embedding": (np.float32, None),  # (N, D): D depends on the embedder
    "identity": (object, ()),
    "similarity": (np.float32, ()),
}


def _as_array(value: Any, dtype: Any, name: str) -> np.ndarray:
    array = np.asarray(value if value is not None else [], dtype=dtype)
    if dtype is object and array.ndim == 0:
        array = array.reshape(1)
    return array


@dataclass(eq=False)
class Detections:
    """N detections in one image.

    Attributes:
        xyxy: (N, 4) float32 boxes, ``x1, y1, x2, y2`` in absolute pixels of the input image.
        confidence: (N,) float32 scores in ``[0, 1]``.
        class_id: (N,) int64 class ids; look them up in ``names``.
        names: the model's class-name table, ``{class_id: name}``.
        tracker_id: optional (N,) int64 track ids (-1 = not tracked).
        landmarks: optional (N, 5, 2) float32 face landmarks (eyes, nose, mouth corners).
        embedding: optional (N, D) float32 L2-normalised embeddings.
        identity: optional (N,) object array of names, ``None`` for unknown.
        similarity: optional (N,) float32 similarity of ``identity``'s best match.
        image_shape: ``(height, width)`` of the image the boxes belong to, when known.

    Example:
        >>> import numpy as np
        >>> d = Detections.empty(names={0: "person"})
        >>> len(d), d.xyxy.shape
        (0, (0, 4))
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    names: dict[int, str] = field(default_factory=dict)
    tracker_id: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    embedding: np.ndarray | None = None
    identity: np.ndarray | None = None
    similarity: np.ndarray | None = None
    image_shape: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        self.xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        n = len(self.xyxy)
        self.confidence = np.asarray(self.confidence, dtype=np.float32).reshape(-1)
        self.class_id = np.asarray(self.class_id, dtype=np.int64).reshape(-1)
        if len(self.confidence) != n or len(self.class_id) != n:
            raise ValueError(
                f"Detections: xyxy has {n} boxes but confidence has {len(self.confidence)} "
                f"and class_id has {len(self.class_id)}"
            )
        self.names = {int(k): str(v) for k, v in dict(self.names or {}).items()}
        for name, (dtype, tail) in _EXTRAS.items():
            value = getattr(self, name)
            if value is None:
                continue
            array = _as_array(value, dtype, name)
            if tail is not None and array.size == 0:
                array = array.reshape((0, *tail))
            if name == "embedding" and array.ndim == 1 and array.size == 0:
                array = array.reshape(0, 0)
            if len(array) != n or (tail is not None and array.shape[1:] != tail):
                expected = (n, *tail) if tail is not None else (n, "D")
                raise ValueError(f"Detections.{name} has shape {array.shape}, expected {expected}")
            setattr(self, name, array)
        if self.image_shape is not None:
            self.image_shape = (int(self.image_shape[0]), int(self.image_shape[1]))

    # ------------------------------------------------------------------ building
    @classmethod
    def empty(cls, names: Mapping[int, str] | None = None, image_shape: tuple[int, int] | None = None) -> "Detections":
        """No detections, with a class-name table.

        Example:
            >>> len(Detections.empty())
            0
        """
        return cls(
            xyxy=np.zeros((0, 4), np.float32),
            confidence=np.zeros(0, np.float32),
            class_id=np.zeros(0, np.int64),
            names=dict(names or {}),
            image_shape=image_shape,
        )

    @classmethod
    def merge(cls, parts: Sequence["Detections"]) -> "Detections":
        """Concatenate detections of the same image (e.g. from two models).

        Extras present in only some parts are filled with "missing" values
        (-1 track id, NaN landmarks/embedding/similarity, ``None`` identity).

        Example:
            >>> a = Detections.empty({0: "person"}); b = Detections.empty({1: "face"})
            >>> Detections.merge([a, b]).names
            {0: 'person', 1: 'face'}
        """
        parts = list(parts)
        if not parts:
            return cls.empty()
        names: dict[int, str] = {}
        for part in parts:
            for key, value in part.names.items():
                if names.get(key, value) != value:
                    raise ValueError(f"cannot merge: class id {key} is {names[key]!r} in one part and {value!r} in another")
                names[key] = value
        kwargs: dict[str, Any] = {
            "xyxy": np.concatenate([p.xyxy for p in parts]),
            "confidence": np.concatenate([p.confidence for p in parts]),
            "class_id": np.concatenate([p.class_id for p in parts]),
            "names": names,
            "image_shape": next((p.image_shape for p in parts if p.image_shape is not None), None),
        }
        for name in _EXTRAS:
            present = [getattr(p, name) for p in parts if getattr(p, name) is not None]
            if not present:
                continue
            filled = []
            for part in parts:
                value = getattr(part, name)
                if value is None:
                    value = _missing(name, len(part), present[0])
                filled.append(value)
            kwargs[name] = np.concatenate(filled)
        return cls(**kwargs)

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self.xyxy)

    def __iter__(self) -> Iterator["Detections"]:
        """Iterate box by box; each item is a ``Detections`` of length 1."""
        for i in range(len(self)):
            yield self[i : i + 1]

    def __getitem__(self, index: int | slice | Sequence[int] | np.ndarray) -> "Detections":
        """Select boxes by an int, a slice, an index array or a boolean mask.

        Example:
            >>> import numpy as np
            >>> d = Detections(np.zeros((3, 4)), [0.1, 0.5, 0.9], [0, 0, 1], {0: "a", 1: "b"})
            >>> len(d[d.confidence > 0.3]), d[0].confidence.tolist(), len(d[[0, 2]])
            (2, [0.10000000149011612], 2)
        """
        if isinstance(index, (int, np.integer)):
            i = int(index)
            if not -len(self) <= i < len(self):
                raise IndexError(f"detection index {i} out of range for {len(self)} detections")
            index = [i % len(self)]
        elif not isinstance(index, slice):
            index = np.asarray(index)
            if index.dtype == bool and index.shape != (len(self),):
                raise IndexError(f"boolean mask of shape {index.shape} for {len(self)} detections")
            if index.dtype != bool:
                index = index.astype(np.int64).reshape(-1)
        kwargs = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("xyxy", "confidence", "class_id", *_EXTRAS):
            if kwargs[name] is not None:
                kwargs[name] = kwargs[name][index]
        return Detections(**kwargs)

    @property
    def labels(self) -> list[str]:
        """Class name of each box (``str(class_id)`` when the table lacks it)."""
        return [self.names.get(int(c), str(int(c))) for c in self.class_id]

    @property
    def area(self) -> np.ndarray:
        """(N,) box areas in square pixels."""
        wh = np.clip(self.xyxy[:, 2:] - self.xyxy[:, :2], 0, None)
        return wh[:, 0] * wh[:, 1]

    def class_ids_for(self, classes: Iterable[int | str]) -> list[int]:
        """Turn class names and/or ids into ids using this table.

        Raises:
            ValueError: a name that is not in the table.
        """
        return resolve_class_ids(classes, self.names)

    def filter(
        self,
        *,
        classes: Iterable[int | str] | None = None,
        min_confidence: float | None = None,
        min_area: float | None = None,
    ) -> "Detections":
        """Keep boxes of the given classes (ids or names) with at least the given confidence and area.

        Example:
            >>> import numpy as np
            >>> d = Detections(np.zeros((2, 4)), [0.9, 0.2], [0, 1], {0: "cat", 1: "dog"})
            >>> d.filter(classes=["dog"]).labels
            ['dog']
        """
        keep = np.ones(len(self), dtype=bool)
        if classes is not None:
            keep &= np.isin(self.class_id, self.class_ids_for(classes))
        if min_confidence is not None:
            keep &= self.confidence >= min_confidence
        if min_area is not None:
            keep &= self.area >= min_area
        return self[keep]

    def with_extras(self, **extras: Any) -> "Detections":
        """A copy with per-box extras set (``tracker_id``, ``identity``, ...)."""
        kwargs = {f.name: getattr(self, f.name) for f in fields(self)}
        unknown = set(extras) - set(_EXTRAS)
        if unknown:
            raise TypeError(f"unknown Detections extras: {sorted(unknown)}; known: {sorted(_EXTRAS)}")
        kwargs.update(extras)
        return Detections(**kwargs)

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form (lists, floats, str): what ``to_json`` writes.

        Example:
            >>> import numpy as np
            >>> Detections(np.array([[1, 2, 3, 4]]), [0.5], [0], {0: "cat"}).to_dict()["detections"][0]["label"]
            'cat'
        """
        boxes = []
        for i in range(len(self)):
            box: dict[str, Any] = {
                "xyxy": [round(float(v), 2) for v in self.xyxy[i]],
                "confidence": round(float(self.confidence[i]), 5),
                "class_id": int(self.class_id[i]),
                "label": self.names.get(int(self.class_id[i]), str(int(self.class_id[i]))),
            }
            if self.tracker_id is not None:
                box["tracker_id"] = int(self.tracker_id[i])
            if self.landmarks is not None:
                box["landmarks"] = [[round(float(x), 2), round(float(y), 2)] for x, y in self.landmarks[i]]
            if self.identity is not None:
                box["identity"] = None if self.identity[i] is None else str(self.identity[i])
            if self.similarity is not None:
                value = float(self.similarity[i])
                box["similarity"] = None if np.isnan(value) else round(value, 5)
            if self.embedding is not None:
                box["embedding"] = [float(v) for v in self.embedding[i]]
            boxes.append(box)
        out: dict[str, Any] = {"detections": boxes}
        if self.image_shape is not None:
            out["image_shape"] = list(self.image_shape)
        return out

    def to_json(self, **extra: Any) -> str:
        """One line of JSON (``extra`` keys such as ``source`` are added at the top level)."""
        return json.dumps({**extra, **self.to_dict()}, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], names: Mapping[int, str] | None = None) -> "Detections":
        """Inverse of :meth:`to_dict`. Labels rebuild the name table when ``names`` is not given."""
        boxes = list(data.get("detections", []))
        table = dict(names or {})
        if not table:
            table = {int(b["class_id"]): str(b.get("label", b["class_id"])) for b in boxes}
        kwargs: dict[str, Any] = {
            "xyxy": np.array([b["xyxy"] for b in boxes], dtype=np.float32).reshape(-1, 4),
            "confidence": [b["confidence"] for b in boxes],
            "class_id": [b["class_id"] for b in boxes],
            "names": table,
            "image_shape": tuple(data["image_shape"]) if data.get("image_shape") else None,
        }
        if boxes:
            if all("tracker_id" in b for b in boxes):
                kwargs["tracker_id"] = [b["tracker_id"] for b in boxes]
            if all("landmarks" in b for b in boxes):
                kwargs["landmarks"] = [b["landmarks"] for b in boxes]
            if all("identity" in b for b in boxes):
                kwargs["identity"] = np.array([b["identity"] for b in boxes], dtype=object)
            if all("similarity" in b for b in boxes):
                kwargs["similarity"] = [np.nan if b["similarity"] is None else b["similarity"] for b in boxes]
            if all("embedding" in b for b in boxes):
                kwargs["embedding"] = [b["embedding"] for b in boxes]
        return cls(**kwargs)

    # ------------------------------------------------------------------ interop
    @classmethod
    def from_ultralytics(cls, result: Any) -> "Detections":
        """From one ultralytics ``Results`` (detection task).

        Usage:
            results = YOLO("yolo11n.pt")(image); Detections.from_ultralytics(results[0])
        """
        boxes = result.boxes
        image_shape = tuple(result.orig_shape[:2]) if getattr(result, "orig_shape", None) is not None else None
        names = dict(result.names or {})
        if boxes is None or len(boxes) == 0:
            return cls.empty(names, image_shape)
        data = boxes.data.detach().cpu().float().numpy()  # one device->host copy: x1 y1 x2 y2 [id] conf cls
        tracker_id = data[:, 4].astype(np.int64) if data.shape[1] == 7 else None
        return cls(
            xyxy=data[:, :4],
            confidence=data[:, -2],
            class_id=data[:, -1].astype(np.int64),
            names=names,
            tracker_id=tracker_id,
            image_shape=image_shape,
        )

    @classmethod
    def from_torchvision(
        cls,
        output: Mapping[str, Any],
        names: Mapping[int, str] | Sequence[str],
        image_shape: tuple[int, int] | None = None,
    ) -> "Detections":
        """From one torchvision detection output dict (``boxes``, ``scores``, ``labels``).

        ``names`` is a ``{id: name}`` table or the weights' ``categories`` list
        (entries ``"__background__"`` and ``"N/A"`` are left out of the table).

        Example:
            >>> import torch
            >>> out = {"boxes": torch.tensor([[0., 0., 4., 4.]]), "scores": torch.tensor([.8]), "labels": torch.tensor([1])}
            >>> Detections.from_torchvision(out, ["__background__", "person"]).labels
            ['person']
        """
        if not isinstance(names, Mapping):
            names = {i: n for i, n in enumerate(names) if n not in ("__background__", "N/A")}
        return cls(
            xyxy=output["boxes"].detach().cpu().float().numpy(),
            confidence=output["scores"].detach().cpu().float().numpy(),
            class_id=output["labels"].detach().cpu().numpy().astype(np.int64),
            names=dict(names),
            image_shape=image_shape,
        )

    @classmethod
    def from_supervision(cls, detections: Any, names: Mapping[int, str] | None = None) -> "Detections":
        """From a ``supervision.Detections`` (supervision need not be installed to import detectkit)."""
        n = len(detections)
        confidence = detections.confidence if detections.confidence is not None else np.ones(n, np.float32)
        class_id = detections.class_id if detections.class_id is not None else np.zeros(n, np.int64)
        table = dict(names or {})
        class_names = detections.data.get("class_name") if hasattr(detections, "data") else None
        if not table and class_names is not None:
            table = {int(c): str(name) for c, name in zip(class_id, class_names)}
        return cls(detections.xyxy, confidence, class_id, table, tracker_id=detections.tracker_id)

    def to_supervision(self) -> Any:
        """To a ``supervision.Detections`` (``pip install supervision``); extras go into ``data``.

        Usage:
            sv_detections = detections.to_supervision(); sv.BoxAnnotator().annotate(frame, sv_detections)
        """
        try:
            import supervision as sv
        except ImportError as exc:  # pragma: no cover - exercised only without supervision
            raise ImportError("to_supervision() needs the supervision package: pip install supervision") from exc
        data: dict[str, Any] = {"class_name": np.array(self.labels, dtype=object)}
        for name in ("landmarks", "embedding", "identity", "similarity"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        return sv.Detections(
            xyxy=self.xyxy.copy(),
            confidence=self.confidence.copy(),
            class_id=self.class_id.copy(),
            tracker_id=None if self.tracker_id is None else self.tracker_id.copy(),
            data=data,
        )

    def __repr__(self) -> str:
        extras = [name for name in _EXTRAS if getattr(self, name) is not None]
        summary = ", ".join(f"{label} {conf:.2f}" for label, conf in zip(self.labels[:5], self.confidence[:5]))
        more = f", ... {len(self) - 5} more" if len(self) > 5 else ""
        extra = f" +{','.join(extras)}" if extras else ""
        return f"Detections(n={len(self)}{extra}: {summary}{more})"


def resolve_class_ids(classes: Iterable[int | str], names: Mapping[int, str]) -> list[int]:
    """Class names and/or ids -> ids, using a model's ``{id: name}`` table.

    Names match case-insensitively. Integer-like strings (``"0"``) are ids.

    Example:
        >>> resolve_class_ids(["Person", 2], {0: "person", 2: "car"})
        [0, 2]
    """
    by_name = {name.lower(): cid for cid, name in names.items()}
    ids: list[int] = []
    for item in classes:
        if isinstance(item, (int, np.integer)):
            ids.append(int(item))
        elif isinstance(item, str) and item.strip().lstrip("-").isdigit():
            ids.append(int(item))
        elif isinstance(item, str) and item.strip().lower() in by_name:
            ids.append(by_name[item.strip().lower()])
        else:
            known = ", ".join(sorted(names.values())[:12]) + (", ..." if len(names) > 12 else "")
            raise ValueError(f"unknown class {item!r}; this model's classes are: {known}")
    return ids


def _missing(name: str, n: int, like: np.ndarray) -> np.ndarray:
    if name == "tracker_id":
        return np.full(n, -1, np.int64)
    if name == "identity":
        return np.full(n, None, dtype=object)
    if name == "embedding":
        return np.full((n, like.shape[1]), np.nan, np.float32)
    if name == "landmarks":
        return np.full((n, 5, 2), np.nan, np.float32)
    return np.full(n, np.nan, np.float32)
