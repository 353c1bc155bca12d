"""SORT (Bewley et al., ICIP 2016): Kalman prediction + IoU Hungarian matching."""
from dataclasses import dataclass

import numpy as np

from .assignment import linear_assignment
from .base import Tracker
from .costs import forbid_cross_class, iou_matrix
from .kalman import BOX_FORMATS, KalmanFilter
from .params import TrackerParams, in_range, one_of
from .record import Detections, Tracks
from .registry import register_tracker
from .track_pool import TrackPool


@dataclass
class SORTParams(TrackerParams):
    """SORT's constants (defaults of the authors' code)."""

    max_age: int = in_range(1, 0)  # frames a track survives without a match
    min_hits: int = in_range(3, 0)  # matches after birth before a track is reported
    iou_threshold: float = in_range(0.3, 0, 1)  # minimum IoU of a match
    score_threshold: float = in_range(0.0, 0, 1)  # detections scoring lower are ignored
    box_format: str = one_of("xysr", BOX_FORMATS)  # SORT's (centre, area, aspect) Kalman state


@register_tracker("sort")
class SORT(Tracker):
    """SORT on the shared life cycle, class-aware.

    Where the life cycle differs from the authors' code: a track is confirmed after
    ``min_hits`` consecutive matches following its birth and stays confirmed when it is
    matched again after a miss (the original restarts the count, hiding the box for
    ``min_hits`` frames), and a tentative track dies at its first miss (the original
    keeps it for ``max_age`` frames without reporting it, then starts its count again).
    """

    Params = SORTParams

    def __init__(self, params=None):
        super().__init__(params)
        p = self.params
        # Birth counts as the first hit of the pool; SORT counts the hits after birth.
        self.pool = TrackPool(KalmanFilter(p.box_format), min_hits=p.min_hits + 1, max_lost=p.max_age,
                              confirm_frames=p.min_hits)

    def reset(self) -> None:
        super().reset()
        self.pool.reset()

    def update(self, detections: Detections) -> Tracks:
        self.frame += 1
        p, pool = self.params, self.pool
        dets = detections.select(detections.scores >= p.score_threshold)
        pool.predict(self.frame)
        cost = forbid_cross_class(1.0 - iou_matrix(pool.boxes(), dets.boxes), pool.classes, dets.classes)
        matches, unmatched_tracks, unmatched_dets = linear_assignment(cost, 1.0 - p.iou_threshold)
        pool.match(matches[:, 0], dets, matches[:, 1], self.frame)
        pool.miss(unmatched_tracks)
        pool.add(dets, unmatched_dets, self.frame)
        pool.prune(self.frame)
        return pool.output(self.frame)
