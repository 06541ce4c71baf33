"""Per-track face identity: few embeddings, right names, votes that resist a bad frame, re-checks when weak.

The recogniser here is a test double (coloured squares are faces, colour is identity,
see video_helpers.FakeRecognizer); the real FaceRecognizer goes through the same calls in
test_video_real.py and benchmarks/video_faces.py.
"""

from __future__ import annotations

import cv2
import numpy as np
from video_helpers import FakeRecognizer

from detectkit.video import Pipeline
from detectkit.video.annotate import Annotator
from detectkit.video.face_tracks import FaceTrackIdentity

RED, BLUE, GREEN = (0, 0, 255), (255, 0, 0), (0, 255, 0)


def faces_clip(n: int = 60, people=((RED, 10, 3), (BLUE, 250, -3))) -> list[np.ndarray]:
    """Frames with coloured 30x30 squares moving horizontally: (colour, start x, step)."""
    frames = []
    for t in range(n):
        frame = np.full((120, 320, 3), 30, np.uint8)
        for k, (color, x0, step) in enumerate(people):
            x = x0 + step * t
            y = 20 + 50 * k
            cv2.rectangle(frame, (x, y), (x + 29, y + 29), color, -1)
        frames.append(frame)
    return frames


def names_by_x(faces) -> dict[str, float]:
    return {("unknown" if n is None else n): float(x) for n, x in zip(faces.identity, faces.xyxy[:, 0])}


def test_each_track_is_identified_once_and_rechecked_now_and_then():
    recognizer = FakeRecognizer()
    identity = FaceTrackIdentity(recognizer, recheck_every=20)
    frames = faces_clip(60)
    results = [faces for i in range(0, 60, 4) for faces in identity.process(frames[i : i + 4])]
    assert recognizer.detect_calls == 15  # one batched detection call per 4 frames
    for t, faces in enumerate(results):
        assert names_by_x(faces) == {"alice": 10 + 3 * t, "bob": 250 - 3 * t}
        assert np.all(faces.similarity > 0.99) and np.all(faces.tracker_id > 0)
    assert identity.faces_seen == 120
    # first frame, then every 20 frames: 3 checks per person over 60 frames, not 60
    assert recognizer.embedded == identity.embedded == 6
    assert identity.embed_ratio == 0.05


def test_per_frame_identification_embeds_every_face():
    recognizer = FakeRecognizer()
    results = list(Pipeline(faces_clip(20), faces=recognizer, face_identity="frame", batch_size=5))
    assert recognizer.embedded == 40
    assert all(set(r.faces.identity) == {"alice", "bob"} for r in results)


def test_one_bad_frame_does_not_flip_the_name():
    recognizer = FakeRecognizer()
    identity = FaceTrackIdentity(recognizer, recheck_every=1)  # check every frame, so the lie is seen
    frames = faces_clip(12, people=((RED, 10, 3),))
    named = []
    for t, frame in enumerate(frames):
        if t == 6:
            recognizer.flip_next = 1  # red looks blue, once
        named.append(identity.process([frame])[0].identity[0])
    assert named == ["alice"] * 12
    votes = list(identity.tracks.values())[0].votes
    assert [name for name, _ in votes].count("bob") == 1


def test_weak_matches_are_rechecked_more_often_and_unknowns_are_marked():
    recognizer = FakeRecognizer()
    # alice's enrolled colour is a little off, so her similarity is just above the threshold
    recognizer.gallery = {"alice": (60, 40, 255), "bob": BLUE}
    sim = float(FakeRecognizer._unit(RED) @ FakeRecognizer._unit((60, 40, 255)))
    recognizer.threshold = sim - 0.01
    identity = FaceTrackIdentity(recognizer, recheck_every=30, weak_recheck_every=5, weak_margin=0.05)
    frames = faces_clip(30, people=((RED, 10, 3), (GREEN, 250, -3)))
    results = identity.process(frames)
    assert names_by_x(results[-1]).keys() == {"alice", "unknown"}
    # alice (weak): frames 1, 6, 11, 16, 21, 26 = 6 checks; the stranger (far below): once
    assert identity.embedded == 6 + 1
    labels = [Annotator().label(results[-1], i) for i in range(2)]
    assert any(label.endswith(f"alice {sim:.2f}") for label in labels) and any(label.endswith("unknown") for label in labels)


def test_tracks_that_left_are_forgotten():
    recognizer = FakeRecognizer()
    identity = FaceTrackIdentity(recognizer, forget_after=10)
    identity.process(faces_clip(5))
    assert len(identity.tracks) == 2
    empty = [np.full((120, 320, 3), 30, np.uint8)] * 15
    identity.process(empty)
    assert identity.tracks == {}


def test_pipeline_runs_objects_and_faces_together():
    from video_helpers import SquareDetector

    frames = faces_clip(10)
    for frame in frames:  # add a white square (an "object") too
        cv2.rectangle(frame, (150, 90), (170, 110), (255, 255, 255), -1)
    results = list(Pipeline(frames, detector=SquareDetector(), faces=FakeRecognizer(), track=True))
    assert [len(r.detections) for r in results] == [1] * 10
    assert all(sorted(r.faces.identity) == ["alice", "bob"] for r in results)
    record = results[3].to_dict()
    assert record["detections"][0]["label"] == "square" and {f["identity"] for f in record["faces"]} == {"alice", "bob"}


