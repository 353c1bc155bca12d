"""LaSOT OPE, VOT-LT and OxUvA metrics on hand-computed sequences, and against the
benchmarks' definitions transcribed here."""
import math

import numpy as np
import pytest

from mot_heads.evaluation import SOTSequence, compare_frames, compare_sequences, evaluate_sot, plot_success
from mot_heads.evaluation.sot_metrics import (
    confidence_thresholds,
    format_sot_table,
    longterm_curves,
    max_geometric_mean,
    mean_success_curve,
    oxuva_counts,
    oxuva_metrics,
    precision_curve,
    success_curve,
)

NAN = [np.nan] * 4
BOX = [0, 0, 10, 10]

# Frame 1 exact; frame 2 shifted 5 px (IoU 50 / 150, centre error 5 px = 0.5 gt widths);
# frame 3 reported absent; frame 4 target absent (a box is predicted); frame 5 target
# flagged absent through gt_absent although its gt row has a box.
GT = [BOX, BOX, BOX, NAN, [0, 0, 10, 20]]
PRED = [BOX, [5, 0, 10, 10], NAN, BOX, [0, 0, 10, 20]]
GT_ABSENT = [False, False, False, False, True]


def test_frame_comparison():
    frames = compare_frames(GT, PRED, gt_absent=GT_ABSENT)
    np.testing.assert_allclose(frames.iou, [1, 1 / 3, 0, 0, 0])
    np.testing.assert_allclose(frames.center_error, [0, 5, np.inf, np.inf, np.inf])
    np.testing.assert_allclose(frames.norm_center_error, [0, 0.5, np.inf, np.inf, np.inf])
    np.testing.assert_array_equal(frames.visible, [True, True, True, False, False])
    np.testing.assert_array_equal(frames.predicted, [True, True, False, True, True])
    # overlap in both axes: intersection 2 x 2 of two 4 x 4 boxes
    np.testing.assert_allclose(compare_frames([[0, 0, 4, 4]], [[2, 2, 4, 4]]).iou, [4 / 28])
    # a 0,0,0,0 prediction is no box
    assert not compare_frames([BOX], [[0, 0, 0, 0]]).predicted[0]


def test_ope_curves_count_absent_frames_in_the_denominator():
    frames = compare_frames(GT, PRED, gt_absent=GT_ABSENT)
    # IoU 1 succeeds for t < 1, IoU 1/3 for t in 0, 0.05, ..., 0.3 (7 thresholds); 5 frames.
    np.testing.assert_allclose(success_curve(frames), [0.4] * 7 + [0.2] * 13 + [0.0])
    np.testing.assert_allclose(precision_curve(frames), [0.2] * 5 + [0.4] * 46)
    np.testing.assert_allclose(precision_curve(frames, normalized=True), [0.2] * 50 + [0.4])
    metrics = evaluate_sot({"S": frames})["S"]
    assert metrics["success_auc"] == pytest.approx(100 * (7 * 0.4 + 13 * 0.2) / 21)
    assert metrics["precision_20px"] == pytest.approx(40.0)
    assert metrics["norm_precision"] == pytest.approx(20.0)  # at 0.2
    assert metrics["norm_precision_auc"] == pytest.approx(100 * (50 * 0.2 + 0.4) / 51)


def test_perfect_tracker():
    # IoU 1 is never > 1: a perfect tracker has AUC 20/21 (as in the LaSOT toolkits).
    frames = compare_frames([BOX, BOX], [BOX, BOX])
    assert evaluate_sot({"S": frames})["S"]["success_auc"] == pytest.approx(100 * 20 / 21)
    # A target absent in half the frames halves every OPE score, whatever is predicted there.
    frames = compare_frames([BOX, BOX, NAN, NAN], [BOX, BOX, BOX, NAN])
    metrics = evaluate_sot({"S": frames})["S"]
    assert metrics["success_auc"] == pytest.approx(50 * 20 / 21)
    assert metrics["precision_20px"] == metrics["norm_precision"] == pytest.approx(50.0)


