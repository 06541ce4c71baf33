"""OpenVINO model files on disk: find the ``.xml``/``.bin`` pair, say which kind of model it is, and
read or write detectkit's metadata inside the ``.xml``.

An OpenVINO model is an ``.xml`` graph plus its ``.bin`` weights (same stem). detectkit writes two
kinds, both in a folder whose name ends in ``_openvino_model`` (ultralytics' convention, which its
loader needs):

* ``"ultralytics"``: YOLO, written by ultralytics' exporter; ``metadata.yaml`` beside the ``.xml``
  holds the class names and input size, and the graph's ``rt_info`` says ``model_type: YOLO``;
* ``"torchvision"``: a torchvision detector converted from detectkit's ONNX export; the ONNX
  ``metadata_props`` (see :mod:`detectkit.detection.onnx_backend`) ride in the graph's ``rt_info``
  under ``detectkit``.

Example:
    >>> model_kind("no/such_openvino_model")
    Traceback (most recent call last):
    ...
    detectkit.errors.WeightsNotFoundError: no/such_openvino_model: no such OpenVINO model (folder or .xml)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import WeightsFormatError, WeightsNotFoundError

__all__ = ["FOLDER_SUFFIX", "looks_like_openvino", "find_xml", "model_kind", "read_detectkit_info", "write_detectkit_info"]

FOLDER_SUFFIX = "_openvino_model"
RT_SECTION = "detectkit"


def looks_like_openvino(spec: Any) -> bool:
    """True for an ``.xml`` path or a folder that holds an OpenVINO ``.xml`` (no file is read).

    Example:
        >>> looks_like_openvino("model.xml"), looks_like_openvino("model.pt")
        (True, False)
    """
    if not isinstance(spec, (str, os.PathLike)):
        return False
    path = Path(os.fspath(spec))
    if path.suffix.lower() == ".xml":
        return True
    return path.is_dir() and (path.name.endswith(FOLDER_SUFFIX) or any(path.glob("*.xml")))


def find_xml(spec: str | os.PathLike) -> Path:
    """The ``.xml`` of an OpenVINO model given as the folder or the ``.xml``, checked to have its ``.bin``.

    Raises:
        WeightsNotFoundError: no such file or folder, or the folder holds no ``.xml``.
        WeightsFormatError: the ``.bin`` beside the ``.xml`` is missing or empty, or the folder holds several ``.xml``.

    Usage:
        find_xml("runs/best_openvino_model")  -> runs/best_openvino_model/best.xml
    """
    path = Path(os.fspath(spec))
    if path.is_dir():
        xmls = sorted(path.glob("*.xml"))
        if not xmls:
            raise WeightsNotFoundError(f"{path}: no OpenVINO .xml in this folder")
        if len(xmls) > 1:
            raise WeightsFormatError(f"{path}: several .xml files ({', '.join(x.name for x in xmls)}); pass the one to load")
        path = xmls[0]
    elif not path.is_file():
        raise WeightsNotFoundError(f"{path}: no such OpenVINO model (folder or .xml)")
    weights = path.with_suffix(".bin")
    if not weights.is_file():
        raise WeightsFormatError(f"{path}: its weights file {weights.name} is missing (an OpenVINO model is the .xml and its .bin)")
    if weights.stat().st_size == 0:
        raise WeightsFormatError(f"{weights}: the OpenVINO weights file is empty")
    return path


def read_model(xml: Path) -> Any:
    """``openvino.Core().read_model`` with a clear error naming the file."""
    import openvino as ov

    try:
        return ov.Core().read_model(str(xml), str(xml.with_suffix(".bin")))
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsFormatError(f"{xml}: OpenVINO could not read this model ({reason})") from exc


def read_detectkit_info(model: Any) -> dict[str, str]:
    """detectkit's metadata in an ``openvino.Model``'s ``rt_info`` (``{}`` when there is none).

    Usage:
        read_detectkit_info(openvino.Core().read_model("m.xml"))["builder"]
    """
    if not model.has_rt_info([RT_SECTION, "detectkit_export"]):
        return {}
    section = model.get_rt_info()[RT_SECTION]
    return {str(key): str(value.astype(str)) for key, value in section.items()}


def write_detectkit_info(model: Any, info: dict[str, str]) -> None:
    """Put ``info`` (strings) into an ``openvino.Model``'s ``rt_info`` under ``detectkit``."""
    for key, value in info.items():
        model.set_rt_info(str(value), [RT_SECTION, str(key)])


def model_kind(spec: str | os.PathLike) -> str:
    """``"ultralytics"`` (YOLO) or ``"torchvision"`` for an OpenVINO model detectkit can run.

    Raises:
        WeightsNotFoundError / WeightsFormatError: see :func:`find_xml`; or the ``.xml`` is an
        OpenVINO model of another kind (not a YOLO export, not a detectkit torchvision export).
    """
    xml = find_xml(spec)
    if (xml.parent / "metadata.yaml").is_file():
        return "ultralytics"
    model = read_model(xml)
    if read_detectkit_info(model).get("family") == "torchvision":
        return "torchvision"
    if model.has_rt_info(["model_info", "model_type"]) and str(model.get_rt_info(["model_info", "model_type"]).astype(str)) == "YOLO":
        return "ultralytics"
    raise WeightsFormatError(
        f"{xml}: an OpenVINO model that is not a detector detectkit knows (neither a YOLO export with its "
        f"metadata.yaml nor a torchvision detector exported by detectkit)"
    )
