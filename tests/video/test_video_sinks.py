"""Sinks and statistics: files are complete, bad outputs are named, the window is refused clearly headless."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from video_helpers import SIZE, SquareDetector, count_frames, synthetic_frame

from detectkit.errors import OutputError
from detectkit.video import Pipeline
from detectkit.video.sinks import CallbackSink, JsonLinesSink, VideoWriterSink, WindowSink, letterbox, make_sink
from detectkit.video.sources import SourceInfo
from detectkit.video.stats import PipelineStats, RingBuffer


def test_make_sink_understands_paths_and_refuses_unknown_ones(tmp_path):
    assert isinstance(make_sink(tmp_path / "a.avi"), VideoWriterSink)
    assert make_sink(tmp_path / "a.avi").fourcc == "MJPG" and make_sink("b.mp4").fourcc == "mp4v"
    assert isinstance(make_sink("-"), JsonLinesSink)
    with pytest.raises(OutputError, match="out.txt: unknown output type"):
        make_sink("out.txt")


def test_video_writer_keeps_the_source_fps_and_letterboxes_other_sizes(tmp_path):
    import cv2

    out = tmp_path / "v.avi"
    stats = Pipeline([synthetic_frame(0), synthetic_frame(1, (80, 120)), synthetic_frame(2)], detector=SquareDetector()).run(
        [VideoWriterSink(out, fps=12.5)], summary=False
    )
    assert stats.frames_processed == 3 and count_frames(out) == (3, SIZE)
    assert cv2.VideoCapture(str(out)).get(cv2.CAP_PROP_FPS) == pytest.approx(12.5)
    boxed = letterbox(np.full((120, 80, 3), 255, np.uint8), SIZE)
    assert boxed[:, :40].max() == 0 and boxed[:, 40:120].min() == 255  # centred, black bars


def test_unwritable_outputs_are_named_and_nothing_is_lost(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="file/sub/out.jsonl"):
        Pipeline([synthetic_frame(0)]).run(str(blocker / "sub" / "out.jsonl"), summary=False)
    assert blocker.read_text() == "x"
    sink = VideoWriterSink(tmp_path / "v.mp4", fourcc="ZZZZ")
    sink.open(SourceInfo("x", "iterable", False))
    with pytest.raises(OutputError, match="v.mp4: OpenCV could not open a 'ZZZZ'"):
        sink.write(None, synthetic_frame(0))


def test_json_lines_are_whole_and_parse(tmp_path):
    out = tmp_path / "d.jsonl"
    seen = []
    Pipeline([synthetic_frame(i) for i in range(5)], detector=SquareDetector(), track=True).run(
        [out, CallbackSink(lambda result, image: seen.append(result), needs_image=False)], summary=False)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["frame"] for r in rows] == list(range(5))
    assert rows[0]["image_shape"] == [120, 160] and rows[4]["detections"][0]["tracker_id"] == 1
    # each line carries its own frame's latency (as the pipeline measured it), not just any number
    assert [r["latency_ms"] for r in rows] == [round(1000.0 * r.latency, 2) for r in seen] and seen[0].latency > 0


def test_window_without_a_display_is_refused_with_advice(monkeypatch):
    import cv2

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    if sys.platform.startswith("linux"):  # refused before OpenCV's Qt could abort the process
        with pytest.raises(OutputError, match="no display.*--save"):
            WindowSink().open(SourceInfo("x", "iterable", False))

    def no_gui(*args, **kwargs):
        raise cv2.error("The function is not implemented")

    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(cv2, "namedWindow", no_gui)
    with pytest.raises(OutputError, match="no GUI support.*--save"):
        WindowSink().open(SourceInfo("x", "iterable", False))


def test_stats_ring_and_summary():
    ring = RingBuffer(4)
    for v in range(10):
        ring.add(float(v))
    assert ring.values().tolist() == [6.0, 7.0, 8.0, 9.0] and ring.count == 10 and ring.mean_all == 4.5
    stats = PipelineStats()
    stats.start()
    stats.add_stage("detect", 0.2, frames=4)
    stats.count("frames_processed", 4)
    stats.count("frames_dropped", 3)
    for latency in (0.05, 0.06, 0.07, 0.30):
        stats.add_latency(latency)
    d = stats.as_dict()
    assert d["stage_ms_per_frame"] == {"detect": pytest.approx(50.0)}
    assert d["latency_ms"]["p50"] == pytest.approx(65.0) and d["latency_ms"]["max"] == pytest.approx(300.0)
    text = stats.summary()
    assert "4 processed" in text and "3 dropped" in text and "detect 50.0" in text and "p50 65 ms" in text
    assert stats.overlay_lines(live=True)[1:] == ["latency 300 ms", "dropped 3"]
    assert stats.overlay_lines(live=False)[1:] == ["models 50 ms/frame"]


def test_window_shows_frames_and_q_stops_the_run(monkeypatch):
    import cv2

    shown: list[tuple[int, int]] = []
    keys = iter([-1, -1, ord("q")])
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(cv2, "namedWindow", lambda *a: None)
    monkeypatch.setattr(cv2, "resizeWindow", lambda *a: None)
    monkeypatch.setattr(cv2, "imshow", lambda title, image: shown.append(image.shape[:2]))
    monkeypatch.setattr(cv2, "waitKey", lambda delay: next(keys, -1))
    monkeypatch.setattr(cv2, "getWindowProperty", lambda *a: 1.0)
    monkeypatch.setattr(cv2, "destroyWindow", lambda *a: None)
    stats = Pipeline([synthetic_frame(i) for i in range(10)], detector=SquareDetector()).run("window", summary=False)
    assert shown == [(120, 160)] * 3 and stats.frames_processed == 3


def test_live_recording_keeps_the_camera_pace_across_dropped_frames(tmp_path):
    from types import SimpleNamespace

    def write_at(live: bool, times: list[float]) -> VideoWriterSink:
        sink = VideoWriterSink(tmp_path / f"{live}.avi", fps=10.0)
        sink.open(SourceInfo("cam", "webcam" if live else "file", live, fps=10.0))
        for i, t in enumerate(times):
            sink.write(SimpleNamespace(index=i, frame=SimpleNamespace(timestamp=100.0 + t)), synthetic_frame(i))
        sink.close()
        return sink

    live = write_at(True, [0.0, 0.1, 0.4, 0.5, 0.9])  # captured over 0.9 s, frames between were dropped
    assert (live.frames, live.filled) == (10, 5)  # 10 frames at 10 fps: the scene's own pace
    assert count_frames(tmp_path / "True.avi") == (10, SIZE)
    stalled = write_at(True, [0.0, 100.0])  # a long outage fills at most MAX_FILL_SECONDS
    assert stalled.frames == 1 + int(VideoWriterSink.MAX_FILL_SECONDS * 10)
    quick = write_at(True, [0.0, 0.01, 0.02])  # frames faster than the fps are each still written once
    assert (quick.frames, quick.filled) == (3, 0)
    strided = write_at(False, [0.0, 0.3, 0.6])  # files (and --stride) are written frame for frame
    assert (strided.frames, strided.filled) == (3, 0)
