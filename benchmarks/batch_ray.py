"""Ray batch throughput: 1 and 2 actors against a single-process ``detectkit run`` loop, same sources, same run.

Sources: the first ``--frames`` frames of each shared video and the first ``--frames``
COCO128 photos, with the shared COCO YOLOv8n (int8 ONNX) on the CPU. Rows:

* ``detectkit run`` loop: one process calling ``detectkit run SOURCE --json`` per source,
  on all cores (ONNX Runtime's default pool) and pinned to one core;
* ``detectkit batch``: a local Ray cluster of the machine's cores (started once, its start
  time printed apart), 1 actor on all cores, 1 actor on one core, 2 actors on one core each.

Each configuration runs ``--rounds`` times, interleaved, and the fastest run is kept.
Throughput is frames / wall seconds of the whole call (model loading and, for the batch,
actor start included), so it is what a user waits for; "after start" leaves the actors'
start out. CPU ms/frame is process CPU time per frame (the run loop's whole process, model
loads included; the actors' time on chunks), which other processes' load hardly changes:
it shows what the Ray layer costs per frame. Goals (issue 12): 2 actors >= 1.6x
1 actor (one core each: the scaling of the actor pool), and 1 actor within 10% of the run
loop on the same cores.

    PYTHONPATH=. python benchmarks/batch_ray.py [--frames 24] [--chunk-frames 8] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, SHARED, machine, table  # noqa: E402

ONNX = SHARED / "weights" / "yolov8n_int8.onnx"


def sources() -> list[str]:
    videos = sorted(str(p) for p in (SHARED / "data" / "video").glob("*.mp4"))
    return videos + [str(SHARED / "data" / "detection" / "coco128" / "images")]


def run_loop(frames: int, cores: int) -> dict:
    """In a child process pinned to ``cores`` cores: ``detectkit run`` over every source; frames and seconds."""
    command = [sys.executable, __file__, "--child-run", "--frames", str(frames), "--cores", str(cores)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=3600)
    line = [l for l in out.stdout.splitlines() if l.startswith("RESULT ")]
    if out.returncode != 0 or not line:
        raise SystemExit(f"the run loop failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return json.loads(line[-1][len("RESULT "):])


def child_run(frames: int, cores: int) -> None:
    os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:cores]))  # ONNX Runtime sizes its pool from this
    import torch

    torch.set_num_threads(cores)
    from detectkit.cli import main

    total = 0
    started, cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as folder:
        for n, source in enumerate(sources()):
            out = Path(folder) / f"{n}.jsonl"
            rc = main(["run", source, "--model", str(ONNX), "--device", "cpu", "--max-frames", str(frames), "--json", str(out)])
            assert rc == 0, f"detectkit run {source} failed"
            total += len(out.read_text().splitlines())
    print("RESULT " + json.dumps({"frames": total, "seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu}))


def decode_rates(frames: int) -> list[tuple[str, str, str]]:
    """OpenCV decode alone, one core: frames per second of each shared video (what an actor spends before the model)."""
    import cv2

    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cv2.setNumThreads(1)
    rows = []
    for video in sources()[:-1]:
        capture = cv2.VideoCapture(video)
        size = f"{int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))}x{int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))}"
        started, count = time.perf_counter(), 0
        while count < frames and capture.read()[0]:
            count += 1
        rows.append((Path(video).name, size, f"{count / (time.perf_counter() - started):.0f}"))
        capture.release()
    return rows


def batch(frames: int, actors: int, cpus_per_actor: int, chunk_frames: int) -> dict:
    from detectkit.batch import run_batch

    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        summary = run_batch(sources(), out, model=str(ONNX), device="cpu", actors=actors, cpus_per_actor=cpus_per_actor,
                            chunk_frames=chunk_frames, max_frames=frames, progress=False)
        seconds = time.perf_counter() - started
    assert summary.failed == 0, summary.table()
    return {"frames": summary.frames, "seconds": seconds, "startup": summary.startup_seconds, "cpu": summary.cpu_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24, help="frames per source (default 24)")
    parser.add_argument("--chunk-frames", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="runs of every configuration, interleaved; the fastest is kept (default 2)")
    parser.add_argument("--decode-only", action="store_true", help="only time OpenCV decoding of the shared videos on one core")
    parser.add_argument("--child-run", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cores", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_run:
        child_run(args.frames, args.cores)
        return
    if args.decode_only:
        print(f"# OpenCV decode, 1 core, first {args.frames} frames; {machine()}; load average {os.getloadavg()[0]:.1f}")
        print(table(["video", "size", "decoded frames/s"], decode_rates(args.frames)))
        return
    if not ONNX.exists():
        raise SystemExit(f"needs {ONNX}")
    os.environ.setdefault("DETECTKIT_OFFLINE", "1")
    cores = len(os.sched_getaffinity(0))
    print(f"# Ray batch vs detectkit run: {len(sources())} sources x {args.frames} frames, yolov8n int8 ONNX, CPU")
    print(f"# {machine()}; load average at start {os.getloadavg()[0]:.1f}")
    import ray

    os.environ.setdefault("RAY_worker_niceness", "0")  # as detectkit.batch.connect: actors at the run loop's priority
    started = time.perf_counter()
    ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    cluster_start = time.perf_counter() - started
    configurations = {
        "run, all cores": lambda: run_loop(args.frames, cores),
        "run, 1 core": lambda: run_loop(args.frames, 1),
        f"batch, 1 actor x {cores} cores": lambda: batch(args.frames, 1, cores, args.chunk_frames),
        "batch, 1 actor x 1 core": lambda: batch(args.frames, 1, 1, args.chunk_frames),
        "batch, 2 actors x 1 core": lambda: batch(args.frames, 2, 1, args.chunk_frames),
    }
    results: dict[str, dict] = {}
    try:
        for _ in range(args.rounds):  # interleaved, so a change in the machine's load hits every row alike
            for name, measure in configurations.items():
                got = measure()
                if name not in results or got["seconds"] < results[name]["seconds"]:
                    results[name] = got
    finally:
        ray.shutdown()
    fps = {name: r["frames"] / r["seconds"] for name, r in results.items()}
    steady = {name: r["frames"] / (r["seconds"] - r["startup"]) for name, r in results.items() if "startup" in r}
    rows = [
        (name, r["frames"], f"{r['seconds']:.1f}", f"{fps[name]:.2f}", f"{r['startup']:.1f}" if "startup" in r else "-",
         f"{steady[name]:.2f}" if name in steady else "-", f"{1000 * r['cpu'] / r['frames']:.0f}")
        for name, r in results.items()
    ]
    print(table(["configuration", "frames", "seconds", "frames/s", "of which actor start s", "frames/s after start", "CPU ms/frame"], rows))
    one, two = fps["batch, 1 actor x 1 core"], fps["batch, 2 actors x 1 core"]
    ratios = [
        ("2 actors / 1 actor (1 core each)", f"{two / one:.2f}", ">= 1.6"),
        (f"1 actor / run loop ({cores} cores)", f"{fps[f'batch, 1 actor x {cores} cores'] / fps['run, all cores']:.2f}", ">= 0.90"),
        ("1 actor / run loop (1 core)", f"{one / fps['run, 1 core']:.2f}", ">= 0.90"),
        (f"2 actors / run loop ({cores} cores)", f"{two / fps['run, all cores']:.2f}", "-"),
    ]
    print(table(["ratio", "measured", "goal"], ratios))
    cpu = {name: r["cpu"] / r["frames"] for name, r in results.items()}
    print(f"# CPU per frame, 1 actor / run loop (1 core): {cpu['batch, 1 actor x 1 core'] / cpu['run, 1 core']:.2f}; "
          f"2 actors / 1 actor: {cpu['batch, 2 actors x 1 core'] / cpu['batch, 1 actor x 1 core']:.2f}")
    print(f"# after start: 2 actors / 1 actor (1 core each) {steady['batch, 2 actors x 1 core'] / steady['batch, 1 actor x 1 core']:.2f}")
    print(f"# Ray local cluster start: {cluster_start:.1f} s (not in the batch rows); load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
