"""Per-epoch time of detectkit's torchvision training loop against a plain loop in the style of
torchvision's reference ``train_one_epoch`` (references/detection/engine.py), same model, same data.

Both loops get the same DataLoader (detectkit's ``TorchDetectionData``, flips only, so both pay
the same data cost), the same untrained model state and optimizer at the start of every epoch,
and the same seed, and they alternate (A B A B ...) so machine noise hits both alike. What differs
is only the loop: detectkit's has a tqdm bar with running means, gradient clipping, a per-iteration
warm-up/cosine scheduler and one host sync per iteration; the reference-style loop reads every loss
with ``.item()`` (its MetricLogger does) and steps a warm-up scheduler.

    python benchmarks/train_loop_overhead.py --images 32 --imgsz 160 --batch 4 --repeats 3

Prints a table (seconds per epoch, median over repeats) and the ratio detectkit / reference.
"""

from __future__ import annotations

import argparse
import copy
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detectkit.training.augment import Augment, TorchDetectionData, collate  # noqa: E402
from detectkit.training.datasets import load_dataset  # noqa: E402
from detectkit.training.loop import train_one_epoch  # noqa: E402
from detectkit.training.schedule import WarmupSchedule, build_optimizer, build_scheduler  # noqa: E402
from detectkit.training.synthetic import make_shapes_dataset  # noqa: E402
from detectkit.training.torchvision_model import set_imgsz, untrained_model  # noqa: E402


def reference_train_one_epoch(model, optimizer, data_loader, device, epoch):
    """torchvision references/detection/engine.py train_one_epoch, single process, its MetricLogger reduced
    to what it computes per iteration (every loss read with .item(), smoothed sums)."""
    model.train()
    lr_scheduler = None
    if epoch == 0:
        warmup_factor = 1.0 / 1000
        warmup_iters = min(1000, len(data_loader) - 1)
        lr_scheduler = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=warmup_factor, total_iters=warmup_iters)
    meters: dict[str, float] = {}
    for images, targets in data_loader:
        images = list(image.to(device) for image in images)
        targets = [{k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in t.items()} for t in targets]
        loss_dict = model(images, targets)
        losses = sum(loss for loss in loss_dict.values())
        loss_value = losses.item()
        if not math.isfinite(loss_value):
            raise SystemExit(f"Loss is {loss_value}, stopping training")
        optimizer.zero_grad()
        losses.backward()
        optimizer.step()
        if lr_scheduler is not None:
            lr_scheduler.step()
        for name, value in {"loss": losses, **loss_dict}.items():
            meters[name] = meters.get(name, 0.0) + value.item()
        meters["lr"] = optimizer.param_groups[0]["lr"]
    return meters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--builder", default="fasterrcnn_mobilenet_v3_large_320_fpn")
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--imgsz", type=int, default=160)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch (and onnxruntime) CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    device = torch.device("cpu")
    folder = Path(tempfile.mkdtemp(prefix="loop-overhead-"))
    spec = make_shapes_dataset(folder, n_train=args.images, n_val=0, imgsz=args.imgsz, seed=0)
    data = TorchDetectionData(load_dataset(spec, "train"), args.imgsz, Augment(affine_p=0.0, color_p=0.0))
    torch.manual_seed(0)
    start = untrained_model(args.builder, 4)
    set_imgsz(start, args.imgsz)

    def fresh():
        model = copy.deepcopy(start).to(device)
        optimizer = build_optimizer(model.named_parameters(), "sgd", 0.01)
        generator = torch.Generator().manual_seed(0)
        loader = torch.utils.data.DataLoader(data, batch_size=args.batch, shuffle=True, collate_fn=collate, generator=generator)
        return model, optimizer, loader

    def run_detectkit() -> float:
        model, optimizer, loader = fresh()
        scheduler = build_scheduler(optimizer, WarmupSchedule("cosine", 10 * len(loader), len(loader)))
        torch.manual_seed(0)
        began = time.perf_counter()
        train_one_epoch(model, optimizer, loader, device, scheduler=scheduler, clip=10.0, progress=True)
        return time.perf_counter() - began

    def run_reference() -> float:
        model, optimizer, loader = fresh()
        torch.manual_seed(0)
        began = time.perf_counter()
        reference_train_one_epoch(model, optimizer, loader, device, epoch=0)
        return time.perf_counter() - began

    run_reference()  # warm-up: first-call allocations and thread-pool start-up, not counted
    times: dict[str, list[float]] = {"reference": [], "detectkit": []}
    for _ in range(args.repeats):
        times["reference"].append(run_reference())
        times["detectkit"].append(run_detectkit())
    ref, ours = statistics.median(times["reference"]), statistics.median(times["detectkit"])
    iters = math.ceil(args.images / args.batch)
    print(f"\n{args.builder}, {args.images} images {args.imgsz}px, batch {args.batch} ({iters} iterations), "
          f"CPU threads {torch.get_num_threads()}, median of {args.repeats}")
    print(f"| loop | s/epoch (median) | all runs (s) |\n|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.2f} | {', '.join(f'{v:.2f}' for v in values)} |")
    print(f"\ndetectkit / reference: {ours / ref:.3f} (goal: at most 1.10)")


if __name__ == "__main__":
    main()
