"""Load on `detectkit serve`: concurrent identify clients while viewers watch the MJPEG stream.

    python benchmarks/serve_load.py [--clients 20] [--viewers 5] [--seconds 30] [--quiet-seconds 10] [--max-requests 20000] [--api-model-slots 1,20]

A real server (``python -m detectkit serve``, its own process, 127.0.0.1 only) runs with
``--model none`` (faces only), a HOG face gallery (``--face-weights hog-face``: no weights
needed) and one looped video source: ``short_hamilton_clip.mp4`` (640x360, faces) from
../shared when present, else a clip made from scikit-image's astronaut. One person is
enrolled first.

1. **quiet**: ``--viewers`` MJPEG viewers for ``--quiet-seconds``: the stream's FPS as the
   viewers receive it, and as the pipeline reports it;
2. **load**: the same viewers, plus ``--clients`` clients posting ``/api/faces/identify``
   back to back (a 256x256 one-face JPEG) and one writer enrolling and removing a person in a
   loop, for ``--seconds`` (at most ``--max-requests`` requests): requests/s, p50/p99 latency,
   failed requests (goal 0), the stream's FPS under load.

After the server stops, the gallery file's ``integrity_check`` must say ``ok``. This is done
once per ``--api-model-slots`` value (a new server each time), so the two settings are
compared in one run. Bounded:
every phase has a time limit and the requests a count limit; nothing listens beyond 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("DETECTKIT_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402

from _common import REPO, SHARED, machine, table  # noqa: E402

CLIP = SHARED / "data/video/short_hamilton_clip.mp4"


def _jpeg(image: np.ndarray) -> bytes:
    import cv2

    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()


def _astronaut(size: int = 256) -> np.ndarray:
    import cv2
    import skimage.data

    return cv2.resize(np.ascontiguousarray(skimage.data.astronaut()[:, :, ::-1]), (size, size), interpolation=cv2.INTER_AREA)


def _make_clip(path: Path) -> Path:
    import cv2

    image = _astronaut(360)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (360, 360))
    for i in range(50):
        writer.write(cv2.warpAffine(image, np.float32([[1, 0, (i % 10) - 5], [0, 1, 0]]), (360, 360), borderMode=cv2.BORDER_REPLICATE))
    writer.release()
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


async def _viewer(client, url: str, stop: asyncio.Event, counts: list[int], index: int) -> None:
    boundary = b"--detectkit-frame"
    try:
        async with client.stream("GET", url) as response:
            async for chunk in response.aiter_bytes():
                counts[index] += chunk.count(boundary)
                if stop.is_set():
                    return
    except Exception as exc:  # noqa: BLE001 - a broken viewer is reported by its count
        print(f"viewer {index}: {type(exc).__name__}: {exc}", file=sys.stderr)


async def _identify(client, photo: bytes, headers: dict, deadline: float, budget: list[int], latencies: list[float], failures: list[str]) -> None:
    while time.monotonic() < deadline and budget[0] > 0:
        budget[0] -= 1
        started = time.perf_counter()
        try:
            response = await client.post("/api/faces/identify?top_k=3", headers=headers, files={"photo": ("p.jpg", photo, "image/jpeg")})
            ok = response.status_code == 200 and response.json()["faces"] and response.json()["faces"][0]["identity"] == "Reference"
            if not ok:
                failures.append(f"{response.status_code}: {response.text[:120]}")
        except Exception as exc:  # noqa: BLE001 - counted as a failed request
            failures.append(f"{type(exc).__name__}: {exc}")
        latencies.append(time.perf_counter() - started)


async def _writer(client, photo: bytes, headers: dict, deadline: float, done: list[int], failures: list[str]) -> None:
    n = 0
    while time.monotonic() < deadline:
        name = f"writer-{n % 3}"
        enrolled = await client.post(f"/api/faces/people/{name}/photos", headers=headers, files=[("photos", ("w.jpg", photo, "image/jpeg"))])
        removed = await client.delete(f"/api/faces/people/{name}", headers=headers)
        if enrolled.status_code != 201 or removed.status_code != 200:
            failures.append(f"writer: enrol {enrolled.status_code}, remove {removed.status_code}")
        done[0] += 2
        n += 1


async def _phase(base: str, token: str, viewers: int, seconds: float, clients: int, max_requests: int, photo: bytes, other: bytes) -> dict:
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=clients + viewers + 4, max_keepalive_connections=clients + viewers + 4)
    async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(60.0), limits=limits) as client:
        stop = asyncio.Event()
        counts = [0] * viewers
        view_tasks = [asyncio.create_task(_viewer(client, f"/streams/door.mjpg?token={token}", stop, counts, i)) for i in range(viewers)]
        await asyncio.sleep(2.0)  # viewers connected and receiving
        status_before = (await client.get("/api/streams/door", headers=headers)).json()
        start_counts, started = list(counts), time.monotonic()
        deadline = started + seconds
        latencies: list[float] = []
        failures: list[str] = []
        budget = [max_requests]
        writes = [0]
        work = [asyncio.create_task(_identify(client, photo, headers, deadline, budget, latencies, failures)) for _ in range(clients)]
        if clients:
            work.append(asyncio.create_task(_writer(client, other, headers, deadline, writes, failures)))
            await asyncio.gather(*work)
        else:
            await asyncio.sleep(seconds)
        elapsed = time.monotonic() - started
        frames = [c - s for c, s in zip(counts, start_counts)]
        status_after = (await client.get("/api/streams/door", headers=headers)).json()
        stop.set()
        for task in view_tasks:
            task.cancel()
        await asyncio.gather(*view_tasks, return_exceptions=True)
    return {
        "elapsed": elapsed,
        "requests": len(latencies),
        "latencies": latencies,
        "failures": failures,
        "writes": writes[0],
        "viewer_fps": [f / elapsed for f in frames],
        "pipeline_frames": status_after["frames"] - status_before["frames"],
        "pipeline_fps": (status_after["frames"] - status_before["frames"]) / elapsed,
    }


def _run_server(args: argparse.Namespace, slots: int, clip: Path, work: Path) -> dict:
    """Start a server with ``--api-model-slots slots``, run both phases, stop it, check its gallery."""
    import httpx

    from detectkit.faces import Gallery

    gallery = work / f"faces-{slots}.db"
    token = secrets.token_urlsafe(32)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "detectkit", "serve", "--host", "127.0.0.1", "--port", str(port), "--model", "none",
               "--gallery", str(gallery), "--face-weights", "hog-face", "--face-threshold", "0.8", "--source", f"door={clip}",
               "--api-model-slots", str(slots)]
    env = {**os.environ, "DETECTKIT_TOKEN": token, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    log = open(work / f"server-{slots}.log", "w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    photo = _jpeg(_astronaut(256))
    other = _jpeg(_astronaut(256)[:, ::-1].copy())
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start; see {work / f'server-{slots}.log'}")
            time.sleep(0.5)
        headers = {"Authorization": f"Bearer {token}"}
        enrolled = httpx.post(f"{base}/api/faces/people/Reference/photos", headers=headers, timeout=120,
                              files=[("photos", ("ref.jpg", photo, "image/jpeg"))])
        assert enrolled.status_code == 201, enrolled.text
        while httpx.get(f"{base}/api/streams/door", headers=headers).json()["frames"] < 3:
            time.sleep(0.5)
        quiet = asyncio.run(_phase(base, token, args.viewers, args.quiet_seconds, 0, 0, photo, other))
        loaded = asyncio.run(_phase(base, token, args.viewers, args.seconds, args.clients, args.max_requests, photo, other))
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    with Gallery(gallery, create=False) as g:
        integrity, people = g.integrity_check(), g.names()
    return {"slots": slots, "quiet": quiet, "loaded": loaded, "integrity": integrity, "people": people}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--viewers", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--quiet-seconds", type=float, default=10.0)
    parser.add_argument("--max-requests", type=int, default=20_000)
    parser.add_argument("--api-model-slots", default="1,20",
                        help="the server's --api-model-slots, comma-separated: one server per value, one after the other (default: 1,20)")
    args = parser.parse_args()
    slot_values = [int(v) for v in args.api_model_slots.split(",") if v.strip()]

    work = Path(tempfile.mkdtemp(prefix="detectkit-serve-load-"))
    clip = CLIP if CLIP.is_file() else _make_clip(work / "astronaut.mp4")
    runs = [_run_server(args, slots, clip, work) for slots in slot_values]

    print(f"# detectkit serve under load: {machine()}")
    print(f"source: {clip.name} (looped at its frame rate, faces only, HOG embeddings, identity per track)")
    print(f"load: {args.clients} identify clients + 1 enrol/remove writer for {args.seconds:.0f} s "
          f"(requests in flight then finish), {args.viewers} MJPEG viewers; one server per --api-model-slots value\n")
    rows = []
    for run in runs:
        loaded, lat = run["loaded"], run["loaded"]["latencies"]
        rows.append([run["slots"], loaded["requests"], f"{loaded['requests'] / loaded['elapsed']:.2f}", f"{1000 * _percentile(lat, 50):.0f}",
                     f"{1000 * _percentile(lat, 99):.0f}", len(loaded["failures"]), loaded["writes"], run["integrity"], ", ".join(run["people"])])
    print(table(["api model slots", "identify requests", "requests/s", "p50 ms", "p99 ms", "failed", "writes (enrol+remove)",
                 "gallery integrity_check", "people after"], rows))
    print()
    rows = []
    for run in runs:
        quiet, loaded = run["quiet"], run["loaded"]
        ratio = loaded["pipeline_fps"] / quiet["pipeline_fps"] if quiet["pipeline_fps"] else float("nan")
        rows.append([run["slots"], f"{quiet['pipeline_fps']:.2f}", f"{min(quiet['viewer_fps']):.2f} - {max(quiet['viewer_fps']):.2f}",
                     f"{loaded['pipeline_fps']:.2f}", f"{min(loaded['viewer_fps']):.2f} - {max(loaded['viewer_fps']):.2f}", f"{ratio:.2f}"])
    print(table(["api model slots", "stream FPS, no load", "viewers' FPS, no load", "stream FPS, under load",
                 "viewers' FPS, under load", "under load / no load"], rows))
    for run in runs:
        if run["loaded"]["failures"]:
            print(f"failures with {run['slots']} slot(s) (first 5):", *run["loaded"]["failures"][:5], sep="\n  ")


if __name__ == "__main__":
    main()
