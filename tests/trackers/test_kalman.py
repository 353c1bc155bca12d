"""Tests of the batched Kalman filter against filterpy, one filterpy filter per track.

The reference noise models below are written out from the papers' reference code
(DeepSORT's ``kalman_filter.py``, BoT-SORT's w/h variant, SORT's ``KalmanBoxTracker``),
independently of ``trackers.kalman``.
"""

import warnings

import numpy as np
import pytest
from filterpy.kalman import KalmanFilter as FilterpyKF
from scipy.spatial.distance import mahalanobis

from trackers.kalman import (
    BOX_FORMATS,
    KalmanFilter,
    _inverse_cholesky_factor,
    state_to_xyxy,
    xyxy_to_measurement,
)

WP, WV = 1.0 / 20, 1.0 / 160  # DeepSORT's std_weight_position / std_weight_velocity
STATE_DIM = {"xyah": 8, "xywh": 8, "xysr": 7}
# Tolerances: absolute 1e-6, relative where the magnitudes are large (areas, P0 = 1e4).
TOL = dict(rtol=1e-8, atol=1e-6)


# --------------------------------------------------------------------------- reference


def reference_motion_mat(box_format):
    d = STATE_DIM[box_format]
    f = np.eye(d)
    for i in range(d - 4):  # cx += vcx, cy += vcy, (a|w|s) += v., (h += vh)
        f[i, 4 + i] = 1.0
    return f


def reference_noise_std(box_format, x, kind):
    """DeepSORT ("xyah") / BoT-SORT ("xywh") noise standard deviations for state or
    measurement ``x``; ``kind`` is "initiate", "process" or "measure"."""
    if box_format == "xyah":
        h = x[3]
        std = {
            "initiate": [2 * WP * h, 2 * WP * h, 1e-2, 2 * WP * h]
            + [10 * WV * h, 10 * WV * h, 1e-5, 10 * WV * h],
            "process": [WP * h, WP * h, 1e-2, WP * h] + [WV * h, WV * h, 1e-5, WV * h],
            "measure": [WP * h, WP * h, 1e-1, WP * h],
        }
    else:
        w, h = x[2], x[3]
        std = {
            "initiate": [2 * WP * w, 2 * WP * h, 2 * WP * w, 2 * WP * h]
            + [10 * WV * w, 10 * WV * h, 10 * WV * w, 10 * WV * h],
            "process": [WP * w, WP * h, WP * w, WP * h] + [WV * w, WV * h, WV * w, WV * h],
            "measure": [WP * w, WP * h, WP * w, WP * h],
        }
    return np.array(std[kind])


def reference_filter(box_format, z):
    """A filterpy filter for one track created from measurement ``z``."""
    d = STATE_DIM[box_format]
    kf = FilterpyKF(dim_x=d, dim_z=4)
    kf.F = reference_motion_mat(box_format)
    kf.H = np.eye(4, d)
    kf.x = np.r_[z, np.zeros(d - 4)].reshape(d, 1)
    if box_format == "xysr":  # SORT's KalmanBoxTracker.__init__, step by step
        kf.R[2:, 2:] *= 10.0
        kf.P[4:, 4:] *= 1000.0
        kf.P *= 10.0
        kf.Q[-1, -1] *= 0.01
        kf.Q[4:, 4:] *= 0.01
    else:
        kf.P = np.diag(np.square(reference_noise_std(box_format, z, "initiate")))
    return kf


def reference_predict(kf, box_format):
    if box_format == "xysr":
        if kf.x[6, 0] + kf.x[2, 0] <= 0:  # SORT's KalmanBoxTracker.predict guard
            kf.x[6] *= 0.0
    else:
        kf.Q = np.diag(np.square(reference_noise_std(box_format, kf.x[:, 0], "process")))
    kf.predict()


def reference_update(kf, box_format, z):
    if box_format != "xysr":
        kf.R = np.diag(np.square(reference_noise_std(box_format, kf.x[:, 0], "measure")))
    kf.update(z)


def assert_matches(mean, cov, filters):
    assert len(mean) == len(cov) == len(filters)
    for i, kf in enumerate(filters):
        np.testing.assert_allclose(mean[i], kf.x[:, 0], **TOL)
        np.testing.assert_allclose(cov[i], kf.P, **TOL)


def random_boxes(rng, n):
    xy = rng.uniform(0, 1500, (n, 2))
    wh = rng.uniform(15, 300, (n, 2))
    return np.c_[xy, xy + wh]


def random_spd(rng, n, dim):
    a = rng.normal(size=(n, dim, dim))
    return a @ a.transpose(0, 2, 1) + 0.5 * np.eye(dim)


