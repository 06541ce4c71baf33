"""Getting a torchvision detector ready for fine-tuning on new classes.

* :func:`pretrained_model`: the builder with its COCO weights, loaded by torchvision itself from the
  file :func:`detectkit.weights.resolve_weights` found (offline first), so everything torchvision
  does for pretrained models holds: ``trainable_backbone_layers`` freezes the first backbone
  stages, and the backbone's batch norms are frozen (``FrozenBatchNorm2d``).
* :func:`untrained_model`: the builder with no weights and ``num_classes`` outputs; as in
  torchvision, ``trainable_backbone_layers`` has no effect without pretrained weights (every layer trains).
* :func:`replace_head`: a new classifier for ``num_classes`` (background included): Faster R-CNN's
  ``FastRCNNPredictor``, RetinaNet's and FCOS's ``cls_logits``, SSD's and SSDlite's class convolutions.
  The box regressors and everything else keep their trained weights.
* :func:`layout` / :func:`apply_layout`: which norm layers are frozen and which parameters do not
  train, recorded in checkpoints so ``resume`` rebuilds the same model without the COCO file.
* :func:`inference_state_dict`: weights that load into ``build_model`` (what ``Detector`` uses).

Example:
    >>> model = untrained_model("fasterrcnn_mobilenet_v3_large_320_fpn", num_classes=3)
    >>> model.roi_heads.box_predictor.cls_score.out_features
    3
    >>> replace_head(model, 5).roi_heads.box_predictor.cls_score.out_features
    5
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from ..errors import ModelError, WeightsFormatError

__all__ = [
    "trainable_builders",
    "max_trainable_layers",
    "pretrained_model",
    "untrained_model",
    "replace_head",
    "layout",
    "apply_layout",
    "inference_state_dict",
    "load_training_state",
    "set_imgsz",
    "FEW_OBJECTS_RCNN_KWARGS",
]

#: Faster R-CNN sampling for images with a few objects each, as ``builder_kwargs``: 64 RoIs and 64
#: anchors sampled per image (torchvision: 512 and 256); 300 RPN proposals before NMS and 150 after
#: in training (torchvision: 2000 and 2000), 50 after NMS at test time (torchvision: 1000; 150 for
#: the ``_320_`` builder). Steps are cheaper and little is lost when an image holds a handful of
#: boxes; the values are stored in the checkpoint, so ``Detector`` builds the same model.
#: Example: ``finetune("fasterrcnn_mobilenet_v3_large_320_fpn", data, builder_kwargs=FEW_OBJECTS_RCNN_KWARGS)``
FEW_OBJECTS_RCNN_KWARGS: dict[str, int] = dict(
    box_batch_size_per_image=64, rpn_batch_size_per_image=64, rpn_pre_nms_top_n_train=300,
    rpn_post_nms_top_n_train=150, rpn_post_nms_top_n_test=50,
)

_TRAINABLE_PREFIXES = ("fasterrcnn_", "retinanet_", "fcos_", "ssd300_", "ssdlite320_")


def trainable_builders() -> list[str]:
    """The torchvision detection builders detectkit can fine-tune (boxes only: no Mask/Keypoint R-CNN).

    Example:
        >>> "fasterrcnn_resnet50_fpn" in trainable_builders(), "maskrcnn_resnet50_fpn" in trainable_builders()
        (True, False)
    """
    from ..detection.torchvision_backend import detection_builders

    return [name for name in detection_builders() if name.startswith(_TRAINABLE_PREFIXES)]


def _check_builder(builder: str) -> None:
    if builder not in trainable_builders():
        raise ModelError(
            f"cannot fine-tune {builder!r}: detectkit trains torchvision box detectors "
            f"({', '.join(trainable_builders())}); Mask and Keypoint R-CNN need mask/keypoint labels"
        )


def max_trainable_layers(builder: str) -> int:
    """How many backbone stages ``trainable_backbone_layers`` counts for a builder (6 for MobileNet, else 5).

    Example:
        >>> max_trainable_layers("fasterrcnn_resnet50_fpn"), max_trainable_layers("ssdlite320_mobilenet_v3_large")
        (5, 6)
    """
    return 6 if "mobilenet" in builder else 5


@contextlib.contextmanager
def _torch_hub_holding(path: Path, filename: str) -> Iterator[None]:
    """Point torch hub's cache at a temporary folder where ``filename`` is ``path``, so torchvision loads it offline."""
    import torch.hub

    cached = Path(torch.hub.get_dir()) / "checkpoints" / filename
    if cached.is_file() and cached.resolve() == path.resolve():
        yield
        return
    previous = torch.hub.get_dir()
    folder = Path(tempfile.mkdtemp(prefix="detectkit-hub-"))
    try:
        (folder / "checkpoints").mkdir()
        target = folder / "checkpoints" / filename
        try:
            target.symlink_to(path.resolve())
        except OSError:  # no symlinks here (Windows without the privilege)
            shutil.copyfile(path, target)
        torch.hub.set_dir(str(folder))
        yield
    finally:
        torch.hub.set_dir(previous)
        shutil.rmtree(folder, ignore_errors=True)


