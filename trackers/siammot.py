"""SiamMOT's online solver (Shuai et al., CVPR 2021, Sec. 3.4 and 4.2).

The model propagates every live track (active and dormant) into the new frame with its
Siamese tracker and returns, beside its detections, the propagated boxes and their
visibility confidences v in ``Detections.extras`` (``track_ids``, ``track_boxes``,
``track_scores``). Per frame the solver:

1. applies NMS to the detections and, separately, to the propagated boxes;
2. continues a track whose propagated box survives NMS with v > alpha; the other live
   tracks become dormant;
3. suppresses the detections that overlap a continued track's box with IoU >= 0.5;
4. (``resume_with_detections``, ours) resumes a dormant track whose propagated box or
   last box overlaps a remaining detection of its class above beta with IoU >= 0.5,
   with that detection's box (one-to-one, by the Hungarian algorithm on IoU);
5. starts a track from each remaining detection scoring above beta;
6. kills tracks dormant for more than tau frames.

Step 4 is not in the paper: without it, an object whose Siamese visibility falls below
alpha for one frame while the detector still sees it gets a new track (an identity
switch), since only continued tracks suppress detections. The last box counts too as
the propagated box may have drifted off the object (often why the visibility dipped).

``correct_with_detections`` (ours) acts between steps 3 and 4: a continued track takes
the box (and score) of the detection of its class above beta that overlaps its
propagated or last box most, if their IoU is >= ``correct_iou`` (one-to-one, Hungarian);
that detection starts no track. In the paper a track's box is always the propagated
one, so a box that drifted off its object (IoU with the object's detection below 0.5)
stays off it and lets the detection start a second track on the object.

A dormant track keeps its last box (and, in the model, its last template), so the model
can still find it; :meth:`SiamMOTSolver.live_tracks` lists what the model must propagate.
"""
from dataclasses import dataclass
from typing import Tuple

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
    # Continued tracks take the box of the detection they overlap most (ours, see the module docstring).
    correct_with_detections: bool = False
    correct_iou: float = 0.3  # minimum IoU of a continued track with the detection it takes


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

        dets = detections.select(nms(detections.boxes, detections.scores, self._nms_classes(detections), p.nms_threshold))
        overlap = iou_matrix(dets.boxes, propagated.boxes[continued]) >= p.suppress_iou
        if not p.class_agnostic:
            overlap &= dets.classes[:, None] == propagated.classes[continued][None, :]
        candidates = np.flatnonzero(~overlap.any(axis=1) & (dets.scores > p.start_threshold))
        corrected, correction = np.zeros(0, np.int64), np.zeros(0, np.int64)
        if p.correct_with_detections:
            strong = np.flatnonzero(dets.scores > p.start_threshold)
            corrected, correction, _ = self._take_detections(continued, propagated, dets, strong, p.correct_iou)
            candidates = np.setdiff1d(candidates, correction)
        steady = np.setdiff1d(continued, corrected)
        pool.match(steady, propagated, steady, self.frame)
        pool.match(corrected, dets, correction, self.frame)
        dormant = np.setdiff1d(np.arange(len(pool)), continued)
        pool.miss(dormant)
        if p.resume_with_detections:
            resumed, resumption, candidates = self._take_detections(
                dormant, propagated, dets, candidates, p.suppress_iou
            )
            pool.match(resumed, dets, resumption, self.frame)
        pool.add(dets, candidates, self.frame)
        pool.prune(self.frame)
        return pool.output(self.frame)

    def _take_detections(self, tracks: np.ndarray, propagated: Detections, dets: Detections,
                         candidates: np.ndarray, min_iou: float) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pairs ``tracks`` (pool rows) one-to-one with ``candidates`` detections of their
        class (also when ``class_agnostic``: a track keeps its class) by the Hungarian
        algorithm on IoU, IoU >= ``min_iou``; a track's IoU with a detection is the larger
        of its propagated box's and its last box's. Returns the paired tracks, their
        detections and the candidates left."""
        if not len(tracks) or not len(candidates):
            return np.zeros(0, np.int64), np.zeros(0, np.int64), candidates
        candidate_boxes = dets.boxes[candidates]
        overlap = np.maximum(iou_matrix(propagated.boxes[tracks], candidate_boxes),
                             iou_matrix(self.pool.boxes(tracks), candidate_boxes))
        cost = 1.0 - overlap
        cost[propagated.classes[tracks][:, None] != dets.classes[candidates][None, :]] = np.inf
        matches, _, free = linear_assignment(cost, 1.0 - min_iou)
        return tracks[matches[:, 0]], candidates[matches[:, 1]], candidates[free]
