"""DMTrack's long-term single-target tracker (Zhang et al., "Distractor-Aware Fast
Tracking via Dynamic Convolutions and MOT Philosophy", CVPR 2021, arXiv 2104.12041).

The user gives the target's box in the first frame (:meth:`LongTermTracker.start`); in
every later frame the model detects the top-k class-agnostic candidates conditioned on the
target's template, with a re-id embedding each, and :meth:`LongTermTracker.update` picks
the target among them after NMS, one of the ways of the paper's Table 1 (Sec. 4.2):

- ``"top1"`` ("Top-1"): the highest-scoring candidate;
- ``"position"`` ("PC", position constraint): among the 5 highest-scoring candidates,
  the one closest to the last prediction (distance between box centres);
- ``"reid"`` (DMTrack, Sec. 3.5): every candidate is associated into tracklets by the
  JDE / FairMOT cascade (re-id embedding, IoU and Kalman filter, :mod:`trackers.jde`), so
  that distractors get tracklets of their own; the target is the tracklet carrying the
  first frame's identity, reported absent while that tracklet is not seen;

and ours, ``"position_prior"``: the best candidate after multiplying the scores by a
Gaussian of the distance to the last reported target (a soft position prior).

From the paper: the top-k candidates, their NMS, the MOT-style association of all of them,
the target as the tracklet with the first-frame identity, PC's 5 candidates. Ours, where
the paper is silent: the other constants of :class:`LongTermParams`, PC's distance, and
re-detection after the target's tracklet is lost (:meth:`LongTermTracker._redetect`).
"""
import dataclasses
from dataclasses import dataclass

import numpy as np

from .base import Tracker
from .costs import cosine_distance
from .jde import JDEParams, JDETracker
from .nms import nms
from .params import in_range, one_of
from .record import Detections, RecordError, Tracks
from .registry import register_tracker

TARGET_ID = 1  # the one track id the tracker reports
SELECTIONS = ("top1", "position", "position_prior", "reid")


@dataclass
class LongTermParams(JDEParams):
    """JDE's association constants (used by ``"reid"``) and the selection's; the paper
    gives only ``position_candidates``: the others are ours."""

    selection: str = one_of("reid", SELECTIONS)  # see the module docstring
    nms_iou: float = in_range(0.5, 0, 1)  # candidates overlapping a higher-scored one by more IoU are dropped first
    min_score: float = in_range(0.05, 0, 1)  # candidates below are dropped after NMS (FCOS's inference threshold)
    position_candidates: int = in_range(5, 1)  # "position": PC chooses among this many top candidates (Sec. 4.2: 5)
    # "position_prior": std of the Gaussian on the centre distance, in sizes sqrt(w h)
    position_sigma: float = in_range(1.0, 0, low_open=True)
    # "position_prior": raw score the choice needs to be reported (= det_threshold)
    position_min_score: float = in_range(0.3, 0, 1)
    # Candidates at least this confident are associated and start tracklets: lower than
    # FairMOT's 0.4 (a trained person detector), since a template-conditioned class-agnostic
    # detector scores a target whose appearance changed lower.
    det_threshold: float = in_range(0.3, 0, 1)
    # "reid": max cosine distance from a tracklet born after the target was last seen to the
    # target's templates for the identity to move to it; stricter than JDE's 0.4 fused
    # appearance cost, as no motion cue confirms a re-detection.
    redetect_distance: float = in_range(0.3, 0)


