"""Live streams against a real uvicorn on 127.0.0.1: MJPEG frames change, SSE names a person enrolled meanwhile,
viewers cost no model calls, a failed source is shown and retried while the server stays up."""

from __future__ import annotations

import contextlib
import time

import httpx
import numpy as np
import pytest

from serve_helpers import AUTH, TOKEN, jpeg, mjpeg_frames, running_server, sse_messages, write_video


class CountingDetector:
    """A Detector stand-in that finds nothing and counts its model calls."""

    names = {0: "person"}
    model_name = "counting"

    def __init__(self) -> None:
        self.calls = 0

    def predict_arrays(self, images, options=None):
        from detectkit import Detections

        self.calls += 1
        return [Detections.empty() for _ in images]


@pytest.fixture()
def face_video(tmp_path, face_image):
    return write_video(tmp_path / "door.mp4", face_image, frames=24, fps=12.0)


def test_looping_file_stream_mjpeg_frames_change_and_sse_names_a_new_person(settings, recognizer, face_video, face_jpeg):
    from detectkit.serve import LiveStream, StreamHub, create_app

    hub = StreamHub()
    hub.add(LiveStream("door", str(face_video), recognizer=recognizer, face_identity="track", fps=12.0))
    app = create_app(settings, recognizer=recognizer, hub=hub)
    with running_server(app) as base, httpx.Client(base_url=base, timeout=60) as client:
        with client.stream("GET", f"/streams/door.mjpg?token={TOKEN}") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("multipart/x-mixed-replace; boundary=")
            frames = mjpeg_frames(response, 3)
        assert len(frames) == 3 and all(f[:2] == b"\xff\xd8" for f in frames)
        assert len(set(frames)) == 3  # each part is a new frame
        with client.stream("GET", f"/streams/door/events?token={TOKEN}") as events:
            assert events.headers["content-type"].startswith("text/event-stream")
            messages = sse_messages(events)
            first = next(messages)
            assert first["stream"] == "door" and first["image_shape"] == [256, 256]
            assert len(first["faces"]) == 1 and first["faces"][0]["identity"] is None  # nobody enrolled yet
            report = client.post("/api/faces/people/Eileen/photos", headers=AUTH, files=[("photos", ("eileen.jpg", face_jpeg, "image/jpeg"))])
            assert report.status_code == 201
            named = None
            for message in messages:
                if message["faces"] and message["faces"][0]["identity"] == "Eileen":
                    named = message
                    break
                assert message["frame"] < first["frame"] + 200, "the new person was never named on the stream"
            assert named["faces"][0]["similarity"] > 0.8
            assert named["fps"] > 0 and named["latency_ms"] > 0
        status = client.get("/api/streams/door", headers=AUTH).json()
        assert status["state"] == "running" and status["frames"] > 3 and status["failures"] == 0
        snapshot = client.get(f"/streams/door.jpg?token={TOKEN}")
        assert snapshot.status_code == 200 and snapshot.content[:2] == b"\xff\xd8"
        assert client.get(f"/streams/nowhere.mjpg?token={TOKEN}").status_code == 404


def test_viewers_run_the_model_once_and_leave_for_free(settings, tmp_path, coffee):
    import cv2

    from detectkit.serve import LiveStream, StreamHub, create_app

    detector = CountingDetector()
    video = write_video(tmp_path / "cup.mp4", cv2.resize(coffee, (160, 120)), frames=12, fps=25.0)
    stream = LiveStream("cup", str(video), detector=detector, fps=25.0)
    hub = StreamHub()
    hub.add(stream)
    with running_server(create_app(settings, detector=detector, hub=hub)) as base:
        with contextlib.ExitStack() as viewers:
            clients = [viewers.enter_context(httpx.Client(base_url=base, timeout=30)) for _ in range(10)]
            responses = [viewers.enter_context(c.stream("GET", f"/streams/cup.mjpg?token={TOKEN}")) for c in clients]
            for response in responses:
                assert len(mjpeg_frames(response, 2)) == 2
            calls, published = detector.calls, stream.latest.item.seq
            # one model call per processed frame, whatever the number of viewers
            assert abs(calls - published) <= 2, (calls, published)
            assert stream.latest.waiting >= 1
        deadline = time.monotonic() + 10
        while stream.latest.waiting and time.monotonic() < deadline:
            time.sleep(0.1)
        assert stream.latest.waiting == 0  # every viewer that left stopped waiting
        before = stream.latest.item.seq
        time.sleep(1.0)
        assert stream.latest.item.seq > before  # the stream runs on without viewers
        assert abs(detector.calls - stream.latest.item.seq) <= 2


def test_a_failed_source_is_shown_and_retried_while_the_server_stays_up(settings, tmp_path, coffee):
    from detectkit.serve import LiveStream, StreamHub, create_app

    hub = StreamHub()
    hub.add(LiveStream("gone", str(tmp_path / "missing.mp4"), retry_backoff=0.2, max_backoff=0.4))
    hub.add(LiveStream("cup", [coffee] * 3, fps=20.0))
    with running_server(create_app(settings, hub=hub)) as base, httpx.Client(base_url=base, timeout=30) as client:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            status = client.get("/api/streams/gone", headers=AUTH).json()
            if status["failures"] >= 3:
                break
            time.sleep(0.2)
        assert status["state"] == "failed" and status["failures"] >= 3 and status["attempts"] >= 3
        assert "missing.mp4" in status["error"] and "SourceError" in status["error"]
        assert client.get("/health").json() == {"status": "ok"}
        with client.stream("GET", f"/streams/gone/events?token={TOKEN}") as events:
            failed = next(sse_messages(events, event="status"))
        assert failed["state"] == "failed" and "missing.mp4" in failed["error"]
        with client.stream("GET", f"/streams/cup.mjpg?token={TOKEN}") as response:
            assert len(mjpeg_frames(response, 2)) == 2  # the other stream is unaffected


def test_stream_names_and_sources_are_checked():
    from detectkit.errors import ModelError
    from detectkit.serve import LiveStream, StreamHub
    from detectkit.serve.sources import parse_source

    assert parse_source("cam=0") == ("cam", "0") and parse_source("videos/door.mp4") == ("door", "videos/door.mp4")
    assert parse_source("rtsp://u:p@cam/live?x=1", 3) == ("source3", "rtsp://u:p@cam/live?x=1")
    with pytest.raises(ModelError, match="must be letters"):
        parse_source("bad name=0")
    with pytest.raises(ModelError, match="nothing to open"):
        parse_source("cam=")
    hub = StreamHub()
    hub.add(LiveStream("a", "0"))
    with pytest.raises(ModelError, match="two sources are named 'a'"):
        hub.add(LiveStream("a", "1"))


def test_looping_source_paces_and_numbers_frames(tmp_path, coffee):
    from detectkit.serve.sources import open_live_source

    video = write_video(tmp_path / "v.mp4", coffee[:64, :96].copy(), frames=4, fps=10.0)
    source = open_live_source(str(video), fps=40.0)
    source.open()
    started = time.perf_counter()
    frames = [source.read() for _ in range(10)]
    elapsed = time.perf_counter() - started
    source.close()
    assert [f.index for f in frames] == list(range(10)) and source.loops == 2
    assert source.info.live and source.info.fps == 40.0
    assert elapsed >= 9 / 40.0 * 0.9  # paced: 10 frames at 40 FPS take at least ~0.22 s