# ------------------------------------------------------------------ filterpy sequences


@pytest.mark.parametrize("box_format", BOX_FORMATS)
@pytest.mark.parametrize("n_tracks", [1, 7])
def test_sequence_matches_filterpy(box_format, n_tracks):
    """Initiate, then 10 frames of predict-all and update-some (tracks are updated on
    different frames, some coast several frames), plus tracks born mid-sequence."""
    rng = np.random.default_rng(1000 * n_tracks + BOX_FORMATS.index(box_format))
    kf = KalmanFilter(box_format)
    assert kf.state_dim == STATE_DIM[box_format] and kf.measure_dim == 4

    boxes = random_boxes(rng, n_tracks)
    velocity = rng.normal(0, 4, (n_tracks, 2))
    z0 = xyxy_to_measurement(boxes, box_format)
    mean, cov = kf.initiate(z0)
    filters = [reference_filter(box_format, z) for z in z0]
    assert_matches(mean, cov, filters)

    for frame in range(10):
        mean, cov = kf.predict(mean, cov)
        for ref in filters:
            reference_predict(ref, box_format)
        assert_matches(mean, cov, filters)

        boxes = boxes + np.tile(velocity, 2) + rng.normal(0, 1.5, boxes.shape)
        updated = np.flatnonzero(rng.random(len(boxes)) < 0.6)
        if frame == 0:
            updated = np.arange(len(boxes))  # every track gets one update early on
        z = xyxy_to_measurement(boxes[updated], box_format)
        mean[updated], cov[updated] = kf.update(mean[updated], cov[updated], z)
        for i, zi in zip(updated, z):
            reference_update(filters[i], box_format, zi)
        assert_matches(mean, cov, filters)

        if frame in (3, 6):  # births: new rows appended to the batch
            born = random_boxes(rng, 2)
            z_born = xyxy_to_measurement(born, box_format)
            mean_born, cov_born = kf.initiate(z_born)
            mean, cov = np.concatenate([mean, mean_born]), np.concatenate([cov, cov_born])
            filters += [reference_filter(box_format, zi) for zi in z_born]
            boxes = np.concatenate([boxes, born])
            velocity = np.concatenate([velocity, rng.normal(0, 4, (2, 2))])
            assert_matches(mean, cov, filters)

    # gating distances of the final batch against direct Mahalanobis distances
    z = xyxy_to_measurement(boxes, box_format)
    dist = kf.gating_distance(mean, cov, z)
    assert dist.shape == (len(filters), len(z))
    for i, ref in enumerate(filters):
        if box_format == "xysr":
            r = ref.R
        else:
            r = np.diag(np.square(reference_noise_std(box_format, ref.x[:, 0], "measure")))
        s = ref.H @ ref.P @ ref.H.T + r
        diff = z - (ref.H @ ref.x)[:, 0]
        expected = np.einsum("ki,ij,kj->k", diff, np.linalg.inv(s), diff)
        np.testing.assert_allclose(dist[i], expected, rtol=1e-7, atol=1e-6)


def test_sort_area_velocity_guard_matches_filterpy():
    """A shrinking box: SORT zeroes the area velocity once s + vs <= 0."""
    kf = KalmanFilter("xysr")
    z = np.array([[100.0, 100.0, 400.0, 1.0]])
    mean, cov = kf.initiate(z)
    ref = reference_filter("xysr", z[0])
    guard_fired = False
    for area in (200.0, 40.0, None, None, None):
        vs_before = mean[0, 6]
        s_before = mean[0, 2]
        mean, cov = kf.predict(mean, cov)
        reference_predict(ref, "xysr")
        if s_before + vs_before <= 0:
            guard_fired = True
            assert mean[0, 6] == 0.0 and vs_before != 0.0
        if area is not None:
            zi = np.array([[100.0, 100.0, area, 1.0]])
            mean, cov = kf.update(mean, cov, zi)
            reference_update(ref, "xysr", zi[0])
        assert_matches(mean, cov, [ref])
    assert guard_fired


