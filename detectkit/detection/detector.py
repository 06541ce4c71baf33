"""`Detector`: one object detector over every backend (YOLO via ultralytics, torchvision's models).

Example:
    >>> from detectkit import Detector
    >>> detector = Detector("fasterrcnn_mobilenet_v3_large_320_fpn", weights=None, conf=0.0)
    >>> import numpy as np
    >>> detections = detector(np.zeros((240, 320, 3), np.uint8))
    >>> detections.xyxy.shape[1], detector.family
    (4, 'torchvision')
"""

from __future__ import annotations

import os
import threading
from typing import Any, Iterable, Iterator, Literal, Sequence, overload

import numpy as np

from ..detections import Detections, resolve_class_ids
from ..devices import half_allowed, select_device
from ..errors import ModelError
from ..images import ImageInput, load_image
from .base import Backend, PredictOptions
from .registry import find_backend

__all__ = ["Detector", "load_backend", "DEFAULT_MODEL"]

DEFAULT_MODEL = "yolo11n.pt"


def load_backend(model: Any, device: Any, *, weights: Any = "DEFAULT", **options: Any) -> Backend:
    """Load the backend for a model spec: an object with ``predict``/``names`` is used as it is (your own
    backend); a name or path goes to the first entry of :data:`~detectkit.detection.registry.BACKENDS`
    that claims it (see :mod:`detectkit.detection.registry` for the built-in ones and their order):

    * a torchvision detection builder name -> torchvision (``weights``: ``"DEFAULT"``, ``None`` or a state-dict path);
    * a detectkit checkpoint file -> torchvision, with its classes;
    * an ONNX file exported by ``detectkit export`` from a torchvision model -> onnxruntime (``onnx_backend``);
    * ``"opencv-hog-people"`` -> OpenCV's HOG + linear SVM pedestrian detector (``detectkit.classical``);
    * anything else ultralytics loads (``.pt``, ``.yaml``, ``.onnx``, known YOLO names) -> ultralytics.

    Example:
        >>> import torch
        >>> load_backend("fasterrcnn_mobilenet_v3_large_320_fpn", torch.device("cpu"), weights=None).family
        'torchvision'
    """
    if not isinstance(model, (str, os.PathLike)):
        if hasattr(model, "predict") and hasattr(model, "names"):
            return model
        raise ModelError(f"cannot make a detector from {type(model).__name__}: pass a model name or a file path")
    return find_backend(model).load(model, device, weights=weights, **options)


def _is_single(images: Any) -> bool:
    if isinstance(images, (list, tuple)) or (hasattr(images, "__iter__") and hasattr(images, "__next__")):
        return False
    if isinstance(images, np.ndarray):
        return images.ndim in (2, 3)
    return True


