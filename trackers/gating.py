"""Chi-square gating of assignment costs by the Kalman filter's Mahalanobis distance."""
import numpy as np
from scipy.stats import chi2

# 0.95 quantile of the chi-square distribution by degrees of freedom (DeepSORT's
# chi2inv95 table): the gate for a squared Mahalanobis distance of that many dims.
CHI2_INV_95 = {dof: float(chi2.ppf(0.95, dof)) for dof in range(1, 10)}


def gate_cost(cost: np.ndarray, gating_distance: np.ndarray, dof: int, motion_weight: float) -> np.ndarray:
    """JDE's fused motion cost: pairs outside the 95% gate become infinite, the rest
    mix appearance and motion as ``(1 - w) * cost + w * gating_distance``.

    JDE / FairMOT use ``w = 0.02`` (``lambda_ = 0.98`` on the appearance cost) and the
    4-dof gate of the full (x, y, a, h) measurement.
    """
    fused = (1.0 - motion_weight) * cost + motion_weight * gating_distance
    fused[gating_distance > CHI2_INV_95[dof]] = np.inf
    return fused
