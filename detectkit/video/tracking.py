"""Multi-object tracking: glue between :class:`~detectkit.Detections` and ultralytics' ByteTrack.

The tracker itself is ultralytics' ``BYTETracker`` (``ultralytics.trackers.byte_tracker``),
maintained upstream; this module only feeds it detectkit boxes and writes the track ids it
returns back into ``Detections.tracker_id``. Boxes keep their detected coordinates; boxes
not (yet) on a confirmed track get ``-1``. ByteTrack's assignment needs the small ``lap``
package (a detectkit dependency); it is checked up front so ultralytics never tries to
install it at run time.

Example:
    >>> import numpy as np
    >>> from detectkit import Detections
    >>> from detectkit.video.tracking import ByteTracker
    >>> tracker = ByteTracker()
    >>> ids = []
    >>> for step in range(3):
    ...     box = np.array([[10 + 5 * step, 10, 60 + 5 * step, 90]])
    ...     ids.append(tracker.update(Detections(box, [0.9], [0], {0: "person"})).tracker_id.tolist())
    >>> ids
    [[1], [1], [1]]
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..detections import Detections
from ..errors import ModelError

__all__ = ["ByteTracker", "TrackerConfig"]


@dataclass
class TrackerConfig:
    """ByteTrack's settings (ultralytics' ``bytetrack.yaml`` defaults).

    Attributes:
        track_high_thresh: boxes at least this confident are matched first.
        track_low_thresh: boxes between this and ``track_high_thresh`` are matched second (ByteTrack's trick).
        new_track_thresh: an unmatched box at least this confident starts a track.
        track_buffer: frames a lost track is kept to be found again.
        match_thresh: largest matching cost (1 - IoU, fused with the score) accepted.
        fuse_score: fuse detection scores into the matching cost.
    """

    track_high_thresh: float = 0.25
    track_low_thresh: float = 0.1
    new_track_thresh: float = 0.25
    track_buffer: int = 30
    match_thresh: float = 0.8
    fuse_score: bool = True


def _bytetrack_class() -> Any:
    if importlib.util.find_spec("lap") is None:
        raise ModelError("tracking needs the 'lap' package (ByteTrack's assignment solver): pip install lap")
    from .._ultralytics_env import import_ultralytics

    import_ultralytics()
    from ultralytics.trackers.byte_tracker import BYTETracker

    return BYTETracker


class _Boxes:
    """The slice of ultralytics' ``Boxes`` that BYTETracker reads: ``conf``, ``cls``, ``xywh``, ``xyxy``, masks."""

    def __init__(self, xyxy: np.ndarray, conf: np.ndarray, cls: np.ndarray) -> None:
        self.xyxy, self.conf, self.cls = xyxy, conf, cls
        self.xywh = np.concatenate([(xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]], axis=1)

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, index: Any) -> "_Boxes":
        return _Boxes(self.xyxy[index], self.conf[index], self.cls[index])


