"""Sources and the reader thread: what each kind of input becomes, buffers, corrupt frames, reconnection."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest
from video_helpers import SIZE, FakeCamera, synthetic_frame, write_video

from detectkit.errors import SourceError
from detectkit.video.sources import (
    CaptureSource,
    CorruptFrame,
    FrameBuffer,
    FrameReader,
    ImageFolderSource,
    IterableSource,
    SourceLost,
    open_source,
)
from detectkit.video.stats import PipelineStats


def read_all(source):
    source.open()
    frames, corrupt = [], 0
    while True:
        try:
            frame = source.read()
        except CorruptFrame:
            corrupt += 1
            continue
        if frame is None:
            break
        frames.append(frame)
    source.close()
    return frames, corrupt


def test_open_source_picks_the_kind(tmp_path):
    video = write_video(tmp_path / "v.avi", 5)
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), synthetic_frame(i))
    assert open_source(0).info.kind == "webcam" and open_source("1").info.live
    assert open_source("rtsp://admin:secret@10.0.0.2/live").info.name == "rtsp://admin:***@10.0.0.2/live"
    assert open_source("https://example.com/cam.mjpg").info.kind == "stream"
    assert open_source(video).info.kind == "file" and not open_source(video).info.live
    assert open_source(folder).info.kind == "images"
    assert open_source(str(folder / "*.png")).info.frame_count == 3
    assert open_source(folder / "1.png").info.frame_count == 1
    assert open_source(iter([])).info.kind == "iterable"
    with pytest.raises(SourceError, match="missing.mp4"):
        open_source(tmp_path / "missing.mp4")
    with pytest.raises(SourceError, match="no images"):
        open_source(str(tmp_path / "*.jpg"))


def test_video_file_frames_have_index_position_and_info(tmp_path):
    video = write_video(tmp_path / "v.avi", 12, fps=20.0)
    source = CaptureSource(video)
    frames, corrupt = read_all(source)
    assert corrupt == 0 and [f.index for f in frames] == list(range(12))
    assert source.info.fps == 20.0 and source.info.size == SIZE and source.info.frame_count == 12
    assert frames[10].position == pytest.approx(0.5, abs=0.06)
    assert all(a.timestamp <= b.timestamp for a, b in zip(frames, frames[1:]))

    strided, _ = read_all(CaptureSource(video, start=2, stride=4))
    assert [f.index for f in strided] == [2, 6, 10]
    # the frames really are those: the square moves 3 px per frame
    assert np.abs(strided[1].image.astype(int) - synthetic_frame(6).astype(int)).mean() < 3


def test_image_folder_skips_and_counts_corrupt_files(tmp_path):
    for i in range(4):
        cv2.imwrite(str(tmp_path / f"{i}.png"), synthetic_frame(i))
    (tmp_path / "2.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    frames, corrupt = read_all(ImageFolderSource(tmp_path))
    assert corrupt == 1
    assert [f.index for f in frames] == [0, 1, 3] and frames[2].name.endswith("3.png")


def test_iterable_source_accepts_frames_arrays_and_rgb():
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[..., 0] = 255
    frames, corrupt = read_all(IterableSource([rgb, None, rgb], color="rgb", fps=5))
    assert corrupt == 1 and [f.index for f in frames] == [0, 2]
    assert frames[0].image[0, 0].tolist() == [0, 0, 255]  # stored BGR


class FakeCapture:
    """Stands in for cv2.VideoCapture: serves ``frames`` with ``bad`` indices failing."""

    def __init__(self, frames, bad=(), fail_open=False):
        self.frames, self.bad, self.fail_open, self.i, self.released = frames, set(bad), fail_open, 0, False

    def isOpened(self):
        return not self.fail_open

    def set(self, prop, value):
        return True

    def get(self, prop):
        return {cv2.CAP_PROP_FRAME_COUNT: len(self.frames), cv2.CAP_PROP_FPS: 30.0, cv2.CAP_PROP_FRAME_WIDTH: 160, cv2.CAP_PROP_FRAME_HEIGHT: 120}.get(prop, 0.0)

    def read(self):
        i = self.i
        self.i += 1
        if i >= len(self.frames) or i in self.bad:
            return False, None
        return True, self.frames[i]

    def release(self):
        self.released = True


def test_capture_source_skips_undecodable_frames_in_a_file(tmp_path):
    video = write_video(tmp_path / "v.avi", 2)
    caps = []
    fake = lambda target: caps.append(FakeCapture([synthetic_frame(i) for i in range(10)], bad={3, 4})) or caps[-1]  # noqa: E731
    frames, corrupt = read_all(CaptureSource(video, opener=fake))
    assert corrupt == 2 and [f.index for f in frames] == [0, 1, 2, 5, 6, 7, 8, 9]
    assert caps[0].released


def test_capture_source_reports_a_lost_camera_and_a_missing_one():
    cam = CaptureSource(0, opener=lambda target: FakeCapture([synthetic_frame(0)]))
    cam.open()
    assert cam.read().index == 0
    with pytest.raises(SourceLost, match="camera 0"):
        cam.read()
    with pytest.raises(SourceError, match="camera 3: could not open"):
        CaptureSource(3, opener=lambda target: FakeCapture([], fail_open=True)).open()


def test_buffer_live_mode_keeps_the_newest_and_counts_drops():
    buffer = FrameBuffer(1, drop_oldest=True)
    for i in range(10):
        assert buffer.put(i)
    assert buffer.get(1) == [9] and buffer.dropped == 9 and buffer.high_water == 1


def test_buffer_file_mode_blocks_the_producer_and_keeps_order():
    buffer = FrameBuffer(3, drop_oldest=False)
    produced: list[int] = []

    def producer():
        for i in range(20):
            buffer.put(i)
            produced.append(i)
        buffer.end()

    thread = threading.Thread(target=producer)
    thread.start()
    deadline = time.monotonic() + 5
    while len(produced) < 3 and time.monotonic() < deadline:  # however slow the machine
        time.sleep(0.01)
    taken: list[int] = []
    # the producer never runs ahead of the consumer by more than the buffer (a count, not a wait):
    # every item produced was put, and every item put is taken or still in the buffer
    assert len(produced) <= len(taken) + 3
    while (batch := buffer.get(4, fill=True, timeout=1.0)) is not None:
        taken.extend(batch)
        assert len(produced) <= len(taken) + 3
    thread.join(2)
    assert taken == list(range(20)) and buffer.high_water == 3 and buffer.dropped == 0


def test_buffer_close_releases_a_blocked_producer():
    buffer = FrameBuffer(1, drop_oldest=False)
    buffer.put(0)
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(buffer.put(1)))
    thread.start()
    time.sleep(0.1)
    buffer.close()
    thread.join(2)
    assert result == [False] and not thread.is_alive() and buffer.get() is None


def test_reader_reconnects_with_backoff():
    camera = FakeCamera(fps=200.0, outages=[(10, 0.5)], limit=30)
    camera.open()
    buffer, stats, messages = FrameBuffer(100, drop_oldest=True), PipelineStats(), []
    reader = FrameReader(camera, buffer, stats, backoff=0.05, report=messages.append)
    reader.start()
    assert reader.join(5)
    assert stats.frames_read == 30 and stats.reconnects == 1
    assert camera.opens == 2  # failed attempts during the outage did not count as opens
    # one outage, two reports: lost, then frames again (the reopening is an event in the stats)
    assert messages[0].startswith("fake camera: unplugged; reconnecting") and "frames again after" in messages[1]
    assert len(messages) == 2 and any("reopened after" in message for _, message in stats.events)
    assert reader.ended_reason == "end of source" and not camera.is_open


def test_streams_are_opened_with_open_and_read_timeouts(monkeypatch):
    calls = []

    def capture(*args):
        calls.append(args)
        return FakeCapture([], fail_open=True)

    monkeypatch.setattr(cv2, "VideoCapture", capture)
    with pytest.raises(SourceError, match="is the address right"):
        CaptureSource("rtsp://cam/live", timeout=2.5).open()
    target, backend, params = calls[0]
    assert target == "rtsp://cam/live" and backend == cv2.CAP_ANY
    assert dict(zip(params[::2], params[1::2])) == {cv2.CAP_PROP_OPEN_TIMEOUT_MSEC: 2500, cv2.CAP_PROP_READ_TIMEOUT_MSEC: 2500}
