"""One training epoch of a torchvision detector: forward, loss, backward, clip, step, schedule.

Kept as lean as torchvision's reference ``train_one_epoch`` (one host sync per iteration, to read
the loss for the progress bar and the NaN check), with what the reference leaves to the caller:
AMP on CUDA (``torch.autocast`` + ``GradScaler``), gradient-norm clipping, a per-iteration
learning-rate schedule, running means of every loss in a tqdm bar, and a clear error when the
loss stops being finite.

Usage:
    losses = train_one_epoch(model, optimizer, loader, device, scheduler=scheduler, clip=10.0)
    losses["loss"], losses["loss_classifier"]
"""

from __future__ import annotations

import math
import sys
from typing import Any, Iterable

from ..errors import ModelError

__all__ = ["train_one_epoch"]


def train_one_epoch(
    model: Any,
    optimizer: Any,
    loader: Iterable[Any],
    device: Any,
    *,
    scheduler: Any = None,
    scaler: Any = None,
    clip: float | None = 10.0,
    progress: bool = True,
    description: str = "train",
) -> dict[str, float]:
    """Train for one pass over ``loader``; returns the mean of each loss (and ``"loss"``, their sum).

    Args:
        model: a torchvision detector (returns a loss dict in train mode).
        optimizer: its optimizer.
        loader: yields ``(list of image tensors, list of target dicts)``.
        device: where the model is.
        scheduler: stepped after every iteration (per-iteration warm-up and decay), or ``None``.
        scaler: a ``torch.amp.GradScaler`` for mixed precision on CUDA, or ``None`` (fp32).
        clip: clip the gradient norm to this (``None``: no clipping).
        progress: show a tqdm bar with the running mean losses and the learning rate.
        description: the bar's label.

    Raises:
        ModelError: the loss became NaN or infinite (with the batch number and each loss).

    Usage:
        train_one_epoch(model, optimizer, loader, torch.device("cpu"), clip=None, progress=False)
    """
    import torch
    from tqdm import tqdm

    model.train()
    use_amp = scaler is not None and device.type == "cuda"
    params = [p for group in optimizer.param_groups for p in group["params"]]
    sums: dict[str, float] = {}
    count = 0
    bar = tqdm(loader, desc=description, unit="batch", file=sys.stderr, leave=False, disable=not progress, dynamic_ncols=True)
    for images, targets in bar:
        images = [image.to(device, non_blocking=True) for image in images]
        targets = [{k: v.to(device, non_blocking=True) for k, v in t.items()} for t in targets]
        with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
            loss_dict = model(images, targets)
            loss = sum(loss_dict.values())
        values = torch.stack([loss.detach(), *(v.detach() for v in loss_dict.values())]).float().cpu().tolist()
        if not math.isfinite(values[0]):
            detail = ", ".join(f"{k}={v:.4g}" for k, v in zip(loss_dict, values[1:]))
            raise ModelError(
                f"training diverged: the loss is {values[0]} at batch {count + 1} ({detail}); "
                "lower the learning rate (lr=...) or check the labels"
            )
        optimizer.zero_grad(set_to_none=True)
        if use_amp:
            scaler.scale(loss).backward()
            if clip:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(params, clip)
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(params, clip)
            optimizer.step()
        if scheduler is not None:
            scheduler.step()
        count += 1
        for key, value in zip(("loss", *loss_dict), values):
            sums[key] = sums.get(key, 0.0) + value
        if progress:
            bar.set_postfix(
                {k.replace("loss_", ""): f"{v / count:.3f}" for k, v in sums.items()}
                | {"lr": f"{optimizer.param_groups[0]['lr']:.2e}"},
                refresh=False,
            )
    bar.close()
    if count == 0:
        raise ModelError("the training set gave no batches (is it empty, or is batch larger than it with drop_last?)")
    return {key: total / count for key, total in sums.items()}