class Detector:
    """An object detector: call it on an image (gets ``Detections``) or a list (gets a list).

    Args:
        model: a YOLO file or name (``"yolo11n.pt"``, ``"best.pt"``, ``"yolov8n.yaml"``, ``"model.onnx"``),
            a torchvision builder name (``"fasterrcnn_resnet50_fpn"``), or a detectkit checkpoint.
        device: ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda:0"``, ...
        conf: minimum confidence kept.
        iou: NMS IoU threshold (class-wise).
        classes: class ids or names to keep (``None``: all).
        max_det: most boxes kept per image.
        imgsz: longest side fed to the model (``None``: the model's default).
        half: half precision; on by default on CUDA, never used elsewhere.
        weights: for torchvision builders only: ``"DEFAULT"`` (COCO weights, found offline first),
            ``None`` (untrained), or a path to a state dict for the builder.
        batch_size: how many images one model call takes when given a list
            (default: 8 on CUDA, 1 elsewhere).
        runtime: ``None`` (the model's own: PyTorch for weights, onnxruntime for ONNX, OpenVINO for an
            OpenVINO folder), ``"auto"`` (on a CPU: converted once to OpenVINO and cached, falling back
            with a warning; on CUDA: PyTorch), ``"torch"``, ``"onnx"`` or ``"openvino"``
            (see :mod:`detectkit.runtimes`).
        calibration: with a runtime that converts to OpenVINO: a dataset whose images calibrate
            NNCF int8 quantisation (``None``: fp32).
        trust: allow the model file to run code while it is read (a pickled ``.pt`` that is not a
            state dict, a detectkit checkpoint or an ultralytics checkpoint of its own classes).
            Off by default: such files are refused (:mod:`detectkit.trust`; also
            ``DETECTKIT_TRUST_MODELS=1``). Only for files whose origin you trust.

    Thread safety: one Detector may be called from several threads; model calls are
    serialised by a lock (image decoding runs outside it).

    Usage:
        detector = Detector("yolo11n.pt", conf=0.4, classes=["person"])
        for box, label in zip(detector("street.jpg").xyxy, detector("street.jpg").labels): ...
    """

    def __init__(
        self,
        model: Any = DEFAULT_MODEL,
        *,
        device: Any = "auto",
        conf: float = 0.25,
        iou: float = 0.45,
        classes: Iterable[int | str] | None = None,
        max_det: int = 300,
        imgsz: int | None = None,
        half: bool | None = None,
        weights: Any = "DEFAULT",
        batch_size: int | None = None,
        runtime: str | None = None,
        calibration: Any = None,
        trust: bool = False,
    ) -> None:
        from ..trust import trusting

        # thresholds are checked before anything is loaded: a bad one fails at once (ModelError)
        options = PredictOptions(conf=conf, iou=iou, max_det=max_det, imgsz=imgsz)
        self.device = select_device(device)
        with trusting(trust):
            if runtime is None and calibration is None:
                self.backend: Backend = load_backend(model, self.device, weights=weights)
            else:
                from .registry import runtime_loader

                self.backend = runtime_loader()(model, self.device, runtime=runtime or "auto", weights=weights,
                                               imgsz=imgsz, calibration=calibration, load_default=load_backend)
        self.model_name = os.fspath(model) if isinstance(model, (str, os.PathLike)) else type(model).__name__
        self.options = options.updated(classes=self._class_ids(classes), half=half_allowed(self.device, half))
        self.batch_size = int(batch_size or (8 if self.device.type == "cuda" else 1))
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ info
    @property
    def names(self) -> dict[int, str]:
        """The model's class-name table ``{class_id: name}``."""
        return self.backend.names

    @property
    def family(self) -> str:
        """``"ultralytics"`` or ``"torchvision"`` (or your backend's ``family``)."""
        return getattr(self.backend, "family", "custom")

    @property
    def runtime(self) -> str:
        """What the model runs on, e.g. ``"openvino int8"``, ``"onnx fp32"``, ``"torch fp32"``."""
        from .runtime_info import describe_runtime

        return describe_runtime(self.backend)

    def torch_module(self) -> Any:
        """The ``torch.nn.Module`` behind this detector, for backends that run one (torchvision:
        export, and scoring a model being trained); prediction goes through the Detector.

        Raises:
            ModelError: the backend has no torch module it hands out (ultralytics, ONNX, OpenCV).

        Example:
            >>> Detector("fasterrcnn_mobilenet_v3_large_320_fpn", weights=None).torch_module().training
            False
        """
        getter = getattr(self.backend, "torch_module", None)
        if getter is None:
            raise ModelError(f"{self.model_name}: the {self.family} backend has no torch module to hand out")
        return getter()

    def _class_ids(self, classes: Iterable[int | str] | None) -> tuple[int, ...] | None:
        if classes is None:
            return None
        if isinstance(classes, (str, int)):
            classes = [classes]
        try:
            return tuple(resolve_class_ids(classes, self.names))
        except ValueError as exc:
            raise ModelError(str(exc)) from exc

    def __repr__(self) -> str:
        o = self.options
        return (
            f"Detector({self.model_name!r}, family={self.family}, device={self.device}, conf={o.conf}, iou={o.iou}, "
            f"classes={o.classes}, max_det={o.max_det}, imgsz={o.imgsz}, classes_known={len(self.names)})"
        )

    # ------------------------------------------------------------------ prediction
    def _options(self, overrides: dict[str, Any]) -> PredictOptions:
        if overrides.get("classes") is not None:
            overrides["classes"] = self._class_ids(overrides["classes"])
        return self.options.updated(**overrides)

    def predict_arrays(self, images: Sequence[np.ndarray], options: PredictOptions | None = None) -> list[Detections]:
        """Run the model on BGR uint8 arrays that are already loaded, as one batch (no decoding, no copies).

        This is the hot path the video pipeline uses.
        """
        if not images:
            return []
        with self._lock:
            return self.backend.predict(images, options or self.options)

    @overload
    def __call__(self, images: Sequence[ImageInput], **overrides: Any) -> list[Detections]: ...
    @overload
    def __call__(self, images: ImageInput, **overrides: Any) -> Detections: ...

    def __call__(
        self,
        images: Any,
        *,
        conf: float | None = None,
        iou: float | None = None,
        classes: Iterable[int | str] | None = None,
        max_det: int | None = None,
        imgsz: int | None = None,
        color: Literal["bgr", "rgb"] = "bgr",
    ) -> Detections | list[Detections]:
        """Detect objects in one image or a list of images.

        Any image input :func:`detectkit.images.load_image` reads is accepted; arrays are
        taken as BGR unless ``color="rgb"``. Keyword thresholds override the Detector's
        for this call only.

        Usage:
            detector(["a.jpg", "b.jpg"], conf=0.5)  -> [Detections, Detections]
        """
        options = self._options(dict(conf=conf, iou=iou, classes=classes, max_det=max_det, imgsz=imgsz))
        single = _is_single(images)
        inputs = [images] if single else list(images)
        arrays = [load_image(item, color=color) for item in inputs]
        results: list[Detections] = []
        for start in range(0, len(arrays), self.batch_size):
            results.extend(self.predict_arrays(arrays[start : start + self.batch_size], options))
        return results[0] if single else results

    def stream(
        self,
        images: Iterable[ImageInput],
        *,
        batch_size: int | None = None,
        color: Literal["bgr", "rgb"] = "bgr",
        **overrides: Any,
    ) -> Iterator[Detections]:
        """Detect over an iterable lazily, ``batch_size`` images per model call, in order.

        Usage:
            for detections in detector.stream(Path("photos").glob("*.jpg"), batch_size=4): ...
        """
        options = self._options(dict(overrides))
        size = int(self.batch_size if batch_size is None else batch_size)
        if size < 1:
            raise ModelError(f"batch_size must be at least 1, got {size}")
        batch: list[np.ndarray] = []
        for item in images:
            batch.append(load_image(item, color=color))
            if len(batch) == size:
                yield from self.predict_arrays(batch, options)
                batch = []
        if batch:
            yield from self.predict_arrays(batch, options)
