"""Batched constant-velocity Kalman filter for bounding boxes.

One :class:`KalmanFilter` object holds no track state: every method takes the means
``(N, D)`` and covariances ``(N, D, D)`` of ``N`` tracks at once and returns new
arrays, so a tracker keeps its tracks' states stacked and filters all of them with a
handful of numpy calls a frame (no Python loop over tracks; the only loops run over
the <= 4 rows of a triangular solve).

Three measurement parameterisations (``box_format``) cover the trackers of the field:

``"xyah"``
    DeepSORT (Wojke et al., "Simple Online and Realtime Tracking with a Deep
    Association Metric", ICIP 2017), also JDE, FairMOT, CSTrack and ByteTrack.
    State ``(cx, cy, a, h, vcx, vcy, va, vh)`` with ``a = w / h``; measurement
    ``(cx, cy, a, h)``. Process and measurement noise are proportional to the
    height ``h`` (weights 1/20 for positions, 1/160 for velocities) except for the
    aspect ratio, whose noise is a constant.
``"xywh"``
    The width/height variant of BoT-SORT (Aharon et al. 2022, Sec. 3.1). State
    ``(cx, cy, w, h, vcx, vcy, vw, vh)``; the x/w entries of the noise scale with
    ``w`` and the y/h entries with ``h``, with the same weights.
``"xysr"``
    The original SORT (Bewley et al., "Simple Online and Realtime Tracking", ICIP
    2016). State ``(cx, cy, s, r, vcx, vcy, vs)`` with area ``s = w * h`` and aspect
    ``r = w / h`` (which has no velocity); fixed noise matrices, as in SORT's
    ``KalmanBoxTracker``.

The motion model is the same for all three: ``x_{k+1} = F x_k`` with ``F = I`` plus
ones that add each velocity to its coordinate (unit time step, one frame), and the
measurement ``z = H x`` with ``H = [I 0]`` (the first ``M`` state entries).

The innovation covariance is factored by Cholesky, and the gain and the gating
distance come from triangular solves with that factor, as in DeepSORT; the solves are
batched over tracks by :func:`_inverse_cholesky_factor`.
"""

import numpy as np

__all__ = ["BOX_FORMATS", "KalmanFilter", "xyxy_to_measurement", "state_to_xyxy"]

BOX_FORMATS = ("xyah", "xywh", "xysr")

# Number of state entries that carry a velocity (the first ones; velocities follow at
# index 4): SORT has no velocity for the aspect ratio r.
_NUM_VELOCITIES = {"xyah": 4, "xywh": 4, "xysr": 3}


def _check_box_format(box_format):
    if box_format not in BOX_FORMATS:
        raise ValueError(f"box_format must be one of {BOX_FORMATS}, got {box_format!r}")


