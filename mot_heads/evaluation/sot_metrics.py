"""Single-object tracking metrics: LaSOT OPE, VOT-LT and OxUvA, per sequence and combined.

Every protocol compares one predicted box per frame with the gt box of that frame.
A frame's gt is absent when its row has no box (NaN or zero size) or it is flagged
(LaSOT ``full_occlusion``/``out_of_view``); a prediction is absent when its row has no
box. Curves are fractions, metrics percentages.

- OPE (LaSOT; Fan et al., CVPR 2019; its MATLAB toolkit, pysot-toolkit and pytracking
  agree): success(t) = fraction of frames with IoU > t for t in 0:0.05:1, AUC = mean of
  the 21 values, success rate = success(0.5) (TLP, Moudgil and Gandhi); precision(d) = fraction of frames whose centre error is <= d px for d in
  0:50, reported at 20 px; normalised precision: the centre error with x divided by the
  gt width and y by the gt height, d in 0:0.01:0.5, reported at 0.2 (as the toolkits print
  it) and as its mean (the AUC the LaSOT paper ranks by). A frame whose target is absent never
  counts as a success, yet stays in the denominator (all three toolkits divide by the
  whole sequence length). An absent prediction has IoU 0 and an infinite centre error,
  and the first frame is scored as written (both as pysot-toolkit; the MATLAB toolkit and
  pytracking repeat the previous box instead, and overwrite the first frame with the gt,
  the box trackers write there anyway). Sequences combine by averaging their curves (all
  of them: the MATLAB toolkit also drops sequences whose curve is zero everywhere).
- VOT-LT (Lukezic et al., "Now you see me", ACCV 2018, and IEEE T-Cyb 2020): a
  prediction counts at threshold tau when it has a box and confidence >= tau (the
  paper's A_t(tau) != empty); Pr(tau) = mean IoU over counted frames (IoU 0 where the
  target is absent; 1 when no frame counts, as the VOT toolkit), Re(tau) = IoU summed
  over counted frames / frames where the target is visible, F = 2 Pr Re / (Pr + Re).
  Thresholds: the confidences of the boxes of all sequences (VOT toolkit
  ``determine_thresholds``); sequences combine by averaging Pr and Re curves, then F;
  reported: max F with its Pr and Re.
- OxUvA (Valmadre et al., ECCV 2018; toolkit ``oxuva/assess.py``): TPR = present frames
  with a box of IoU >= 0.5 / present frames, TNR = absent frames without a box / absent
  frames, counts pooled over sequences (``assessment_sum``); MaxGM (``quality_metrics``)
  = max over p in [0, 1] of sqrt(((1 - p) TPR) ((1 - p) TNR + p)): the best geometric
  mean of TPR and TNR the tracker reaches when it also reports "absent" at random with
  probability p (the operating points between its own and the trivial (TPR 0, TNR 1)).
"""
from dataclasses import dataclass
from typing import Dict, Iterable, Mapping, Optional, Tuple

import numpy as np
from tqdm import tqdm

from ..errors import InputError
from .clear_identity import COMBINED
from .mot_metrics import check_sequence_names
from .sot_files import SOTSequence

# LaSOT toolkit thresholds (eval_tracker.m): overlap 0:0.05:1, centre error 0:50 px, 0:0.01:0.5.
SUCCESS_THRESHOLDS = np.linspace(0.0, 1.0, 21)
PRECISION_THRESHOLDS = np.arange(51, dtype=np.float64)
NORM_PRECISION_THRESHOLDS = np.arange(51, dtype=np.float64) / 100
PRECISION_AT = 20  # index of 20 px in PRECISION_THRESHOLDS, of 0.2 in NORM_PRECISION_THRESHOLDS
OXUVA_IOU = 0.5  # OxUvA: a present prediction is correct at IoU >= 0.5
VOT_RESOLUTION = 100  # VOT toolkit: number of confidence thresholds

SUCCESS_RATE_AT = 10  # index of IoU 0.5 in SUCCESS_THRESHOLDS: TLP's success rate (IoU > 0.5)

OPE_KEYS = ("success_auc", "precision_20px", "norm_precision", "norm_precision_auc", "success_rate_50")
LONGTERM_KEYS = ("lt_precision", "lt_recall", "lt_fscore")
OXUVA_KEYS = ("tpr", "tnr", "maxgm")
# The metrics each benchmark's protocol reports (dataset metadata ``sot_protocol``):
# OxUvA TPR, TNR, MaxGM (Valmadre et al.); VOT-LT Pr, Re, F (Lukezic et al.); TLP the
# OPE success AUC and precision at 20 px (DMTrack Sec. 4.3: "We follow the OPE evaluation")
# and the TLP paper's success rate at IoU 0.5. Datasets without a protocol report all.
PROTOCOL_KEYS = {"oxuva": OXUVA_KEYS, "vot_lt": LONGTERM_KEYS,
                 "tlp": ("success_auc", "precision_20px", "success_rate_50")}