class ByteTracker:
    """Give detections stable track ids across frames (ByteTrack via ultralytics).

    Feed it every frame of one video, in order (``update`` with empty detections when a
    frame has none, so lost tracks age). When the frame size changes, the tracker starts
    over (boxes from before no longer line up); ids are never reused within one tracker,
    so a track id names one object for the whole stream. One tracker per stream.

    With ``per_class=True`` (the default) each class is tracked on its own, so a track never
    changes class (at a scene cut, a cat does not inherit the id of the table it replaced);
    ids stay unique across classes.

    Args:
        config: a :class:`TrackerConfig` (or keyword overrides of it).
        per_class: one ByteTrack per class (``False``: one for all boxes, ultralytics' behaviour).

    Usage:
        tracker = ByteTracker(track_buffer=60); tracked = tracker.update(detector(frame))
    """

    def __init__(self, config: TrackerConfig | None = None, *, per_class: bool = True, **overrides: Any) -> None:
        self.config = TrackerConfig(**{**asdict(config or TrackerConfig()), **overrides})
        self.per_class = per_class
        self._cls = _bytetrack_class()
        self._trackers: dict[int, Any] = {}
        self._global: dict[tuple[int, int], int] = {}  # (class, ByteTrack's id) -> the id we hand out
        self._next_id = 1
        self._shape: tuple[int, int] | None = None
        self._names: dict[int, str] = {}
        self.resets = 0

    def _tracker(self, key: int) -> Any:
        tracker = self._trackers.get(key)
        if tracker is None:
            tracker = self._trackers[key] = self._cls(SimpleNamespace(tracker_type="bytetrack", **asdict(self.config)))
        return tracker

    def reset(self) -> None:
        """Forget every track; new tracks get new ids (an id is never given to two objects)."""
        self._trackers.clear()
        self._global.clear()
        self.resets += 1

    def update(self, detections: Detections, image_shape: tuple[int, int] | None = None) -> Detections:
        """Track one frame's detections; returns them with ``tracker_id`` set (``-1``: no track yet).

        Args:
            detections: this frame's boxes.
            image_shape: ``(height, width)`` of the frame (default: ``detections.image_shape``);
                a change from the previous frame resets the tracker.
        """
        shape = image_shape or detections.image_shape
        if shape is not None:
            shape = (int(shape[0]), int(shape[1]))
            if self._shape is not None and shape != self._shape:
                self.reset()
            self._shape = shape
        self._names = dict(detections.names) or self._names
        keys = detections.class_id if self.per_class else np.zeros(len(detections), np.int64)
        ids = np.full(len(detections), -1, np.int64)
        # Every tracker that follows something steps, so lost tracks age; one with no track left and
        # no box now has nothing to do (a class seen once would otherwise cost ~0.1 ms a frame for ever).
        busy = {key for key, tracker in self._trackers.items() if tracker.tracked_stracks or tracker.lost_stracks}
        for key in busy | {int(k) for k in keys}:
            index = np.flatnonzero(keys == key)
            boxes = _Boxes(
                detections.xyxy[index].astype(np.float32),
                detections.confidence[index].astype(np.float32),
                detections.class_id[index].astype(np.float32),
            )
            tracker = self._tracker(key)
            output = tracker.update(boxes, None)
            if len(output):
                output = np.asarray(output)
                for local, row in zip(output[:, 4].astype(np.int64), output[:, -1].astype(np.int64)):
                    ids[index[row]] = self._global_id(key, int(local))
        self._prune()
        return detections.with_extras(tracker_id=ids)

    def coast(self, fraction: float = 1.0) -> Detections:
        """Where the tracks are in a frame the detector skipped, without stepping the tracker.

        The tracks confirmed at the last :meth:`update` are returned with their ids and last
        scores at the boxes their motion model (ByteTrack's Kalman filter) puts ``fraction``
        of an update after it: when the detector runs on every n-th frame only, the
        ``j``-th frame after a detected one is ``fraction=j/n``. ByteTrack itself only ever
        sees the detected frames, as a video at ``1/n`` of the frame rate, so a new track is
        confirmed at the next detected frame and a track is not lost between detections.

        Example:
            >>> import numpy as np
            >>> tracker = ByteTracker()
            >>> for x in (10, 20, 30, 40):  # 10 px per update
            ...     _ = tracker.update(Detections(np.array([[x, 10, x + 40, 90]]), [0.9], [0], {0: "face"}))
            >>> predicted = tracker.coast(1 / 2)  # half way to the next update
            >>> predicted.tracker_id.tolist(), bool(40 < predicted.xyxy[0, 0] < 45)
            ([1], True)
        """
        boxes, scores, classes, ids = [], [], [], []
        for key, tracker in self._trackers.items():
            for track in tracker.tracked_stracks:
                if not track.is_activated or track.mean is None:
                    continue
                x, y, aspect, height = track.mean[:4] + fraction * track.mean[4:8]
                width = aspect * height
                boxes.append(np.array([x - width / 2, y - height / 2, x + width / 2, y + height / 2], np.float32))
                scores.append(float(track.score))
                classes.append(int(key) if self.per_class else int(track.cls))
                ids.append(self._global_id(key, int(track.track_id)))
        shape = self._shape
        if not boxes:
            return Detections.empty(self._names, shape).with_extras(tracker_id=np.zeros(0, np.int64))
        xyxy = np.stack(boxes)
        if shape is not None:
            xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, shape[1])
            xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, shape[0])
        return Detections(xyxy, scores, classes, self._names, tracker_id=ids, image_shape=shape)

    def _global_id(self, key: int, local: int) -> int:
        found = self._global.get((key, local))
        if found is None:
            found = self._global[(key, local)] = self._next_id
            self._next_id += 1
        return found

    def _prune(self) -> None:
        """Forget the id mapping of tracks ByteTrack has removed, so memory stays flat."""
        alive = {
            (key, t.track_id)
            for key, tracker in self._trackers.items()
            for t in (*tracker.tracked_stracks, *tracker.lost_stracks)
        }
        for pair in [pair for pair in self._global if pair not in alive]:
            del self._global[pair]

    @property
    def active_tracks(self) -> int:
        """Tracks currently followed (confirmed, not lost)."""
        return sum(1 for tracker in self._trackers.values() for t in tracker.tracked_stracks if t.is_activated)
