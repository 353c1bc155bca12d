"""HOTA against hand-computed cases, the combination rule, and TrackEval's values on TUD."""
import os
from collections import Counter, defaultdict

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from mot_heads.evaluation import (
    ALPHAS,
    box_iou_xywh,
    combine_hota,
    evaluate_hota,
    evaluate_mot,
    preprocess_sequence,
    read_mot_gt,
    read_mot_results,
    summarize_hota,
)

from .conftest import TUD_NAMES

SQUARE = [0, 0, 10, 10]


def frames_of(*frames):
    """evaluate_hota's inputs from frames given as (gt_ids, gt_boxes, tracker_ids, tracker_boxes)."""
    gt_ids = [np.array(g, dtype=int) for g, _, _, _ in frames]
    tracker_ids = [np.array(t, dtype=int) for _, _, t, _ in frames]
    sims = [box_iou_xywh(gb, tb) for _, gb, _, tb in frames]
    return gt_ids, tracker_ids, sims


def hota_of(*frames):
    return evaluate_hota(*frames_of(*frames))


def test_alphas_are_trackevals():
    assert len(ALPHAS) == 19
    np.testing.assert_allclose(ALPHAS, np.linspace(0.05, 0.95, 19))


def test_perfect_single_track():
    # One gt, one tracker box on it in 3 frames: every alpha has TP = 3, no FN/FP,
    # the only id pair has TPA = 3, FNA = FPA = 0: DetA = AssA = LocA = HOTA = 1.
    res = hota_of(*[([1], [SQUARE], [7], [SQUARE])] * 3)
    s = summarize_hota(res)
    for key in ("HOTA", "DetA", "AssA", "DetRe", "DetPr", "AssRe", "AssPr", "LocA", "HOTA(0)", "LocA(0)"):
        assert s[key] == pytest.approx(1.0), key
    np.testing.assert_array_equal(res["HOTA_TP"], 3)


def test_id_switch_halves_association():
    # gt 1 in two frames, tracked by id 7 then id 8, both boxes exact.
    # Alignment: A(1,7) = A(1,8) = 1 / (2 + 1 - 1) = 0.5, so each frame matches its only box.
    # TP = 2, FN = FP = 0 -> DetA = 1. Per TP: TPA = 1, FNA = 2 - 1 = 1, FPA = 0
    # -> A(c) = 1 / 2 for both TPs -> AssA = 0.5; AssRe = 1/2, AssPr = 1/1.
    # HOTA = sqrt(1 * 0.5).
    s = summarize_hota(hota_of(([1], [SQUARE], [7], [SQUARE]), ([1], [SQUARE], [8], [SQUARE])))
    assert s["DetA"] == pytest.approx(1.0)
    assert s["AssA"] == pytest.approx(0.5)
    assert s["AssRe"] == pytest.approx(0.5)
    assert s["AssPr"] == pytest.approx(1.0)
    assert s["HOTA"] == pytest.approx(np.sqrt(0.5))


def test_iou_06_is_a_tp_up_to_alpha_06():
    # IoU([0,0,10,10], [0,0,6,10]) = 60 / 100 = 0.6. ALPHAS[11] is 0.6000000000000001 in
    # floats; TrackEval's ">= alpha - eps" keeps it a TP: TP for the 12 alphas 0.05..0.60,
    # FN + FP for the 7 alphas 0.65..0.95.
    # Per TP alpha: DetA = AssA = HOTA = 1, LocA = 0.6; otherwise DetA = 0 / (0 + 1 + 1) = 0,
    # HOTA = 0, and LocA = max(1e-10, 0) / max(1e-10, 0) = 1.
    res = hota_of(([1], [SQUARE], [7], [[0, 0, 6, 10]]))
    np.testing.assert_array_equal(res["HOTA_TP"], [1] * 12 + [0] * 7)
    np.testing.assert_array_equal(res["HOTA_FN"], [0] * 12 + [1] * 7)
    np.testing.assert_array_equal(res["HOTA_FP"], [0] * 12 + [1] * 7)
    s = summarize_hota(res)
    assert s["HOTA"] == pytest.approx(12 / 19)
    assert s["DetA"] == pytest.approx(12 / 19)
    assert s["AssA"] == pytest.approx(12 / 19)
    assert s["LocA"] == pytest.approx((12 * 0.6 + 7 * 1.0) / 19)
    assert (s["HOTA(0)"], s["LocA(0)"], s["HOTALocA(0)"]) == pytest.approx((1.0, 0.6, 0.6))