def pretrained_model(
    builder: str,
    weights_path: str | os.PathLike,
    *,
    trainable_layers: int | None = None,
    builder_kwargs: dict[str, Any] | None = None,
) -> Any:
    """The builder with its COCO weights from ``weights_path`` (a state dict for the 91-class model).

    Args:
        builder: a torchvision detection builder name.
        weights_path: the COCO weights file (found by ``resolve_weights(builder)``).
        trainable_layers: torchvision's ``trainable_backbone_layers`` (``None``: the builder's default,
            3 for ResNet backbones; 0 freezes the whole backbone; the maximum trains it all).
        builder_kwargs: more keyword arguments for the builder (``min_size``, ``box_detections_per_img``...).

    Raises:
        WeightsFormatError: the file does not fit the builder.

    Usage:
        model = pretrained_model("fasterrcnn_resnet50_fpn", resolve_weights("fasterrcnn_resnet50_fpn"), trainable_layers=3)
    """
    import torchvision
    from torchvision.models import get_model_weights

    _check_builder(builder)
    path = Path(weights_path)
    default = get_model_weights(builder).DEFAULT
    filename = os.path.basename(default.url)
    kwargs = dict(builder_kwargs or {})
    kwargs.pop("num_classes", None)
    if trainable_layers is not None:
        kwargs["trainable_backbone_layers"] = int(trainable_layers)
    with _torch_hub_holding(path, filename):
        try:
            return torchvision.models.get_model(builder, weights=default, **kwargs)
        except RuntimeError as exc:  # load_state_dict: missing keys or shape mismatch
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise WeightsFormatError(f"{path}: not COCO weights for {builder} ({first})") from exc
        except ValueError as exc:  # trainable_backbone_layers out of range
            raise ModelError(f"{builder}: {exc}") from exc


def untrained_model(builder: str, num_classes: int, *, builder_kwargs: dict[str, Any] | None = None) -> Any:
    """The builder with random weights (no backbone weights either) and ``num_classes`` outputs (background included).

    Example:
        >>> untrained_model("retinanet_resnet50_fpn", 4).head.classification_head.num_classes
        4
    """
    from ..detection.torchvision_backend import build_model

    _check_builder(builder)
    kwargs = dict(builder_kwargs or {})
    kwargs.pop("trainable_backbone_layers", None)
    return build_model(builder, num_classes, **kwargs)


def replace_head(model: Any, num_classes: int) -> Any:
    """Give ``model`` a new, untrained classifier for ``num_classes`` (background included); returns ``model``.

    Raises:
        ModelError: a model type detectkit does not know how to re-head.

    Example:
        >>> m = untrained_model("ssdlite320_mobilenet_v3_large", 91)
        >>> replace_head(m, 3).head.classification_head.num_columns
        3
    """
    import torch
    from torchvision.models.detection.faster_rcnn import FasterRCNN, FastRCNNPredictor
    from torchvision.models.detection.fcos import FCOS
    from torchvision.models.detection.retinanet import RetinaNet
    from torchvision.models.detection.ssd import SSD

    if isinstance(model, FasterRCNN):
        predictor = model.roi_heads.box_predictor
        model.roi_heads.box_predictor = FastRCNNPredictor(predictor.cls_score.in_features, num_classes)
    elif isinstance(model, (RetinaNet, FCOS)):
        head = model.head.classification_head
        old = head.cls_logits
        new = torch.nn.Conv2d(old.in_channels, head.num_anchors * num_classes, kernel_size=3, stride=1, padding=1)
        torch.nn.init.normal_(new.weight, std=0.01)
        torch.nn.init.constant_(new.bias, -math.log((1 - 0.01) / 0.01))  # the heads' prior probability
        head.cls_logits, head.num_classes = new, num_classes
    elif isinstance(model, SSD):
        head = model.head.classification_head
        for index, block in enumerate(head.module_list):
            container, key = (head.module_list, index) if isinstance(block, torch.nn.Conv2d) else (block, len(block) - 1)
            old = container[key]
            anchors = old.out_channels // head.num_columns
            new = torch.nn.Conv2d(
                old.in_channels, anchors * num_classes, old.kernel_size, old.stride, old.padding, bias=old.bias is not None
            )
            torch.nn.init.normal_(new.weight, std=0.01)
            if new.bias is not None:
                torch.nn.init.zeros_(new.bias)
            container[key] = new
        head.num_columns = num_classes
    else:
        raise ModelError(f"cannot replace the classifier of a {type(model).__name__}")
    return model


