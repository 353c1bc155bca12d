"""Cost matrices, gating and assignment against hand-computed values."""
import numpy as np
import pytest
from scipy.stats import chi2

from trackers.assignment import linear_assignment
from trackers.costs import cosine_distance, forbid_cross_class, giou_matrix, iou_matrix
from trackers.gating import CHI2_INV_95, gate_cost


def test_iou_hand_values():
    a = np.array([[0.0, 0, 10, 10]])
    b = np.array([[0.0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 5, 5]])
    # overlaps: same box; half (50 / 150); disjoint; inner quarter (25 / 100)
    np.testing.assert_allclose(iou_matrix(a, b), [[1.0, 50 / 150, 0.0, 0.25]])


def test_iou_of_empty_boxes_is_zero_not_nan():
    degenerate = np.array([[3.0, 3, 3, 3]])
    assert iou_matrix(degenerate, degenerate)[0, 0] == 0.0
    assert iou_matrix(np.zeros((0, 4)), degenerate).shape == (0, 1)


def test_giou_hand_values():
    a = np.array([[0.0, 0, 10, 10]])
    b = np.array([[0.0, 0, 10, 10], [20, 0, 30, 10], [5, 0, 15, 10]])
    # disjoint: IoU 0, hull 30 x 10 = 300, union 200 -> 0 - 100 / 300
    # half overlap: IoU 1/3, hull 15 x 10 = 150 = union -> 1/3
    np.testing.assert_allclose(giou_matrix(a, b), [[1.0, -1 / 3, 1 / 3]])


def test_cosine_distance_hand_values_and_clipping():
    a = np.array([[1.0, 0.0], [3.0, 4.0]])
    b = np.array([[2.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    expected = [[0.0, 1.0, 2.0], [1 - 0.6, 1 - 0.8, 1.6]]
    np.testing.assert_allclose(cosine_distance(a, b), expected, atol=1e-12)
    assert cosine_distance(a, a).min() >= 0.0  # rounding never gives negative distances


def test_forbid_cross_class():
    cost = forbid_cross_class(np.zeros((2, 2)), np.array([0, 1]), np.array([1, 1]))
    assert np.isinf(cost[0]).all() and (cost[1] == 0).all()


def test_chi2_table_matches_deepsort():
    # DeepSORT's chi2inv95 table: 4 dof -> 9.4877, 2 dof -> 5.9915
    assert CHI2_INV_95[4] == pytest.approx(9.4877, abs=1e-4)
    assert CHI2_INV_95[2] == pytest.approx(5.9915, abs=1e-4)
    assert CHI2_INV_95[7] == pytest.approx(chi2.ppf(0.95, 7))


def test_gate_cost_fuses_and_gates():
    cost = np.array([[0.2, 0.4]])
    gating = np.array([[1.0, 20.0]])
    fused = gate_cost(cost.copy(), gating, 4, motion_weight=0.02)
    assert fused[0, 0] == pytest.approx(0.98 * 0.2 + 0.02 * 1.0)
    assert np.isinf(fused[0, 1])


def test_linear_assignment_optimal_and_thresholded():
    # Greedy would take (0,0)=0.1 and then (1,1)=0.9 > limit; the optimum is (0,1)+(1,0).
    cost = np.array([[0.1, 0.2], [0.3, 0.9]])
    matches, rows, cols = linear_assignment(cost, max_cost=0.5)
    assert sorted(map(tuple, matches)) == [(0, 1), (1, 0)]
    assert len(rows) == 0 and len(cols) == 0
    matches, rows, cols = linear_assignment(np.array([[0.6, np.inf], [np.inf, 0.2]]), max_cost=0.5)
    assert matches.tolist() == [[1, 1]] and rows.tolist() == [0] and cols.tolist() == [0]


def test_linear_assignment_empty():
    matches, rows, cols = linear_assignment(np.zeros((0, 3)), 0.5)
    assert matches.shape == (0, 2) and rows.tolist() == [] and cols.tolist() == [0, 1, 2]


def test_linear_assignment_equals_the_full_solver_on_random_sparse_costs():
    import lap

    rng = np.random.default_rng(0)
    for _ in range(200):
        n, m = rng.integers(0, 9, size=2)
        cost = np.where(rng.uniform(size=(n, m)) < 0.3, rng.uniform(0, 1, size=(n, m)), np.inf)
        matches, rows, cols = linear_assignment(cost, 0.7)
        total = cost[matches[:, 0], matches[:, 1]].sum() if len(matches) else 0.0
        # the full lapjv on the whole matrix: same objective (matched cost + limit per unmatched pair)
        if n and m:
            _, x, _ = lap.lapjv(np.minimum(cost, 1.7), extend_cost=True, cost_limit=0.7)
            full = [(i, j) for i, j in enumerate(x) if j >= 0]
        else:
            full = []
        assert len(full) == len(matches)
        assert total == pytest.approx(sum(cost[i, j] for i, j in full))
        assert (cost[matches[:, 0], matches[:, 1]] <= 0.7).all()
        assert sorted(rows.tolist() + matches[:, 0].tolist()) == list(range(n))
        assert sorted(cols.tolist() + matches[:, 1].tolist()) == list(range(m))


def test_nms_keeps_the_best_per_class():
    from trackers.nms import nms

    boxes = np.array([[0.0, 0, 10, 10], [1, 0, 11, 10], [0, 0, 10, 10], [50, 50, 60, 60]])
    scores = np.array([0.8, 0.9, 0.7, 0.1])
    classes = np.array([0, 0, 1, 0])
    # box 1 (0.9) suppresses box 0 (IoU 9/11 > 0.5); box 2 is another class; box 3 is apart
    assert nms(boxes, scores, classes, 0.5).tolist() == [1, 2, 3]
    assert nms(boxes, scores, classes, 0.9).tolist() == [1, 0, 2, 3]
