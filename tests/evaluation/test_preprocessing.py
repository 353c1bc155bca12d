"""The MOTChallenge preprocessing: distractors, zero-marked gt, other classes."""
import motmetrics as mm
import numpy as np
import pytest

from mot_heads.evaluation import box_iou_xywh, evaluate_mot, preprocess_sequence

from .conftest import make_sequence

# frame, id, x, y, w, h, mark, class
GT_ROWS = [
    [1, 1, 0, 0, 10, 10, 1, 1],  # pedestrian
    [1, 2, 50, 0, 10, 10, 1, 8],  # distractor
    [1, 3, 100, 0, 10, 10, 0, 7],  # static person, zero-marked: still a distractor
    [1, 4, 150, 0, 10, 10, 0, 1],  # zero-marked pedestrian
    [1, 5, 200, 0, 10, 10, 1, 3],  # car
]
RESULT_ROWS = [
    [1, 10, 0, 0, 10, 10, 0.9, -1],  # on the pedestrian: TP
    [1, 20, 50, 0, 10, 10, 0.9, -1],  # on the distractor: removed
    [1, 30, 100, 0, 10, 10, 0.9, 0],  # on the zero-marked static person: removed
    [1, 40, 300, 0, 10, 10, 0.9, 1],  # on nothing: FP
    [1, 50, 0, 0, 10, 10, 0.9, 3],  # another class: dropped, counted
]


def test_counts_of_what_is_removed():
    seq = preprocess_sequence(make_sequence("S", 1, GT_ROWS), make_sequence("S", 1, RESULT_ROWS))
    assert seq.removed == {
        "tracker_other_class": 1, "tracker_on_distractor": 2, "gt_zero_marked": 2, "gt_other_class": 2,
    }
    np.testing.assert_array_equal(seq.gt_ids[0], [1])
    np.testing.assert_array_equal(seq.tracker_ids[0], [10, 40])
    np.testing.assert_allclose(seq.similarity[0], [[1.0, 0.0]])


def test_removed_boxes_are_neither_fp_nor_fn():
    gts, results = {"S": make_sequence("S", 1, GT_ROWS)}, {"S": make_sequence("S", 1, RESULT_ROWS)}
    metrics = evaluate_mot(gts, results)["S"]
    # Only tracker 40 is a false positive; the zero-marked pedestrian is not a miss.
    assert (metrics["FP"], metrics["FN"]) == (1, 0)
    assert metrics["DetA"] == pytest.approx(0.5)  # TP 1, FP 1 at every alpha


def test_distractor_below_half_iou_is_kept():
    # IoU([50,0,10,10], [54,0,10,10]) = 60 / 140 < 0.5: not matched to the distractor, an FP.
    result = make_sequence("S", 1, [[1, 20, 54, 0, 10, 10, 0.9, -1]])
    seq = preprocess_sequence(make_sequence("S", 1, GT_ROWS), result)
    assert seq.removed["tracker_on_distractor"] == 0
    np.testing.assert_array_equal(seq.tracker_ids[0], [20])


def test_no_distractor_classes():
    seq = preprocess_sequence(make_sequence("S", 1, GT_ROWS), make_sequence("S", 1, RESULT_ROWS),
                              distractor_classes=())
    assert seq.removed["tracker_on_distractor"] == 0
    np.testing.assert_array_equal(seq.tracker_ids[0], [10, 20, 30, 40])


def test_mot15_gt_only_drops_zero_marked():
    rows = [[1, 1, 0, 0, 10, 10, 1, -1], [2, 2, 50, 0, 10, 10, 0, -1], [2, 1, 1, 0, 10, 10, 1, -1]]
    gt = make_sequence("S", 2, rows)
    seq = preprocess_sequence(gt, make_sequence("S", 2, []))
    assert seq.removed == {
        "tracker_other_class": 0, "tracker_on_distractor": 0, "gt_zero_marked": 1, "gt_other_class": 0,
    }
    assert [ids.tolist() for ids in seq.gt_ids] == [[1], [1]]


def test_other_class_id_is_evaluated():
    seq = preprocess_sequence(make_sequence("S", 1, GT_ROWS), make_sequence("S", 1, RESULT_ROWS), class_id=3)
    np.testing.assert_array_equal(seq.gt_ids[0], [5])
    # class -1 / 0 rows count as class 3; the class-1 row is dropped
    assert seq.removed["tracker_other_class"] == 1
    np.testing.assert_array_equal(seq.tracker_ids[0], [10, 50])


def test_result_frame_beyond_gt_length():
    with pytest.raises(ValueError, match="result frames must lie in 1..1"):
        preprocess_sequence(make_sequence("S", 1, GT_ROWS), make_sequence("S", 3, [[3, 1, 0, 0, 5, 5, 1, 1]]))


def test_box_iou_matches_motmetrics():
    rng = np.random.default_rng(0)
    a = np.concatenate([rng.uniform(0, 50, (20, 2)), rng.uniform(1, 30, (20, 2))], axis=1)
    b = np.concatenate([rng.uniform(0, 50, (15, 2)), rng.uniform(1, 30, (15, 2))], axis=1)
    np.testing.assert_allclose(box_iou_xywh(a, b), 1 - mm.distances.iou_matrix(a, b, max_iou=1.0), atol=1e-12)
    assert box_iou_xywh(a, np.zeros((0, 4))).shape == (20, 0)
