"""The README's fine-tuning example: does it learn? (issue 16: goal mAP@0.5 >= 0.3 for best.pt.)

The same data (``detectkit data shapes``: 64 + 16 images of circles, squares and triangles, 128 px)
and the same run (``yolov8n.yaml`` from scratch, 20 epochs at 128 px, CPU), trained two ways in one
run, for each seed:

* ``ultralytics``: ultralytics' own trainer with its defaults, as a user wiring it by hand would
  call it (``YOLO("yolov8n.yaml").train(data=..., epochs=20, imgsz=128, batch=8)``; nbs 64, a 3-epoch
  warm-up, mosaic, +-50% scale, optimizer "auto"), offline (detectkit's ``offline_ultralytics``);
* ``detectkit``: ``detectkit train --model yolov8n.yaml --data shapes/data.yaml --epochs 20 --imgsz 128
  --device cpu`` as the README shows it (its small-data defaults, early stopping at 10 epochs).

Both best.pt files are scored by ``detectkit.evaluate`` (pycocotools) on the 16 val images.

Run:  python benchmarks/readme_finetune.py --seeds 0 1 2 [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import machine, table  # noqa: E402


def train_ultralytics_defaults(data: Path, out: Path, seed: int) -> Path:
    from detectkit._ultralytics_env import import_ultralytics, keep_torch_threads
    from detectkit.training.ultralytics_trainer import offline_ultralytics

    with offline_ultralytics(), keep_torch_threads():
        model = import_ultralytics().YOLO("yolov8n.yaml")
        model.train(data=str(data), epochs=20, imgsz=128, batch=8, device="cpu", workers=0, seed=seed,
                    project=str(out.parent), name=out.name, exist_ok=True, plots=False, verbose=False, amp=False)
    return out / "weights" / "best.pt"


def train_detectkit_cli(data: Path, out: Path, seed: int) -> Path:
    from detectkit.cli import main

    code = main(["train", "--model", "yolov8n.yaml", "--data", str(data), "--epochs", "20", "--imgsz", "128",
                 "--device", "cpu", "--seed", str(seed), "--out", str(out)])
    assert code == 0
    return out / "weights" / "best.pt"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, the core count)")
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from detectkit import Detector, evaluate
    from detectkit.training.synthetic import make_shapes_dataset

    rows = []
    with tempfile.TemporaryDirectory(prefix="readme-finetune-") as tmp:
        data = make_shapes_dataset(Path(tmp) / "shapes")  # what `detectkit data shapes shapes/` writes
        for seed in args.seeds:
            scores = {}
            for name, train in (("ultralytics", train_ultralytics_defaults), ("detectkit", train_detectkit_cli)):
                started = time.perf_counter()
                best = train(data, Path(tmp) / f"{name}_{seed}", seed)
                seconds = time.perf_counter() - started
                report = evaluate(Detector(best, device="cpu"), data, split="val")
                scores[name] = report.map50
                rows.append([seed, name, f"{report.map50:.3f}", f"{report.map:.3f}", f"{seconds:.0f}"])
                print(rows[-1], flush=True)
            rows.append([seed, "ratio", f"{scores['detectkit'] / max(scores['ultralytics'], 1e-9):.1f}x", "", ""])
    print(f"\n{machine()}, torch threads {torch.get_num_threads()}")
    print(table(["seed", "trainer", "mAP@0.5 (best.pt)", "mAP@0.5:0.95", "train s"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