def test_combined_ope_averages_sequence_curves():
    a = compare_frames(GT, PRED, gt_absent=GT_ABSENT)
    b = compare_frames([BOX, BOX], [BOX, BOX])
    metrics = evaluate_sot({"A": a, "B": b})
    np.testing.assert_allclose(mean_success_curve([a, b]), (success_curve(a) + success_curve(b)) / 2)
    for key in ("success_auc", "precision_20px", "norm_precision", "norm_precision_auc"):
        assert metrics["COMBINED"][key] == pytest.approx((metrics["A"][key] + metrics["B"][key]) / 2)


def test_confidence_thresholds_follow_the_vot_rule():
    np.testing.assert_array_equal(confidence_thresholds([0.6, 0.9, 0.7]), [np.inf, 0.9, 0.7, 0.6, -np.inf])
    # 10 scores, 3 kept: step 10 // 3 = 3, indices round(linspace(3, 7, 3)) of the descending list
    np.testing.assert_array_equal(confidence_thresholds(np.arange(1.0, 11.0), resolution=5),
                                  [np.inf, 7, 5, 3, -np.inf])


# Long-term sequence A: target visible in frames 1, 2, 4. Predictions: frame 1 exact
# (confidence 0.9), frame 2 IoU 0.8 (0.6), frame 3 a box where the target is absent (0.7),
# frame 4 reported absent.
LT_GT = [BOX, BOX, NAN, BOX]
LT_PRED = [BOX, [0, 0, 10, 8], BOX, NAN]
LT_CONF = [0.9, 0.6, 0.7, 0.95]


def test_longterm_precision_recall_by_hand():
    frames = compare_frames(LT_GT, LT_PRED, confidences=LT_CONF)
    thresholds = confidence_thresholds(frames.confidence[frames.predicted])
    np.testing.assert_array_equal(thresholds, [np.inf, 0.9, 0.7, 0.6, -np.inf])
    precision, recall = longterm_curves(frames, thresholds)
    # nothing counted at +inf: Pr 1, Re 0; at 0.7 frames 1 and 3 (IoU 1, 0) count; the
    # absent prediction of frame 4 never counts, whatever its confidence.
    np.testing.assert_allclose(precision, [1, 1, 0.5, 0.6, 0.6])
    np.testing.assert_allclose(recall, [0, 1 / 3, 1 / 3, 0.6, 0.6])
    metrics = evaluate_sot({"A": frames})["A"]
    assert metrics["lt_precision"] == pytest.approx(60.0)
    assert metrics["lt_recall"] == pytest.approx(60.0)
    assert metrics["lt_fscore"] == pytest.approx(60.0)


def test_combined_longterm_averages_curves_before_f():
    a = compare_frames(LT_GT, LT_PRED, confidences=LT_CONF)
    # B: frame 1 exact (0.8), frame 2 a box far from the target (0.5).
    b = compare_frames([BOX, BOX], [BOX, [50, 50, 10, 10]], confidences=[0.8, 0.5])
    metrics = evaluate_sot({"A": a, "B": b})
    assert metrics["B"]["lt_fscore"] == pytest.approx(100 * 2 / 3)  # at 0.8: Pr 1, Re 1/2
    # Pooled thresholds 0.9, 0.8, 0.7, 0.6, 0.5; at 0.6 the mean curves are Pr (0.6 + 1) / 2,
    # Re (0.6 + 0.5) / 2: F = 2 * 0.8 * 0.55 / 1.35, above the mean of the sequences' F.
    combined = metrics["COMBINED"]
    assert (combined["lt_precision"], combined["lt_recall"]) == pytest.approx((80.0, 55.0))
    assert combined["lt_fscore"] == pytest.approx(100 * 2 * 0.8 * 0.55 / 1.35)
    assert combined["lt_fscore"] > (metrics["A"]["lt_fscore"] + metrics["B"]["lt_fscore"]) / 2


def test_max_geometric_mean_closed_form_matches_the_mixture():
    p = np.linspace(0, 1, 200001)
    for tpr, tnr in ((0.6, 0.9), (0.6, 0.5), (0.7, 0.2), (0.3, 0.0), (1.0, 1.0), (0.0, 0.4)):
        brute = np.sqrt((1 - p) * tpr * ((1 - p) * tnr + p)).max()
        assert max_geometric_mean(tpr, tnr) == pytest.approx(brute, abs=1e-6)