def _as_rows(values, width, what):
    """``values`` as a float64 array ``(N, width)``; an empty input gives ``(0, width)``."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return values.reshape(0, width)
    if values.ndim != 2 or values.shape[1] != width:
        raise ValueError(f"{what}: expected an array of shape (N, {width}), got {values.shape}")
    return values


def _diagonal(matrices):
    """Writable view ``(N, K)`` of the diagonals of a C-contiguous stack ``(N, K, K)``
    (a strided view of the flat array: cheaper than fancy indexing or ``np.einsum``)."""
    if not matrices.flags.c_contiguous:
        raise ValueError("_diagonal needs a C-contiguous stack of matrices")
    k = matrices.shape[-1]
    return matrices.reshape(len(matrices), k * k)[:, :: k + 1]


def _add_to_diagonal(matrices, values):
    """``matrices[n, i, i] += values[n, i]`` in place; returns ``matrices``."""
    _diagonal(matrices)[...] += values
    return matrices


def _inverse_cholesky_factor(matrices):
    """``L^-1`` for the Cholesky factorisation ``matrices = L L^T`` of a stack of
    symmetric positive definite matrices ``(N, M, M)``.

    ``L^-1`` is lower-triangular, ``matrices^-1 = L^-T L^-1`` and ``L^-1 b`` is the
    triangular solve DeepSORT does with ``scipy.linalg.solve_triangular``. Numpy has no
    batched triangular solve (``np.linalg.solve`` / ``inv`` call LAPACK once per matrix
    and are several times slower here under a threaded BLAS), so the identity is
    forward-substituted for all matrices at once, looping over the ``M`` (<= 4) rows
    only: row ``i`` of ``L L^-1 = I`` reads
    ``L[i, :i] @ L^-1[:i, :i] + L[i, i] L^-1[i, :i] = 0`` and ``L^-1[i, i] = 1 / L[i, i]``.

    Diagonal matrices take a shortcut (``L = sqrt(matrices)``). This is the case of
    every covariance this filter produces, since F, H, Q, R and the initial covariance
    couple each coordinate with its own velocity only, so that ``H P H^T + R`` stays
    diagonal; the general path serves any other covariance.
    """
    matrices = np.ascontiguousarray(matrices, dtype=np.float64)
    diag = _diagonal(matrices)
    inv = np.zeros(matrices.shape)
    n_diag = diag.size
    if np.count_nonzero(diag > 0) == n_diag and np.count_nonzero(matrices) == n_diag:
        _diagonal(inv)[...] = 1.0 / np.sqrt(diag)
        return inv
    lower = np.linalg.cholesky(matrices)  # raises LinAlgError if not positive definite
    inv_diag = 1.0 / _diagonal(lower)
    _diagonal(inv)[...] = inv_diag
    for i in range(1, matrices.shape[-1]):
        off_diag = lower[:, i : i + 1, :i] @ inv[:, :i, :i]  # (N, 1, i)
        inv[:, i, :i] = off_diag[:, 0] * -inv_diag[:, i : i + 1]
    return inv


class KalmanFilter:
    """Constant-velocity Kalman filter over a batch of box tracks.

    Args:
        box_format: ``"xyah"`` (DeepSORT), ``"xywh"`` (BoT-SORT) or ``"xysr"`` (SORT);
            see the module docstring.
        std_weight_position: standard deviation of position noise, relative to the
            box size (DeepSORT's ``1/20``). Ignored by ``"xysr"``.
        std_weight_velocity: standard deviation of velocity noise, relative to the box
            size (DeepSORT's ``1/160``). Ignored by ``"xysr"``.

    Attributes:
        box_format, state_dim (D), measure_dim (M = 4),
        motion_mat: ``F`` ``(D, D)``; update_mat: ``H`` ``(M, D)``.

    All inputs are converted to float64; ``N`` (and ``K`` for gating) may be 0.
    """

    def __init__(
        self, box_format="xyah", std_weight_position=1.0 / 20, std_weight_velocity=1.0 / 160
    ):
        _check_box_format(box_format)
        self.box_format = box_format
        self.std_weight_position = float(std_weight_position)
        self.std_weight_velocity = float(std_weight_velocity)
        self.measure_dim = 4
        num_vel = _NUM_VELOCITIES[box_format]
        self.state_dim = 4 + num_vel
        d = self.state_dim

        self.motion_mat = np.eye(d)
        self.motion_mat[np.arange(num_vel), 4 + np.arange(num_vel)] = 1.0  # coordinate += velocity
        self.update_mat = np.eye(self.measure_dim, d)
        self._motion_mat_t = self.motion_mat.T.copy()
        # Row-major vec(F P F^T) = (F kron F) vec(P): the covariance prediction of all
        # tracks is one (N, D*D) @ (D*D, D*D) product instead of a stack of 2N products.
        self._cov_motion_mat_t = np.kron(self.motion_mat, self.motion_mat).T.copy()

        wp, wv = self.std_weight_position, self.std_weight_velocity
        if box_format == "xysr":
            # SORT's KalmanBoxTracker: P = 10 I with the unobserved velocities x1000;
            # Q = I with the velocities x0.01 and the area velocity x0.01 again;
            # R = I with the area and aspect entries x10.
            self._fixed_var = {
                "initiate": np.array([10.0, 10.0, 10.0, 10.0, 1e4, 1e4, 1e4]),
                "process": np.array([1.0, 1.0, 1.0, 1.0, 1e-2, 1e-2, 1e-4]),
                "measure": np.array([1.0, 1.0, 10.0, 10.0]),
            }
            return
        self._fixed_var = None
        # Noise standard deviations are ``coef * size + offset``, entry by entry, where
        # ``size`` is the box dimension the entry scales with (column ``_size_idx`` of
        # the mean). DeepSORT ("xyah"): every entry scales with h, except that the
        # aspect ratio's noise is a constant (the offsets 1e-2, 1e-5, 1e-1).
        # BoT-SORT ("xywh"): x/w entries scale with w, y/h entries with h.
        pos = np.full(4, wp)
        if box_format == "xyah":
            self._size_idx = np.full(d, 3)
            pos[2] = 0.0
            vel = np.array([wv, wv, 0.0, wv])
            pos_off, vel_off, meas_off = (np.array([0.0, 0.0, c, 0.0]) for c in (1e-2, 1e-5, 1e-1))
        else:
            self._size_idx = np.array([2, 3, 2, 3, 2, 3, 2, 3])
            vel = np.full(4, wv)
            pos_off = vel_off = meas_off = np.zeros(4)
        self._std_coef = {
            "initiate": np.r_[2 * pos, 10 * vel],
            "process": np.r_[pos, vel],
            "measure": pos,
        }
        self._std_offset = {
            "initiate": np.r_[pos_off, vel_off],
            "process": np.r_[pos_off, vel_off],
            "measure": meas_off,
        }

    def _noise_var(self, kind, sizes):
        """Diagonal noise variances ``(N, K)`` of ``kind`` ("initiate", "process" or
        "measure") for tracks whose box sizes are read from ``sizes`` (a mean or a
        measurement ``(N, >=4)``)."""
        if self._fixed_var is not None:
            return np.broadcast_to(self._fixed_var[kind], (len(sizes), self._fixed_var[kind].size))
        coef = self._std_coef[kind]
        std = sizes.take(self._size_idx[: coef.size], axis=1)
        std *= coef
        std += self._std_offset[kind]
        return np.square(std, out=std)

    def initiate(self, measurements):
        """Create tracks from unassociated measurements ``(N, M)``.

        Returns the mean ``(N, D)`` (the measurement, zero velocities) and the
        covariance ``(N, D, D)`` (diagonal; DeepSORT's ``initiate`` / SORT's ``P0``).
        """
        measurements = _as_rows(measurements, self.measure_dim, "initiate: measurements")
        n = len(measurements)
        mean = np.zeros((n, self.state_dim))
        mean[:, : self.measure_dim] = measurements
        cov = _add_to_diagonal(
            np.zeros((n, self.state_dim, self.state_dim)), self._noise_var("initiate", measurements)
        )
        return mean, cov

    def predict(self, mean, cov):
        """One frame ahead: ``x = F x``, ``P = F P F^T + Q``.

        ``Q`` is computed from the state before the prediction (DeepSORT). For
        ``"xysr"`` the area velocity is first zeroed wherever ``s + vs <= 0`` (SORT's
        guard against a negative area); the returned mean carries that zero.
        """
        mean = np.asarray(mean, dtype=np.float64)
        cov = np.asarray(cov, dtype=np.float64)
        if self.box_format == "xysr":
            mean = mean.copy()
            mean[mean[:, 2] + mean[:, 6] <= 0, 6] = 0.0
        n, d = len(mean), self.state_dim
        process_var = self._noise_var("process", mean)
        new_mean = mean @ self._motion_mat_t
        new_cov = (cov.reshape(n, d * d) @ self._cov_motion_mat_t).reshape(n, d, d)
        return new_mean, _add_to_diagonal(new_cov, process_var)

    def project(self, mean, cov):
        """Distribution in measurement space: ``(H x, H P H^T + R)``, ``R`` from ``mean``.

        Returns ``(N, M)`` and ``(N, M, M)``.
        """
        mean = np.asarray(mean, dtype=np.float64)
        cov = np.asarray(cov, dtype=np.float64)
        m = self.measure_dim
        # H = [I 0] selects the first M entries: H x and H P H^T are slices.
        innovation_cov = _add_to_diagonal(
            np.array(cov[:, :m, :m]), self._noise_var("measure", mean)
        )
        return mean[:, :m].copy(), innovation_cov

    def update(self, mean, cov, measurements):
        """Correct track ``i`` with measurement row ``i`` (``(N, M)``).

        With ``S = H P H^T + R = L L^T`` (Cholesky) and ``Y = L^-1 H P``, the gain is
        ``K = P H^T S^-1 = Y^T L^-1``, so ``x' = x + Y^T L^-1 (z - H x)`` and
        ``P' = P - K S K^T = P - Y^T Y`` (DeepSORT's update, batched): one product
        ``[Y | L^-1 (z - H x)]^T Y`` gives both corrections.
        """
        mean = np.asarray(mean, dtype=np.float64)
        cov = np.asarray(cov, dtype=np.float64)
        measurements = _as_rows(measurements, self.measure_dim, "update: measurements")
        m, d = self.measure_dim, self.state_dim
        if len(measurements) != len(mean):
            raise ValueError(
                f"update: measurements must have shape ({len(mean)}, {m}) to match the "
                f"{len(mean)} tracks, got {measurements.shape}"
            )
        projected_mean, innovation_cov = self.project(mean, cov)
        inv_chol = _inverse_cholesky_factor(innovation_cov)
        innovation = measurements - projected_mean
        rhs = np.concatenate([cov[:, :m, :], innovation[:, :, None]], axis=2)  # [H P | z - H x]
        solved = inv_chol @ rhs  # [Y | L^-1 (z - H x)], (N, M, D + 1)
        correction = solved.transpose(0, 2, 1) @ solved[:, :, :d]  # [Y^T Y ; (K (z - H x))^T]
        return mean + correction[:, d], cov - correction[:, :d]

    def measure(self, boxes):
        """xyxy boxes ``(N, 4)`` as measurements of this filter's ``box_format``."""
        return xyxy_to_measurement(boxes, self.box_format)

    def to_xyxy(self, mean):
        """The boxes ``(N, 4)`` of states ``(N, D)``."""
        return state_to_xyxy(mean, self.box_format)

    def gating_distance(self, mean, cov, measurements, only_position=False):
        """Squared Mahalanobis distances ``(N, K)`` between each track's projected
        distribution and each of ``K`` measurements ``(K, M)``.

        With ``only_position`` only the box centre ``(cx, cy)`` is compared (2 degrees
        of freedom instead of 4), as DeepSORT's option of the same name. Compare with
        ``scipy.stats.chi2.ppf(0.95, dof)`` (DeepSORT's ``chi2inv95``) to gate.
        """
        measurements = _as_rows(measurements, self.measure_dim, "gating_distance: measurements")
        projected_mean, innovation_cov = self.project(mean, cov)
        if only_position:
            projected_mean, innovation_cov = projected_mean[:, :2], innovation_cov[:, :2, :2]
            measurements = measurements[:, :2]
        (n, m), k = projected_mean.shape, len(measurements)
        inv_chol = _inverse_cholesky_factor(innovation_cov)
        # Whitened differences L^-1 (z_k - H x_n) = L^-1 z_k - L^-1 H x_n: the first term
        # for all tracks and measurements is one (N*M, M) @ (M, K) product. (Rounding
        # of the difference: ~1e-16 |z| / sigma, negligible against gating thresholds.)
        whitened = (inv_chol.reshape(n * m, m) @ measurements.T).reshape(n, m, k)
        whitened -= inv_chol @ projected_mean[:, :, None]
        return np.einsum("nmk,nmk->nk", whitened, whitened)


def xyxy_to_measurement(boxes, box_format):
    """Boxes ``(N, 4)`` as ``(x1, y1, x2, y2)`` to measurements ``(N, 4)`` of ``box_format``.

    ``w = x2 - x1`` and ``h = y2 - y1`` (no ``+1``, as SORT's ``convert_bbox_to_z``).
    """
    _check_box_format(box_format)
    boxes = _as_rows(boxes, 4, "xyxy_to_measurement: boxes")
    out = np.empty_like(boxes)
    wh = boxes[:, 2:] - boxes[:, :2]
    out[:, :2] = boxes[:, :2] + wh / 2
    w, h = wh[:, 0], wh[:, 1]
    if box_format == "xyah":
        out[:, 2], out[:, 3] = w / h, h
    elif box_format == "xywh":
        out[:, 2:] = wh
    else:
        out[:, 2], out[:, 3] = w * h, w / h
    return out


def state_to_xyxy(mean, box_format):
    """Box part of states (or measurements) ``(N, >=4)`` of ``box_format`` to
    ``(x1, y1, x2, y2)`` boxes ``(N, 4)``.

    For ``"xysr"`` a state whose area times aspect is not positive gives a row of NaN, as
    SORT's ``convert_x_to_bbox`` does (SORT drops such tracks); no warning is raised.
    """
    _check_box_format(box_format)
    mean = np.atleast_2d(np.asarray(mean, dtype=np.float64))
    half = np.empty((len(mean), 2))
    if box_format == "xyah":
        half[:, 1] = mean[:, 3] / 2
        half[:, 0] = mean[:, 2] * half[:, 1]
    elif box_format == "xywh":
        half[:] = mean[:, 2:4] / 2
    else:
        area_times_aspect = mean[:, 2] * mean[:, 3]
        valid = area_times_aspect > 0
        half[:, 0] = np.sqrt(np.where(valid, area_times_aspect, np.nan)) / 2
        half[:, 1] = mean[:, 2] / 4 / half[:, 0]
    out = np.empty((len(mean), 4))
    out[:, :2] = mean[:, :2] - half
    out[:, 2:] = mean[:, :2] + half
    return out
