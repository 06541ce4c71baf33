"""ByteTrack glue: ids stay with their objects, survive a short occlusion, never change class."""

from __future__ import annotations

import numpy as np

from detectkit import Detections
from detectkit.video.tracking import ByteTracker

NAMES = {0: "person", 1: "car"}


def frame(boxes, classes=None, conf=0.9):
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    classes = [0] * len(boxes) if classes is None else classes
    return Detections(boxes, np.full(len(boxes), conf), classes, NAMES, image_shape=(480, 640))


def test_two_objects_keep_their_ids_while_moving_and_in_any_order():
    tracker = ByteTracker()
    history = []
    for t in range(20):
        a = [20 + 5 * t, 50, 80 + 5 * t, 200]  # moving right
        b = [500 - 4 * t, 220, 560 - 4 * t, 380]  # moving left
        order = (a, b) if t % 2 == 0 else (b, a)  # the detector lists them in any order
        tracked = tracker.update(frame(order))
        ids = dict(zip(tracked.tracker_id.tolist(), tracked.xyxy[:, 0].tolist()))
        history.append(ids)
    first = history[0]
    (id_a,) = [k for k, x in first.items() if x == 20]
    (id_b,) = [k for k, x in first.items() if x == 500]
    assert id_a != id_b and id_a > 0 and id_b > 0
    for t, ids in enumerate(history):
        assert ids[id_a] == 20 + 5 * t and ids[id_b] == 500 - 4 * t  # boxes keep the detector's coordinates


def test_a_track_survives_a_short_gap_and_new_objects_get_new_ids():
    tracker = ByteTracker(track_buffer=10)
    box = [100, 100, 160, 220]
    ids = [tracker.update(frame([box])).tracker_id.tolist() for _ in range(5)]
    for _ in range(3):  # occluded
        assert len(tracker.update(frame([]))) == 0
    back = tracker.update(frame([box])).tracker_id.tolist()
    assert ids == [[1]] * 5 and back == [1]
    new = [tracker.update(frame([box, [400, 300, 460, 420]])).tracker_id.tolist() for _ in range(2)]
    assert new[0][0] == 1 and new[0][1] == -1  # not confirmed on its first frame
    assert new[1] == [1, 2]


def test_tracks_do_not_jump_between_classes_at_a_scene_cut():
    tracker = ByteTracker()
    big = [10, 10, 600, 460]
    table = [tracker.update(frame([big], classes=[1])).tracker_id[0] for _ in range(3)]
    cat = [tracker.update(frame([big], classes=[0])).tracker_id[0] for _ in range(3)]
    assert table == [1, 1, 1]
    assert cat == [2, 2, 2]  # a track of its own, not the table's

    shared = ByteTracker(per_class=False)  # ultralytics' own behaviour: one pool for all classes
    for _ in range(3):
        shared.update(frame([big], classes=[1]))
    assert shared.update(frame([big], classes=[0])).tracker_id[0] == 1


def test_a_new_frame_size_starts_over_and_memory_stays_flat():
    tracker = ByteTracker(track_buffer=5)
    tracker.update(frame([[0, 0, 50, 50]]))
    tracked = tracker.update(Detections(np.array([[0, 0, 50, 50]]), [0.9], [0], NAMES, image_shape=(240, 320)))
    assert tracker.resets == 1 and tracked.tracker_id.tolist() == [2]  # a new track, under an id never used before
    for t in range(300):  # many short-lived objects
        x = (t * 37) % 500
        tracker.update(Detections(np.array([[x, 10, x + 20, 40]]), [0.9], [0], NAMES, image_shape=(240, 320)))
    assert len(tracker._global) < 20


def test_a_class_that_left_is_no_longer_stepped():
    tracker = ByteTracker(track_buffer=2)
    tracker.update(frame([[0, 0, 50, 50]], classes=[1]))  # a car, once
    for _ in range(10):
        tracker.update(frame([[100, 100, 160, 220]]))  # then people only
    car = tracker._trackers[1]
    assert car.tracked_stracks == [] and car.lost_stracks == []  # the car's track has been removed
    steps = car.frame_id
    ids = [tracker.update(frame([[100, 100, 160, 220]])).tracker_id.tolist() for _ in range(5)]
    assert car.frame_id == steps and ids == [[2]] * 5
    assert tracker.update(frame([[300, 300, 360, 340]], classes=[1])).tracker_id.tolist() == [-1]  # a new car: confirmed next frame