@pytest.mark.parametrize("box_format", BOX_FORMATS)
def test_general_covariance_matches_filterpy(box_format):
    """A covariance with all entries non-zero takes the Cholesky path (the filter's own
    covariances keep H P H^T + R diagonal and take the diagonal shortcut)."""
    rng = np.random.default_rng(7)
    kf = KalmanFilter(box_format)
    d = kf.state_dim
    n = 5
    mean = np.c_[
        xyxy_to_measurement(random_boxes(rng, n), box_format), rng.normal(0, 2, (n, d - 4))
    ]
    cov = random_spd(rng, n, d) * 20.0
    z = xyxy_to_measurement(random_boxes(rng, n), box_format)
    # sanity: the innovation covariances really are dense here
    assert np.count_nonzero(kf.project(mean, cov)[1]) == n * 16

    new_mean, new_cov = kf.update(mean, cov, z)
    pred_mean, pred_cov = kf.predict(mean, cov)
    for i in range(n):
        ref = reference_filter(box_format, z[i])
        ref.x, ref.P = mean[i].reshape(d, 1).copy(), cov[i].copy()
        reference_update(ref, box_format, z[i])
        np.testing.assert_allclose(new_mean[i], ref.x[:, 0], **TOL)
        np.testing.assert_allclose(new_cov[i], ref.P, **TOL)

        ref.x, ref.P = mean[i].reshape(d, 1).copy(), cov[i].copy()
        reference_predict(ref, box_format)
        np.testing.assert_allclose(pred_mean[i], ref.x[:, 0], **TOL)
        np.testing.assert_allclose(pred_cov[i], ref.P, **TOL)


# ------------------------------------------------------------------ hand-computed cases


def test_first_predict_of_fresh_xyah_track_by_hand():
    kf = KalmanFilter("xyah")
    mean, cov = kf.initiate([[100.0, 200.0, 0.5, 100.0]])
    # P0 std (h = 100): 2/20*100 = 10 for cx, cy, h; 1e-2 for a;
    # 10/160*100 = 6.25 for the velocities of cx, cy, h; 1e-5 for va.
    np.testing.assert_allclose(
        np.diag(cov[0]), [100, 100, 1e-4, 100, 39.0625, 39.0625, 1e-10, 39.0625], rtol=1e-12
    )
    mean, cov = kf.predict(mean, cov)
    np.testing.assert_array_equal(mean[0], [100, 200, 0.5, 100, 0, 0, 0, 0])  # zero velocity
    # F P0 F^T + Q, Q std: 1/20*100 = 5, 1e-2, 1/160*100 = 0.625, 1e-5.
    # position:  P0 + P0_vel + Q = 100 + 39.0625 + 25 = 164.0625 (a: 1e-4 + 1e-10 + 1e-4)
    # cross:     P0_vel = 39.0625 (a: 1e-10)
    # velocity:  P0_vel + Q_vel = 39.0625 + 0.390625 = 39.453125 (va: 2e-10)
    p, c, v = 164.0625, 39.0625, 39.453125
    pa, ca, va = 2e-4 + 1e-10, 1e-10, 2e-10
    expected = np.array(
        [
            [p, 0, 0, 0, c, 0, 0, 0],
            [0, p, 0, 0, 0, c, 0, 0],
            [0, 0, pa, 0, 0, 0, ca, 0],
            [0, 0, 0, p, 0, 0, 0, c],
            [c, 0, 0, 0, v, 0, 0, 0],
            [0, c, 0, 0, 0, v, 0, 0],
            [0, 0, ca, 0, 0, 0, va, 0],
            [0, 0, 0, c, 0, 0, 0, v],
        ]
    )
    np.testing.assert_allclose(cov[0], expected, rtol=1e-12, atol=0)

    # update with cx moved by 10: a 1-D filter on (cx, vcx) with R = (1/20*100)^2 = 25
    mean, cov = kf.update(mean, cov, [[110.0, 200.0, 0.5, 100.0]])
    s = p + 25.0
    np.testing.assert_allclose(
        mean[0], [100 + 10 * p / s, 200, 0.5, 100, 10 * c / s, 0, 0, 0], rtol=1e-12, atol=1e-12
    )
    np.testing.assert_allclose(cov[0, 0, 0], p - p * p / s, rtol=1e-12)
    np.testing.assert_allclose(cov[0, 0, 4], c - p * c / s, rtol=1e-12)
    np.testing.assert_allclose(cov[0, 4, 4], v - c * c / s, rtol=1e-12)


def test_sort_matrices_by_hand():
    kf = KalmanFilter("xysr")
    mean, cov = kf.initiate([[50.0, 60.0, 800.0, 0.5]])
    np.testing.assert_array_equal(np.diag(cov[0]), [10, 10, 10, 10, 1e4, 1e4, 1e4])
    _, cov = kf.predict(mean, cov)
    # F P0 F^T + Q with Q = diag(1, 1, 1, 1, 0.01, 0.01, 0.0001)
    np.testing.assert_allclose(
        np.diag(cov[0]),
        [10 + 1e4 + 1, 10 + 1e4 + 1, 10 + 1e4 + 1, 11, 1e4 + 0.01, 1e4 + 0.01, 1e4 + 1e-4],
    )
    _, s = kf.project(mean, np.diag([1.0, 2, 3, 4, 5, 6, 7])[None])
    np.testing.assert_array_equal(s[0], np.diag([2.0, 3, 13, 14]))  # + R = diag(1, 1, 10, 10)


