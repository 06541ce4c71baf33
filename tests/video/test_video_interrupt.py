"""Ctrl-C in the middle of `detectkit run`: the saved video is complete and playable, no thread is left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from video_helpers import SIZE, count_frames, write_video

CHILD = """
import signal, sys, threading
# Ctrl-C as a terminal delivers it, whatever the test process (or a library in it) did to SIGINT
signal.signal(signal.SIGINT, signal.default_int_handler)
signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
from detectkit.cli import main
rc = main(sys.argv[1:])
print("THREADS", sorted(t.name for t in threading.enumerate()), flush=True)
sys.exit(rc)
"""


@pytest.mark.slow
def test_sigint_mid_run_leaves_a_playable_video_and_no_threads(tmp_path):
    video = write_video(tmp_path / "long.avi", 3000)
    out, jsonl = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    command = [sys.executable, "-c", CHILD, "run", str(video), "--model", "yolov8n.yaml", "--imgsz", "160",
               "--save", str(out), "--json", str(jsonl)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        if jsonl.exists() and len(jsonl.read_text().splitlines()) >= 30:
            break
        time.sleep(0.1)
    assert child.poll() is None, f"the run ended before it could be interrupted: {child.communicate()}"
    child.send_signal(signal.SIGINT)
    stdout, stderr = child.communicate(timeout=60)

    assert child.returncode == 130, stderr
    assert "interrupted" in stderr
    assert "THREADS ['MainThread']" in stdout  # reader and worker were joined
    lines = len(jsonl.read_text().splitlines())
    frames, size = count_frames(out)
    assert 30 <= lines < 3000
    assert size == SIZE and frames in (lines, lines + 1)  # every frame written is in the finalised file
