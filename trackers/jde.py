"""The JDE / FairMOT association cascade (Wang et al. 2020; Zhang et al. 2021), used by
CSTrack and KDMOT, with ByteTrack's low-score second association as an option.

Per frame:
1. appearance: cosine distance between track templates and detection embeddings,
   gated and fused with the Kalman Mahalanobis distance, Hungarian matching;
2. IoU matching of the remaining detections to the remaining tracked tracks;
3. (``second_association``, ByteTrack, Zhang et al. 2022) IoU matching of the tracked
   tracks still unmatched to the low-score detections;
4. IoU matching of tentative tracks to the detections left, the rest of them die;
5. new tentative tracks from the high-score detections left; lost tracks older than
   the buffer removed; duplicates between tracked and lost tracks removed.

Without embeddings, step 1 is skipped and step 2 matches lost tracks too (as ByteTrack
does), so the tracker still re-finds objects after a miss.

The tracks reported for a frame may be filtered as the authors' evaluation scripts
(FairMOT's and CSTrack's ``track.py``) filter what they write: a box wider than
``max_output_aspect_ratio`` times its height, or of area ``min_output_area`` or less, is
not reported; the track itself lives on. Both filters are off by default.
"""
from dataclasses import dataclass

import numpy as np

from .assignment import linear_assignment
from .base import Tracker
from .costs import cosine_distance, forbid_cross_class, iou_matrix
from .gating import gate_cost
from .kalman import KalmanFilter
from .params import TrackerParams, in_range, one_of
from .record import Detections, RecordError, Tracks
from .registry import register_tracker
from .track_pool import TrackPool, TrackState


@dataclass
class JDEParams(TrackerParams):
    """The cascade's constants (FairMOT's defaults; ByteTrack's for the second association)."""

    det_threshold: float = in_range(0.4, 0, 1)  # detections at least this confident are associated and start tracks
    embedding_threshold: float = in_range(0.4, 0)  # max fused appearance cost of a match (step 1)
    motion_weight: float = in_range(0.02, 0, 1)  # weight of the Mahalanobis distance in the fused cost (1 - lambda)
    iou_threshold: float = in_range(0.5, 0, 1)  # max IoU distance of a match (step 2)
    unconfirmed_iou_threshold: float = in_range(0.7, 0, 1)  # max IoU distance for tentative tracks (step 4)
    embedding_momentum: float = in_range(0.9, 0, 1)  # eps of the template EMA (Eq. 11, CSTrack)
    # a lost track unmatched this many frames is terminated (Sec. III-E, CSTrack), at 30 fps
    track_buffer: int = in_range(30, 0)
    frame_rate: float = in_range(30.0, 0, low_open=True)  # of the video; the buffer scales with it
    duplicate_iou_distance: float = in_range(0.15, 0, 1)  # tracked/lost pairs closer than this are duplicates
    second_association: bool = False  # ByteTrack's association of low-score detections
    low_score_threshold: float = in_range(0.1, 0, 1)  # lowest score used by the second association
    second_iou_threshold: float = in_range(0.5, 0, 1)  # max IoU distance of a second-association match
    box_format: str = one_of("xyah", ("xyah", "xywh"))  # the cascade gates in 4 dims: not "xysr"
    # reported boxes: width / height at most this (the authors' track.py: 1.6; 0: no filter)
    max_output_aspect_ratio: float = in_range(0.0, 0)
    # reported boxes: area in pixels above this (the authors' track.py: min_box_area 100; 0: no filter)
    min_output_area: float = in_range(0.0, 0)


