"""Per-track face identity: identify a tracked face once, re-check it now and then, vote over the track.

Running the face embedder on every face in every frame is what makes video face
recognition slow. Faces are detected in every frame (that is cheap next to embedding)
and tracked with ByteTrack; a face is embedded and matched against the gallery only

* when its track is new (or not confirmed yet),
* every ``recheck_every`` frames after that, and
* every ``weak_recheck_every`` frames while its last match was weak (within
  ``weak_margin`` of the recogniser's threshold, on either side).

The identity shown is a vote over the track's last ``history`` matches (the most
frequent name, ``None`` for unknown; ties go to the higher total similarity), so one
bad frame (a blink, a turned head) does not flip the name. A track that ByteTrack finds
again after losing it for a frame or more (an occlusion, a scene cut) starts its votes
afresh: the face it found may be someone else. Tracks not seen for ``forget_after``
frames are forgotten, so memory stays flat.

The recogniser is any object with the :class:`detectkit.FaceRecognizer` methods used here:
``detect(frames) -> list[Detections]``, ``embed(frame, faces) -> (N, D)`` and
``match(embeddings) -> (names, similarities)``, plus its ``threshold``.

Usage:
    identity = FaceTrackIdentity(FaceRecognizer(gallery="faces.db"), recheck_every=30)
    for faces in identity.process(frames): print(faces.identity, faces.similarity)
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..detections import Detections
from .tracking import ByteTracker, TrackerConfig

__all__ = ["FaceTrackIdentity", "TrackVotes"]


@dataclass
class TrackVotes:
    """The matches gathered for one face track, and when it was last checked and seen.

    Example:
        >>> votes = TrackVotes(history=3)
        >>> for name, sim in [("ann", 0.8), (None, 0.2), ("ann", 0.7)]: votes.add(name, sim, frame=0)
        >>> votes.decision()
        ('ann', 0.75)
    """

    history: int = 9
    votes: deque = field(default_factory=deque)
    last_checked: int = -(10**9)
    last_seen: int = 0
    last_similarity: float = float("nan")

    def add(self, name: str | None, similarity: float, frame: int) -> None:
        """Record one match made at ``frame``."""
        self.votes.append((name, float(similarity)))
        while len(self.votes) > self.history:
            self.votes.popleft()
        self.last_checked = frame
        self.last_similarity = float(similarity)

    def decision(self) -> tuple[str | None, float]:
        """The voted name (``None``: unknown) and the mean similarity of its votes."""
        if not self.votes:
            return None, float("nan")
        counts = Counter(name for name, _ in self.votes)
        totals: dict[str | None, float] = {}
        for name, similarity in self.votes:
            totals[name] = totals.get(name, 0.0) + similarity
        winner = max(counts, key=lambda name: (counts[name], totals[name]))
        return winner, totals[winner] / counts[winner]


class FaceTrackIdentity:
    """Faces per frame with identities kept per track (see the module docstring).

    Args:
        recognizer: the face recogniser (detect, embed, match, threshold).
        recheck_every: frames between re-checks of a track whose match is clear.
        weak_recheck_every: frames between re-checks while the match is weak.
        weak_margin: a similarity within this of ``recognizer.threshold`` is weak.
        history: matches kept per track for the vote.
        forget_after: frames after which an unseen track is forgotten.
        detect_every: run the face detector on every n-th frame only; in between, faces are
            where their tracks' motion model puts them (no new faces appear, none is
            embedded). The face tracker sees the detected frames only. 1 (the default) detects on every frame. Face detection is most of
            the cost on a CPU (MTCNN on 1080p frames), so 2 or 3 is where the time goes,
            at the price of boxes that lag fast motion.
        tracker: a :class:`~detectkit.video.tracking.TrackerConfig` for the face tracker.

    Attributes:
        faces_seen: faces detected so far.
        embedded: faces embedded so far (``embedded / faces_seen`` is the work saved).
    """

    def __init__(
        self,
        recognizer: Any,
        *,
        recheck_every: int = 30,
        weak_recheck_every: int = 5,
        weak_margin: float = 0.05,
        history: int = 9,
        forget_after: int = 90,
        detect_every: int = 1,
        tracker: TrackerConfig | None = None,
    ) -> None:
        if int(detect_every) < 1:
            raise ValueError(f"detect_every must be at least 1, got {detect_every}")
        self.recognizer = recognizer
        self.detect_every = int(detect_every)
        self.recheck_every = int(recheck_every)
        self.weak_recheck_every = int(weak_recheck_every)
        self.weak_margin = float(weak_margin)
        self.history = int(history)
        self.forget_after = int(forget_after)
        # the tracker steps on detected frames only: keep lost tracks for forget_after frames
        self.tracker = ByteTracker(tracker or TrackerConfig(track_buffer=max(1, self.forget_after // self.detect_every)))
        self.tracks: dict[int, TrackVotes] = {}
        self.frame = 0
        self.faces_seen = 0
        self.embedded = 0

    @property
    def threshold(self) -> float:
        """The recogniser's similarity threshold (0.5 when it has none): weak matches are near it."""
        return float(getattr(self.recognizer, "threshold", 0.5))

    def _due(self, track_id: int) -> bool:
        """Whether the face on this track should be embedded in this frame."""
        if track_id < 0:
            return True  # not on a confirmed track yet: identify it on its own
        votes = self.tracks.get(track_id)
        if votes is None or not votes.votes:
            return True
        since = self.frame - votes.last_checked
        weak = abs(votes.last_similarity - self.threshold) < self.weak_margin or not np.isfinite(votes.last_similarity)
        return since >= (self.weak_recheck_every if weak else self.recheck_every)

    def process(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        """Detect faces in a batch of frames (one call), then track and identify them frame by frame.

        With ``detect_every > 1`` only every n-th frame (counting over the whole stream) is
        detected; the others get their tracks' predicted boxes (see :meth:`coast`).
        """
        due = [i for i in range(len(frames)) if (self.frame + i) % self.detect_every == 0]
        found = dict(zip(due, self.recognizer.detect([frames[i] for i in due]))) if due else {}
        return [self.update(image, found[i]) if i in found else self.coast(image) for i, image in enumerate(frames)]

    def coast(self, image: np.ndarray) -> Detections:
        """A frame the detector skipped: the tracked faces at their predicted boxes, with their voted names."""
        fraction = (self.frame % self.detect_every) / self.detect_every  # of the way to the next detected frame
        self.frame += 1
        faces = self.tracker.coast(fraction)
        n = len(faces)
        identity = np.full(n, None, dtype=object)
        similarity = np.full(n, np.nan, np.float32)
        for i, track_id in enumerate(faces.tracker_id):
            votes = self.tracks.get(int(track_id))
            if votes is not None:
                votes.last_seen = self.frame
                identity[i], similarity[i] = votes.decision()
        self._forget()
        return faces.with_extras(identity=identity, similarity=similarity)

    def update(self, image: np.ndarray, faces: Detections) -> Detections:
        """Track one frame's detected faces and fill ``identity``/``similarity`` from the tracks' votes."""
        self.frame += 1
        faces = self.tracker.update(faces, image.shape[:2])
        n = len(faces)
        self.faces_seen += n
        ids = faces.tracker_id if faces.tracker_id is not None else np.full(n, -1, np.int64)
        for track_id in ids:
            votes = self.tracks.get(int(track_id))
            if votes is not None and self.frame - votes.last_seen > 1:  # lost, then found again: maybe someone else
                del self.tracks[int(track_id)]
        due = [i for i in range(n) if self._due(int(ids[i]))]
        fresh: dict[int, tuple[str | None, float]] = {}
        if due:
            embeddings = self.recognizer.embed(image, faces[due])
            names, similarities = self.recognizer.match(embeddings)
            self.embedded += len(due)
            for i, name, similarity in zip(due, names, np.asarray(similarities, dtype=np.float64)):
                fresh[i] = (name, float(similarity))
                track_id = int(ids[i])
                if track_id >= 0:
                    self.tracks.setdefault(track_id, TrackVotes(history=self.history)).add(name, similarity, self.frame)
        identity = np.full(n, None, dtype=object)
        similarity = np.full(n, np.nan, np.float32)
        for i in range(n):
            track_id = int(ids[i])
            if track_id >= 0 and track_id in self.tracks:
                votes = self.tracks[track_id]
                votes.last_seen = self.frame
                identity[i], similarity[i] = votes.decision()
            elif i in fresh:
                identity[i], similarity[i] = fresh[i]
        self._forget()
        return faces.with_extras(identity=identity, similarity=similarity)

    def _forget(self) -> None:
        stale = [tid for tid, votes in self.tracks.items() if self.frame - votes.last_seen > self.forget_after]
        for tid in stale:
            del self.tracks[tid]

    @property
    def embed_ratio(self) -> float:
        """Faces embedded per face seen (1.0 would be per-frame identification)."""
        return self.embedded / self.faces_seen if self.faces_seen else float("nan")
