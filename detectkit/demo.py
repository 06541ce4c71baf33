"""The demo behind ``detectkit demo``: runs on pictures that ship with scikit-image,
so it needs no webcam, no GPU, no network and no files of your own.

It picks a detector with :func:`auto_model` (a COCO YOLO file found locally, else a
download of ``yolo11n.pt``), detects objects in the sample pictures, writes them
annotated to ``out_dir`` and prints what it found. When no detector weights can be
had, it says so plainly and how to provide them, instead of crashing.

Example:
    >>> # from detectkit.demo import run_image_demo; run_image_demo("demo-output")
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import WeightsError

__all__ = ["sample_images", "auto_model", "run_image_demo", "DemoReport", "LOCAL_CANDIDATES"]

# COCO detectors the demo uses when found locally, best first; the last resort is a download of the first.
LOCAL_CANDIDATES = ("yolo11n.pt", "yolov8n.pt", "yolov8n_int8.onnx")
SAMPLE_NAMES = ("astronaut", "coffee", "chelsea", "camera")


def sample_images() -> dict[str, np.ndarray]:
    """scikit-image's sample photos as BGR uint8 arrays: a person, a cup, a cat, a cameraman.

    Example:
        >>> sorted(sample_images())
        ['astronaut', 'camera', 'chelsea', 'coffee']
    """
    import skimage.data

    from .images import load_image

    return {name: load_image(getattr(skimage.data, name)(), color="rgb") for name in SAMPLE_NAMES}


def auto_model(log: Callable[[str], None] = print) -> str | None:
    """The detector the demo runs: a local COCO YOLO file, else ``yolo11n.pt`` downloaded.

    Returns the path of the weights, or ``None`` after saying (through ``log``) why none
    could be had and how to provide one.
    """
    from .weights import resolve_weights

    for name in LOCAL_CANDIDATES:
        try:
            return str(resolve_weights(name, download=False))
        except WeightsError:
            continue
    try:
        return str(resolve_weights(LOCAL_CANDIDATES[0]))
    except WeightsError as exc:
        log("No object-detector weights are available, so object detection is skipped.")
        log(str(exc))
        log(f"Any of {', '.join(LOCAL_CANDIDATES)} works; for example: DETECTKIT_WEIGHTS=/folder/with/it detectkit demo")
        return None


@dataclass
class DemoReport:
    """What the demo did: files written, detections per picture, and what it could not run."""

    written: list[Path] = field(default_factory=list)
    found: dict[str, list[str]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def run_image_demo(
    out_dir: str | os.PathLike = "demo-output",
    *,
    model: str = "auto",
    device: str = "auto",
    log: Callable[[str], None] = print,
) -> DemoReport:
    """Detect objects in the sample pictures and write them annotated into ``out_dir``.

    Example:
        >>> # report = run_image_demo("demo-output"); report.found["chelsea"]  -> ['cat']
    """
    import cv2

    from .cli.detect import summarize
    from .detection import Detector
    from .video.annotate import Annotator

    report = DemoReport()
    weights = auto_model(log) if model == "auto" else model
    if weights is None:
        report.skipped.append("object detection: no detector weights")
        return report
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    detector = Detector(weights, device=device)
    log(f"detector: {weights} on {detector.device}")
    annotator = Annotator()
    for name, image in sample_images().items():
        detections = detector(image)
        target = out / f"{name}.jpg"
        cv2.imwrite(str(target), annotator.draw(image, detections))
        report.written.append(target)
        report.found[name] = detections.labels
        log(f"  {name:10s} {summarize(detections.labels):30s} -> {target}")
    return report
