"""The tracks of one tracker, stored as arrays, and the life cycle they all follow.

Life cycle (shared by every tracker)::

    born -> TENTATIVE --(min_hits matched frames)--> TRACKED --(missed)--> LOST
    TENTATIVE --(missed)--> REMOVED          LOST --(matched)--> TRACKED
    LOST --(more than max_lost frames since its last match)--> REMOVED

Tracks born in the first ``confirm_frames`` frames of a video start TRACKED (JDE and
ByteTrack activate every track of frame 1; SORT reports every track of its first
``min_hits`` frames). A frame's output is the TRACKED tracks matched in that frame.

All tracks live in parallel arrays (ids, states, Kalman means and covariances, ...), so
prediction, costs and updates are one numpy call per frame instead of one per track.
"""
from typing import Optional

import numpy as np

from .kalman import KalmanFilter
from .record import Detections, Tracks


class TrackState:
    """Life-cycle states, stored as small ints in :attr:`TrackPool.states`."""

    TENTATIVE = 0
    TRACKED = 1
    LOST = 2
    REMOVED = 3


class TrackPool:
    """Every live track of one tracker (see the module docstring for the life cycle).

    Args:
        kalman: the motion model shared by all tracks: a :class:`KalmanFilter`, or
            :class:`~trackers.motion.LastBox` where the model itself moves the boxes.
        min_hits: matched frames (birth included) before a tentative track is confirmed.
        max_lost: frames a lost track waits to be matched again before it is removed.
        confirm_frames: tracks born in frames 1..confirm_frames start TRACKED.
        embedding_momentum: the template update ``e <- m e + (1 - m) f`` of JDE (0.9;
            Eq. 11, CSTrack; unlike JDE's code, the template is not re-normalised: the
            cosine metric reads only its direction); None for trackers without appearance.
    """

    def __init__(
        self,
        kalman: KalmanFilter,
        min_hits: int,
        max_lost: int,
        confirm_frames: int = 1,
        embedding_momentum: Optional[float] = None,
    ):
        self.kalman = kalman
        self.min_hits = min_hits
        self.max_lost = max_lost
        self.confirm_frames = confirm_frames
        self.embedding_momentum = embedding_momentum
        self.reset()

    def reset(self) -> None:
        """Forget every track and restart ids at 1."""
        d = self.kalman.state_dim
        self.ids = np.zeros(0, np.int64)
        self.states = np.zeros(0, np.int64)
        self.classes = np.zeros(0, np.int64)
        self.scores = np.zeros(0)
        self.hits = np.zeros(0, np.int64)
        self.last_frame = np.zeros(0, np.int64)
        self.start_frame = np.zeros(0, np.int64)
        self.mean = np.zeros((0, d))
        self.cov = np.zeros((0, d, d))
        self.embeddings: Optional[np.ndarray] = None
        self.next_id = 1

    def __len__(self) -> int:
        return len(self.ids)

    def boxes(self, tracks: Optional[np.ndarray] = None) -> np.ndarray:
        """xyxy boxes of the current Kalman states of ``tracks`` (default: all)."""
        return self.kalman.to_xyxy(self.mean if tracks is None else self.mean[tracks])

    def in_state(self, *states: int) -> np.ndarray:
        """Indices of the tracks in any of ``states``."""
        selected = self.states == states[0]
        for state in states[1:]:
            selected |= self.states == state
        return np.flatnonzero(selected)

    def predict(self, frame: int) -> None:
        """Advance every track's Kalman state to ``frame``; a track whose predicted box is
        not a box (area times aspect not positive in SORT's state) is removed, as SORT does."""
        self.mean, self.cov = self.kalman.predict(self.mean, self.cov)
        if self.kalman.box_format != "xysr":
            return
        invalid = self.mean[:, 2] * self.mean[:, 3] <= 0
        if invalid.any():
            self.remove(np.flatnonzero(invalid))
            self.prune(frame)

    def match(self, tracks: np.ndarray, detections: Detections, dets: np.ndarray, frame: int) -> None:
        """Tracks ``tracks[i]`` observed as detections ``dets[i]`` in ``frame``."""
        if len(tracks) == 0:
            return
        self.observe(tracks, detections.boxes[dets], detections.scores[dets], frame)
        if self.embedding_momentum is not None:
            m = self.embedding_momentum
            self.embeddings[tracks] = m * self.embeddings[tracks] + (1.0 - m) * _unit(detections.embeddings[dets])

    def observe(self, tracks: np.ndarray, boxes: np.ndarray, scores: np.ndarray, frame: int) -> None:
        """Tracks ``tracks`` seen at xyxy ``boxes`` with ``scores`` in ``frame``; appearance
        templates are left as they are (:meth:`match` updates them; OUTrack's refound
        occluded objects have no embedding)."""
        measured = self.kalman.measure(boxes)
        self.mean[tracks], self.cov[tracks] = self.kalman.update(self.mean[tracks], self.cov[tracks], measured)
        self.scores[tracks] = scores
        self.hits[tracks] += 1
        self.last_frame[tracks] = frame
        confirmed = (self.states[tracks] == TrackState.LOST) | (self.hits[tracks] >= self.min_hits)
        self.states[tracks[confirmed]] = TrackState.TRACKED

    def miss(self, tracks: np.ndarray) -> None:
        """Tracks ``tracks`` not observed this frame: tentative ones die, tracked ones are lost."""
        states = self.states[tracks]
        states[states == TrackState.TENTATIVE] = TrackState.REMOVED
        states[states == TrackState.TRACKED] = TrackState.LOST
        self.states[tracks] = states

    def add(self, detections: Detections, dets: np.ndarray, frame: int) -> None:
        """Start a track from each detection ``dets[i]``."""
        n = len(dets)
        if n == 0:
            return
        mean, cov = self.kalman.initiate(self.kalman.measure(detections.boxes[dets]))
        state = TrackState.TRACKED if frame <= self.confirm_frames or self.min_hits <= 1 else TrackState.TENTATIVE
        self.ids = np.concatenate([self.ids, np.arange(self.next_id, self.next_id + n)])
        self.next_id += n
        self.states = np.concatenate([self.states, np.full(n, state)])
        self.classes = np.concatenate([self.classes, detections.classes[dets]])
        self.scores = np.concatenate([self.scores, detections.scores[dets]])
        self.hits = np.concatenate([self.hits, np.ones(n, np.int64)])
        self.last_frame = np.concatenate([self.last_frame, np.full(n, frame)])
        self.start_frame = np.concatenate([self.start_frame, np.full(n, frame)])
        self.mean = np.concatenate([self.mean, mean])
        self.cov = np.concatenate([self.cov, cov])
        if self.embedding_momentum is not None:
            new = _unit(detections.embeddings[dets])
            self.embeddings = new if self.embeddings is None or not len(self.embeddings) else np.concatenate(
                [self.embeddings, new]
            )

    def remove(self, tracks: np.ndarray) -> None:
        """Mark tracks ``tracks`` REMOVED (dropped at the next :meth:`prune`)."""
        self.states[tracks] = TrackState.REMOVED

    def prune(self, frame: int) -> None:
        """Remove lost tracks older than ``max_lost`` frames, then drop every REMOVED track."""
        expired = (self.states == TrackState.LOST) & (frame - self.last_frame > self.max_lost)
        self.states[expired] = TrackState.REMOVED
        keep = self.states != TrackState.REMOVED
        if keep.all():
            return
        for name in ("ids", "states", "classes", "scores", "hits", "last_frame", "start_frame", "mean", "cov"):
            setattr(self, name, getattr(self, name)[keep])
        if self.embeddings is not None:
            self.embeddings = self.embeddings[keep]

    def output(self, frame: int) -> Tracks:
        """The TRACKED tracks matched in ``frame``, with their filtered boxes."""
        shown = np.flatnonzero((self.states == TrackState.TRACKED) & (self.last_frame == frame))
        return Tracks(self.ids[shown], self.boxes(shown), self.scores[shown], self.classes[shown])


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