def test_alignment_outweighs_similarity_in_matching():
    # gt 1 with tracker 7 exactly in frames 1-3; frame 4: tracker 7 at IoU 0.6, tracker 8 at 0.9.
    # Potential matches: (1,7) = 3 + 0.6 / (0.6 + 1.5 - 0.6) = 3.4; (1,8) = 0.9 / (0.9 + 1.5 - 0.9) = 0.6.
    # Counts: gt 4, id 7 4, id 8 1 -> A(1,7) = 3.4 / 4.6, A(1,8) = 0.6 / 4.4.
    # Frame 4 scores: 0.739 * 0.6 = 0.443 > 0.136 * 0.9 = 0.123: gt 1 matches tracker 7.
    # alpha <= 0.6: TP 4, FP 1 -> DetA 0.8; pair (1,7) has TPA 4 = |gt| = |7| -> AssA 1.
    # alpha > 0.6: TP 3, FN 1, FP 2 -> DetA 0.5; TPA 3, FNA 1, FPA 1 -> AssA 0.6.
    exact = ([1], [SQUARE], [7], [SQUARE])
    res = hota_of(exact, exact, exact, ([1], [SQUARE], [7, 8], [[0, 0, 6, 10], [0, 0, 9, 10]]))
    np.testing.assert_allclose(res["DetA"], [0.8] * 12 + [0.5] * 7)
    np.testing.assert_allclose(res["AssA"], [1.0] * 12 + [0.6] * 7)
    expected = (12 * np.sqrt(0.8) + 7 * np.sqrt(0.3)) / 19
    assert summarize_hota(res)["HOTA"] == pytest.approx(expected)


def test_empty_tracker():
    # TrackEval: everything a miss, LocA = 1, all other fields 0.
    res = hota_of(([1, 2], [SQUARE, [20, 0, 10, 10]], [], []), ([1], [SQUARE], [], []))
    np.testing.assert_array_equal(res["HOTA_FN"], 3)
    s = summarize_hota(res)
    assert (s["HOTA"], s["DetA"], s["AssA"], s["LocA"], s["LocA(0)"]) == (0, 0, 0, 1, 1)


def test_empty_gt_and_both_empty():
    res = hota_of(([], [], [5, 6], [SQUARE, [20, 0, 10, 10]]))
    np.testing.assert_array_equal(res["HOTA_FP"], 2)
    assert summarize_hota(res)["HOTA"] == 0 and summarize_hota(res)["LocA"] == 1
    none = summarize_hota(hota_of(([], [], [], [])))
    assert none["HOTA"] == 0 and none["DetA"] == 0 and none["LocA"] == 1


def test_combined_is_not_the_mean_of_sequences():
    # Sequence A: the id switch above (TP 2, AssA 0.5, HOTA sqrt(0.5)); B: one exact frame
    # (TP 1, AssA 1, HOTA 1). Combined: TP 3, FN = FP = 0 -> DetA 1;
    # AssA = (2 * 0.5 + 1 * 1) / 3 = 2/3 (weighted by HOTA_TP) -> HOTA = sqrt(2/3) = 0.816,
    # while the mean of the sequences' HOTA is (0.707 + 1) / 2 = 0.854.
    a = hota_of(([1], [SQUARE], [7], [SQUARE]), ([1], [SQUARE], [8], [SQUARE]))
    b = hota_of(([1], [SQUARE], [7], [SQUARE]))
    combined = summarize_hota(combine_hota([a, b]))
    assert combined["HOTA"] == pytest.approx(np.sqrt(2 / 3))
    assert combined["AssA"] == pytest.approx(2 / 3)
    mean = (summarize_hota(a)["HOTA"] + summarize_hota(b)["HOTA"]) / 2
    assert abs(combined["HOTA"] - mean) > 0.03


def test_combined_sums_detection_counts():
    # A: IoU 0.6 case (TP 1 for 12 alphas); B: empty tracker with 2 gt boxes (FN 2).
    # Per alpha <= 0.6: TP 1, FN 2 -> DetA 1/3, AssA 1 -> HOTA sqrt(1/3);
    # alpha > 0.6: TP 0 -> HOTA 0. LocA: TP-weighted 0.6 for alpha <= 0.6, 1 (no TP) above.
    a = hota_of(([1], [SQUARE], [7], [[0, 0, 6, 10]]))
    b = hota_of(([1, 2], [SQUARE, [20, 0, 10, 10]], [], []))
    res = combine_hota([a, b])
    np.testing.assert_allclose(res["DetA"], [1 / 3] * 12 + [0] * 7)
    np.testing.assert_allclose(res["LocA"], [0.6] * 12 + [1] * 7)
    assert summarize_hota(res)["HOTA"] == pytest.approx(12 * np.sqrt(1 / 3) / 19)


