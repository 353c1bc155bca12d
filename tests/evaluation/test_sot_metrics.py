"""LaSOT OPE, VOT-LT and OxUvA metrics on hand-computed sequences."""
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
                                "norm_precision_auc", "tpr", "tnr", "maxgm"]
    assert lines[-1].split()[0] == "COMBINED"
    b_row = next(line for line in lines if line.startswith("B ")).split()
    assert b_row[1] == "95.2" and b_row[-2:] == ["-", "-"]
    path = tmp_path / "plots" / "success.png"
    plot_success({"ours": success_curve(compare_frames(GT, PRED)), "other": np.linspace(1, 0, 21)}, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
