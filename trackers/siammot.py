"""SiamMOT's online solver (Shuai et al., CVPR 2021, Sec. 3.4 and 4.2).

The model propagates every live track (active and dormant) into the new frame with its
Siamese tracker and returns, beside its detections, the propagated boxes and their
visibility confidences v in ``Detections.extras`` (``track_ids``, ``track_boxes``,
``track_scores``). Per frame the solver:

1. applies NMS to the propagated boxes, active tracks before dormant ones (the
   authors' solver ranks them so), and, separately, to the detections;
2. continues an active track whose box survives NMS with v > alpha, and resumes a
   dormant one whose box survives with v > ``resume_threshold``; the other live tracks
   are dormant;
3. suppresses the detections that overlap any tracked instance (a box that survived
   NMS in step 1, whatever its visibility) with IoU >= 0.5;
4. starts a track from each remaining detection scoring above beta;
5. kills a track whose visibility has been below alpha for tau consecutive frames.

Two options of ours, off by default, act between steps 2 and 3:

- ``correct_with_detections``: a continued track takes the box (and score) of the
  detection of its class above beta that overlaps its propagated or last box most, if
  their IoU is >= ``correct_iou`` (one-to-one, Hungarian); that detection starts no
  track. In the paper a track's box is always the propagated one, so a box that drifted
  off its object (IoU with the object's detection below 0.5) stays off it and lets the
  detection start a second track on the object.
- ``resume_with_detections``: a track not continued in step 2 whose propagated box or
  last box overlaps a detection of its class above beta with IoU >= 0.5 goes on with
  that detection's box (one-to-one, Hungarian). In the paper that detection is
  suppressed and the track is not reported until its visibility passes the threshold
  again. The last box counts too as the propagated box may have drifted off the object
  (often why the visibility dipped).

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
from .params import TrackerParams, in_range
from .record import Detections, RecordError, Tracks
from .registry import register_tracker
from .track_pool import TrackPool, TrackState


@dataclass
class SiamMOTParams(TrackerParams):
    """The solver's constants (the paper's defaults, Sec. 3.4 and 4.2)."""

    continue_threshold: float = in_range(0.4, 0, 1)  # alpha: minimum visibility to continue a track
    start_threshold: float = in_range(0.6, 0, 1)  # beta: minimum detection score to start a track
    # tau: a track below alpha for tau consecutive frames is killed (1: at once, Sec. 5)
    max_dormant: int = in_range(30, 1)
    suppress_iou: float = in_range(0.5, 0, 1)  # detections this close to a tracked instance are dropped
    # Minimum visibility to resume a dormant track (ours: the paper gives none; the
    # authors' solver uses 0.4, alpha's value).
    resume_threshold: float = in_range(0.4, 0, 1)
    # NMS IoU, applied to detections and to track boxes (ours: the paper says "standard
    # NMS"; the authors' solver uses 0.5).
    nms_threshold: float = in_range(0.5, 0, 1)
    # NMS and suppression across classes (ours): an overlap of two classes is then one
    # object seen as both (off for scenes where objects of two classes share a box, e.g.
    # riders).
    class_agnostic: bool = False
    # Detections resume the tracks they overlap (ours, see the module docstring).
    resume_with_detections: bool = False
    # Continued tracks take the box of the detection they overlap most (ours, see the module docstring).
    correct_with_detections: bool = False
    correct_iou: float = in_range(0.3, 0, 1)  # minimum IoU of a continued track with the detection it takes (ours)


@register_tracker("siammot")
class SiamMOTSolver(Tracker):
    """SiamMOT's solver on the shared life cycle (active = TRACKED, dormant = LOST)."""

    Params = SiamMOTParams

    def __init__(self, params=None):
        super().__init__(params)
        # The pool removes a track more than max_lost frames after its last match: the
        # tau-th consecutive frame below alpha is frame last + tau.
        self.pool = TrackPool(LastBox(), min_hits=1, max_lost=self.params.max_dormant - 1)

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

    def _suppressed(self, dets: Detections, propagated: Detections, tracks: np.ndarray) -> np.ndarray:
        """Mask of ``dets`` overlapping the propagated box of one of ``tracks`` (pool
        rows) of their class (any class when ``class_agnostic``) with IoU >= ``suppress_iou``."""
        overlap = iou_matrix(dets.boxes, propagated.boxes[tracks]) >= self.params.suppress_iou
        if not self.params.class_agnostic:
            overlap &= dets.classes[:, None] == propagated.classes[tracks][None, :]
        return overlap.any(axis=1)

    def update(self, detections: Detections) -> Tracks:
        self.frame += 1
        p, pool = self.params, self.pool
        propagated = self._propagated(detections)
        dormant = pool.states == TrackState.LOST
        # Steps 1-2: active tracks outrank dormant ones in the NMS (v <= 1 < 2).
        rank = propagated.scores + 2.0 * ~dormant
        kept = nms(propagated.boxes, rank, self._nms_classes(propagated), p.nms_threshold)
        threshold = np.where(dormant, p.resume_threshold, p.continue_threshold)
        continued = kept[propagated.scores[kept] > threshold[kept]]

        dets = detections.select(nms(detections.boxes, detections.scores, self._nms_classes(detections), p.nms_threshold))
        strong = np.flatnonzero(dets.scores > p.start_threshold)
        candidates = strong[~self._suppressed(dets.select(strong), propagated, continued)]
        corrected, correction = np.zeros(0, np.int64), np.zeros(0, np.int64)
        if p.correct_with_detections:
            corrected, correction, _ = self._take_detections(continued, propagated, dets, strong, p.correct_iou)
            candidates = np.setdiff1d(candidates, correction)
        steady = np.setdiff1d(continued, corrected)
        pool.match(steady, propagated, steady, self.frame)
        pool.match(corrected, dets, correction, self.frame)
        lapsed = np.setdiff1d(np.arange(len(pool)), continued)
        pool.miss(lapsed)
        resumed = np.zeros(0, np.int64)
        if p.resume_with_detections:
            resumed, resumption, candidates = self._take_detections(
                lapsed, propagated, dets, candidates, p.suppress_iou
            )
            pool.match(resumed, dets, resumption, self.frame)
        # Step 3: the tracked instances below their threshold suppress detections too.
        others = np.setdiff1d(kept, np.concatenate([continued, resumed]))
        candidates = candidates[~self._suppressed(dets.select(candidates), propagated, others)]
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
