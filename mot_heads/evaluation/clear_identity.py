"""CLEAR MOT (Bernardin & Stiefelhagen, 2008) and Identity (Ristani et al., 2016) metrics
through ``motmetrics``.

Each preprocessed frame goes into a ``motmetrics.MOTAccumulator`` with the IoU distance
(``motmetrics.distances.iou_matrix``, ``max_iou=0.5``: pairs with IoU >= 0.5 may match),
frames where gt and tracker are both empty skipped as ``motmetrics.utils.
compare_to_groundtruth`` does. Sequences are combined by ``compute_many(...,
generate_overall=True)``: counts summed, ratios recomputed from the summed counts.

Conventions taken from TrackEval where the two differ in what they report:

- MOTP is TrackEval's: the mean IoU of the matches, i.e. ``1 - motmetrics' MOTP`` (which
  is the mean distance ``1 - IoU``); 0 when nothing matched. The combined MOTP is the
  match-weighted mean over sequences (TrackEval's ``MOTP_sum / CLR_TP``); motmetrics'
  own overall MOTP turns NaN as soon as one sequence has no match.
- Where motmetrics divides 0 by 0 (no gt, no tracker boxes) the ratios take TrackEval's
  ``x / max(1, n)`` values: MOTA = (TP - FP - IDSW) / max(1, #gt), IDF1/IDP/IDR = 0.

Kept as motmetrics computes them, though TrackEval's ``CLEAR`` differs in corner cases:
MT counts tracks covered >= 80 % (TrackEval: > 80 %); Frag counts tracked -> missed
transitions inside a track's tracked span (TrackEval counts re-starts of tracking, also
after frames where the gt is absent); before its Hungarian step motmetrics keeps the last
pair a gt was matched to, however long ago (TrackEval favours only last frame's pair).
"""
from typing import Dict, Sequence, Union

import motmetrics as mm
import numpy as np

from .preprocessing import PreprocessedSequence

MATCH_IOU = 0.5
COMBINED = "COMBINED"

# TrackEval-style names -> motmetrics metric names.
_COUNTS = {
    "IDSW": "num_switches",
    "FP": "num_false_positives",
    "FN": "num_misses",
    "Frag": "num_fragmentations",
    "MT": "mostly_tracked",
    "PT": "partially_tracked",
    "ML": "mostly_lost",
}
_RATIOS = {"MOTA": "mota", "IDF1": "idf1", "IDP": "idp", "IDR": "idr"}
_HELPERS = ("motp", "num_detections", "num_objects", "idtp", "idfp", "idfn")
MM_METRICS = list(_RATIOS.values()) + list(_COUNTS.values()) + list(_HELPERS)

Metrics = Dict[str, Union[int, float]]


def accumulate(seq: PreprocessedSequence) -> mm.MOTAccumulator:
    """The motmetrics accumulator of one preprocessed sequence (frame ids 1-based)."""
    acc = mm.MOTAccumulator(auto_id=False)
    for t, (g, gb, h, hb) in enumerate(zip(seq.gt_ids, seq.gt_boxes, seq.tracker_ids, seq.tracker_boxes)):
        if len(g) or len(h):
            acc.update(g, h, mm.distances.iou_matrix(gb, hb, max_iou=MATCH_IOU), frameid=t + 1)
    return acc


def _finite_or(value: float, fallback: float) -> float:
    value = float(value)
    return value if np.isfinite(value) else float(fallback)


def _row_metrics(row) -> Metrics:
    """Our keys from one row of motmetrics' summary (see the module docstring)."""
    out: Metrics = {key: int(row[name]) for key, name in _COUNTS.items()}
    tp, fp, idsw = int(row["num_detections"]), out["FP"], out["IDSW"]
    idtp, idfp, idfn = (float(row[k]) for k in ("idtp", "idfp", "idfn"))
    out["MOTA"] = _finite_or(row["mota"], (tp - fp - idsw) / max(1, int(row["num_objects"])))
    out["MOTP"] = 1.0 - float(row["motp"]) if tp > 0 else 0.0
    out["IDF1"] = _finite_or(row["idf1"], idtp / max(1.0, idtp + 0.5 * idfp + 0.5 * idfn))
    out["IDP"] = _finite_or(row["idp"], idtp / max(1.0, idtp + idfp))
    out["IDR"] = _finite_or(row["idr"], idtp / max(1.0, idtp + idfn))
    return out


def evaluate_clear_identity(sequences: Sequence[PreprocessedSequence]) -> Dict[str, Metrics]:
    """MOTA, MOTP, IDF1, IDP, IDR, IDSW, FP, FN, Frag, MT, PT, ML per sequence name and
    for ``"COMBINED"``."""
    if not sequences:
        raise ValueError("no sequence to evaluate")
    summary = mm.metrics.create().compute_many(
        [accumulate(s) for s in sequences],
        metrics=MM_METRICS,
        names=[s.name for s in sequences],
        generate_overall=True,
    )
    results = {s.name: _row_metrics(summary.iloc[i]) for i, s in enumerate(sequences)}
    combined = _row_metrics(summary.iloc[-1])
    matches = [int(summary.iloc[i]["num_detections"]) for i in range(len(sequences))]
    motp_sum = sum(results[s.name]["MOTP"] * n for s, n in zip(sequences, matches))
    combined["MOTP"] = motp_sum / max(1, sum(matches))
    results[COMBINED] = combined
    return results
