"""HOTA (Luiten et al., "HOTA: A Higher Order Metric for Evaluating Multi-Object
Tracking", IJCV 2021), computed exactly as TrackEval's ``trackeval.metrics.HOTA``.

TrackEval cannot be installed beside Detectron2 here (it needs numpy>=2), so this module
re-implements its ``eval_sequence`` and ``combine_sequences`` line for line in meaning:
the same thresholds, the same global alignment score, the same per-frame Hungarian
matching and the same float guards (``np.finfo(float).eps`` on thresholds, ``1e-10``
on LocA, ``max(1, .)`` on every denominator).

A per-sequence result is a dict of TrackEval's fields: arrays over the 19 alphas for
HOTA, DetA, AssA, DetRe, DetPr, AssRe, AssPr, LocA, OWTA, HOTA_TP, HOTA_FN, HOTA_FP, and
the floats HOTA(0), LocA(0), HOTALocA(0). :func:`summarize_hota` gives the reported values
(the mean over alphas).
"""
from typing import Dict, Iterable, List, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

# Localisation thresholds 0.05, 0.10, ..., 0.95 (HOTA paper; TrackEval's array_labels).
ALPHAS = np.arange(0.05, 0.99, 0.05)
_EPS = np.finfo("float").eps

INTEGER_ARRAY_FIELDS = ("HOTA_TP", "HOTA_FN", "HOTA_FP")
FLOAT_ARRAY_FIELDS = ("HOTA", "DetA", "AssA", "DetRe", "DetPr", "AssRe", "AssPr", "LocA", "OWTA")
FLOAT_FIELDS = ("HOTA(0)", "LocA(0)", "HOTALocA(0)")

HOTAResult = Dict[str, np.ndarray]


def _relabel(ids_per_frame: List[np.ndarray]):
    """Map arbitrary ids to 0..K-1 (TrackEval relabels ids in its preprocessing)."""
    ids_per_frame = [np.asarray(i, dtype=np.int64).reshape(-1) for i in ids_per_frame]
    unique = np.unique(np.concatenate(ids_per_frame + [np.zeros(0, np.int64)]))
    return [np.searchsorted(unique, i) for i in ids_per_frame], len(unique)


def _empty_result() -> HOTAResult:
    res = {f: np.zeros(len(ALPHAS)) for f in FLOAT_ARRAY_FIELDS + INTEGER_ARRAY_FIELDS}
    res.update({f: 0.0 for f in FLOAT_FIELDS})
    return res


def _final_fields(res: HOTAResult) -> HOTAResult:
    """TrackEval's ``HOTA._compute_final_fields``: the fields derived from the others."""
    tp, fn, fp = res["HOTA_TP"], res["HOTA_FN"], res["HOTA_FP"]
    res["DetRe"] = tp / np.maximum(1, tp + fn)
    res["DetPr"] = tp / np.maximum(1, tp + fp)
    res["DetA"] = tp / np.maximum(1, tp + fn + fp)  # HOTA paper: DetA = |TP| / (|TP| + |FN| + |FP|)
    res["HOTA"] = np.sqrt(res["DetA"] * res["AssA"])  # HOTA paper: HOTA_alpha = sqrt(DetA * AssA)
    res["OWTA"] = np.sqrt(res["DetRe"] * res["AssA"])
    res["HOTA(0)"] = float(res["HOTA"][0])
    res["LocA(0)"] = float(res["LocA"][0])
    res["HOTALocA(0)"] = res["HOTA(0)"] * res["LocA(0)"]
    return res