def test_detecting_every_third_frame_follows_the_faces_by_their_tracks():
    class CountingRecognizer(FakeRecognizer):
        frames_detected = 0

        def detect(self, frames):
            self.frames_detected += len(frames)
            return super().detect(frames)

    recognizer = CountingRecognizer()
    identity = FaceTrackIdentity(recognizer, detect_every=3)
    frames = faces_clip(30)
    results = [faces for i in range(0, 30, 5) for faces in identity.process(frames[i : i + 5])]
    assert recognizer.frames_detected == 10  # frames 0, 3, 6, ... only
    for t, faces in enumerate(results):
        named = names_by_x(faces)
        assert named.keys() == {"alice", "bob"}, t
        # between detections the boxes come from the motion model: never further off than the motion
        # since the last detection, and closer as the velocity is learnt (ByteTrack's Kalman filter,
        # which sees the detected frames only)
        error = max(abs(named["alice"] - (10 + 3 * t)), abs(named["bob"] - (250 - 3 * t)))
        assert error <= (6.01 if t < 15 else 2.5), (t, named)
        assert error == 0 or t % 3 != 0  # detected frames keep the detector's boxes
        assert len(set(faces.tracker_id.tolist())) == 2
    assert identity.embedded == 2


def test_a_face_that_appears_later_is_tracked_between_detections():
    """Detecting every 3rd frame, a face that enters mid-clip gets a track at its second detection,
    is shown on the frames in between from then on, and is not embedded at every detection."""
    frames = faces_clip(30)
    for frame in frames[:9]:
        frame[60:110] = 30  # bob (second row) enters at frame 9
    recognizer = FakeRecognizer()
    identity = FaceTrackIdentity(recognizer, detect_every=3)
    results = [faces for i in range(0, 30, 3) for faces in identity.process(frames[i : i + 3])]
    assert [sorted(names_by_x(faces)) for faces in results[12:]] == [["alice", "bob"]] * 18
    assert len({int(i) for faces in results[12:] for i in faces.tracker_id}) == 2
    assert identity.embedded == 1 + 2  # alice once; bob on his first detection (no track yet) and once tracked


def test_a_face_detector_alone_finds_faces_but_cannot_name_them():
    import pytest

    from detectkit.errors import ModelError

    class DetectOnly:
        def __init__(self):
            self.fake = FakeRecognizer()

        def detect(self, frames):
            return self.fake.detect(frames)

    with pytest.raises(ModelError, match="DetectOnly has no embed, match.*face_identity='none'"):
        Pipeline(faces_clip(2), faces=DetectOnly())
    results = list(Pipeline(faces_clip(3), faces=DetectOnly(), face_identity="none"))
    assert [len(r.faces) for r in results] == [2, 2, 2] and results[0].faces.identity is None


def test_a_new_frame_size_does_not_hand_old_names_to_new_faces():
    """The face tracker starts over at a new size; the votes of the tracks before must not name the faces after."""
    recognizer = FakeRecognizer()
    identity = FaceTrackIdentity(recognizer, recheck_every=30)
    before = identity.process(faces_clip(5, people=((RED, 10, 3),)))
    wide = [cv2.resize(frame, (640, 240), interpolation=cv2.INTER_NEAREST) for frame in faces_clip(5, people=((BLUE, 200, 3),))]
    after = identity.process(wide)
    assert all(list(faces.identity) == ["alice"] for faces in before)
    assert all(list(faces.identity) == ["bob"] for faces in after)
    assert identity.tracker.resets == 1
    assert set(before[-1].tracker_id.tolist()).isdisjoint(after[0].tracker_id.tolist())  # ids are never reused


def test_a_track_found_again_after_a_gap_is_identified_afresh():
    """A face lost for a few frames (a scene cut, an occlusion) and picked up again by ByteTrack on the
    same track is identified again from scratch: its old votes are not the new face's name."""
    recognizer = FakeRecognizer()
    identity = FaceTrackIdentity(recognizer, recheck_every=30)
    alice = faces_clip(10, people=((RED, 100, 0),))
    gap = [np.full((120, 320, 3), 30, np.uint8)] * 3
    stranger = faces_clip(8, people=((GREEN, 100, 0),))  # the same place, someone not in the gallery
    results = [identity.process([frame])[0] for frame in alice + gap + stranger]
    assert all(list(r.identity) == ["alice"] for r in results[:10])
    assert all(len(r) == 0 for r in results[10:13])
    after = results[13:]
    assert {int(r.tracker_id[0]) for r in after} == {int(results[0].tracker_id[0])}  # ByteTrack kept the track
    assert all(list(r.identity) == [None] for r in after)  # but not alice's name
    assert recognizer.embedded == 2  # alice once, the stranger once
