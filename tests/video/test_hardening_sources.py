"""Video sources and run options (issue 17, item 7): bad --max-frames refused, a truncated file says
so in the stats, a video file in live mode comes at its frame rate, a dead stream is reported once
per outage with FFmpeg quiet, and the give-up time is an option."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from video_helpers import FakeCamera, SquareDetector, write_video

from detectkit.cli import build_parser, main
from detectkit.errors import ModelError, SourceError
from detectkit.video import Pipeline

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("value", ["-1", "0"])
def test_cli_max_frames_below_one_is_refused(tmp_path, value, capsys):
    clip = write_video(tmp_path / "c.avi", 5)
    assert main(["run", str(clip), "--model", "yolov8n.yaml", "--max-frames", value]) == 1
    assert "--max-frames must be at least 1" in capsys.readouterr().err


@pytest.mark.parametrize("options", [dict(max_frames=-1), dict(max_frames=0), dict(batch_size=0), dict(mode="fast"),
                                     dict(retry_for=-5)])
def test_pipeline_refuses_bad_options_with_model_error(tmp_path, options):
    clip = write_video(tmp_path / "c.avi", 5)
    with pytest.raises(ModelError):
        Pipeline(clip, **options)


def test_a_truncated_file_says_so_in_the_stats(tmp_path):
    full = write_video(tmp_path / "full.avi", 60)
    cut = tmp_path / "cut.avi"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    reports: list[str] = []
    stats = Pipeline(cut, report=reports.append).run([], summary=False)
    assert 0 < stats.frames_read < 60
    assert stats.frames_missing == 60 - stats.frames_read
    assert stats.as_dict()["frames_missing"] == stats.frames_missing
    assert f"{stats.frames_missing} frames the file announces are missing" in stats.summary()
    assert any("truncated" in r and "announces 60 frames" in r for r in reports)


def test_a_whole_file_reports_nothing_missing(tmp_path):
    stats = Pipeline(write_video(tmp_path / "full.avi", 30), report=lambda m: None).run([], summary=False)
    assert stats.frames_read == 30 and stats.frames_missing == 0
    assert "missing" not in stats.summary()


def test_a_file_in_live_mode_is_paced_at_its_frame_rate(tmp_path):
    clip = write_video(tmp_path / "c.avi", 30, fps=30.0)
    pipeline = Pipeline(clip, detector=SquareDetector(delay=0.05), mode="live")  # 20 frames/s of model time
    results = list(pipeline)
    # a camera at 30 FPS in front of a 20 FPS model: about two thirds are shown, the rest dropped;
    # read as fast as it decodes, the reader would replace nearly every frame before the model took it
    assert 12 <= len(results) <= 28, len(results)
    assert pipeline.stats.frames_read == 30
    assert pipeline.stats.frames_dropped == 30 - len(results)
    stamps = [r.frame.timestamp for r in results]
    assert stamps[-1] - stamps[0] >= 0.8  # 30 frames at 30 FPS span about a second


def test_file_mode_is_not_paced(tmp_path):
    clip = write_video(tmp_path / "c.avi", 30, fps=1.0)  # paced, this would take 30 s
    started = time.monotonic()
    assert len(list(Pipeline(clip, mode="file"))) == 30
    assert time.monotonic() - started < 20


def test_a_lost_source_is_reported_once_per_outage_and_given_up(no_thread_leaks):
    reports: list[str] = []
    camera = FakeCamera(fps=100.0, lose_forever_after=5)
    with pytest.raises(SourceError):
        Pipeline(camera, mode="live", retry_for=1.0, report=reports.append).run([], summary=False)
    assert camera.opens == 1
    lost = [r for r in reports if "reconnecting" in r]
    gave_up = [r for r in reports if "gave up" in r]
    assert len(lost) == 1 and len(gave_up) == 1 and "1 s without frames" in gave_up[0]
    assert len(reports) == 2, reports


def test_cli_retry_for_reaches_the_pipeline():
    args = build_parser().parse_args(["run", "rtsp://127.0.0.1:9/x", "--retry-for", "3"])
    assert args.retry_for == 3.0
    assert build_parser().parse_args(["run", "0"]).retry_for == 60.0


def test_a_dead_stream_leaves_ffmpeg_quiet():
    script = (
        "from detectkit.video.sources import CaptureSource\n"
        "from detectkit.errors import SourceError\n"
        "for _ in range(3):\n"
        "    source = CaptureSource('rtsp://127.0.0.1:9/none', timeout=1.0)\n"
        "    try:\n"
        "        source.open()\n"
        "    except SourceError as exc:\n"
        "        print('refused', flush=True)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_")}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.stdout.count("refused") == 3
    assert "Connection refused" not in done.stderr and "WARN" not in done.stderr, done.stderr
