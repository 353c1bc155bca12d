"""The motion model of trackers whose detector moves the boxes itself (SiamMOT)."""
import numpy as np


class LastBox:
    """No motion model: a track's state is its last observed x1, y1, x2, y2 box.

    Offers the interface :class:`~trackers.track_pool.TrackPool` uses of a
    :class:`~trackers.kalman.KalmanFilter`; covariances are kept as zeros.
    """

    box_format = "xyxy"
    state_dim = 4

    def initiate(self, measurements: np.ndarray):
        return np.array(measurements, dtype=np.float64), np.zeros((len(measurements), 4, 4))

    def predict(self, mean: np.ndarray, cov: np.ndarray):
        return mean, cov

    def update(self, mean: np.ndarray, cov: np.ndarray, measurements: np.ndarray):
        return np.array(measurements, dtype=np.float64), cov

    def measure(self, boxes: np.ndarray) -> np.ndarray:
        return boxes

    def to_xyxy(self, mean: np.ndarray) -> np.ndarray:
        return mean
