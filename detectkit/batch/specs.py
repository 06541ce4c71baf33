"""What each batch worker builds: plain, picklable model specs and the function that builds from them.

A Ray actor cannot be handed a loaded model cheaply (a Detector holds a session and a lock),
so the driver sends a :class:`ModelSpec` and every actor builds its own Detector (and
FaceRecognizer) from it with :func:`build_models`, through the shared factories
(:mod:`detectkit.factories`), the same ones ``detectkit run`` uses.

Example:
    >>> spec = ModelSpec(model="yolov8n_int8.onnx", conf=0.4)
    >>> spec.conf, spec.faces, spec.splittable
    (0.4, None, True)
    >>> ModelSpec(model="x.pt", track=True).splittable
    False
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["ModelSpec", "build_models", "BuiltModels"]


@dataclass(frozen=True)
class ModelSpec:
    """The options of ``detectkit run`` that decide what a frame's JSON holds.

    Attributes:
        model: detector model name or file (``"auto"``: a local COCO YOLO; ``None``/``"none"``: faces only).
        conf, iou, classes, max_det, imgsz: the detector's thresholds (see ``detectkit run --help``).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N``; a GPU actor gets its own GPU as ``cuda``.
        faces: gallery (path or ``postgresql://`` URL) to recognise faces against, or ``None``.
        face_weights, face_threshold: the FaceNet weights and the similarity threshold.
        face_identity: ``"frame"`` (each frame on its own: sources can be split into chunks) or
            ``"track"`` (identity voted per face track: each video goes to one actor whole).
        track: give objects track ids (ByteTrack); each video then goes to one actor whole.
        batch: frames per model call (``None``: the pipeline's default for the device).
        runtime: where the detector runs (``None``: the model file's own runtime; ``"auto"``,
            ``"torch"``, ``"onnx"``, ``"openvino"`` as for ``detectkit run --runtime``).
    """

    model: str | None = "auto"
    conf: float = 0.25
    iou: float = 0.45
    classes: tuple[str, ...] | None = None
    max_det: int = 300
    imgsz: int | None = None
    device: str = "auto"
    faces: str | None = None
    face_weights: str = "auto"
    face_threshold: float | None = None
    face_identity: str = "frame"
    track: bool = False
    batch: int | None = None
    runtime: str | None = None

    @property
    def splittable(self) -> bool:
        """Whether a video may be cut into chunks run on different actors (no state across frames)."""
        return not self.track and (self.faces is None or self.face_identity != "track")

    def to_dict(self) -> dict[str, Any]:
        """Plain form, kept in the batch manifest (a rerun with other options is refused)."""
        out = asdict(self)
        out["classes"] = list(self.classes) if self.classes is not None else None
        return out


@dataclass
class BuiltModels:
    """What :func:`build_models` made: the detector and/or recognizer, and the options of the pipeline."""

    detector: Any = None
    recognizer: Any = None
    pipeline_options: dict[str, Any] = field(default_factory=dict)


def build_models(spec: ModelSpec, *, device: str | None = None) -> BuiltModels:
    """Build the Detector (and FaceRecognizer) a spec asks for, with the factories ``detectkit run`` uses.

    Raises:
        ModelError: neither a detector nor faces are asked for.
        WeightsNotFoundError, GalleryError: what the factories raise for missing files.

    Example:
        >>> build_models(ModelSpec(model="none"))
        Traceback (most recent call last):
        ...
        detectkit.errors.ModelError: nothing to run: model none and no faces gallery
    """
    from ..errors import ModelError
    from ..factories import make_detector, make_recognizer

    device = device or spec.device
    detector = make_detector(
        spec.model, device=device, conf=spec.conf, iou=spec.iou, classes=list(spec.classes) if spec.classes else None,
        max_det=spec.max_det, imgsz=spec.imgsz, runtime=spec.runtime,
    )
    recognizer = (
        make_recognizer(spec.faces, embedder=spec.face_weights, threshold=spec.face_threshold, device=device) if spec.faces else None
    )
    if detector is None and recognizer is None:
        raise ModelError("nothing to run: model none and no faces gallery")
    options: dict[str, Any] = {"track": spec.track, "batch_size": spec.batch, "face_identity": spec.face_identity}
    if spec.face_identity == "track":
        options["face_options"] = {"detect_every": 1}
    return BuiltModels(detector, recognizer, options)