@register_tracker("jde")
class JDETracker(Tracker):
    """The JDE cascade on the shared life cycle; class-aware in every step."""

    Params = JDEParams

    def __init__(self, params=None):
        super().__init__(params)
        p = self.params
        self.pool = TrackPool(
            KalmanFilter(p.box_format), min_hits=2,
            # a lost track is removed after track_buffer frames without a match (Sec. III-E,
            # CSTrack: 30); JDE's code keeps it one frame longer
            max_lost=int(p.frame_rate / 30.0 * p.track_buffer) - 1, embedding_momentum=p.embedding_momentum,
        )
        self.uses_embeddings = None

    def reset(self) -> None:
        super().reset()
        self.pool.reset()
        self.pool.embedding_momentum = self.params.embedding_momentum
        self.uses_embeddings = None

    def _check_embeddings(self, detections: Detections) -> bool:
        has = detections.embeddings is not None
        if self.uses_embeddings is None:
            self.uses_embeddings = has
            if not has:
                self.pool.embedding_momentum = None
        elif has != self.uses_embeddings:
            raise RecordError("Detections.embeddings: given in some frames of a video and not in others")
        return has

    def _iou_match(self, tracks: np.ndarray, dets: Detections, candidates: np.ndarray, threshold: float):
        """IoU matching of ``tracks`` to the detections ``candidates``; returns the unmatched of both."""
        pool = self.pool
        if not len(tracks) or not len(candidates):
            return tracks, candidates
        cost = forbid_cross_class(1.0 - iou_matrix(pool.boxes(tracks), dets.boxes[candidates]), pool.classes[tracks],
                                  dets.classes[candidates])
        matches, unmatched_tracks, unmatched_dets = linear_assignment(cost, threshold)
        pool.match(tracks[matches[:, 0]], dets, candidates[matches[:, 1]], self.frame)
        return tracks[unmatched_tracks], candidates[unmatched_dets]

    def update(self, detections: Detections) -> Tracks:
        self.frame += 1
        p, pool = self.params, self.pool
        use_embeddings = self._check_embeddings(detections)
        high = np.flatnonzero(detections.scores >= p.det_threshold)
        not_tracked = pool.states != TrackState.TRACKED
        pool.mean[not_tracked, -1] = 0.0  # JDE freezes the size velocity of lost tracks
        pool.predict(self.frame)

        confirmed = pool.in_state(TrackState.TRACKED, TrackState.LOST)
        unconfirmed = pool.in_state(TrackState.TENTATIVE)
        remaining = high
        if use_embeddings:
            templates = pool.embeddings[confirmed] if len(confirmed) else detections.embeddings[:0]
            cost = cosine_distance(templates, detections.embeddings[high])
            gating = pool.kalman.gating_distance(
                pool.mean[confirmed], pool.cov[confirmed],
                pool.kalman.measure(detections.boxes[high]),
            )
            cost = forbid_cross_class(gate_cost(cost, gating, 4, p.motion_weight), pool.classes[confirmed],
                                      detections.classes[high])
            matches, unmatched, unmatched_dets = linear_assignment(cost, p.embedding_threshold)
            pool.match(confirmed[matches[:, 0]], detections, high[matches[:, 1]], self.frame)
            confirmed, remaining = confirmed[unmatched], high[unmatched_dets]
            candidates = confirmed[pool.states[confirmed] == TrackState.TRACKED]
        else:
            candidates = confirmed
        left, remaining = self._iou_match(candidates, detections, remaining, p.iou_threshold)
        if p.second_association:
            low = np.flatnonzero((detections.scores >= p.low_score_threshold) & (detections.scores < p.det_threshold))
            tracked_left = left[pool.states[left] == TrackState.TRACKED]
            self._iou_match(tracked_left, detections, low, p.second_iou_threshold)
        pool.miss(confirmed[pool.last_frame[confirmed] != self.frame])

        left_unconfirmed, remaining = self._iou_match(unconfirmed, detections, remaining,
                                                      p.unconfirmed_iou_threshold)
        pool.miss(left_unconfirmed)
        pool.add(detections, remaining, self.frame)
        pool.prune(self.frame)
        self._remove_duplicates()
        return self.report()

    def report(self) -> Tracks:
        """The tracks matched in this frame whose boxes pass the output filters."""
        tracks = self.pool.output(self.frame)
        keep = reportable(tracks.boxes, self.params.max_output_aspect_ratio, self.params.min_output_area)
        return Tracks(tracks.track_ids[keep], tracks.boxes[keep], tracks.scores[keep], tracks.classes[keep])

    def _remove_duplicates(self) -> None:
        """Of a tracked and a lost track over one object, keep the longer-lived (JDE)."""
        pool = self.pool
        tracked, lost = pool.in_state(TrackState.TRACKED), pool.in_state(TrackState.LOST)
        if not len(tracked) or not len(lost):
            return
        boxes = pool.boxes()
        close = np.argwhere(1.0 - iou_matrix(boxes[tracked], boxes[lost]) < self.params.duplicate_iou_distance)
        if not len(close):
            return
        t, l = tracked[close[:, 0]], lost[close[:, 1]]
        age_t, age_l = self.frame - pool.start_frame[t], self.frame - pool.start_frame[l]
        pool.remove(np.where(age_t > age_l, l, t))
        pool.prune(self.frame)


def reportable(boxes: np.ndarray, max_aspect_ratio: float, min_area: float) -> np.ndarray:
    """Mask of the (N, 4) x1, y1, x2, y2 ``boxes`` the authors' ``track.py`` writes: not
    ``width / height > max_aspect_ratio`` and ``width * height > min_area``; a zero
    ratio or area turns its test off."""
    width, height = (boxes[:, 2:] - boxes[:, :2]).T
    keep = np.ones(len(boxes), bool)
    if max_aspect_ratio > 0:
        with np.errstate(divide="ignore", invalid="ignore"):  # a zero height: inf or nan, as in track.py
            keep &= ~(width / height > max_aspect_ratio)
    if min_area > 0:
        keep &= width * height > min_area
    return keep
