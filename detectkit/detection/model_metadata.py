"""What an exported torchvision detector's file says about itself: one schema, written and read here.

``detectkit export`` (:mod:`detectkit.deploy.onnx`) writes :meth:`ExportMetadata.to_dict` into the
ONNX file's ``metadata_props`` (all strings); the ONNX backend reads it back with
:meth:`ExportMetadata.from_dict`. Another runtime (OpenVINO, ...) that carries the same strings
reuses both.

=====================  ==========================================================
key                    value
=====================  ==========================================================
``detectkit_export``   format version (``"1"``); how the detectkit-onnx backend recognises the file
``family``             ``"torchvision"``
``builder``            the torchvision builder (``"fasterrcnn_mobilenet_v3_large_320_fpn"``)
``names``              JSON ``{class_id: name}``
``label_offset``       subtracted from the graph's labels to get class ids (1 for fine-tuned
                       checkpoints, whose label 0 is background; 0 for COCO builders)
``imgsz``              the longest side the graph resizes images to
``min_size``,          the model's resize rule (torchvision's ``GeneralizedRCNNTransform``):
``max_size``,          shorter side to ``min_size`` unless the longer would pass ``max_size``;
``fixed_size``         SSD: always ``fixed_size`` (``"W,H"``; empty otherwise)
``score_thresh``       the lowest score the graph keeps (``conf`` below it cannot be honoured)
``nms_iou``            the graph's own class-wise NMS IoU (a lower ``iou`` is applied on top)
``max_det``            the most boxes the graph returns
``quantization``       ``"none"`` or ``"int8-dynamic"``
``source``             what was exported (informative)
``rpn_score_thresh``   the graph's region-proposal score threshold, and the PyTorch model's (informative)
=====================  ==========================================================

Example:
    >>> meta = ExportMetadata(builder="fasterrcnn_resnet50_fpn", names={0: "cat"}, imgsz=320, min_size=320, max_size=320)
    >>> ExportMetadata.from_dict(meta.to_dict()) == meta
    True
    >>> meta.to_dict()["names"]
    '{"0": "cat"}'
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

from ..errors import WeightsFormatError

__all__ = ["ExportMetadata", "METADATA_KEY", "FORMAT_VERSION", "read_onnx_metadata", "write_onnx_metadata"]

METADATA_KEY = "detectkit_export"
FORMAT_VERSION = "1"


@dataclass(frozen=True)
class ExportMetadata:
    """The exported graph's classes, resize rule and baked-in thresholds (see the module docstring)."""

    builder: str
    names: dict[int, str]
    imgsz: int
    min_size: float
    max_size: float
    fixed_size: tuple[int, int] | None = None
    """(height, width) for SSD models; ``None`` otherwise."""
    label_offset: int = 0
    score_thresh: float = 0.0
    nms_iou: float = 1.0
    max_det: int = 100
    quantization: str = "none"
    family: str = "torchvision"
    version: str = FORMAT_VERSION
    extra: dict[str, str] = field(default_factory=dict)
    """Informative strings (``source``, ``rpn_score_thresh``), kept as they are."""

    def to_dict(self) -> dict[str, str]:
        """The ``metadata_props`` strings."""
        fixed = "" if self.fixed_size is None else f"{self.fixed_size[1]},{self.fixed_size[0]}"  # written "W,H"
        return {
            METADATA_KEY: self.version,
            "family": self.family,
            "builder": self.builder,
            "names": json.dumps({str(k): v for k, v in self.names.items()}),
            "label_offset": str(self.label_offset),
            "imgsz": str(self.imgsz),
            "min_size": _number(self.min_size),
            "max_size": _number(self.max_size),
            "fixed_size": fixed,
            "score_thresh": str(self.score_thresh),
            "nms_iou": str(self.nms_iou),
            "max_det": str(self.max_det),
            "quantization": self.quantization,
            **self.extra,
        }

    @classmethod
    def from_dict(cls, meta: Mapping[str, str], path: str | os.PathLike = "<model>") -> "ExportMetadata":
        """Parse ``metadata_props`` strings (older files without the optional keys get the defaults).

        Raises:
            WeightsFormatError: no ``detectkit_export`` key, or a missing or malformed value (naming ``path``).
        """
        if METADATA_KEY not in meta:
            raise WeightsFormatError(f"{path}: not an ONNX file exported by detectkit (no {METADATA_KEY} metadata)")
        try:
            fixed = [int(v) for v in meta.get("fixed_size", "").split(",") if v.strip()]
            known = {METADATA_KEY, "family", "builder", "names", "label_offset", "imgsz", "min_size", "max_size",
                     "fixed_size", "score_thresh", "nms_iou", "max_det", "quantization"}
            return cls(
                builder=meta.get("builder", ""),
                names={int(k): str(v) for k, v in json.loads(meta["names"]).items()},
                imgsz=int(meta["imgsz"]),
                min_size=float(meta.get("min_size", meta["imgsz"])),
                max_size=float(meta.get("max_size", meta["imgsz"])),
                fixed_size=(fixed[1], fixed[0]) if len(fixed) == 2 else None,
                label_offset=int(meta.get("label_offset", "0")),
                score_thresh=float(meta.get("score_thresh", "0")),
                nms_iou=float(meta.get("nms_iou", "1")),
                max_det=int(meta.get("max_det", "100")),
                quantization=meta.get("quantization", "none"),
                family=meta.get("family", ""),
                version=meta[METADATA_KEY],
                extra={k: v for k, v in meta.items() if k not in known},
            )
        except (KeyError, ValueError) as exc:
            raise WeightsFormatError(f"{path}: detectkit ONNX metadata is incomplete or malformed ({exc})") from exc

    def with_quantization(self, quantization: str) -> "ExportMetadata":
        """A copy saying how the weights were quantised.

        Example:
            >>> ExportMetadata("b", {}, 1, 1, 1).with_quantization("int8-dynamic").quantization
            'int8-dynamic'
        """
        return replace(self, quantization=quantization)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def read_onnx_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file, as a dict (``{}`` when there are none).

    Raises:
        WeightsFormatError: not a readable ONNX file.

    Usage:
        read_onnx_metadata("best.onnx")["builder"]  -> 'fasterrcnn_mobilenet_v3_large_320_fpn'
    """
    path = Path(path)
    try:
        import onnx

        proto = onnx.load(str(path), load_external_data=False)
        return {prop.key: prop.value for prop in proto.metadata_props}
    except ImportError:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return dict(session.get_modelmeta().custom_metadata_map)
    except Exception as exc:  # onnx.load raises DecodeError and friends for non-ONNX bytes
        raise WeightsFormatError(f"{path}: not a readable ONNX file ({type(exc).__name__}: {exc})") from exc


def write_onnx_metadata(path: str | os.PathLike, meta: Mapping[str, str], *, replace_all: bool = False) -> None:
    """Add ``meta`` to an ONNX file's ``metadata_props`` (``replace_all``: instead of what is there).

    Usage:
        write_onnx_metadata("best.onnx", ExportMetadata(...).to_dict())
    """
    import onnx

    proto = onnx.load(str(path))
    if replace_all:
        del proto.metadata_props[:]
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.save(proto, str(path))