def evaluate_hota(
    gt_ids: Sequence[np.ndarray],
    tracker_ids: Sequence[np.ndarray],
    similarity: Sequence[np.ndarray],
) -> HOTAResult:
    """HOTA fields of one sequence from per-frame ids and gt x tracker IoU matrices.

    Ids may be any integers (unique within a frame); ``similarity[t]`` has shape
    (len(gt_ids[t]), len(tracker_ids[t])).
    """
    gt_ids, num_gt_ids = _relabel(list(gt_ids))
    tracker_ids, num_tracker_ids = _relabel(list(tracker_ids))
    similarity = [np.asarray(s, dtype=np.float64) for s in similarity]
    num_gt_dets = sum(len(i) for i in gt_ids)
    num_tracker_dets = sum(len(i) for i in tracker_ids)
    res = _empty_result()
    # TrackEval returns early on an empty side: everything a miss / a false positive, LocA 1.
    if num_tracker_dets == 0 or num_gt_dets == 0:
        res["HOTA_FN"][:] = num_gt_dets  # one of the two is 0
        res["HOTA_FP"][:] = num_tracker_dets
        res["LocA"][:] = 1.0
        return _final_fields(res)

    # Global alignment score between every gt id and tracker id (HOTA paper, "Matching":
    # matches maximise alignment; TrackEval counts each co-occurrence weighted by its
    # similarity normalised over the frame's row and column).
    potential = np.zeros((num_gt_ids, num_tracker_ids))
    gt_id_count = np.zeros((num_gt_ids, 1))
    tracker_id_count = np.zeros((1, num_tracker_ids))
    for g, t, sim in zip(gt_ids, tracker_ids, similarity):
        if len(g) and len(t):
            denom = sim.sum(0)[np.newaxis, :] + sim.sum(1)[:, np.newaxis] - sim
            sim_iou = np.zeros_like(sim)
            mask = denom > 0 + _EPS
            sim_iou[mask] = sim[mask] / denom[mask]
            potential[g[:, np.newaxis], t[np.newaxis, :]] += sim_iou
        gt_id_count[g] += 1
        tracker_id_count[0, t] += 1
    alignment = potential / (gt_id_count + tracker_id_count - potential)

    # Per frame: Hungarian matching maximising alignment * similarity, then per alpha the
    # pairs with similarity >= alpha are the TPs (HOTA paper: TP / FN / FP at threshold alpha).
    matches_counts = np.zeros((len(ALPHAS), num_gt_ids, num_tracker_ids))
    loc_sum = np.zeros(len(ALPHAS))
    for g, t, sim in zip(gt_ids, tracker_ids, similarity):
        if len(g) == 0 or len(t) == 0:
            res["HOTA_FP"] += len(t)
            res["HOTA_FN"] += len(g)
            continue
        rows, cols = linear_sum_assignment(-(alignment[g[:, np.newaxis], t[np.newaxis, :]] * sim))
        matched = sim[rows, cols][np.newaxis, :] >= ALPHAS[:, np.newaxis] - _EPS  # (alphas, matches)
        num_matches = matched.sum(1)
        res["HOTA_TP"] += num_matches
        res["HOTA_FN"] += len(g) - num_matches
        res["HOTA_FP"] += len(t) - num_matches
        loc_sum += (matched * sim[rows, cols]).sum(1)
        for a in range(len(ALPHAS)):
            matches_counts[a, g[rows[matched[a]]], t[cols[matched[a]]]] += 1

    # Association (HOTA paper: AssA = mean over TPs c of |TPA(c)| / (|TPA| + |FNA| + |FPA|),
    # AssRe / AssPr with |FNA| or |FPA| only); TPA(c) = TPs of c's id pair.
    for a, counts in enumerate(matches_counts):
        tp = np.maximum(1, res["HOTA_TP"][a])
        union = np.maximum(1, gt_id_count + tracker_id_count - counts)
        res["AssA"][a] = np.sum(counts * (counts / union)) / tp
        res["AssRe"][a] = np.sum(counts * (counts / np.maximum(1, gt_id_count))) / tp
        res["AssPr"][a] = np.sum(counts * (counts / np.maximum(1, tracker_id_count))) / tp
    # LocA: mean similarity of the TPs (HOTA paper: LocA), guarded as TrackEval does.
    res["LocA"] = np.maximum(1e-10, loc_sum) / np.maximum(1e-10, res["HOTA_TP"])
    return _final_fields(res)


def combine_hota(results: Iterable[HOTAResult]) -> HOTAResult:
    """TrackEval's ``HOTA.combine_sequences``: TP/FN/FP summed, AssA/AssRe/AssPr/LocA
    averaged weighted by HOTA_TP, then the derived fields recomputed (so the combined HOTA
    is not the mean of the sequences' HOTA)."""
    results = list(results)
    res = _empty_result()
    for field in INTEGER_ARRAY_FIELDS:
        res[field] = sum((r[field] for r in results), np.zeros(len(ALPHAS)))
    for field in ("AssRe", "AssPr", "AssA"):
        weighted = sum((r[field] * r["HOTA_TP"] for r in results), np.zeros(len(ALPHAS)))
        res[field] = weighted / np.maximum(1.0, res["HOTA_TP"])
    loc_weighted = sum((r["LocA"] * r["HOTA_TP"] for r in results), np.zeros(len(ALPHAS)))
    res["LocA"] = np.maximum(1e-10, loc_weighted) / np.maximum(1e-10, res["HOTA_TP"])
    return _final_fields(res)


def summarize_hota(res: HOTAResult) -> Dict[str, float]:
    """The reported values: each array field averaged over the alphas (TrackEval's summary)."""
    summary = {f: float(np.mean(res[f])) for f in FLOAT_ARRAY_FIELDS}
    summary.update({f: float(res[f]) for f in FLOAT_FIELDS})
    return summary