Metrics = Dict[str, Optional[float]]


@dataclass
class FrameScores:
    """Per-frame comparison of one sequence's predictions with its gt."""

    iou: np.ndarray  # (N,) 0 where the gt or the prediction is absent
    center_error: np.ndarray  # (N,) pixels; inf where the gt or the prediction is absent
    norm_center_error: np.ndarray  # (N,) in gt widths / heights; inf likewise
    visible: np.ndarray  # (N,) bool: the gt has a box
    predicted: np.ndarray  # (N,) bool: the prediction has a box
    confidence: Optional[np.ndarray] = None  # (N,) the tracker's confidence, when it gives one

    def without_first_frame(self) -> "FrameScores":
        """The scores of frames 2..N (OxUvA scores no init frame: ``oxuva.task``)."""
        return FrameScores(*(None if v is None else v[1:] for v in (
            self.iou, self.center_error, self.norm_center_error, self.visible, self.predicted, self.confidence)))


def _boxes(boxes, what: str) -> np.ndarray:
    array = np.asarray(boxes, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"{what}: expected an (N, 4) array of x, y, w, h, got shape {array.shape}")
    return array


def _has_box(boxes: np.ndarray) -> np.ndarray:
    """(N,) bool: rows that are a box (finite, positive width and height)."""
    return np.isfinite(boxes).all(axis=1) & (np.nan_to_num(boxes[:, 2:]) > 0).all(axis=1)


def compare_frames(gt_boxes, pred_boxes, gt_absent=None, confidences=None) -> FrameScores:
    """Compare (N, 4) x, y, w, h predictions with the gt, frame by frame.

    A row without a box (NaN, zero or negative size) is absent; ``gt_absent`` (N,) flags
    more frames whose target is absent (LaSOT's full_occlusion / out_of_view, whose gt rows
    keep a box). ``confidences`` (N,) must be finite where a box is predicted.
    """
    gt, pred = _boxes(gt_boxes, "gt boxes"), _boxes(pred_boxes, "predicted boxes")
    if len(gt) != len(pred):
        raise ValueError(f"{len(pred)} predicted boxes for {len(gt)} gt frames; expected one per frame")
    visible = _has_box(gt)
    if gt_absent is not None:
        visible &= ~np.asarray(gt_absent, dtype=bool).reshape(len(gt))
    predicted = _has_box(pred)
    both = visible & predicted
    g, p = gt[both], pred[both]
    # IoU of x, y, w, h boxes (the toolkits' 1-based "+1" pixel convention gives the same value).
    inter = np.prod(np.clip(np.minimum(g[:, :2] + g[:, 2:], p[:, :2] + p[:, 2:]) - np.maximum(g[:, :2], p[:, :2]),
                            0, None), axis=1)
    iou = np.zeros(len(gt))
    iou[both] = inter / (np.prod(g[:, 2:], axis=1) + np.prod(p[:, 2:], axis=1) - inter)
    # Centre x + (w - 1) / 2 in the toolkits; the -1/2 cancels in every difference.
    offset = (p[:, :2] + p[:, 2:] / 2) - (g[:, :2] + g[:, 2:] / 2)
    center_error = np.full(len(gt), np.inf)
    center_error[both] = np.linalg.norm(offset, axis=1)
    norm_center_error = np.full(len(gt), np.inf)
    norm_center_error[both] = np.linalg.norm(offset / g[:, 2:], axis=1)
    if confidences is not None:
        confidences = np.asarray(confidences, dtype=np.float64).reshape(-1)
        if len(confidences) != len(gt):
            raise ValueError(f"{len(confidences)} confidences for {len(gt)} frames; expected one per frame")
        if not np.isfinite(confidences[predicted]).all():
            raise ValueError("confidences must be finite in every frame with a predicted box")
    return FrameScores(iou, center_error, norm_center_error, visible, predicted, confidences)


# ---------------------------------------------------------------------------- OPE (LaSOT)

def success_curve(frames: FrameScores) -> np.ndarray:
    """(21,) fraction of all frames with IoU > t for t in :data:`SUCCESS_THRESHOLDS`."""
    return (frames.iou[:, None] > SUCCESS_THRESHOLDS[None, :]).mean(axis=0)


def precision_curve(frames: FrameScores, normalized: bool = False) -> np.ndarray:
    """(51,) fraction of all frames with centre error <= d, d in :data:`PRECISION_THRESHOLDS`
    (pixels) or, ``normalized``, :data:`NORM_PRECISION_THRESHOLDS`."""
    error, thresholds = ((frames.norm_center_error, NORM_PRECISION_THRESHOLDS) if normalized
                         else (frames.center_error, PRECISION_THRESHOLDS))
    return (error[:, None] <= thresholds[None, :]).mean(axis=0)