def test_motion_and_update_matrices():
    for box_format in BOX_FORMATS:
        kf = KalmanFilter(box_format)
        np.testing.assert_array_equal(kf.motion_mat, reference_motion_mat(box_format))
        np.testing.assert_array_equal(kf.update_mat, np.eye(4, STATE_DIM[box_format]))
    # SORT's aspect ratio r has no velocity
    assert KalmanFilter("xysr").motion_mat[3].tolist() == [0, 0, 0, 1, 0, 0, 0]


def test_std_weights_are_parameters():
    z = [[0.0, 0.0, 1.0, 100.0]]
    _, cov_default = KalmanFilter("xywh").initiate(z)
    _, cov = KalmanFilter("xywh", std_weight_position=0.1, std_weight_velocity=0.0125).initiate(z)
    np.testing.assert_allclose(np.diag(cov[0]), 4 * np.diag(cov_default[0]))  # std doubled


# ------------------------------------------------------------------ gating distance


def test_gating_distance_by_hand_with_inverse():
    kf = KalmanFilter("xyah")
    mean = np.array([[100.0, 200.0, 0.5, 80.0, 1.0, -2.0, 0.0, 0.5]])
    rng = np.random.default_rng(3)
    cov = random_spd(rng, 1, 8)
    z = np.array([[103.0, 195.0, 0.55, 82.0], [100.0, 200.0, 0.5, 80.0], [140.0, 260.0, 0.3, 60.0]])
    # S = H P H^T + R, R = diag((h/20)^2, (h/20)^2, 0.1^2, (h/20)^2) with h = 80
    s = cov[0, :4, :4] + np.diag([16.0, 16.0, 0.01, 16.0])
    s_inv = np.linalg.inv(s)
    expected = [float((zk - mean[0, :4]) @ s_inv @ (zk - mean[0, :4])) for zk in z]
    np.testing.assert_allclose(
        kf.gating_distance(mean, cov, z)[0], expected, rtol=1e-10, atol=1e-12
    )
    # only_position: the (cx, cy) block only
    s2_inv = np.linalg.inv(s[:2, :2])
    expected2 = [float((zk[:2] - mean[0, :2]) @ s2_inv @ (zk[:2] - mean[0, :2])) for zk in z]
    np.testing.assert_allclose(
        kf.gating_distance(mean, cov, z, only_position=True)[0], expected2, rtol=1e-10, atol=1e-12
    )


@pytest.mark.parametrize("box_format", BOX_FORMATS)
@pytest.mark.parametrize("dense", [False, True])
def test_gating_distance_matches_scipy(box_format, dense):
    rng = np.random.default_rng(11)
    kf = KalmanFilter(box_format)
    n, k = 6, 9
    mean, cov = kf.initiate(xyxy_to_measurement(random_boxes(rng, n), box_format))
    mean, cov = kf.predict(mean, cov)
    if dense:
        cov = cov + random_spd(rng, n, kf.state_dim)
    z = xyxy_to_measurement(random_boxes(rng, k), box_format)
    z[:3] = mean[:3, :4] + rng.normal(0, 1, (3, 4))  # some near the tracks
    dist = kf.gating_distance(mean, cov, z)
    dist_pos = kf.gating_distance(mean, cov, z, only_position=True)
    proj_mean, proj_cov = kf.project(mean, cov)
    for i in range(n):
        vi = np.linalg.inv(proj_cov[i])
        vi_pos = np.linalg.inv(proj_cov[i, :2, :2])
        for j in range(k):
            assert dist[i, j] == pytest.approx(
                mahalanobis(z[j], proj_mean[i], vi) ** 2, rel=1e-8, abs=1e-8
            )
            assert dist_pos[i, j] == pytest.approx(
                mahalanobis(z[j, :2], proj_mean[i, :2], vi_pos) ** 2, rel=1e-8, abs=1e-8
            )


