"""Fixtures for the video tests; the helpers they use live in video_helpers.py."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from video_helpers import pipeline_threads_alive, write_video


@pytest.fixture
def no_thread_leaks():
    """Fails the test when a pipeline thread is still alive after it."""
    yield
    deadline = time.monotonic() + 2.0
    while pipeline_threads_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pipeline_threads_alive() == []


@pytest.fixture
def synthetic_video(tmp_path) -> Path:
    """60 frames, 160x120, 20 fps, a white square moving 3 px per frame (MJPEG .avi)."""
    return write_video(tmp_path / "moving.avi", 60)