def _ope_metrics(success: np.ndarray, precision: np.ndarray, norm_precision: np.ndarray) -> Metrics:
    """:data:`OPE_KEYS` of (mean) curves, in percent. ``norm_precision`` is the curve at
    0.2, the number the LaSOT toolkits print; ``norm_precision_auc`` its mean over 0..0.5,
    by which the LaSOT paper ranks (following TrackingNet)."""
    return {
        "success_auc": 100 * float(success.mean()),
        "precision_20px": 100 * float(precision[PRECISION_AT]),
        "norm_precision": 100 * float(norm_precision[PRECISION_AT]),
        "norm_precision_auc": 100 * float(norm_precision.mean()),
        "success_rate_50": 100 * float(success[SUCCESS_RATE_AT]),
    }


# ---------------------------------------------------------------------------- VOT-LT

def confidence_thresholds(confidences: Iterable[float], resolution: int = VOT_RESOLUTION) -> np.ndarray:
    """Descending thresholds: +inf, the confidences (``resolution - 2`` evenly spaced
    order statistics when there are more), -inf; the VOT toolkit's rule."""
    scores = np.sort(np.asarray(list(confidences), dtype=np.float64))[::-1]
    if len(scores) > resolution - 2:
        step = len(scores) // (resolution - 2)
        scores = scores[np.round(np.linspace(step, len(scores) - step, resolution - 2)).astype(int)]
    return np.concatenate([[np.inf], scores, [-np.inf]])


