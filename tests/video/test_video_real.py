"""Real clips from ../shared/data/video through real models: the COCO YOLO (int8 ONNX), MTCNN and FaceNet."""

from __future__ import annotations

import numpy as np
import pytest

from detectkit.video import Pipeline
from detectkit.video.sources import CaptureSource


def clip_in(shared_dir, name):
    path = shared_dir / "data" / "video" / name
    if not path.is_file():
        pytest.skip(f"needs {path} (the shared data beside the repository), which is absent here")
    return path


@pytest.mark.shared
def test_people_are_detected_in_most_frames_of_a_real_clip(yolo_onnx_detector, shared_dir):
    clip = clip_in(shared_dir, "one-by-one-person-detection.mp4")
    source = CaptureSource(clip, stride=46)  # 31 frames spread over the whole 1,394
    results = list(Pipeline(source, detector=yolo_onnx_detector, track=True))
    assert [r.index for r in results] == list(range(0, 1394, 46))
    with_person = [("person" in r.detections.labels) for r in results]
    assert sum(with_person) / len(results) >= 0.6, with_person
    people = [r.detections.filter(classes=["person"]) for r in results if "person" in r.detections.labels]
    assert all(0 <= d.xyxy.min() and d.xyxy[:, 2].max() <= 768 and d.xyxy[:, 3].max() <= 432 for d in people)
    assert np.median([d.confidence.max() for d in people]) > 0.5


@pytest.mark.shared
@pytest.mark.slow
def test_real_faces_are_tracked_and_embedded_once_per_track(tmp_path, shared_dir):
    """MTCNN + FaceNet (random weights: the pretrained ones cannot be downloaded here) over 6 frames of 4 faces."""
    import torch
    from facenet_pytorch import InceptionResnetV1

    from detectkit.faces import FaceDetector, FaceEmbedder, FaceRecognizer

    clip = clip_in(shared_dir, "short_hamilton_clip.mp4")
    torch.manual_seed(0)
    weights = tmp_path / "facenet-random.pt"
    torch.save(InceptionResnetV1().state_dict(), weights)
    recognizer = FaceRecognizer(detector=FaceDetector(device="cpu"), embedder=FaceEmbedder(weights, device="cpu"), device="cpu")
    first = CaptureSource(clip, start=225)
    first.open()
    frame = first.read().image
    first.close()
    faces = recognizer.detect([frame])[0]
    recognizer.gallery.add("someone", recognizer.embed(frame, faces[:1]), recognizer.embedder.key)

    pipeline = Pipeline(CaptureSource(clip, start=225), faces=recognizer, max_frames=6, batch_size=3)
    results = list(pipeline)
    counts = [len(r.faces) for r in results]
    assert len(results) == 6 and min(counts) >= 3
    tracks = pipeline.stages[0].tracks
    assert tracks.faces_seen == sum(counts)
    assert tracks.embedded <= len(tracks.tracks) + 2 < sum(counts) / 2  # once per track, not per frame
    first_faces = results[0].faces
    assert first_faces.identity[0] == "someone" and first_faces.similarity[0] > 0.99  # the enrolled face itself
    first_ids = set(first_faces.tracker_id.tolist())
    assert len(first_ids) == counts[0] and min(first_ids) >= 1
    assert all(first_ids <= set(r.faces.tracker_id.tolist()) for r in results)  # the same 4 tracks throughout
