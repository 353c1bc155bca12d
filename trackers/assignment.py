"""Linear assignment with a cost limit, through ``lap.lapjv``."""
from typing import Tuple

import lap
import numpy as np


def _lapjv(cost: np.ndarray, max_cost: float) -> Tuple[np.ndarray, np.ndarray]:
    # lapjv needs finite costs; anything above the limit is equally "no match".
    _, row_to_col, _ = lap.lapjv(np.minimum(cost, max_cost + 1.0), extend_cost=True, cost_limit=max_cost)
    rows = np.flatnonzero(row_to_col >= 0)
    return rows, row_to_col[rows]


def linear_assignment(cost: np.ndarray, max_cost: float) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimum-cost matching of rows to columns, keeping pairs with cost <= ``max_cost``.

    Infinite entries (gated or cross-class pairs) are never matched. Returns
    ``(matches (K, 2) of row, column; unmatched rows; unmatched columns)``.

    Only rows and columns with a feasible pair enter the solver, and a row and column
    that are each other's only feasible pair are matched directly: such a pair is
    independent of the rest, so the result is the full problem's optimum, while the
    solver sees only the contested part (a crowded frame is mostly isolated pairs).
    """
    num_rows, num_cols = cost.shape
    feasible = cost <= max_cost
    row_degree, col_degree = feasible.sum(axis=1), feasible.sum(axis=0)
    only_col = feasible.argmax(axis=1) if num_cols else np.zeros(num_rows, np.int64)
    isolated = (row_degree == 1) & (col_degree[only_col] == 1) if num_cols else np.zeros(num_rows, bool)
    contested_rows = np.flatnonzero((row_degree > 0) & ~isolated)
    col_open = col_degree > 0
    col_open[only_col[isolated]] = False
    contested_cols = np.flatnonzero(col_open)
    rows, cols = np.flatnonzero(isolated), only_col[isolated]
    if len(contested_rows) and len(contested_cols):
        sub_rows, sub_cols = _lapjv(cost[np.ix_(contested_rows, contested_cols)], max_cost)
        rows = np.concatenate([rows, contested_rows[sub_rows]])
        cols = np.concatenate([cols, contested_cols[sub_cols]])
    row_free, col_free = np.ones(num_rows, bool), np.ones(num_cols, bool)
    row_free[rows], col_free[cols] = False, False
    return np.stack([rows, cols], axis=1).astype(np.int64), np.flatnonzero(row_free), np.flatnonzero(col_free)