def test_inverse_cholesky_factor_both_paths():
    rng = np.random.default_rng(5)
    for dim in (2, 4):
        dense = random_spd(rng, 8, dim)
        diagonal = np.eye(dim) * rng.uniform(0.1, 50, (8, 1, dim))
        for s in (dense, diagonal):
            expected = np.linalg.inv(np.linalg.cholesky(s))
            np.testing.assert_allclose(
                _inverse_cholesky_factor(s), expected, rtol=1e-10, atol=1e-12
            )
    with pytest.raises(np.linalg.LinAlgError):
        _inverse_cholesky_factor(np.array([[[1.0, 2.0], [2.0, 1.0]]]))  # indefinite
    with pytest.raises(np.linalg.LinAlgError):
        _inverse_cholesky_factor(np.array([[[1.0, 0.0], [0.0, -1.0]]]))  # diagonal, indefinite


# ------------------------------------------------------------------ shapes and edges


@pytest.mark.parametrize("box_format", BOX_FORMATS)
def test_empty_batches(box_format):
    kf = KalmanFilter(box_format)
    d = kf.state_dim
    mean, cov = kf.initiate(np.zeros((0, 4)))
    assert mean.shape == (0, d) and cov.shape == (0, d, d)
    mean, cov = kf.predict(mean, cov)
    assert mean.shape == (0, d) and cov.shape == (0, d, d)
    pm, pc = kf.project(mean, cov)
    assert pm.shape == (0, 4) and pc.shape == (0, 4, 4)
    mean, cov = kf.update(mean, cov, np.zeros((0, 4)))
    assert mean.shape == (0, d) and cov.shape == (0, d, d)
    assert kf.gating_distance(mean, cov, np.ones((3, 4))).shape == (0, 3)
    assert kf.gating_distance(mean, cov, []).shape == (0, 0)
    assert xyxy_to_measurement([], box_format).shape == (0, 4)
    assert state_to_xyxy(mean, box_format).shape == (0, 4)
    # tracks but no measurements
    mean1, cov1 = kf.initiate(xyxy_to_measurement([[0, 0, 10, 20]], box_format))
    assert kf.gating_distance(mean1, cov1, np.zeros((0, 4)), only_position=True).shape == (1, 0)


def test_inputs_are_not_modified():
    kf = KalmanFilter("xysr")
    mean, cov = kf.initiate([[10.0, 10.0, 100.0, 1.0]])
    mean[0, 6] = -200.0  # triggers the area guard
    mean0, cov0 = mean.copy(), cov.copy()
    kf.predict(mean, cov)
    kf.update(mean, cov, [[11.0, 10.0, 90.0, 1.0]])
    kf.gating_distance(mean, cov, [[11.0, 10.0, 90.0, 1.0]])
    np.testing.assert_array_equal(mean, mean0)
    np.testing.assert_array_equal(cov, cov0)


def test_bad_inputs():
    with pytest.raises(ValueError, match="box_format"):
        KalmanFilter("tlwh")
    kf = KalmanFilter()
    mean, cov = kf.initiate(np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        kf.update(mean, cov, np.ones((2, 8)))
    with pytest.raises(ValueError, match="2 tracks"):
        kf.update(mean, cov, np.ones((3, 4)))
    with pytest.raises(ValueError, match="gating_distance"):
        kf.gating_distance(mean, cov, np.ones(4))


# ------------------------------------------------------------------ box conversions


def test_box_conversions_by_hand():
    box = [[10.0, 20.0, 50.0, 100.0]]  # w = 40, h = 80, centre (30, 60)
    np.testing.assert_array_equal(xyxy_to_measurement(box, "xyah"), [[30, 60, 0.5, 80]])
    np.testing.assert_array_equal(xyxy_to_measurement(box, "xywh"), [[30, 60, 40, 80]])
    np.testing.assert_array_equal(xyxy_to_measurement(box, "xysr"), [[30, 60, 3200, 0.5]])


@pytest.mark.parametrize("box_format", BOX_FORMATS)
def test_box_conversions_round_trip(box_format):
    boxes = random_boxes(np.random.default_rng(2), 20)
    z = xyxy_to_measurement(boxes, box_format)
    np.testing.assert_allclose(state_to_xyxy(z, box_format), boxes, rtol=1e-12, atol=1e-9)
    mean, _ = KalmanFilter(box_format).initiate(z)  # whole states work too
    np.testing.assert_allclose(state_to_xyxy(mean, box_format), boxes, rtol=1e-12, atol=1e-9)


def test_sort_negative_area_gives_nan_without_warning():
    states = np.array([[10.0, 10.0, -5.0, 1.0, 0, 0, 0], [10.0, 10.0, 100.0, 1.0, 0, 0, 0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        boxes = state_to_xyxy(states, "xysr")
    assert np.isnan(boxes[0]).all()
    np.testing.assert_allclose(boxes[1], [5, 5, 15, 15])
