"""``detectkit serve`` as the README shows it, as a real process: it prints its token, serves the API
(detections on an uploaded photo), the live view of its ``--source``, /docs offline, and stops
on Ctrl-C (SIGINT) with status 130 and no traceback."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import pytest

from serve_helpers import free_port, write_video
from shared_data import SHARED, need_shared

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


class StderrLines:
    """The process's stderr, read by a thread, so that waiting for a line can time out."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=lambda: [self.lines.put(line) for line in process.stderr], daemon=True).start()

    def wait_for(self, pattern: str, timeout: float = 180.0) -> re.Match:
        """The first line (from here on) that matches; the models load first: up to minutes on a busy CPU."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(self.seen)}") from None
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found


def iter_pending(lines: queue.Queue):
    """What is left in the queue now."""
    while True:
        try:
            yield lines.get_nowait()
        except queue.Empty:
            return


def test_serve_command_as_the_readme_shows(tmp_path, astronaut):
    import httpx

    need_shared("weights/yolov8n_int8.onnx")
    clip = write_video(tmp_path / "door.mp4", astronaut, frames=24, fps=12.0)
    port = free_port()
    env = dict(os.environ, DETECTKIT_WEIGHTS=str(SHARED / "weights"), PYTHONPATH=str(REPO))
    env.pop("DETECTKIT_TOKEN", None)
    # the README: detectkit serve --source door=door.mp4 --gallery faces.db (plus a free port, one CPU)
    process = subprocess.Popen(
        [sys.executable, "-m", "detectkit", "serve", "--source", f"door={clip}", "--gallery", str(tmp_path / "faces.db"),
         "--port", str(port), "--device", "cpu"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        stderr = StderrLines(process)
        stderr.wait_for(rf"listening on http://127\.0\.0\.1:{port}")
        token = stderr.wait_for(r"API token: (\S+)")[1]
        base, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, timeout=60.0) as client:
            assert client.get("/health").json() == {"status": "ok"}
            assert client.get("/api/info").status_code == 401  # everything else needs the printed token
            ok, jpeg = cv2.imencode(".jpg", astronaut)
            found = client.post("/api/detect", headers=auth, files={"image": ("astronaut.jpg", jpeg.tobytes(), "image/jpeg")})
            assert found.status_code == 200, found.text
            assert "person" in [d["label"] for d in found.json()["detections"]], found.json()
            docs = client.get("/docs", headers=auth)
            assert docs.status_code == 200 and "/docs/files/swagger-ui-bundle.js" in docs.text
            deadline = time.monotonic() + 120
            while (frame := client.get("/streams/door.jpg", headers=auth)).status_code != 200:
                assert time.monotonic() < deadline, frame.text
                time.sleep(0.2)
            assert frame.headers["content-type"] == "image/jpeg" and frame.content[:2] == b"\xff\xd8"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 130  # Ctrl-C's exit status (detectkit.cli), after a clean shutdown
        assert "Traceback" not in "".join(stderr.seen) + "".join(iter_pending(stderr.lines))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()
    assert (tmp_path / "faces.db").is_file()  # the gallery the enrolment page and /api/faces use