# OxUvA: present in frames 1-3, absent in 4-7. Frame 1 exact, frame 2 IoU exactly 0.5
# (correct), frame 3 reported absent; absent frames: one without a box, three with.
OX_GT = [BOX, BOX, BOX, NAN, NAN, NAN, NAN]
OX_PRED = [BOX, [0, 0, 10, 5], NAN, NAN, BOX, BOX, BOX]


def test_oxuva_by_hand():
    frames = compare_frames(OX_GT, OX_PRED)
    assert oxuva_counts(frames) == {"TP": 2, "FN": 1, "TN": 1, "FP": 3}
    metrics = oxuva_metrics(oxuva_counts(frames))
    assert metrics["tpr"] == pytest.approx(100 * 2 / 3)
    assert metrics["tnr"] == pytest.approx(25.0)
    # TNR < 0.5: mixing in "absent" beats the tracker's own sqrt(TPR TNR) = sqrt(1/6)
    assert metrics["maxgm"] == pytest.approx(100 * np.sqrt((2 / 3) / (4 * 0.75)))
    assert metrics["maxgm"] > 100 * np.sqrt(1 / 6)


def test_oxuva_pools_frames_and_leaves_undefined_rates_empty():
    a = compare_frames(OX_GT, OX_PRED)
    b = compare_frames([BOX, BOX], [BOX, BOX])  # no absent frame: TNR undefined
    metrics = evaluate_sot({"A": a, "B": b})
    assert metrics["B"]["tpr"] == pytest.approx(100.0)
    assert metrics["B"]["tnr"] is None and metrics["B"]["maxgm"] is None
    combined = metrics["COMBINED"]  # TP 4, FN 1, TN 1, FP 3
    assert (combined["tpr"], combined["tnr"]) == pytest.approx((80.0, 25.0))
    assert combined["maxgm"] == pytest.approx(100 * np.sqrt(0.8 / 3))


def test_longterm_keys_need_confidences_everywhere():
    plain = compare_frames([BOX], [BOX])
    assert "lt_fscore" not in evaluate_sot({"A": plain})["A"]
    with_conf = compare_frames([BOX], [BOX], confidences=[0.5])
    with pytest.raises(ValueError, match="not for A"):
        evaluate_sot({"A": plain, "B": with_conf})
    with pytest.raises(ValueError, match="confidences must be finite"):
        compare_frames([BOX], [BOX], confidences=[np.nan])


def test_sequence_checks():
    gt, res = SOTSequence("S", [BOX, BOX]), SOTSequence("S", [BOX, BOX])
    assert list(compare_sequences({"S": gt}, {"S": res})) == ["S"]
    with pytest.raises(ValueError, match="no results for ground-truth sequences: S"):
        compare_sequences({"S": gt}, {})
    with pytest.raises(ValueError, match="without ground truth: T"):
        compare_sequences({"S": gt}, {"S": res, "T": res})
    with pytest.raises(ValueError, match="1 result boxes for 2 gt frames"):
        compare_sequences({"S": gt}, {"S": SOTSequence("S", [BOX])})
    with pytest.raises(ValueError, match="no gt box in the first frame"):
        compare_sequences({"S": SOTSequence("S", [NAN, BOX])}, {"S": res})
    with pytest.raises(ValueError, match=r"expected an \(N, 4\) array"):
        compare_frames([0, 0, 10, 10], [BOX])


