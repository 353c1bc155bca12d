"""MOTChallenge preprocessing of one sequence before its metrics are computed.

Follows TrackEval's ``MotChallenge2DBox.get_preprocessed_seq_data``, per frame:

1. tracker boxes matched (Hungarian on IoU, IoU >= 0.5) to gt boxes of a distractor
   class are removed: they are neither true nor false positives;
2. zero-marked gt rows and gt rows of other classes are removed.

MOT15 gt has no class (-1 everywhere): none of its rows is a distractor and only the
zero-marked ones are removed, which is TrackEval's MOT15 rule. Extension over TrackEval
(which stops with an error on a tracker class other than pedestrian): result rows of
another class (> 0, != ``class_id``) are dropped and counted; rows of class <= 0 are
read as the evaluated class. Every removal is counted, logged and returned.
"""
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from trackers.costs import iou_matrix

from ..data.mot_challenge import MOT_IGNORE_CLASSES, NOT_GIVEN
from .mot_files import MOTSequence

logger = logging.getLogger(__name__)

_EPS = np.finfo("float").eps
DISTRACTOR_IOU = 0.5  # TrackEval's matching threshold for distractor suppression

REMOVED_KEYS = ("tracker_other_class", "tracker_on_distractor", "gt_zero_marked", "gt_other_class")


@dataclass
class PreprocessedSequence:
    """Per-frame inputs of the metrics; list index t is frame t + 1."""

    name: str
    seq_length: int
    gt_ids: List[np.ndarray]
    gt_boxes: List[np.ndarray]  # (n, 4) x, y, w, h
    tracker_ids: List[np.ndarray]
    tracker_boxes: List[np.ndarray]
    similarity: List[np.ndarray]  # (n_gt, n_tracker) IoU
    removed: Dict[str, int] = field(default_factory=dict)  # REMOVED_KEYS -> rows removed


def box_iou_xywh(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """IoU matrix of x, y, w, h boxes, with TrackEval's ``_calculate_box_ious`` guard
    (0 for a box whose area is not above eps)."""
    a = np.asarray(boxes1, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes2, dtype=np.float64).reshape(-1, 4)
    iou = iou_matrix(np.hstack([a[:, :2], a[:, :2] + a[:, 2:]]), np.hstack([b[:, :2], b[:, :2] + b[:, 2:]]))
    iou[np.prod(a[:, 2:], axis=1) <= _EPS, :] = 0
    iou[:, np.prod(b[:, 2:], axis=1) <= _EPS] = 0
    return iou


def _split_by_frame(seq: MOTSequence, keep: np.ndarray):
    """Row indices of ``seq`` (those with ``keep``) for each frame 1..seq_length."""
    rows = np.flatnonzero(keep)
    rows = rows[np.argsort(seq.frames[rows], kind="stable")]
    bounds = np.searchsorted(seq.frames[rows], np.arange(1, seq.seq_length + 2))
    return np.split(rows, bounds[1:-1])


def _distractor_matches(similarity: np.ndarray, is_distractor: np.ndarray) -> np.ndarray:
    """Tracker columns matched (IoU >= 0.5) to a distractor gt row."""
    if similarity.size == 0 or not is_distractor.any():
        return np.zeros(0, dtype=np.int64)
    scores = similarity.copy()
    scores[scores < DISTRACTOR_IOU - _EPS] = 0
    rows, cols = linear_sum_assignment(-scores)
    matched = scores[rows, cols] > 0 + _EPS
    rows, cols = rows[matched], cols[matched]
    return cols[is_distractor[rows]]


def _check_frames(gt: MOTSequence, result: MOTSequence) -> None:
    for what, seq in (("gt", gt), ("result", result)):
        if len(seq) and (seq.frames.min() < 1 or seq.frames.max() > gt.seq_length):
            raise ValueError(
                f"sequence {gt.name}: {what} frames must lie in 1..{gt.seq_length} (seqLength), "
                f"got {seq.frames.min()}..{seq.frames.max()}"
            )


def preprocess_sequence(
    gt: MOTSequence,
    result: MOTSequence,
    class_id: int = 1,
    distractor_classes: Sequence[int] = MOT_IGNORE_CLASSES,
) -> PreprocessedSequence:
    """Apply the MOTChallenge rules (module docstring) to one sequence."""
    _check_frames(gt, result)
    removed = Counter({k: 0 for k in REMOVED_KEYS})
    tracker_kept = (result.classes <= 0) | (result.classes == class_id)
    removed["tracker_other_class"] = int((~tracker_kept).sum())
    gt_classes = np.where(gt.classes == NOT_GIVEN, class_id, gt.classes)  # MOT15: no class given
    considered = gt.scores.astype(int) != 0  # TrackEval reads the mark as int
    gt_distractor = np.isin(gt.classes, list(distractor_classes))
    gt_kept = considered & (gt_classes == class_id)
    removed["gt_zero_marked"] = int((~considered).sum())
    removed["gt_other_class"] = int((considered & ~gt_kept).sum())

    out = PreprocessedSequence(gt.name, gt.seq_length, [], [], [], [], [])
    all_gt = np.ones(len(gt), dtype=bool)
    for g, t in zip(_split_by_frame(gt, all_gt), _split_by_frame(result, tracker_kept)):
        similarity = box_iou_xywh(gt.boxes[g], result.boxes[t])
        drop = _distractor_matches(similarity, gt_distractor[g])
        removed["tracker_on_distractor"] += len(drop)
        t = np.delete(t, drop)
        keep = gt_kept[g]
        out.gt_ids.append(gt.ids[g[keep]])
        out.gt_boxes.append(gt.boxes[g[keep]])
        out.tracker_ids.append(result.ids[t])
        out.tracker_boxes.append(result.boxes[t])
        out.similarity.append(np.delete(similarity, drop, axis=1)[keep])
    out.removed = dict(removed)
    if any(out.removed.values()):
        logger.info("%s: removed by the MOTChallenge preprocessing: %s", gt.name,
                    {k: v for k, v in out.removed.items() if v})
    return out
