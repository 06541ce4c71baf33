"""Optimizers and learning-rate schedules for the torchvision training loop.

The schedule is stepped once per iteration: a linear warm-up from ``warmup_factor * lr`` to ``lr``
over ``warmup_iters``, then either a cosine decay to ``final_factor * lr`` at the last iteration
(``"cosine"``) or a step decay (``"step"``: times ``gamma`` at 70% and 90% of the run, torchvision's
reference recipe scaled to any length), or nothing (``"constant"``). The warm-up does not depend
on the total length, so the first epoch is the same whatever ``epochs`` is.

Example:
    >>> schedule = WarmupSchedule("cosine", total_iters=100, warmup_iters=10)
    >>> round(schedule(0), 3), schedule(10), round(schedule(99), 3)
    (0.001, 1.0, 0.01)
"""

from __future__ import annotations

import math
from typing import Any, Iterable

from ..errors import ModelError

__all__ = ["WarmupSchedule", "build_optimizer", "build_scheduler", "SCHEDULES", "OPTIMIZERS"]

SCHEDULES = ("cosine", "step", "constant")
OPTIMIZERS = ("sgd", "adamw")


class WarmupSchedule:
    """The learning-rate factor at an iteration (a ``LambdaLR`` function whose state is plain numbers).

    Args:
        kind: ``"cosine"``, ``"step"`` or ``"constant"``.
        total_iters: iterations in the whole run.
        warmup_iters: iterations of linear warm-up (0: none).
        warmup_factor: the factor at iteration 0.
        final_factor: the cosine schedule's factor at the last iteration.
        gamma: the step schedule's multiplier at each milestone.
        milestones: the step schedule's milestones as fractions of the run.
    """

    def __init__(
        self,
        kind: str = "cosine",
        total_iters: int = 1,
        warmup_iters: int = 0,
        warmup_factor: float = 0.001,
        final_factor: float = 0.01,
        gamma: float = 0.1,
        milestones: tuple[float, ...] = (0.7, 0.9),
    ) -> None:
        if kind not in SCHEDULES:
            raise ModelError(f"unknown schedule {kind!r}: use one of {', '.join(SCHEDULES)}")
        self.kind = kind
        self.total_iters = max(1, int(total_iters))
        self.warmup_iters = max(0, int(warmup_iters))
        self.warmup_factor = float(warmup_factor)
        self.final_factor = float(final_factor)
        self.gamma = float(gamma)
        self.milestones = [float(m) for m in milestones]

    def __call__(self, step: int) -> float:
        if step < self.warmup_iters:
            alpha = step / self.warmup_iters
            return self.warmup_factor + (1.0 - self.warmup_factor) * alpha
        if self.kind == "cosine":
            span = max(1, self.total_iters - 1 - self.warmup_iters)
            progress = min(1.0, (step - self.warmup_iters) / span)
            return self.final_factor + (1.0 - self.final_factor) * 0.5 * (1.0 + math.cos(math.pi * progress))
        if self.kind == "step":
            passed = sum(step >= round(m * self.total_iters) for m in self.milestones)
            return self.gamma**passed
        return 1.0


def build_optimizer(
    params: Iterable[Any],
    name: str = "sgd",
    lr: float = 0.01,
    *,
    momentum: float = 0.9,
    weight_decay: float | None = None,
) -> Any:
    """SGD (momentum 0.9, weight decay 1e-4: torchvision's detection recipe) or AdamW (weight decay 0.05).

    Parameters that are frozen (``requires_grad=False``) are left out. Norm-layer weights and biases get no weight decay.

    Example:
        >>> import torch
        >>> build_optimizer(torch.nn.Linear(2, 2).named_parameters(), "adamw", 1e-3).defaults["lr"]
        0.001
    """
    import torch

    name = name.lower()
    if name not in OPTIMIZERS:
        raise ModelError(f"unknown optimizer {name!r}: use one of {', '.join(OPTIMIZERS)}")
    decay, no_decay = [], []
    for param_name, param in params:
        if not param.requires_grad:
            continue
        (no_decay if param.ndim <= 1 else decay).append(param)
    if not decay and not no_decay:
        raise ModelError("nothing to train: every parameter is frozen")
    if weight_decay is None:
        weight_decay = 1e-4 if name == "sgd" else 0.05
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    groups = [g for g in groups if g["params"]]
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum)
    return torch.optim.AdamW(groups, lr=lr)


def build_scheduler(optimizer: Any, schedule: WarmupSchedule) -> Any:
    """A per-iteration ``LambdaLR`` driven by ``schedule``.

    Example:
        >>> import torch
        >>> opt = build_optimizer(torch.nn.Linear(2, 2).named_parameters(), "sgd", 0.1)
        >>> build_scheduler(opt, WarmupSchedule("constant")).get_last_lr()
        [0.1, 0.1]
    """
    import torch

    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