def layout(model: Any) -> dict[str, list[str]]:
    """Which norm layers are frozen and which parameters are not trained (plain lists, for checkpoints).

    Example:
        >>> layout(untrained_model("fasterrcnn_mobilenet_v3_large_320_fpn", 2))
        {'frozen_norm': [], 'frozen_params': []}
    """
    from torchvision.ops.misc import FrozenBatchNorm2d

    return {
        "frozen_norm": [name for name, m in model.named_modules() if isinstance(m, FrozenBatchNorm2d)],
        "frozen_params": [name for name, p in model.named_parameters() if not p.requires_grad],
    }


def apply_layout(model: Any, recorded: dict[str, list[str]]) -> Any:
    """Freeze the norm layers and parameters a :func:`layout` lists (the model's own weights stay); returns ``model``.

    Example:
        >>> m = untrained_model("fasterrcnn_mobilenet_v3_large_320_fpn", 2)
        >>> apply_layout(m, {"frozen_norm": ["backbone.body.0.1"], "frozen_params": []}).backbone.body["0"][1]
        FrozenBatchNorm2d(16, eps=1e-05)
    """
    from torchvision.ops.misc import FrozenBatchNorm2d

    for name in recorded.get("frozen_norm", []):
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        norm = getattr(parent, child)  # works for Sequential children ("0", "1"...) too
        frozen = FrozenBatchNorm2d(norm.num_features, eps=norm.eps)
        for buffer in ("weight", "bias", "running_mean", "running_var"):
            getattr(frozen, buffer).copy_(getattr(norm, buffer).detach())
        setattr(parent, child, frozen)
    frozen_params = set(recorded.get("frozen_params", []))
    for name, param in model.named_parameters():
        param.requires_grad_(name not in frozen_params)
    return model


def inference_state_dict(model: Any) -> dict[str, Any]:
    """The weights as ``build_model`` names them (frozen norms get the ``num_batches_tracked`` a BatchNorm has).

    Example:
        >>> m = untrained_model("fasterrcnn_mobilenet_v3_large_320_fpn", 2)
        >>> len(inference_state_dict(m)) == len(m.state_dict())
        True
    """
    import torch
    from torchvision.ops.misc import FrozenBatchNorm2d

    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    for name, module in model.named_modules():
        if isinstance(module, FrozenBatchNorm2d):
            state[f"{name}.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    return state


def load_training_state(model: Any, state: dict[str, Any], source: str) -> None:
    """Load an :func:`inference_state_dict` back into a model built with :func:`apply_layout`.

    Raises:
        WeightsFormatError: the weights do not fit the model (names ``source``).
    """
    from torchvision.ops.misc import FrozenBatchNorm2d

    frozen = {name for name, m in model.named_modules() if isinstance(m, FrozenBatchNorm2d)}
    state = {k: v for k, v in state.items() if not (k.endswith(".num_batches_tracked") and k.rsplit(".", 1)[0] in frozen)}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise WeightsFormatError(f"{source}: weights do not fit the model: {' '.join(first[:2])}") from exc


def set_imgsz(model: Any, imgsz: int) -> int:
    """Make the model resize images as detectkit's Detector will for a checkpoint of this ``imgsz``
    (longest side ``imgsz``); returns the size used. SSD models keep the fixed square their anchors were made for.

    Example:
        >>> m = untrained_model("fasterrcnn_mobilenet_v3_large_320_fpn", 2); set_imgsz(m, 256)
        256
        >>> m.transform.min_size, m.transform.max_size
        ((256,), 256)
    """
    transform = model.transform
    fixed = getattr(transform, "fixed_size", None)
    if fixed is not None:
        return int(max(fixed))
    transform.min_size, transform.max_size = (int(imgsz),), int(imgsz)
    return int(imgsz)
