"""Helpers for the video tests: synthetic videos with known content, a deterministic detector,
a fake live camera and a fake face recogniser (test doubles; the real ones are tested against
real data elsewhere in this folder). A module of its own, imported by name, so that no other
folder's conftest.py can shadow it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np

from detectkit import Detections
from detectkit.video.sources import SourceInfo, SourceLost, VideoSource

SIZE = (160, 120)  # width, height of the synthetic videos
SQUARE = 16


def square_x(index: int) -> int:
    """Where the synthetic video's white square is in frame ``index`` (its left edge)."""
    return 4 + (3 * index) % (SIZE[0] - SQUARE - 8)


def synthetic_frame(index: int, size: tuple[int, int] = SIZE) -> np.ndarray:
    """A dark frame with a white square at a position given by ``index`` and a red disc that stays put."""
    width, height = size
    frame = np.full((height, width, 3), 40, np.uint8)
    x = square_x(index)
    cv2.rectangle(frame, (x, 30), (x + SQUARE - 1, 30 + SQUARE - 1), (255, 255, 255), -1)
    cv2.circle(frame, (width - 30, height - 30), 12, (0, 0, 200), -1)
    return frame


def write_video(path: Path, frames: int, fps: float = 20.0, size: tuple[int, int] = SIZE) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for i in range(frames):
        writer.write(synthetic_frame(i, size))
    writer.release()
    return path


def count_frames(path: Path) -> tuple[int, tuple[int, int]]:
    """Decode a video file to the end: (frames, (width, height)); (0, (0, 0)) when unreadable."""
    cap = cv2.VideoCapture(str(path))
    n, size = 0, (0, 0)
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        n, size = n + 1, (frame.shape[1], frame.shape[0])
    cap.release()
    return n, size


class SquareDetector:
    """Finds bright squares by thresholding: a deterministic stand-in for a model.

    ``delay`` seconds per call imitate inference time; ``batches`` records batch sizes.
    """

    names = {0: "square"}
    batch_size = 1

    def __init__(self, delay: float = 0.0, fail_at_call: int | None = None) -> None:
        self.delay = delay
        self.batches: list[int] = []
        self.fail_at_call = fail_at_call
        self.threads: set[str] = set()

    def predict_arrays(self, images):
        self.threads.add(threading.current_thread().name)
        self.batches.append(len(images))
        if self.fail_at_call is not None and len(self.batches) == self.fail_at_call:
            raise RuntimeError("model exploded")
        if self.delay:
            time.sleep(self.delay)
        out = []
        for image in images:
            mask = (image.min(axis=2) > 200).astype(np.uint8)
            contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            boxes = [cv2.boundingRect(c) for c in contours if cv2.contourArea(c) > 20]
            xyxy = np.array([[x, y, x + w, y + h] for x, y, w, h in boxes], np.float32).reshape(-1, 4)
            out.append(Detections(xyxy, np.full(len(xyxy), 0.9), np.zeros(len(xyxy)), self.names, image_shape=image.shape[:2]))
        return out


class FakeCamera(VideoSource):
    """A live camera producing frames at ``fps`` (real time), which can vanish for a while.

    ``outages``: list of (after_frame, seconds): after that many frames, reads fail
    (and opening fails) for that many seconds. ``lose_forever_after``: reads fail for good.
    Each frame carries its capture number in its square's position.
    """

    reconnectable = True

    def __init__(self, fps: float = 200.0, outages=(), lose_forever_after: int | None = None, size=SIZE, limit: int | None = None):
        super().__init__(SourceInfo(name="fake camera", kind="webcam", live=True, fps=fps, size=size))
        self.period = 1.0 / fps
        self.outages = list(outages)
        self.lose_forever_after = lose_forever_after
        self.size = size
        self.limit = limit
        self.produced = 0
        self.opens = 0
        self.down_until = 0.0
        self._next_time = 0.0

    def _open(self) -> None:
        from detectkit.errors import SourceError

        if time.monotonic() < self.down_until or (self.lose_forever_after is not None and self.produced >= self.lose_forever_after):
            raise SourceError("fake camera: not there")
        self.opens += 1
        self._next_time = time.perf_counter()

    def _read(self):
        if self.limit is not None and self.produced >= self.limit:
            return None
        if self.lose_forever_after is not None and self.produced >= self.lose_forever_after:
            raise SourceLost("fake camera: unplugged")
        if self.outages and self.produced >= self.outages[0][0]:
            _, seconds = self.outages.pop(0)
            self.down_until = time.monotonic() + seconds
        if time.monotonic() < self.down_until:
            raise SourceLost("fake camera: unplugged")
        self._next_time += self.period
        wait = self._next_time - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        else:
            self._next_time = time.perf_counter()
        frame = synthetic_frame(self.produced, self.size)
        self.produced += 1
        return frame


class FakeRecognizer:
    """The FaceRecognizer interface over coloured squares: a square's colour is its person.

    ``detect`` finds saturated squares (class "face"); ``embed`` maps colour to a unit vector;
    ``match`` compares with a gallery of colours. ``wrong_once`` makes one embed call lie.
    """

    PEOPLE = {"alice": (0, 0, 255), "bob": (255, 0, 0)}  # BGR: red is alice, blue is bob
    threshold = 0.8

    def __init__(self) -> None:
        self.embedded = 0
        self.detect_calls = 0
        self.gallery = dict(self.PEOPLE)
        self.flip_next: int = 0

    @staticmethod
    def _unit(color) -> np.ndarray:
        v = np.asarray(color, np.float32) + 1.0
        return v / np.linalg.norm(v)

    def detect(self, frames):
        self.detect_calls += 1
        out = []
        for image in frames:
            spread = image.max(axis=2).astype(int) - image.min(axis=2).astype(int)
            mask = (spread > 150).astype(np.uint8)
            contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            boxes = [cv2.boundingRect(c) for c in contours if cv2.contourArea(c) > 30]
            xyxy = np.array([[x, y, x + w, y + h] for x, y, w, h in boxes], np.float32).reshape(-1, 4)
            n = len(xyxy)
            out.append(Detections(xyxy, np.full(n, 0.99), np.zeros(n), {0: "face"}, landmarks=np.zeros((n, 5, 2)), image_shape=image.shape[:2]))
        return out

    def embed(self, frame, faces):
        self.embedded += len(faces)
        vectors = []
        for x1, y1, x2, y2 in faces.xyxy.astype(int):
            color = frame[(y1 + y2) // 2, (x1 + x2) // 2]
            vectors.append(self._unit(color))
        vectors = np.array(vectors, np.float32).reshape(-1, 3)
        if self.flip_next and len(vectors):
            self.flip_next -= 1
            vectors = vectors[:, ::-1].copy()  # a bad frame: red looks blue
        return vectors

    def match(self, embeddings):
        names_list = list(self.gallery)
        refs = np.stack([self._unit(self.gallery[n]) for n in names_list])
        sims = embeddings @ refs.T
        best = sims.argmax(axis=1)
        best_sim = sims[np.arange(len(sims)), best]
        names = [names_list[b] if s >= self.threshold else None for b, s in zip(best, best_sim)]
        return names, best_sim.astype(np.float32)

    def identify_arrays(self, frames):
        out = []
        for frame, faces in zip(frames, self.detect(frames)):
            names, sims = self.match(self.embed(frame, faces)) if len(faces) else ([], np.zeros(0, np.float32))
            out.append(faces.with_extras(identity=np.array(names, dtype=object).reshape(-1), similarity=sims))
        return out


def pipeline_threads_alive() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("detectkit-") and t.is_alive()]