def longterm_curves(frames: FrameScores, thresholds: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Tracking precision and recall (Lukezic et al.) at each threshold, as fractions."""
    if frames.confidence is None:
        raise ValueError("long-term precision and recall need the tracker's confidences")
    counted = frames.predicted[:, None] & (frames.confidence[:, None] >= thresholds[None, :])
    n_counted = counted.sum(axis=0)
    overlap = (frames.iou[:, None] * counted).sum(axis=0)
    precision = np.divide(overlap, n_counted, out=np.ones(len(thresholds)), where=n_counted > 0)
    recall = overlap / max(int(frames.visible.sum()), 1)
    return precision, recall


def best_f_score(precision: np.ndarray, recall: np.ndarray) -> Metrics:
    """:data:`LONGTERM_KEYS` in percent at the threshold of maximal F = 2 Pr Re / (Pr + Re)."""
    total = precision + recall
    f = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    best = int(np.argmax(f))
    return {"lt_precision": 100 * float(precision[best]), "lt_recall": 100 * float(recall[best]),
            "lt_fscore": 100 * float(f[best])}


# ---------------------------------------------------------------------------- OxUvA

def oxuva_counts(frames: FrameScores, iou_threshold: float = OXUVA_IOU) -> Dict[str, int]:
    """TP, FN (present frames with / without a correct box), TN, FP (absent frames without /
    with a box), as ``oxuva.assess.assess_frame``."""
    correct = frames.predicted & (frames.iou >= iou_threshold)
    return {
        "TP": int((frames.visible & correct).sum()),
        "FN": int((frames.visible & ~correct).sum()),
        "TN": int((~frames.visible & ~frames.predicted).sum()),
        "FP": int((~frames.visible & frames.predicted).sum()),
    }


def max_geometric_mean(tpr: float, tnr: float) -> float:
    """MaxGM (Eq. 10, DMTrack): max over p in [0, 1] of sqrt(((1 - p) TPR) ((1 - p) TNR + p)).

    With q = 1 - p the product is TPR (q - (1 - TNR) q^2), largest at q = 1 / (2 (1 - TNR))
    when that is <= 1 (TNR <= 0.5), else at q = 1.
    """
    if tnr <= 0.5:
        return float(np.sqrt(tpr / (4 * (1 - tnr))))
    return float(np.sqrt(tpr * tnr))


def oxuva_metrics(counts: Mapping[str, int]) -> Metrics:
    """:data:`OXUVA_KEYS` in percent; None where undefined (no present, or no absent frame)."""
    present, absent = counts["TP"] + counts["FN"], counts["TN"] + counts["FP"]
    tpr = counts["TP"] / present if present else None
    tnr = counts["TN"] / absent if absent else None
    maxgm = max_geometric_mean(tpr, tnr) if present and absent else None
    return {key: None if value is None else 100 * value for key, value in zip(OXUVA_KEYS, (tpr, tnr, maxgm))}


# ---------------------------------------------------------------------------- sequences

def compare_sequences(
    gts: Mapping[str, SOTSequence], results: Mapping[str, SOTSequence], progress: bool = False
) -> Dict[str, FrameScores]:
    """:class:`FrameScores` of each gt sequence (sorted by name) against its result.

    Every gt sequence needs a result and every result a gt, of the same length; the
    target must be visible in the first frame (the tracker starts from that box).
    """
    check_sequence_names(gts, results)
    frames = {}
    for name in tqdm(sorted(gts), desc="evaluating", unit="seq", disable=None if progress else True):
        gt, result = gts[name], results[name]
        if len(gt) == 0 or gt.absent[0]:
            raise InputError(f"sequence {name}: no gt box in the first frame; the tracker starts from that box")
        if len(result) != len(gt):
            raise ValueError(f"sequence {name}: {len(result)} result boxes for {len(gt)} gt frames")
        frames[name] = compare_frames(gt.boxes, result.boxes, confidences=result.confidences)
    return frames


def mean_success_curve(frames: Iterable[FrameScores]) -> np.ndarray:
    """The LaSOT success curve of a set of sequences: the mean of their curves."""
    return np.mean([success_curve(f) for f in frames], axis=0)


def evaluate_sot(frames: Mapping[str, FrameScores], resolution: int = VOT_RESOLUTION) -> Dict[str, Metrics]:
    """Metrics of each sequence and of ``"COMBINED"``, each protocol combined its own way.

    Keys, in this order: :data:`OPE_KEYS`; :data:`LONGTERM_KEYS` when every sequence has
    confidences (ValueError when only some have), at thresholds pooled over all sequences;
    :data:`OXUVA_KEYS`. Percentages as floats; None where a ratio is undefined. An empty
    ``frames`` is a ValueError.
    """
    if not frames:
        raise ValueError("no sequence to evaluate")
    names = list(frames)
    with_confidence = [n for n in names if frames[n].confidence is not None]
    if with_confidence and len(with_confidence) < len(names):
        missing = sorted(set(names) - set(with_confidence))
        raise InputError(f"confidences given for some sequences but not for {', '.join(missing)}; "
                         "long-term metrics need them for every sequence")
    curves = {
        n: (success_curve(f), precision_curve(f), precision_curve(f, normalized=True)) for n, f in frames.items()
    }
    ope = {n: _ope_metrics(*curves[n]) for n in names}
    ope[COMBINED] = _ope_metrics(*(np.mean([curves[n][i] for n in names], axis=0) for i in range(3)))
    longterm = {}
    if with_confidence:
        thresholds = confidence_thresholds(
            np.concatenate([f.confidence[f.predicted] for f in frames.values()]), resolution
        )
        pr_re = {n: longterm_curves(f, thresholds) for n, f in frames.items()}
        longterm = {n: best_f_score(*pr_re[n]) for n in names}
        longterm[COMBINED] = best_f_score(*(np.mean([pr_re[n][i] for n in names], axis=0) for i in range(2)))
    counts = {n: oxuva_counts(f) for n, f in frames.items()}
    oxuva = {n: oxuva_metrics(counts[n]) for n in names}
    oxuva[COMBINED] = oxuva_metrics({k: sum(c[k] for c in counts.values()) for k in ("TP", "FN", "TN", "FP")})
    return {n: {**ope[n], **longterm.get(n, {}), **oxuva[n]} for n in names + [COMBINED]}


def protocol_metrics(metrics: Mapping[str, Metrics], protocol: Optional[str]) -> Dict[str, Metrics]:
    """:func:`evaluate_sot`'s metrics restricted to those :data:`PROTOCOL_KEYS` gives
    ``protocol`` (None: all); a ValueError when one is missing (VOT-LT without confidences)."""
    if protocol is None:
        return dict(metrics)
    if protocol not in PROTOCOL_KEYS:
        raise ValueError(f"unknown SOT protocol {protocol!r}: expected one of {', '.join(PROTOCOL_KEYS)}")
    keys = PROTOCOL_KEYS[protocol]
    missing = [k for k in keys if k not in next(iter(metrics.values()))]
    if missing:
        raise ValueError(f"the {protocol} protocol reports {', '.join(missing)}, which need the tracker's "
                         "confidence with every box (sot_confidence)")
    return {name: {k: values[k] for k in keys} for name, values in metrics.items()}


def format_sot_table(metrics: Mapping[str, Metrics]) -> str:
    """A text table: one row per sequence then COMBINED; percentages with 1 decimal, "-"
    where undefined."""
    names = [n for n in metrics if n != COMBINED] + ([COMBINED] if COMBINED in metrics else [])
    keys = list(metrics[names[0]])
    cells = [["Sequence", *keys]]
    for name in names:
        cells.append([name] + ["-" if metrics[name][k] is None else f"{metrics[name][k]:.1f}" for k in keys])
    widths = [max(len(r[i]) for r in cells) for i in range(len(keys) + 1)]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in cells]
    lines.insert(1, "-" * len(lines[0]))
    if COMBINED in metrics and len(names) > 1:
        lines.insert(len(lines) - 1, "-" * len(lines[0]))
    return "\n".join(lines)
