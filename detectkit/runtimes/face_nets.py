"""The face models on OpenVINO: MTCNN's three networks and the FaceNet embedder.

:class:`OpenVinoNet` converts a PyTorch module once (``openvino.convert_model``, float32, cached
under detectkit's cache by a digest of its weights and input shape) and is called like the module:
torch tensors in, torch tensors out (a tuple when the module returns several). The P-net keeps
dynamic height and width (one network for the whole image pyramid); R-net, O-net and FaceNet keep
a dynamic batch.

:func:`use_openvino` swaps the networks of a :class:`~detectkit.faces.detector.FaceDetector` or a
:class:`~detectkit.faces.embedder.FaceEmbedder` for their OpenVINO versions in place; the rest of
their code (pyramid, NMS, crops, normalisation) stays the same, so the outputs equal PyTorch's to
float rounding.

Example:
    >>> import torch
    >>> net = OpenVinoNet(torch.nn.Conv2d(3, 2, 3), input_shape=(-1, 3, -1, -1), name="demo-conv")
    >>> tuple(net(torch.zeros(1, 3, 8, 8)).shape)
    (1, 2, 6, 6)
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = ["OpenVinoNet", "use_openvino", "faces_on_runtime", "module_digest"]


def module_digest(module: Any) -> str:
    """SHA-256 of a module's state dict (names, shapes and bytes): the cache key of its conversion.

    Example:
        >>> import torch
        >>> torch.manual_seed(0); a = module_digest(torch.nn.Linear(2, 2))  # doctest: +ELLIPSIS
        <...>
        >>> a == module_digest(torch.nn.Linear(2, 2))
        False
    """
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        array = tensor.detach().cpu().contiguous().numpy()
        digest.update(f"{name}|{array.dtype}|{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


class OpenVinoNet:
    """A PyTorch module converted to OpenVINO, called like the module (see the module docstring).

    Args:
        module: the network (put in eval mode; its weights are read, not changed).
        input_shape: the input shape, ``-1`` for dynamic dimensions.
        name: what the cache entry is called (``"mtcnn-pnet"``).
    """

    runtime = "openvino"
    precision = "fp32"

    def __init__(self, module: Any, *, input_shape: Sequence[int], name: str) -> None:
        import openvino as ov
        import torch

        from .cache import cache_key, cached_conversion

        module = module.eval()
        example = torch.rand(*[d if d > 0 else 24 for d in input_shape])
        key = cache_key(module_digest(module), family=name, imgsz=0, precision="fp32",
                        calibration=",".join(map(str, input_shape)))

        def convert(folder: Path) -> Path:
            with torch.no_grad():
                converted = ov.convert_model(module.float().cpu(), example_input=example,
                                             input=[ov.PartialShape([int(d) for d in input_shape])])
            folder.mkdir(parents=True, exist_ok=True)
            ov.save_model(converted, str(folder / f"{name}.xml"), compress_to_fp16=False)
            return folder

        folder, hit = cached_conversion(key, convert)
        core = ov.Core()
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": torch.get_num_threads()}
        try:
            self.compiled = core.compile_model(core.read_model(str(folder / f"{name}.xml")), "CPU", config)
        except Exception:
            if not hit:
                raise
            import shutil

            shutil.rmtree(folder, ignore_errors=True)  # a cache entry that no longer loads: convert again
            folder, _ = cached_conversion(key, convert)
            self.compiled = core.compile_model(core.read_model(str(folder / f"{name}.xml")), "CPU", config)
        self.name = name
        self._local = threading.local()

    def __call__(self, tensor: Any) -> Any:
        import torch

        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        array = np.ascontiguousarray(tensor.detach().cpu().float().numpy())
        result = request.infer([array])
        outputs = [torch.from_numpy(np.array(result[output])) for output in self.compiled.outputs]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def __repr__(self) -> str:
        return f"OpenVinoNet({self.name})"


def use_openvino(model: Any) -> Any:
    """Run a FaceDetector's three MTCNN nets, or a FaceEmbedder's network, on OpenVINO; returns ``model``.

    Only on the CPU (on CUDA the model is left on PyTorch). ``model.runtime`` says which ran.

    Usage:
        detector = use_openvino(FaceDetector(device="cpu")); detector.runtime  -> 'openvino'
    """
    if getattr(getattr(model, "device", None), "type", "cpu") != "cpu":
        model.runtime = "torch"
        return model
    if hasattr(model, "pnet") and hasattr(model, "rnet") and hasattr(model, "onet"):
        if not isinstance(model.pnet, OpenVinoNet):
            model.pnet = OpenVinoNet(model.pnet, input_shape=(-1, 3, -1, -1), name="mtcnn-pnet")
            model.rnet = OpenVinoNet(model.rnet, input_shape=(-1, 3, 24, 24), name="mtcnn-rnet")
            model.onet = OpenVinoNet(model.onet, input_shape=(-1, 3, 48, 48), name="mtcnn-onet")
    elif hasattr(model, "model") and hasattr(model, "embed_crops"):
        if not isinstance(model.model, OpenVinoNet):
            crop = getattr(model, "crop", None)  # the Embedder protocol's CropSpec: 160 FaceNet, 150 dlib-resnet
            size = int(crop.size if crop is not None else getattr(model, "image_size", 160))
            model.model = OpenVinoNet(model.model, input_shape=(-1, 3, size, size), name=f"embedder-{getattr(model, 'model_name', 'facenet')}")
    else:
        raise TypeError(f"use_openvino: {type(model).__name__} is neither a FaceDetector nor a FaceEmbedder")
    model.runtime = "openvino"
    return model


def faces_on_runtime(faces: Any, runtime: str | None, log: Any = None) -> str:
    """Put a FaceRecognizer's (or a FaceDetector's) networks on ``runtime``; returns what they run on.

    ``"auto"`` and ``"openvino"`` move MTCNN and FaceNet to OpenVINO on the CPU (measured faster
    there, see docs/benchmarks.md); a network OpenVINO cannot take (another embedder) stays on
    PyTorch, and under ``"auto"`` a failed conversion gives one warning. ``None``/``"torch"``: unchanged.

    Example:
        >>> faces_on_runtime(None, "auto")
        'none'
    """
    import warnings

    if faces is None:
        return "none"
    if runtime not in ("auto", "openvino"):
        return "torch"
    parts = [getattr(faces, "detector", faces), getattr(faces, "embedder", None)]
    ran = []
    for part in parts:
        if part is None:
            continue
        try:
            use_openvino(part)
            ran.append(f"{type(part).__name__} on {getattr(part, 'runtime', 'torch')}")
        except TypeError:
            ran.append(f"{type(part).__name__} on torch")
        except Exception as exc:
            if runtime == "openvino":
                raise
            warnings.warn(f"{type(part).__name__}: OpenVINO conversion failed ({type(exc).__name__}: {exc}); running on torch",
                          stacklevel=2)
            ran.append(f"{type(part).__name__} on torch")
    return ", ".join(ran)
