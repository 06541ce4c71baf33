"""dlib's face-recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``) rebuilt in torch.

The network is the one of dlib's ``examples/dnn_face_recognition_ex.cpp`` (``anet_type``):
a 7x7/2 convolution (32 filters), affine, ReLU, 3x3/2 max pool, then residual blocks of
two 3x3 convolutions each (3 x 32, 4 x 64, 3 x 128, 3 x 256 and 1 x 256 filters; the
first block of each level after the first strides by 2 and its shortcut is a 2x2/2
average pool), a global average pool and a 128-output linear layer without bias. The
input is a 150x150 RGB chip, ``(pixel - mean) / 256`` with dlib's per-channel means.

Two dlib behaviours matter for equal results: a stride-2 convolution or pool has no
padding (dlib's default padding is ``size // 2`` only for stride 1), and ``add_prev``
adds tensors of different sizes by zero-padding the smaller one at the end of the
channel, row and column axes (32 -> 64 channels at a level change, and the 3x3 block
output added to the 4x4 pooled shortcut at the 256-filter level).

:func:`read_dlib_resnet` parses dlib's binary serialisation directly (``dlib/serialize.h``:
integers as a length byte plus little-endian bytes, floats as mantissa and exponent,
tensors as raw float32) and checks every layer against this architecture, so another
dlib network or a truncated file is refused with a :class:`~detectkit.errors.WeightsFormatError`
naming the file, the byte offset and what was expected. No dlib is needed to read or run it.

Example:
    >>> import torch
    >>> from detectkit.faces.dlib_resnet import DlibFaceResNet
    >>> net = DlibFaceResNet().eval()
    >>> net(torch.zeros(2, 3, 150, 150)).shape
    torch.Size([2, 128])
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import WeightsFormatError, WeightsNotFoundError

__all__ = [
    "DLIB_RESNET_FILE",
    "CHIP_SIZE",
    "DESCRIPTOR_DIM",
    "DlibResNetWeights",
    "DlibFaceResNet",
    "read_dlib_resnet",
    "resolve_dlib_resnet",
    "load_dlib_resnet",
    "LEVELS",
]

DLIB_RESNET_FILE = "dlib_face_recognition_resnet_model_v1.dat"
"""The file name face_recognition_models (and dlib.net) publish the network under."""
CHIP_SIZE = 150
DESCRIPTOR_DIM = 128
LEVELS: tuple[tuple[int, int, bool], ...] = (
    # (filters, residual blocks, first block strides by 2), input side first
    (32, 3, False),
    (64, 4, True),
    (128, 3, True),
    (256, 3, True),
    (256, 1, True),
)
"""dlib's ``alevel4`` .. ``alevel0``: filters, number of blocks, whether the level starts with ``ares_down``."""


# --------------------------------------------------------------------------- the torch network
def _torch_modules() -> tuple[Any, Any]:
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Affine(nn.Module):
        """dlib's ``affine`` layer: a per-channel ``gamma * x + beta`` (batch norm frozen at test time)."""

        def __init__(self, channels: int) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.ones(channels))
            self.bias = nn.Parameter(torch.zeros(channels))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.addcmul(self.bias[:, None, None], x, self.weight[:, None, None])

    def add_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """dlib's ``add_prev``: the sum over the larger shape, the smaller tensor zero-padded at the ends."""
        if a.shape == b.shape:
            return a + b
        shape = [max(x, y) for x, y in zip(a.shape, b.shape)]

        def pad(t: torch.Tensor) -> torch.Tensor:
            return F.pad(t, (0, shape[3] - t.shape[3], 0, shape[2] - t.shape[2], 0, shape[1] - t.shape[1]))

        return pad(a) + pad(b)

    class Block(nn.Module):
        """``ares`` / ``ares_down``: relu(affine(conv(relu(affine(conv(x))))) + shortcut)."""

        def __init__(self, cin: int, cout: int, down: bool) -> None:
            super().__init__()
            self.down = down
            self.conv1 = nn.Conv2d(cin, cout, 3, stride=2 if down else 1, padding=0 if down else 1)
            self.affine1 = Affine(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1)
            self.affine2 = Affine(cout)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.affine2(self.conv2(F.relu(self.affine1(self.conv1(x)))))
            shortcut = F.avg_pool2d(x, 2, 2) if self.down else x
            return F.relu(add_padded(y, shortcut))

    return Affine, Block