def centre_distances(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Distance from the centre of each (N, 4) xyxy box to the centre of ``box``."""
    box = np.asarray(box, float)
    return np.linalg.norm((boxes[:, :2] + boxes[:, 2:]) / 2 - (box[:2] + box[2:]) / 2, axis=1)


def position_scores(boxes: np.ndarray, scores: np.ndarray, last_box: np.ndarray, sigma: float) -> np.ndarray:
    """``scores`` times exp(-d^2 / (2 sigma^2)), d the distance from each xyxy box's centre to
    ``last_box``'s in units of its size sqrt(w h) (the "position_prior" selection, ours)."""
    last = np.asarray(last_box, float)
    size = max(np.sqrt((last[2] - last[0]) * (last[3] - last[1])), 1e-6)
    distance = centre_distances(boxes, last) / size
    return scores * np.exp(-distance ** 2 / (2 * sigma ** 2))


@register_tracker("longterm")
class LongTermTracker(Tracker):
    """One target through a video: :meth:`start` with the first frame's box, then
    :meth:`update` with each later frame's candidates; returns 0 rows (target absent) or
    1 row: id ``TARGET_ID``, the box, the confidence, class 0.

    Confidence: the chosen candidate's detector score ("top1", "position",
    "position_prior": the raw score, not the penalised one, as the Gaussian is a prior for
    choosing, not evidence of presence) or the target tracklet's score this frame ("reid").
    """

    Params = LongTermParams

    def __init__(self, params=None):
        super().__init__(params)
        jde_fields = [f.name for f in dataclasses.fields(JDEParams)]
        self.association = JDETracker(JDEParams(**{name: getattr(self.params, name) for name in jde_fields}))
        self.reset()

    def reset(self) -> None:
        super().reset()
        self.association.reset()
        self.target_box = None  # the last reported box; None until start
        self.last_seen = 0  # the frame the target was last reported
        self.target_track = None  # "reid": pool id of the target's tracklet
        self.first_template = None  # "reid": the first frame's embedding (unit)
        self.template = None  # "reid": EMA of the target tracklet's embeddings (the pool's template)

    def start(self, box, embedding=None) -> Tracks:
        """Frame 1: the target at ``box`` (4,) x1, y1, x2, y2 given by the user, ``embedding``
        (D,) the template's re-id feature (needed by "reid"); forgets the previous video."""
        box = np.array(box, float)
        if box.shape != (4,):
            raise RecordError(f"LongTermTracker.start: expected the target box as (4,) x1, y1, x2, y2, got {box.shape}")
        if self.params.selection == "reid" and embedding is None:
            raise RecordError("LongTermTracker.start: selection 'reid' needs the template's embedding")
        seed = Detections(box[None], np.ones(1),
                          embeddings=None if embedding is None else np.asarray(embedding, float).reshape(1, -1))
        self.reset()
        self.frame = 1
        if self.params.selection == "reid":
            self.target_track = int(self.association.update(seed).track_ids[0])  # TRACKED from frame 1
            self.first_template = self.template = self._target_template()
        return self._report(box, 1.0)

    def update(self, detections: Detections) -> Tracks:
        """A later frame's candidates (embeddings needed by "reid"); the target's row or none."""
        if self.target_box is None:
            raise RuntimeError("LongTermTracker.update: call start(box, embedding) with the first frame's target first")
        candidates = self._candidates(detections)
        self.frame += 1
        select = {"top1": self._top1, "position": self._position, "position_prior": self._position_prior,
                  "reid": self._reid}[self.params.selection]
        return select(candidates)

    def _candidates(self, detections: Detections) -> Detections:
        """The candidates after NMS and ``min_score``, highest score first, all of class 0
        (the detector is class-agnostic)."""
        embeddings = detections.embeddings
        if self.params.selection == "reid":
            if embeddings is None:
                raise RecordError("Detections.embeddings: selection 'reid' needs the candidates' re-id embeddings")
            if embeddings.shape[1] != len(self.first_template):
                raise RecordError(f"Detections.embeddings: expected {len(self.first_template)} dims like the "
                                  f"template's, got {embeddings.shape[1]}")
        keep = nms(detections.boxes, detections.scores, np.zeros(len(detections), np.int64), self.params.nms_iou)
        keep = keep[detections.scores[keep] >= self.params.min_score]
        return Detections(detections.boxes[keep], detections.scores[keep],
                          embeddings=None if embeddings is None else embeddings[keep])

    def _report(self, box: np.ndarray, score: float) -> Tracks:
        self.target_box, self.last_seen = box, self.frame
        return Tracks(np.array([TARGET_ID]), box[None], np.array([score]), np.zeros(1, np.int64))

    def _top1(self, candidates: Detections) -> Tracks:
        return self._report(candidates.boxes[0], candidates.scores[0]) if len(candidates) else Tracks.empty()

    def _position(self, candidates: Detections) -> Tracks:
        """PC (Sec. 4.2): of the ``position_candidates`` best candidates, the one nearest the
        last prediction, i.e. the last reported box (the previous frame's, unless it had none)."""
        top = slice(0, self.params.position_candidates)  # the candidates come highest score first
        if not len(candidates):
            return Tracks.empty()
        best = int(np.argmin(centre_distances(candidates.boxes[top], self.target_box)))
        return self._report(candidates.boxes[best], candidates.scores[best])

    def _position_prior(self, candidates: Detections) -> Tracks:
        p = self.params
        if not len(candidates):
            return Tracks.empty()
        best = int(np.argmax(position_scores(candidates.boxes, candidates.scores, self.target_box, p.position_sigma)))
        if candidates.scores[best] < p.position_min_score:
            return Tracks.empty()
        return self._report(candidates.boxes[best], candidates.scores[best])

    def _reid(self, candidates: Detections) -> Tracks:
        """The JDE cascade on all candidates; the target's tracklet if it is in the output,
        else :meth:`_redetect`."""
        tracklets = self.association.update(candidates)
        rows = np.flatnonzero(tracklets.track_ids == self.target_track)
        if not len(rows):
            rows = self._redetect(tracklets)
            if not len(rows):
                return Tracks.empty()
        self.template = self._target_template()
        return self._report(tracklets.boxes[rows[0]], tracklets.scores[rows[0]])

    def _target_template(self) -> np.ndarray:
        pool = self.association.pool
        return pool.embeddings[pool.ids == self.target_track][0].copy()

    def _redetect(self, tracklets: Tracks) -> np.ndarray:
        """Re-detection after the target's tracklet is lost or removed (ours; the paper is silent).

        Among this frame's output tracklets born after the target was last seen (one that
        coexisted with it is another object), the one whose template (the pool's EMA) is
        closest to the target's; the distance is the smaller of those to the EMA template
        (follows appearance change) and to the first-frame one (the only sure view of the
        target, it cannot drift). If it is <= ``redetect_distance``, the identity moves to
        that tracklet and the abandoned one is removed from the pool, so that it cannot take
        the target's detections later. Returns that tracklet's row in ``tracklets`` (or none).
        """
        pool = self.association.pool
        pool_rows = np.nonzero(tracklets.track_ids[:, None] == pool.ids[None, :])[1]
        newborn = np.flatnonzero(pool.start_frame[pool_rows] > self.last_seen)
        if not len(newborn):
            return newborn
        templates = np.stack([self.template, self.first_template])
        distance = cosine_distance(pool.embeddings[pool_rows[newborn]], templates).min(axis=1)
        best = int(np.argmin(distance))
        if distance[best] > self.params.redetect_distance:
            return newborn[:0]
        pool.remove(np.flatnonzero(pool.ids == self.target_track))
        pool.prune(self.association.frame)
        self.target_track = int(tracklets.track_ids[newborn[best]])
        return newborn[best:best + 1]
