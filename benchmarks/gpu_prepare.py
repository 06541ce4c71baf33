"""Make the folder that `benchmarks/gpu.py` carries to a GPU machine (no network there).

    python benchmarks/gpu_prepare.py [--out .gpu] [--python-version 3.12] [--no-wheels]

The GPU machine has Python 3.12 with torch, torchvision, onnxruntime, opencv-python-headless,
numpy, scipy, scikit-image, matplotlib, pyyaml, tqdm, pillow and psutil. What detectkit needs
beyond those goes as cp312 wheels (``pip download --no-deps`` from the registry, for the
manylinux platforms pip accepts there); the data goes as files:

* ``wheels/``: ultralytics (and ultralytics-thop), facenet-pytorch 2.5.3, pycocotools, lap
  (polars, which ultralytics lists, is only imported by its training and CSV code: left out);
* ``yolov8n-coco.pt``: the COCO YOLOv8n rebuilt from ``../shared/weights/yolov8n_int8.onnx``
  by ``benchmarks/yolo_from_int8_onnx.py``;
* ``clip_1080p.mp4`` (facenet_pytorch_video.mp4) and ``clip_768x432.mp4``
  (one-by-one-person-detection.mp4), ``photos/``: 32 COCO128 photos.

The folder stays well under the device tool's 64 MiB and is ignored by git (``/.gpu/``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, SHARED  # noqa: E402

PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64"]


def installed_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def wheels(out: Path, python_version: str) -> None:
    """Download the cp312 wheels of what the GPU machine lacks (pure-Python ones as they are)."""
    out.mkdir(parents=True, exist_ok=True)
    wanted = [f"ultralytics=={installed_version('ultralytics')}", f"ultralytics-thop=={installed_version('ultralytics-thop')}",
              "facenet-pytorch==2.5.3", f"pycocotools=={installed_version('pycocotools')}",
              f"lap=={installed_version('lap')}"]
    for spec in wanted:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
               "--python-version", python_version, "--implementation", "cp", "-d", str(out), spec]
        for platform in PLATFORMS:
            cmd += ["--platform", platform]
        subprocess.run(cmd, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / ".gpu")
    parser.add_argument("--python-version", default="3.12")
    parser.add_argument("--no-wheels", action="store_true", help="only the data (trying gpu.py here needs none)")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    if not args.no_wheels:
        wheels(out / "wheels", args.python_version)
    pt = out / "yolov8n-coco.pt"
    if not pt.exists():
        from yolo_from_int8_onnx import rebuild

        rebuild(SHARED / "weights" / "yolov8n_int8.onnx", pt)
    for name, source in (("clip_1080p.mp4", "facenet_pytorch_video.mp4"), ("clip_768x432.mp4", "one-by-one-person-detection.mp4")):
        shutil.copyfile(SHARED / "data" / "video" / source, out / name)
    photos = out / "photos"
    photos.mkdir(exist_ok=True)
    for path in sorted((SHARED / "data/detection/coco128/images/train2017").glob("*.jpg"))[:32]:
        shutil.copyfile(path, photos / path.name)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"{out}: {size / 2**20:.1f} MiB")
    for path in sorted(out.rglob("*")):
        if path.is_file() and path.parent.name != "photos":
            print(f"  {path.relative_to(out)}  {path.stat().st_size / 2**20:.2f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