def test_table_and_plot(tmp_path):
    metrics = evaluate_sot({"A": compare_frames(OX_GT, OX_PRED), "B": compare_frames([BOX, BOX], [BOX, BOX])})
    lines = format_sot_table(metrics).splitlines()
    assert lines[0].split() == ["Sequence", "success_auc", "precision_20px", "norm_precision",
                                "norm_precision_auc", "success_rate_50", "tpr", "tnr", "maxgm"]
    assert lines[-1].split()[0] == "COMBINED"
    b_row = next(line for line in lines if line.startswith("B ")).split()
    assert b_row[1] == "95.2" and b_row[-2:] == ["-", "-"]
    path = tmp_path / "plots" / "success.png"
    plot_success({"ours": success_curve(compare_frames(GT, PRED)), "other": np.linspace(1, 0, 21)}, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------- the benchmarks' definitions

def box_iou(a, b):
    """IoU of two x, y, w, h boxes."""
    width = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return width * height / (a[2] * a[3] + b[2] * b[3] - width * height)


def reference_frames(gt, pred, flags):
    """Per frame: (visible, predicted, IoU, centre error, normalised centre error); a row of
    NaN or a flagged frame is absent. Where either is absent: IoU 0, errors infinite."""
    frames = []
    for g, p, flagged in zip(gt, pred, flags):
        visible, predicted = not (flagged or math.isnan(g[0])), not math.isnan(p[0])
        if visible and predicted:
            dx, dy = (p[0] + p[2] / 2) - (g[0] + g[2] / 2), (p[1] + p[3] / 2) - (g[1] + g[3] / 2)  # centres
            frames.append((visible, predicted, box_iou(g, p), math.hypot(dx, dy), math.hypot(dx / g[2], dy / g[3])))
        else:
            frames.append((visible, predicted, 0.0, math.inf, math.inf))
    return frames


def lasot_ope(frames):
    """LaSOT OPE (Fan et al., toolkit eval_tracker.m): success(t) = fraction of the frames
    with IoU > t, t = 0:0.05:1, scored by its mean (AUC); precision(d) = fraction with a
    centre error <= d px, d = 0:50, reported at 20; normalised precision likewise with d =
    0:0.01:0.5, at 0.2 and its mean. Every frame counts in the denominator."""
    n = len(frames)
    success = [sum(f[2] > t / 20 for f in frames) / n for t in range(21)]
    precision = [sum(f[3] <= d for f in frames) / n for d in range(51)]
    normalised = [sum(f[4] <= d / 100 for f in frames) / n for d in range(51)]
    return success, precision, normalised


def vot_lt_pr_re(frames, confidences, threshold):
    """Lukezic et al.: Pr(tau) = mean IoU over the frames whose prediction has a confidence
    >= tau (IoU 0 where the target is absent); Re(tau) = their IoU summed over the frames
    with the target visible / the number of those. Pr = 1 where no frame counts (the VOT
    toolkit's convention)."""
    counted = [f for f, c in zip(frames, confidences) if f[1] and c >= threshold]
    precision = sum(f[2] for f in counted) / len(counted) if counted else 1.0
    recall = sum(f[2] for f in counted if f[0]) / sum(f[0] for f in frames)
    return precision, recall


def max_gm(tpr, tnr, steps=100_000):
    """Eq. 10, DMTrack (OxUvA): max over p in [0, 1] of sqrt(((1 - p) TPR)((1 - p) TNR + p))."""
    return max(math.sqrt((1 - p) * tpr * ((1 - p) * tnr + p)) for p in (k / steps for k in range(steps + 1)))


def random_sequence(seed, length=25):
    """gt with absent rows (NaN) and flagged frames; predictions near the gt, some absent,
    some where the target is absent, some exact (IoU 1 never succeeds at t = 1)."""
    rng = np.random.default_rng(seed)
    gt = np.column_stack([rng.uniform(0, 200, (length, 2)), rng.uniform(10, 60, (length, 2))])
    pred = gt + rng.normal(0, [8, 8, 4, 4], (length, 4))
    pred[:, 2:] = np.abs(pred[:, 2:]) + 1
    pred[1] = gt[1]
    gt[rng.random(length) < 0.2] = np.nan
    gt[0] = [20, 30, 40, 50]  # the tracker starts from a visible target
    pred[0] = gt[0]
    pred[rng.random(length) < 0.2] = np.nan
    flags = rng.random(length) < 0.1
    flags[0] = False
    return gt, pred, flags, rng.uniform(0, 1, length)


def test_metrics_follow_the_benchmark_definitions():
    sequences = {f"S{seed}": random_sequence(seed) for seed in range(3)}
    frames = {name: compare_frames(gt, pred, gt_absent=flags, confidences=conf)
              for name, (gt, pred, flags, conf) in sequences.items()}
    metrics = evaluate_sot(frames)
    reference = {name: reference_frames(gt.tolist(), pred.tolist(), flags)
                 for name, (gt, pred, flags, _) in sequences.items()}
    # every case is reached: gt absent and flagged, prediction absent, both, exact boxes
    all_frames = [f for rows in reference.values() for f in rows]
    assert {(f[0], f[1]) for f in all_frames} == {(True, True), (True, False), (False, True), (False, False)}
    assert any(f[2] == pytest.approx(1.0) for f in all_frames)

    ope = {name: lasot_ope(rows) for name, rows in reference.items()}
    for name in [*sequences, "COMBINED"]:
        curves = ope[name] if name in ope else [np.mean([ope[n][i] for n in sequences], axis=0) for i in range(3)]
        success, precision, normalised = curves
        got = metrics[name]
        assert got["success_auc"] == pytest.approx(100 * np.mean(success)), name
        assert got["precision_20px"] == pytest.approx(100 * precision[20]), name
        assert got["norm_precision"] == pytest.approx(100 * normalised[20]), name
        assert got["norm_precision_auc"] == pytest.approx(100 * np.mean(normalised)), name

    # VOT-LT: Pr, Re at each threshold tau among the confidences of all predicted boxes
    # (+inf: none counted); sequences combine by their mean Pr and Re; F = 2 Pr Re / (Pr + Re),
    # reported where it is largest.
    confidences = {name: seq[3] for name, seq in sequences.items()}
    taus = [math.inf] + sorted({c for n in sequences for f, c in zip(reference[n], confidences[n]) if f[1]})
    pr_re = {n: [vot_lt_pr_re(reference[n], confidences[n], tau) for tau in taus] for n in sequences}
    pr_re["COMBINED"] = [tuple(np.mean([pr_re[n][k] for n in sequences], axis=0)) for k in range(len(taus))]
    for name, curve in pr_re.items():
        f_scores = [2 * p * r / (p + r) if p + r else 0.0 for p, r in curve]
        best = int(np.argmax(f_scores))
        got = metrics[name]
        assert got["lt_fscore"] == pytest.approx(100 * f_scores[best]), name
        assert (got["lt_precision"], got["lt_recall"]) == pytest.approx((100 * curve[best][0], 100 * curve[best][1]))

    # OxUvA (Valmadre et al.): TPR = present frames predicted present with IoU >= 0.5 /
    # present frames; TNR = absent frames predicted absent / absent frames; frames pooled
    # over the sequences for the combined rates; MaxGM by Eq. 10.
    def rates(rows):
        present, absent = [f for f in rows if f[0]], [f for f in rows if not f[0]]
        return (sum(f[1] and f[2] >= 0.5 for f in present) / len(present),
                sum(not f[1] for f in absent) / len(absent))

    for name, rows in [*reference.items(), ("COMBINED", all_frames)]:
        tpr, tnr = rates(rows)
        got = metrics[name]
        assert (got["tpr"], got["tnr"]) == pytest.approx((100 * tpr, 100 * tnr)), name
        assert got["maxgm"] == pytest.approx(100 * max_gm(tpr, tnr), abs=1e-6), name


def test_boundaries_of_the_definitions():
    # LaSOT: IoU > t (strict), error <= d (inclusive); OxUvA: IoU >= 0.5 (inclusive).
    gt = [[0, 0, 10, 10]] * 3
    pred = [[0, 0, 10, 5], [20, 0, 10, 10], [0, 0, 10, 10]]  # IoU 0.5; centre error 20 px; exact
    frames = compare_frames(gt, pred)
    reference = reference_frames(gt, pred, [False] * 3)
    success, precision, _ = lasot_ope(reference)
    np.testing.assert_allclose(success_curve(frames), success)
    np.testing.assert_allclose(precision_curve(frames), precision)
    assert success[10] == pytest.approx(1 / 3) and precision[20] == pytest.approx(1.0)  # t = 0.5, d = 20
    assert oxuva_counts(frames)["TP"] == 2