def _make_network_class() -> type:
    import torch
    from torch import nn
    from torch.nn import functional as F

    Affine, Block = _torch_modules()

    class _DlibFaceResNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", torch.tensor([122.782, 117.001, 104.298]).view(1, 3, 1, 1))
            self.conv = nn.Conv2d(3, 32, 7, stride=2, padding=0)
            self.affine = Affine(32)
            blocks = []
            cin = 32
            for filters, count, down in LEVELS:
                for i in range(count):
                    blocks.append(Block(cin, filters, down and i == 0))
                    cin = filters
            self.blocks = nn.Sequential(*blocks)
            self.fc = nn.Linear(256, DESCRIPTOR_DIM, bias=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            """RGB chips ``(N, 3, 150, 150)`` in 0..255 -> dlib's raw (not normalised) 128-d descriptors."""
            x = (x - self.mean) / 256.0
            x = F.max_pool2d(F.relu(self.affine(self.conv(x))), 3, 2)
            x = self.blocks(x)
            return self.fc(x.mean(dim=(2, 3)))

        def fuse(self) -> "_DlibFaceResNet":
            """Fold every affine layer into the convolution before it (``gamma * (Wx + b) + beta``)."""
            with torch.no_grad():
                pairs = [(self, "conv", "affine")]
                for block in self.blocks:
                    pairs += [(block, "conv1", "affine1"), (block, "conv2", "affine2")]
                for owner, conv_name, affine_name in pairs:
                    conv, affine = getattr(owner, conv_name), getattr(owner, affine_name)
                    conv.weight.mul_(affine.weight.view(-1, 1, 1, 1))
                    conv.bias.mul_(affine.weight).add_(affine.bias)
                    setattr(owner, affine_name, nn.Identity())
            return self.requires_grad_(False)

    _DlibFaceResNet.__name__ = _DlibFaceResNet.__qualname__ = "DlibFaceResNet"
    return _DlibFaceResNet


_NETWORK_CLASS: type | None = None


def DlibFaceResNet() -> Any:  # noqa: N802 - a factory that reads like the class it makes
    """A new (randomly initialised) torch ``DlibFaceResNet``; load weights with :func:`load_dlib_resnet`.

    Input: RGB float chips ``(N, 3, 150, 150)`` with values 0..255; output: dlib's 128-d descriptors.

    Example:
        >>> sorted(DlibFaceResNet().state_dict())[:3]
        ['affine.bias', 'affine.weight', 'blocks.0.affine1.bias']
    """
    global _NETWORK_CLASS
    if _NETWORK_CLASS is None:
        _NETWORK_CLASS = _make_network_class()
    return _NETWORK_CLASS()


# --------------------------------------------------------------------------- dlib's serialisation
class _Reader:
    """Reads dlib ``serialize()`` primitives from bytes; every failure names the file and offset."""

    def __init__(self, data: bytes, source: str) -> None:
        self.data = data
        self.pos = 0
        self.source = source
        self.what = "the header"

    def fail(self, message: str) -> WeightsFormatError:
        return WeightsFormatError(
            f"{self.source}: not dlib's face recognition ResNet ({DLIB_RESNET_FILE}): {message} "
            f"(at byte {self.pos} of {len(self.data)}, reading {self.what})"
        )

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise WeightsFormatError(
                f"{self.source}: truncated: the file ends at byte {len(self.data)} while reading "
                f"{self.what} (needed {self.pos + n - len(self.data)} more bytes); download the file again"
            )
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def int(self) -> int:
        control = self.take(1)[0]
        size = control & 0x0F
        if size == 0 or size > 8 or control & 0x70:
            self.pos -= 1
            raise self.fail(f"byte 0x{control:02x} is not a dlib integer")
        value = int.from_bytes(self.take(size), "little")
        return -value if control & 0x80 else value

    def float(self) -> float:
        mantissa = self.int()
        exponent = self.int()
        return float(np.ldexp(float(mantissa), exponent))

    def bool(self) -> bool:
        ch = self.take(1)
        if ch not in (b"0", b"1"):
            self.pos -= 1
            raise self.fail(f"byte {ch!r} is not a dlib bool")
        return ch == b"1"

    def string(self) -> str:
        length = self.int()
        if length > 256:
            raise self.fail(f"a {length}-byte layer name")
        return self.take(length).decode("latin-1")

    def version(self, expected: tuple[int, ...]) -> int:
        value = self.int()
        if value not in expected:
            raise self.fail(f"version {value}, expected {' or '.join(map(str, expected))}")
        return value

    def name(self, *expected: str) -> str:
        start = self.pos
        try:
            text = self.string()
        except WeightsFormatError:
            self.pos = start
            raise self.fail(f"no layer name where {' or '.join(map(repr, expected))} should be") from None
        if text not in expected:
            self.pos = start
            raise self.fail(f"layer {text!r} where {' or '.join(map(repr, expected))} should be")
        return text

    def tensor(self) -> np.ndarray:
        self.version((2,))
        shape = tuple(self.int() for _ in range(4))
        if any(d < 0 for d in shape) or int(np.prod(shape)) > 50_000_000:
            raise self.fail(f"tensor of impossible shape {shape}")
        count = int(np.prod(shape))
        return np.frombuffer(self.take(4 * count), dtype="<f4").reshape(shape).astype(np.float32)

    def alias(self) -> tuple[int, ...]:
        self.version((1,))
        return tuple(self.int() for _ in range(4))

    def expect(self, label: str, got: Any, want: Any) -> None:
        if got != want:
            raise self.fail(f"{label} is {got}, expected {want}")


@dataclass(frozen=True)
class _Layer:
    kind: str  # con | affine | relu | max_pool | avg_pool | add_prev | fc | tag | skip
    filters: int = 0
    size: int = 0
    stride: int = 1


def _layers_input_to_output() -> list[_Layer]:
    """The layers of ``anet_type`` from the input side, as dlib nests them (tags and skips included)."""
    layers = [_Layer("con", 32, 7, 2), _Layer("affine"), _Layer("relu"), _Layer("max_pool", 0, 3, 2)]
    for filters, count, down in LEVELS:
        for i in range(count):
            stride = 2 if (down and i == 0) else 1
            layers += [
                _Layer("tag"),
                _Layer("con", filters, 3, stride),
                _Layer("affine"),
                _Layer("relu"),
                _Layer("con", filters, 3, 1),
                _Layer("affine"),
            ]
            if stride == 2:
                layers += [_Layer("tag"), _Layer("skip"), _Layer("avg_pool", 0, 2, 2)]
            layers += [_Layer("add_prev"), _Layer("relu")]
    layers += [_Layer("avg_pool", 0, 0, 1), _Layer("fc", DESCRIPTOR_DIM)]
    return layers


@dataclass
class DlibResNetWeights:
    """What a ``.dat`` file holds: the input means, and per layer its (already folded-out) parameters.

    Attributes:
        mean: ``(3,)`` RGB means subtracted from the input.
        convs: ``[(weight (O, I, k, k), bias (O,))]`` in network order (29 of them).
        affines: ``[(gamma (C,), beta (C,))]``, one after each convolution.
        fc: ``(128, 256)`` weight of the final linear layer (dlib stores it transposed).
        margin, distance_threshold: the metric loss' settings (dlib's 0.6 is the distance threshold).
    """

    mean: np.ndarray
    convs: list[tuple[np.ndarray, np.ndarray]]
    affines: list[tuple[np.ndarray, np.ndarray]]
    fc: np.ndarray
    margin: float
    distance_threshold: float

    def state_dict(self) -> dict[str, Any]:
        """These weights under :func:`DlibFaceResNet`'s parameter names (torch tensors).

        Usage:
            read_dlib_resnet(path).state_dict()["fc.weight"].shape  -> torch.Size([128, 256])
        """
        import torch

        out: dict[str, Any] = {"mean": torch.from_numpy(self.mean.reshape(1, 3, 1, 1).copy())}
        names = ["conv"] + [f"blocks.{b}.conv{j}" for b in range(len(self.convs) // 2) for j in (1, 2)]
        affine_names = ["affine"] + [f"blocks.{b}.affine{j}" for b in range(len(self.convs) // 2) for j in (1, 2)]
        for name, (weight, bias) in zip(names, self.convs):
            out[f"{name}.weight"] = torch.from_numpy(weight.copy())
            out[f"{name}.bias"] = torch.from_numpy(bias.copy())
        for name, (gamma, beta) in zip(affine_names, self.affines):
            out[f"{name}.weight"] = torch.from_numpy(gamma.copy())
            out[f"{name}.bias"] = torch.from_numpy(beta.copy())
        out["fc.weight"] = torch.from_numpy(self.fc.copy())
        return out


def read_dlib_resnet(path: str | os.PathLike) -> DlibResNetWeights:
    """Parse ``dlib_face_recognition_resnet_model_v1.dat`` (dlib's ``serialize(anet_type)``) without dlib.

    Raises:
        WeightsFormatError: the file is not this network (another layer, size or version where
            this one's should be), or it is truncated; the message names the file and byte offset.

    Example:
        >>> import tempfile, pathlib
        >>> bad = pathlib.Path(tempfile.mkdtemp()) / "x.dat"; _ = bad.write_bytes(b"\\x01\\x01\\x01\\x04abcd")
        >>> try:
        ...     read_dlib_resnet(bad)
        ... except WeightsFormatError as e:
        ...     print(str(e).split(": ", 1)[1][:60])
        not dlib's face recognition ResNet (dlib_face_recognition_re
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise WeightsNotFoundError(f"{path}: cannot read: {exc}") from exc
    r = _Reader(data, str(path))
    # dlib writes the outer (loss) layer first, each add_layer's version and then its subnetwork,
    # down to the input; the layer details follow on the way back out (input side first).
    r.what = "the loss layer"
    r.version((1,))
    loss = r.name("loss_metric_", "loss_metric_2")
    margin, threshold = (0.1, 0.75)
    if loss == "loss_metric_2":
        margin, threshold = r.float(), r.float()
    layers = _layers_input_to_output()
    versions: list[int] = []
    for index, layer in reversed(list(enumerate(layers))):
        r.what = f"the version of layer {index} ({layer.kind})"
        versions.append(r.version((1,) if layer.kind in ("tag", "skip") else (1, 2, 3)))
    versions.reverse()

    r.what = "the input layer"
    r.name("input_rgb_image_sized")
    mean = np.array([r.float(), r.float(), r.float()], np.float32)
    r.expect("the input size", (r.int(), r.int()), (CHIP_SIZE, CHIP_SIZE))

    convs: list[tuple[np.ndarray, np.ndarray]] = []
    affines: list[tuple[np.ndarray, np.ndarray]] = []
    fc: np.ndarray | None = None
    channels = 3
    for index, layer in enumerate(layers):
        if layer.kind in ("tag", "skip"):
            continue
        r.what = f"layer {index} ({layer.kind})"
        if layer.kind == "con":
            r.name("con_4", "con_5", "con_6")
            params = r.tensor()
            r.expect("the number of filters", r.int(), layer.filters)
            r.expect("the kernel size", (r.int(), r.int()), (layer.size, layer.size))
            r.expect("the stride", (r.int(), r.int()), (layer.stride, layer.stride))
            pad = layer.size // 2 if layer.stride == 1 else 0
            r.expect("the padding", (r.int(), r.int()), (pad, pad))
            filters, biases = r.alias(), r.alias()
            r.expect("the filter shape", filters, (layer.filters, channels, layer.size, layer.size))
            for _ in range(4):
                r.float()
            n_w = int(np.prod(filters))
            r.expect("the parameter count", params.size, n_w + layer.filters)
            flat = params.reshape(-1)
            convs.append((flat[:n_w].reshape(filters), flat[n_w:].copy()))
            channels = layer.filters
        elif layer.kind == "affine":
            r.name("affine_", "affine_2")
            params = r.tensor()
            gamma, beta = r.alias(), r.alias()
            r.expect("the affine size", params.size, 2 * channels)
            r.int()  # mode (conv / fc)
            flat = params.reshape(-1)
            affines.append((flat[:channels].copy(), flat[channels:].copy()))
        elif layer.kind == "relu":
            if r.name("relu_", "relu_2") == "relu_2":
                r.bool()
        elif layer.kind in ("max_pool", "avg_pool"):
            r.name(f"{layer.kind}_2")
            r.expect("the pool window", (r.int(), r.int()), (layer.size, layer.size))
            r.expect("the pool stride", (r.int(), r.int()), (layer.stride, layer.stride))
            pad = layer.size // 2 if layer.stride == 1 and layer.size else 0
            r.expect("the pool padding", (r.int(), r.int()), (pad, pad))
        elif layer.kind == "add_prev":
            r.name("add_prev_")
        elif layer.kind == "fc":
            version = r.name("fc_2", "fc_3")
            r.expect("the number of outputs", r.int(), layer.filters)
            r.expect("the number of inputs", r.int(), channels)
            params = r.tensor()
            r.alias(), r.alias()
            r.expect("the fc bias mode (no bias)", r.int(), 1)
            for _ in range(4):
                r.float()
            if version == "fc_3":
                r.bool()
            r.expect("the fc parameter count", params.size, channels * layer.filters)
            fc = params.reshape(channels, layer.filters).T.copy()
        # every add_layer then stores its flags and (empty at save time) work tensors
        r.bool(), r.bool(), r.bool()
        r.tensor(), r.tensor()
        if index == 0 and versions[0] >= 2 or index > 0 and versions[index] == 2:
            r.tensor()  # params_grad (grad_final for the layer on the input)
        if index == 0 and versions[0] >= 3:
            r.int()  # sample expansion factor
    r.what = "the end of the file"
    if r.pos != len(data):
        raise r.fail(f"{len(data) - r.pos} bytes after the network")
    assert fc is not None
    return DlibResNetWeights(mean, convs, affines, fc, margin, threshold)


# --------------------------------------------------------------------------- finding and loading
def _package_models_dir() -> Path | None:
    """face_recognition_models' ``models/`` folder when that package is installed (not imported)."""
    import importlib.util

    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def resolve_dlib_resnet(spec: str | os.PathLike | None = None) -> Path:
    """The ``.dat`` file: ``spec`` if it is a file, else the weights folders (``DETECTKIT_WEIGHTS``,
    ``./weights``, detectkit's cache), else the installed ``face-recognition-models`` package.

    Nothing is downloaded (dlib.net's file is the same one the package ships).

    Raises:
        WeightsNotFoundError: nowhere; the message lists every place and says ``pip install 'detectkit[dlib]'``.

    Usage:
        resolve_dlib_resnet().name  -> 'dlib_face_recognition_resnet_model_v1.dat'
    """
    from ..weights import search_dirs, verify

    text = os.fspath(spec) if spec is not None else DLIB_RESNET_FILE
    direct = Path(text).expanduser()
    if direct.is_file():
        verify(direct, None)
        return direct
    if spec is not None and (direct.is_absolute() or os.sep in text or direct.suffix != ".dat"):
        raise WeightsNotFoundError(f"{text}: no such dlib network file")
    places = [(folder, label) for folder, label in search_dirs(None)]
    package = _package_models_dir()
    if package is not None:
        places.append((package, "face_recognition_models package"))
    for folder, _label in places:
        candidate = folder / direct.name
        if candidate.is_file():
            verify(candidate, None)
            return candidate
    looked = "\n".join(f"  {folder / direct.name} ({label})" for folder, label in places)
    raise WeightsNotFoundError(
        f"{direct.name}: dlib's face recognition network was not found. Looked in:\n{looked}\n"
        "Install it with: pip install 'detectkit[dlib]' (the face-recognition-models package), "
        "or put the file in one of the folders above."
    )


def load_dlib_resnet(spec: str | os.PathLike | None = None, *, fuse: bool = True) -> tuple[Any, Path, DlibResNetWeights]:
    """An eval-mode torch :func:`DlibFaceResNet` with the weights of the ``.dat`` file, its path and raw weights.

    Usage:
        net, path, raw = load_dlib_resnet(); net(chips_rgb_0_255).shape  -> (N, 128)
    """
    path = resolve_dlib_resnet(spec)
    weights = read_dlib_resnet(path)
    net = DlibFaceResNet()
    net.load_state_dict(weights.state_dict(), strict=True)
    net.eval()
    if fuse:
        net.fuse()
    return net.requires_grad_(False), path, weights