def slow_trackeval_hota(gt_ids, tracker_ids, sims):
    """A loop-per-alpha re-derivation of TrackEval's HOTA.eval_sequence (for checking only)."""
    eps = np.finfo(float).eps
    gt_count, tr_count, potential = Counter(), Counter(), defaultdict(float)
    for g, t, s in zip(gt_ids, tracker_ids, sims):
        gt_count.update(g.tolist())
        tr_count.update(t.tolist())
        for i in range(len(g)):
            for j in range(len(t)):
                denom = sum(s[k, j] for k in range(len(g))) + sum(s[i, k] for k in range(len(t))) - s[i, j]
                if denom > eps:
                    potential[g[i], t[j]] += s[i, j] / denom
    align = {k: v / (gt_count[k[0]] + tr_count[k[1]] - v) for k, v in potential.items()}
    out = defaultdict(list)
    for alpha in np.arange(0.05, 0.99, 0.05):
        tp = fn = fp = 0
        loc = 0.0
        pairs = Counter()
        for g, t, s in zip(gt_ids, tracker_ids, sims):
            matched = []
            if len(g) and len(t):
                score = np.array([[align.get((gi, tj), 0.0) * s[i, j] for j, tj in enumerate(t)]
                                  for i, gi in enumerate(g)])
                rows, cols = linear_sum_assignment(-score)
                matched = [(i, j) for i, j in zip(rows, cols) if s[i, j] >= alpha - eps]
            tp += len(matched)
            fn += len(g) - len(matched)
            fp += len(t) - len(matched)
            for i, j in matched:
                loc += s[i, j]
                pairs[g[i], t[j]] += 1
        det_a = tp / max(1, tp + fn + fp)
        ass_a = sum(n * n / max(1, gt_count[a] + tr_count[b] - n) for (a, b), n in pairs.items()) / max(1, tp)
        out["DetA"].append(det_a)
        out["AssA"].append(ass_a)
        out["HOTA"].append(np.sqrt(det_a * ass_a))
        out["LocA"].append(max(1e-10, loc) / max(1e-10, tp))
        out["TP"].append(tp)
        out["FN"].append(fn)
        out["FP"].append(fp)
    return {k: np.array(v) for k, v in out.items()}


@pytest.fixture(scope="module")
def tud_prepared(tud_dirs):
    gt_root, res_root = tud_dirs
    out = {}
    for name in TUD_NAMES:
        gt = read_mot_gt(os.path.join(gt_root, name))
        result = read_mot_results(os.path.join(res_root, f"{name}.txt"), name, gt.seq_length)
        out[name] = (gt, result, preprocess_sequence(gt, result))
    return out


@pytest.mark.parametrize("name", TUD_NAMES)
def test_tud_matches_slow_rederivation(tud_prepared, name):
    seq = tud_prepared[name][2]
    res = evaluate_hota(seq.gt_ids, seq.tracker_ids, seq.similarity)
    slow = slow_trackeval_hota(seq.gt_ids, seq.tracker_ids, seq.similarity)
    for ours, theirs in (("HOTA", "HOTA"), ("DetA", "DetA"), ("AssA", "AssA"), ("LocA", "LocA"),
                         ("HOTA_TP", "TP"), ("HOTA_FN", "FN"), ("HOTA_FP", "FP")):
        np.testing.assert_allclose(res[ours], slow[theirs], rtol=0, atol=1e-9, err_msg=ours)
    # Invariants: HOTA(alpha) does not increase with alpha; DetA = TP / (TP + FN + FP).
    assert np.all(np.diff(res["HOTA"]) <= 1e-12)
    tp, fn, fp = res["HOTA_TP"], res["HOTA_FN"], res["HOTA_FP"]
    np.testing.assert_allclose(res["DetA"], tp / (tp + fn + fp))


def test_tud_matches_published_trackeval_values(tud_prepared):
    # TrackEval's HOTA on these files, as asserted by py-motmetrics' tests
    # (motmetrics/tests/test_evaluation.py, checked there against TrackEval in its parity CI):
    # TUD-Campus HOTA 0.3913974378451139, DetA 0.418047030142763, AssA 0.36912068120832836;
    # both sequences combined HOTA 0.3999570912884786, DetA 0.3976832912424188,
    # AssA 0.4124495298453543.
    gts = {n: v[0] for n, v in tud_prepared.items()}
    results = {n: v[1] for n, v in tud_prepared.items()}
    metrics = evaluate_mot(gts, results)
    campus, combined = metrics["TUD-Campus"], metrics["COMBINED"]
    assert campus["HOTA"] == pytest.approx(0.3913974378451139, abs=1e-12)
    assert campus["DetA"] == pytest.approx(0.418047030142763, abs=1e-12)
    assert campus["AssA"] == pytest.approx(0.36912068120832836, abs=1e-12)
    assert combined["HOTA"] == pytest.approx(0.3999570912884786, abs=1e-12)
    assert combined["DetA"] == pytest.approx(0.3976832912424188, abs=1e-12)
    assert combined["AssA"] == pytest.approx(0.4124495298453543, abs=1e-12)
