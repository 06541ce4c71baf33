"""Device choice: ``"auto"`` picks CUDA, then Apple MPS, then the CPU.

Example:
    >>> from detectkit.devices import select_device
    >>> select_device("cpu").type
    'cpu'
"""

from __future__ import annotations

from typing import Any

from .errors import ModelError

__all__ = ["select_device", "half_allowed"]


def select_device(device: Any = "auto") -> Any:
    """A ``torch.device`` for ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, an int or a device.

    Raises:
        ModelError: a device that this machine does not have.

    Example:
        >>> select_device("auto").type in {"cpu", "cuda", "mps"}
        True
    """
    import torch

    if isinstance(device, torch.device):
        chosen = device
    elif device is None or str(device).lower() == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", 0)
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    elif isinstance(device, int) or str(device).isdigit():
        chosen = torch.device("cuda", int(device))
    else:
        try:
            chosen = torch.device(str(device).lower())
        except RuntimeError as exc:
            raise ModelError(f"unknown device {device!r}: use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'") from exc
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"device {device!r} asked for, but CUDA is not available here (use device='auto' or 'cpu')")
    if chosen.type == "cuda" and chosen.index is not None and chosen.index >= torch.cuda.device_count():
        raise ModelError(f"device {device!r} asked for, but this machine has {torch.cuda.device_count()} CUDA device(s)")
    if chosen.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ModelError(f"device {device!r} asked for, but Apple MPS is not available here")
    return chosen


def half_allowed(device: Any, half: bool | None) -> bool:
    """Half precision: on by default on CUDA, never elsewhere (``half=True`` off CUDA is ignored).

    Example:
        >>> import torch
        >>> half_allowed(torch.device("cpu"), True)
        False
    """
    if device.type != "cuda":
        return False
    return True if half is None else bool(half)
