"""Helpers for the serve tests: a real uvicorn server on 127.0.0.1, test videos, JPEG bytes, MJPEG/SSE readers.

A unique module name (``conftest`` is ambiguous when several test folders have one).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

TOKEN = "serve-test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def jpeg(image: np.ndarray, quality: int = 92) -> bytes:
    import cv2

    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return data.tobytes()


def write_video(path: Path, image: np.ndarray, frames: int = 24, fps: float = 12.0) -> Path:
    """A short video of ``image`` moving a few pixels per frame, with the frame number drawn (frames differ)."""
    import cv2

    height, width = image.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened(), "OpenCV cannot write mp4v here"
    for i in range(frames):
        shift = np.float32([[1, 0, (i % 6) - 3], [0, 1, 0]])
        frame = cv2.warpAffine(image, shift, (width, height), borderMode=cv2.BORDER_REPLICATE)
        cv2.putText(frame, str(i), (8, height - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)
        writer.write(frame)
    writer.release()
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_server(app: Any) -> Iterator[str]:
    """Run ``app`` under a real uvicorn on 127.0.0.1 in a thread; yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        assert not thread.is_alive(), "uvicorn did not stop"


def mjpeg_frames(response: Any, count: int) -> list[bytes]:
    """Read ``count`` JPEG parts from a streaming ``multipart/x-mixed-replace`` httpx response."""
    buffer, frames = b"", []
    for chunk in response.iter_bytes():
        buffer += chunk
        while True:
            head_end = buffer.find(b"\r\n\r\n")
            if head_end < 0:
                break
            headers = buffer[:head_end].decode("latin-1")
            length = int(next(line.split(":", 1)[1] for line in headers.split("\r\n") if line.lower().startswith("content-length")))
            if len(buffer) < head_end + 4 + length:
                break
            frames.append(buffer[head_end + 4 : head_end + 4 + length])
            buffer = buffer[head_end + 4 + length + 2 :]
            if len(frames) >= count:
                return frames
    return frames


def sse_messages(response: Any, event: str = "frame") -> Iterator[dict[str, Any]]:
    """The JSON ``data`` of each ``event`` of a streaming ``text/event-stream`` httpx response."""
    name, data = None, []
    for line in response.iter_lines():
        if line.startswith("event:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            data.append(line.split(":", 1)[1].strip())
        elif line == "":
            if name == event and data:
                yield json.loads("\n".join(data))
            name, data = None, []
