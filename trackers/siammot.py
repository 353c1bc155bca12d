"""SiamMOT's online solver (Shuai et al., CVPR 2021, Sec. 3.4 and 4.2).

The model propagates every live track (active and dormant) into the new frame with its
Siamese tracker and returns, beside its detections, the propagated boxes and their
visibility confidences v in ``Detections.extras`` (``track_ids``, ``track_boxes``,
``track_scores``). Per frame the solver:

1. applies NMS to the detections and, separately, to the propagated boxes;
2. continues a track whose propagated box survives NMS with v > alpha; the other live
   tracks become dormant;
3. suppresses the detections that overlap a continued track's box with IoU >= 0.5;
4. (``resume_with_detections``, ours) resumes a dormant track whose propagated box
   overlaps a remaining detection of its class above beta with IoU >= 0.5, with that
   detection's box (one-to-one, by the Hungarian algorithm on IoU);
5. starts a track from each remaining detection scoring above beta;
6. kills tracks dormant for more than tau frames.

Step 4 is not in the paper: without it, an object whose Siamese visibility falls below
alpha for one frame while the detector still sees it gets a new track (an identity
switch), since only continued tracks suppress detections.

A dormant track keeps its last box (and, in the model, its last template), so the model
can still find it; :meth:`SiamMOTSolver.live_tracks` lists what the model must propagate.
"""
from dataclasses import dataclass

import numpy as np

from .assignment import linear_assignment
from .base import Tracker
from .costs import iou_matrix
from .nms import nms
from .motion import LastBox
from .record import Detections, RecordError, Tracks
from .registry import register_tracker
from .track_pool import TrackPool, TrackState


@dataclass
class SiamMOTParams:
    """The solver's constants (the paper's defaults)."""

    continue_threshold: float = 0.4  # alpha: minimum visibility to continue a track
    start_threshold: float = 0.6  # beta: minimum detection score to start a track
    max_dormant: int = 30  # tau: frames a dormant track is kept
    suppress_iou: float = 0.5  # detections this close to a continued track are dropped
    nms_threshold: float = 0.5  # NMS IoU, applied to detections and to track boxes
    # NMS and suppression across classes: an overlap of two classes is then one object
    # seen as both (off for scenes where objects of two classes share a box, e.g. riders).
    class_agnostic: bool = False
    # Step 4 (ours, see the module docstring): detections resume the dormant tracks they overlap.
    resume_with_detections: bool = False


@register_tracker("siammot")
class SiamMOTSolver(Tracker):
    """SiamMOT's solver on the shared life cycle (active = TRACKED, dormant = LOST)."""

    Params = SiamMOTParams

    def __init__(self, params=None):
        super().__init__(params)
        self.pool = TrackPool(LastBox(), min_hits=1, max_lost=self.params.max_dormant)

    def reset(self) -> None:
        super().reset()
        self.pool.reset()

    def live_tracks(self) -> Tracks:
        """Active and dormant tracks with their last boxes: what the model propagates next."""
        pool = self.pool
        return Tracks(pool.ids.copy(), pool.boxes().copy(), pool.scores.copy(), pool.classes.copy())

    def _propagated(self, detections: Detections) -> Detections:
        """The model's boxes for the live tracks, in pool order; a live track the model
        did not propagate keeps its last box with visibility 0."""
        pool = self.pool
        boxes, scores = pool.boxes().copy(), np.zeros(len(pool))
        if len(pool):
            ids = np.asarray(detections.require_extra("track_ids"), dtype=np.int64).reshape(-1)
            given_boxes = np.asarray(detections.require_extra("track_boxes"), dtype=np.float64).reshape(-1, 4)
            given_scores = np.asarray(detections.require_extra("track_scores"), dtype=np.float64).reshape(-1)
            if not len(ids) == len(given_boxes) == len(given_scores):
                raise RecordError("Detections.extras: track_ids, track_boxes and track_scores differ in length")
            rows = np.searchsorted(pool.ids, ids)  # pool ids are increasing
            known = (rows < len(pool)) & (pool.ids[np.minimum(rows, len(pool) - 1)] == ids)
            if not known.all():
                raise RecordError(f"Detections.extras: track_ids {ids[~known].tolist()} are not live tracks")
            boxes[rows], scores[rows] = given_boxes, given_scores
        return Detections(boxes, scores, pool.classes)

    def _nms_classes(self, records: Detections) -> np.ndarray:
        """The classes NMS keeps apart: all one when ``class_agnostic``."""
        return np.zeros_like(records.classes) if self.params.class_agnostic else records.classes

    def update(self, detections: Detections) -> Tracks:
        self.frame += 1
        p, pool = self.params, self.pool
        propagated = self._propagated(detections)
        kept = nms(propagated.boxes, propagated.scores, self._nms_classes(propagated), p.nms_threshold)
        continued = kept[propagated.scores[kept] > p.continue_threshold]
        pool.match(continued, propagated, continued, self.frame)
        pool.miss(np.setdiff1d(np.arange(len(pool)), continued))

        dets = detections.select(nms(detections.boxes, detections.scores, self._nms_classes(detections), p.nms_threshold))
        overlap = iou_matrix(dets.boxes, pool.boxes(continued)) >= p.suppress_iou
        if not p.class_agnostic:
            overlap &= dets.classes[:, None] == pool.classes[continued][None, :]
        new = np.flatnonzero(~overlap.any(axis=1) & (dets.scores > p.start_threshold))
        if p.resume_with_detections:
            new = self._resume_dormant(propagated, dets, new, continued)
        pool.add(dets, new, self.frame)
        pool.prune(self.frame)
        return pool.output(self.frame)

    def _resume_dormant(self, propagated: Detections, dets: Detections, candidates: np.ndarray,
                        continued: np.ndarray) -> np.ndarray:
        """Step 4: dormant tracks observed as the ``candidates`` detections of their class
        whose IoU with their propagated boxes is >= ``suppress_iou`` (also when
        ``class_agnostic``: a track keeps the class it started with); returns the
        candidates left to start tracks."""
        p, pool = self.params, self.pool
        dormant = np.setdiff1d(np.arange(len(pool)), continued)
        if not len(dormant) or not len(candidates):
            return candidates
        cost = 1.0 - iou_matrix(propagated.boxes[dormant], dets.boxes[candidates])
        cost[pool.classes[dormant][:, None] != dets.classes[candidates][None, :]] = np.inf
        matches, _, free = linear_assignment(cost, 1.0 - p.suppress_iou)
        pool.match(dormant[matches[:, 0]], dets, candidates[matches[:, 1]], self.frame)
        return candidates[free]
