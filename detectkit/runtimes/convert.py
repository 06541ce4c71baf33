"""``to_openvino()``: a detector of either family to an OpenVINO model folder, fp32 or NNCF int8.

* YOLO (``.pt``, ``.yaml``, known YOLO names): ultralytics' exporter (``format="openvino"``), which
  traces the PyTorch model, converts it with ``openvino.convert_model`` and, for int8, runs NNCF
  post-training quantisation (mixed preset, detection head kept in float) calibrated on the
  dataset's val images. The folder is ``<stem>_openvino_model`` (``<stem>_int8_openvino_model``).
* torchvision (a detectkit checkpoint or a builder name): detectkit's ONNX export (the whole
  model, pre- and post-processing, any image size; see :mod:`detectkit.deploy.onnx`), then
  ``openvino.convert_model``; its metadata go into the graph's ``rt_info``. int8: ``nncf.quantize``
  calibrated on up to ``calibration_size`` images of ``data``, resized as the backend resizes them.

Always start from float weights: an already int8 ONNX file (onnxruntime's dynamic quantisation)
runs slower on OpenVINO than on onnxruntime, so it is refused here.

Usage:
    to_openvino("runs/exp/weights/best.pt")                          -> runs/exp/weights/best_openvino_model
    to_openvino("yolov8n.pt", int8=True, data="coco128/coco128.yaml") -> yolov8n_int8_openvino_model
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import DatasetError, ModelError, WeightsFormatError
from .openvino_files import FOLDER_SUFFIX, write_detectkit_info

__all__ = ["to_openvino", "onnx_to_openvino", "calibration_arrays", "DEFAULT_CALIBRATION_SIZE"]

DEFAULT_CALIBRATION_SIZE = 300
"""At most this many images calibrate an int8 model (NNCF's own default subset size)."""


def _family(model: str) -> str:
    from ..detection.registry import family_of

    return family_of(model)


def _default_folder(model: str, int8: bool) -> Path:
    base = Path(model)
    stem = base.stem if base.suffix else base.name
    parent = base.parent if base.is_file() else Path(".")
    return parent / f"{stem}{'_int8' if int8 else ''}{FOLDER_SUFFIX}"


def to_openvino(
    model: str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    imgsz: int | None = None,
    int8: bool = False,
    data: Any = None,
    weights: Any = "DEFAULT",
    calibration_size: int = DEFAULT_CALIBRATION_SIZE,
) -> Path:
    """Convert a detector to an OpenVINO model folder; returns the folder (``Detector`` loads it).

    Args:
        model: a YOLO ``.pt``/``.yaml``/name, a detectkit checkpoint, or a torchvision builder name.
        out: the folder to write (its name must end in ``_openvino_model`` for YOLO; default: beside
            the model, ``<stem>_openvino_model`` or ``<stem>_int8_openvino_model``).
        imgsz: YOLO: the square input size (default 640); torchvision: the longest side the graph resizes to.
        int8: NNCF int8 post-training quantisation (needs ``data``).
        data: the calibration dataset (any format detectkit reads) for ``int8``.
        weights: torchvision builder names only: ``"DEFAULT"`` or ``None``.
        calibration_size: most calibration images used.

    Raises:
        ModelError: int8 without data, or conversion failed (the message says why).
        WeightsFormatError: the model is an int8 ONNX file.
    """
    text = os.fspath(model)
    if Path(text).suffix.lower() == ".onnx":
        raise WeightsFormatError(
            f"{text}: convert from the float weights (.pt or checkpoint), not an ONNX file; an int8 ONNX "
            f"(onnxruntime dynamic quantisation) runs slower and less accurately on OpenVINO"
        )
    if int8 and data is None:
        raise ModelError("int8 OpenVINO export calibrates on images: pass data= (a dataset) for the calibration set")
    target = Path(out) if out is not None else _default_folder(text, int8)
    if _family(text) == "ultralytics":
        if not target.name.endswith(FOLDER_SUFFIX):
            raise ModelError(f"{target}: a YOLO OpenVINO folder's name must end in '{FOLDER_SUFFIX}' (ultralytics loads it by that name)")
        return _yolo(text, target, imgsz, int8, data, calibration_size)
    return _torchvision(text, target, imgsz, int8, data, weights, calibration_size)


def _yolo(model: str, target: Path, imgsz: int | None, int8: bool, data: Any, calibration_size: int) -> Path:
    from .._ultralytics_env import import_ultralytics, keep_torch_threads
    from ..detection.ultralytics_backend import looks_like_yolo_config
    from ..training.ultralytics_trainer import offline_ultralytics
    from ..weights import resolve_weights

    ultralytics = import_ultralytics()
    source = model if looks_like_yolo_config(model) and not Path(model).is_file() else str(resolve_weights(model, family="ultralytics"))
    with tempfile.TemporaryDirectory(prefix="detectkit-openvino-") as work:
        staged = Path(work) / f"{Path(source).stem}.pt"
        with keep_torch_threads():
            if Path(source).is_file():
                shutil.copy2(source, staged)  # the exporter writes beside its input: keep the source folder untouched
            else:  # an architecture .yaml: built untrained, saved so that the exporter writes into the work folder
                ultralytics.YOLO(source, task="detect").save(staged)
        args: dict[str, Any] = dict(format="openvino", imgsz=int(imgsz or 640), verbose=False)
        if int8:
            from ..training.convert import to_ultralytics_yaml
            from ..training.datasets import load_splits

            train, val = load_splits(data)
            if len(val) == 0:
                raise DatasetError(f"{data}: no images to calibrate int8 on")
            args.update(quantize=8, data=str(to_ultralytics_yaml(train, val, Path(work) / "calibration")))
            args["fraction"] = min(1.0, calibration_size / len(val))
        with offline_ultralytics(), keep_torch_threads(), _quiet_nncf():
            try:
                yolo = ultralytics.YOLO(str(staged), task="detect")
                written = Path(yolo.export(**args))
            except Exception as exc:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ModelError(f"ultralytics could not export {model} to OpenVINO ({type(exc).__name__}: {reason})") from exc
        if not written.is_absolute():
            written = Path(work) / written
        _replace_folder(written, target)
    return target


def _torchvision(model: str, target: Path, imgsz: int | None, int8: bool, data: Any, weights: Any, calibration_size: int) -> Path:
    import openvino as ov

    from ..detection.onnx_backend import read_metadata
    from ..deploy.onnx import export_torchvision_onnx

    with tempfile.TemporaryDirectory(prefix="detectkit-openvino-") as work:
        onnx_path = export_torchvision_onnx(model, Path(work) / "model.onnx", imgsz=imgsz, weights=weights)
        meta = read_metadata(onnx_path)
        try:
            converted = ov.convert_model(str(onnx_path))
        except Exception as exc:
            raise ModelError(f"OpenVINO could not convert {model} ({type(exc).__name__}: {exc})") from exc
        if int8:
            converted = _quantize_torchvision(converted, meta, data, calibration_size)
            meta["quantization"] = "int8-nncf"
        write_detectkit_info(converted, meta)
        staged = Path(work) / f"out{FOLDER_SUFFIX}"
        staged.mkdir()
        stem = target.name[: -len(FOLDER_SUFFIX)] if target.name.endswith(FOLDER_SUFFIX) else target.name
        ov.save_model(converted, str(staged / f"{stem or 'model'}.xml"), compress_to_fp16=False)
        _replace_folder(staged, target)
    return target


def onnx_to_openvino(path: str | os.PathLike, out: str | os.PathLike) -> Path:
    """A float ONNX detector (detectkit's torchvision export, or ultralytics' YOLO export) to an OpenVINO folder.

    The ONNX metadata come along: detectkit's into the graph's ``rt_info``, ultralytics' into the
    ``metadata.yaml`` its OpenVINO loader reads. int8 ONNX files are refused (see the module docstring).

    Usage:
        onnx_to_openvino("best.onnx", "best_openvino_model")
    """
    import ast

    import openvino as ov
    import yaml

    from ..detection.onnx_backend import METADATA_KEY, read_metadata

    source, target = Path(path), Path(out)
    meta = read_metadata(source)
    if meta.get("quantization", "none") != "none":
        raise WeightsFormatError(f"{source}: an int8 ONNX file; convert the float weights to OpenVINO instead")
    try:
        converted = ov.convert_model(str(source))
    except Exception as exc:
        raise ModelError(f"OpenVINO could not convert {source} ({type(exc).__name__}: {exc})") from exc
    with tempfile.TemporaryDirectory(prefix="detectkit-openvino-") as work:
        staged = Path(work) / f"out{FOLDER_SUFFIX}"
        staged.mkdir()
        if METADATA_KEY in meta:
            write_detectkit_info(converted, meta)
        elif "names" in meta and meta.get("task", "detect") == "detect":
            values = {}
            for key, value in meta.items():
                try:
                    values[key] = ast.literal_eval(value)
                except (ValueError, SyntaxError):
                    values[key] = value
            (staged / "metadata.yaml").write_text(yaml.safe_dump(values, sort_keys=False))
            converted.set_rt_info("YOLO", ["model_info", "model_type"])
        else:
            raise WeightsFormatError(f"{source}: an ONNX file that is neither a detectkit export nor an ultralytics YOLO detect export")
        stem = target.name[: -len(FOLDER_SUFFIX)] if target.name.endswith(FOLDER_SUFFIX) else target.name
        ov.save_model(converted, str(staged / f"{stem or 'model'}.xml"), compress_to_fp16=False)
        _replace_folder(staged, target)
    return target


def calibration_arrays(data: Any, limit: int = DEFAULT_CALIBRATION_SIZE) -> Iterator[np.ndarray]:
    """BGR uint8 images of a dataset for int8 calibration: the val split first, then train, at most ``limit``.

    Example:
        >>> import tempfile
        >>> from detectkit.training.synthetic import make_shapes_dataset
        >>> data = make_shapes_dataset(Path(tempfile.mkdtemp()), n_train=3, n_val=2, imgsz=64)
        >>> [image.shape for image in calibration_arrays(data, limit=3)]
        [(64, 64, 3), (64, 64, 3), (64, 64, 3)]
    """
    from ..images import load_image
    from ..training.datasets import load_splits

    train, val = load_splits(data)
    seen: set[Path] = set()
    count = 0
    for sample in [*val.samples, *train.samples]:
        if count >= limit:
            return
        if sample.image_path in seen:
            continue
        seen.add(sample.image_path)
        count += 1
        yield load_image(sample.image_path)


def _quantize_torchvision(model: Any, meta: dict[str, str], data: Any, calibration_size: int) -> Any:
    import nncf

    from .openvino_backend import _apply_metadata, OpenVinoTorchvisionBackend

    sizer = OpenVinoTorchvisionBackend.__new__(OpenVinoTorchvisionBackend)
    sizer.path = Path("calibration")
    _apply_metadata(sizer, meta)
    tensors = [sizer._resize(image)[0] for image in calibration_arrays(data, calibration_size)]
    if not tensors:
        raise DatasetError(f"{data}: no images to calibrate int8 on")
    try:
        with _quiet_nncf():
            return nncf.quantize(
                model, nncf.Dataset(tensors), preset=nncf.QuantizationPreset.MIXED, subset_size=len(tensors),
            )
    except Exception as exc:
        raise ModelError(f"NNCF could not quantise this torchvision model ({type(exc).__name__}: {exc})") from exc


@contextlib.contextmanager
def _quiet_nncf() -> Iterator[None]:
    """NNCF logs every quantiser it places at INFO: keep it to warnings during a conversion."""
    logger = logging.getLogger("nncf")
    before = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(before)


def _replace_folder(source: Path, target: Path) -> None:
    """Move a finished folder into place (the old one is removed only once the new one is complete)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.new-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.move(str(source), staging)
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)
