"""OUTrack's lost-object refinding (Liu et al., "Online multi-object tracking with
unsupervised re-identification learning and occlusion estimation", Neurocomputing 2022,
Sec. 3.4, Algorithm 1) on the JDE cascade.

The model predicts occlusion centres: peaks of a heatmap at the centres of the overlaps
between objects (``Detections.extras["occlusion_centers"]`` / ``["occlusion_scores"]``).
After the JDE cascade of a frame, each lost track whose last match lies within the window
is looked for behind the frame's detections (Algorithm 1, OUTrack):

1. P = the track's Kalman-predicted box;
2. candidates: the confident detections D of its class overlapping P, and the occlusion
   centres c inside P;
3. each pair (D, c) scores exp(-|c - o|^2 / (2 sigma^2)), o the centre of P n D and sigma
   = r, the CenterNet Gaussian radius of P n D in input pixels (the authors' code;
   ``occlusion_sigma="centernet"``: the heatmap target's (2r + 1) / 6);
4. if the best score exceeds tau_o, the box is recovered from D and c with P's size
   (Eq. 15-16) and the track is updated with it (Kalman update, TRACKED, reported in this
   frame with that score; its appearance template is kept: an occluded object shows none);
5. otherwise it stays lost, and is removed after the buffer as in JDE.

An occluder may hide several tracks; an occlusion centre refinds one track at most
(greedily, highest score first). A centre inside two of the frame's confident detections
marks the overlap of two objects that are both seen, not a hidden one, and refinds
nothing (``skip_seen_overlaps``, ours: Algorithm 1 does not say; without it, a lost
duplicate of a person standing in front of a car was "refound" at their overlap).
"""
from dataclasses import dataclass
from typing import Tuple

import numpy as np

from .gaussian import gaussian_radius
from .jde import JDEParams, JDETracker
from .record import Detections, RecordError, Tracks
from .registry import register_tracker
from .track_pool import TrackState


@dataclass
class OUTrackParams(JDEParams):
    """JDE's constants, plus those of Algorithm 1 (OUTrack)."""

    occlusion_threshold: float = 0.7  # tau_o: min Gaussian score of a (detection, centre) pair (paper)
    refind_window: int = 30  # frames since its last match a lost track is searched, at 30 fps (our choice)
    occlusion_score_threshold: float = 0.4  # min heatmap peak of an occlusion centre (FairMOT's det threshold)
    occlusion_min_overlap: float = 0.7  # CenterNet's min_overlap sizing the Gaussian of step 3
    # sigma of that Gaussian: "radius" (sigma = r, the authors' code) or "centernet"
    # (sigma = (2r + 1) / 6, the heatmap target's; at stride 4 a 1-2 px error fails it)
    occlusion_sigma: str = "radius"
    # Centres inside two confident detections refind nothing (ours, see the module docstring).
    skip_seen_overlaps: bool = True


def _recover_axis(p_lo: float, p_hi: float, d_lo: float, d_hi: float, c: float) -> Tuple[float, float]:
    size = p_hi - p_lo
    if p_lo + p_hi <= d_lo + d_hi:  # before the occluder: the overlap spans [d_lo, hi], c = (d_lo + hi) / 2
        hi = 2 * c - d_lo
        return hi - size, hi
    lo = 2 * c - d_hi  # after it: the overlap spans [lo, d_hi], c = (lo + d_hi) / 2
    return lo, lo + size


def recover_occluded_box(predicted, occluder, center) -> np.ndarray:
    """The box of an object hidden by ``occluder`` (xyxy) whose overlap with it is centred
    at ``center`` (x, y), with the width and height of the ``predicted`` box (xyxy).

    Eq. 15 (x; object left or right of the occluder) and Eq. 16 (y; above or below), OUTrack:
    the four cases are top-left, top-right, bottom-left and bottom-right, chosen by the
    position of P's centre relative to D's.
    """
    p, d, c = np.asarray(predicted, float), np.asarray(occluder, float), np.asarray(center, float)
    x1, x2 = _recover_axis(p[0], p[2], d[0], d[2], c[0])  # Eq. 15, OUTrack
    y1, y2 = _recover_axis(p[1], p[3], d[1], d[3], c[1])  # Eq. 16, OUTrack
    return np.array([x1, y1, x2, y2])


SIGMA_RULES = ("radius", "centernet")


def points_in_boxes(points, boxes) -> np.ndarray:
    """(K, N) mask: point k (x, y) of ``points`` (K, 2) lies inside box n of ``boxes`` (N, 4)."""
    p, b = np.asarray(points, float).reshape(-1, 1, 2), np.asarray(boxes, float).reshape(1, -1, 4)
    return ((p >= b[:, :, :2]) & (p <= b[:, :, 2:])).all(axis=2)


def occlusion_pair_score(predicted, occluders, centers, min_overlap: float = 0.7,
                         sigma_rule: str = "radius") -> np.ndarray:
    """(N, K) Gaussian scores of the pairs (``occluders[n]``, ``centers[k]``) for the
    predicted box ``predicted`` (Algorithm 1 step 3, OUTrack): exp(-|c - o|^2 / (2 sigma^2)),
    o the centre of P n D, r = ``gaussian_radius`` of P n D and sigma = r (``"radius"``,
    the authors' code) or (2r + 1) / 6 (``"centernet"``, its ``draw_umich_gaussian``);
    0 where D does not overlap P."""
    if sigma_rule not in SIGMA_RULES:
        raise ValueError(f"occlusion_sigma must be one of {SIGMA_RULES}, got {sigma_rule!r}")
    p = np.asarray(predicted, float).reshape(4)
    d = np.asarray(occluders, float).reshape(-1, 4)
    c = np.asarray(centers, float).reshape(-1, 2)
    lo, hi = np.maximum(d[:, :2], p[:2]), np.minimum(d[:, 2:], p[2:])
    size = np.maximum(hi - lo, 0.0)  # (N, 2): w, h of P n D
    radius = gaussian_radius(size[:, 1], size[:, 0], min_overlap)
    sigma = np.maximum(radius if sigma_rule == "radius" else (2 * radius + 1) / 6, 1e-6)  # r = 0 for slivers
    distance2 = ((c[None, :, :] - (lo + hi)[:, None, :] / 2) ** 2).sum(axis=2)
    score = np.exp(-distance2 / (2 * sigma[:, None] ** 2))
    score[(size <= 0).any(axis=1)] = 0.0
    return score


def assign_occlusion_centers(predicted, track_classes, occluders, occluder_classes, centers,
                             threshold: float = 0.7, min_overlap: float = 0.7, sigma_rule: str = "radius"):
    """Algorithm 1 steps 2-4 (OUTrack) for the lost tracks' ``predicted`` boxes (L, 4):
    the (detection, centre) pairs of each track (detections of its class overlapping P,
    centres inside P), kept if their score exceeds ``threshold``, assigned greedily from the
    highest score: one pair per track, one track per centre (an occluder may serve several).

    Returns (track rows, occluder rows, centre rows, scores), each (M,)."""
    predicted, centers = np.asarray(predicted, float).reshape(-1, 4), np.asarray(centers, float).reshape(-1, 2)
    occluders, track_classes, occluder_classes = (
        np.asarray(occluders, float).reshape(-1, 4), np.asarray(track_classes), np.asarray(occluder_classes))
    candidates, in_predicted = [], points_in_boxes(centers, predicted)
    for t, box in enumerate(predicted):
        inside = np.flatnonzero(in_predicted[:, t])
        same_class = np.flatnonzero(occluder_classes == track_classes[t])
        if not len(inside) or not len(same_class):
            continue
        score = occlusion_pair_score(box, occluders[same_class], centers[inside], min_overlap, sigma_rule)
        for n, k in np.argwhere(score > threshold):
            candidates.append((score[n, k], t, same_class[n], inside[k]))
    found, used, rows = set(), set(), []
    for score, t, n, k in sorted(candidates, key=lambda row: -row[0]):
        if t not in found and k not in used:
            found.add(t)
            used.add(k)
            rows.append((t, n, k, score))
    rows = np.array(rows, dtype=float).reshape(-1, 4)
    return rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64), rows[:, 2].astype(np.int64), rows[:, 3]


def _occlusion_centers(detections: Detections) -> Tuple[np.ndarray, np.ndarray]:
    """The record's occlusion centres (K, 2) and scores (K,); a RecordError if absent or malformed."""
    centers = np.asarray(detections.require_extra("occlusion_centers"), dtype=float)
    scores = np.asarray(detections.require_extra("occlusion_scores"), dtype=float)
    if centers.size == 0:
        centers = centers.reshape(0, 2)
    if centers.ndim != 2 or centers.shape[1] != 2 or not np.isfinite(centers).all():
        raise RecordError(f"Detections.extras['occlusion_centers']: expected a finite (K, 2) array of x, y, "
                          f"got shape {centers.shape}")
    if scores.shape != (len(centers),):
        raise RecordError(f"Detections.extras['occlusion_scores']: expected shape ({len(centers)},) to match "
                          f"the occlusion centres, got {scores.shape}")
    return centers, scores


@register_tracker("outrack")
class OUTrackTracker(JDETracker):
    """The JDE cascade, then Algorithm 1 (OUTrack) on the lost tracks; needs the occlusion
    extras in every record (empty (0, 2) / (0,) arrays where there are none)."""

    Params = OUTrackParams

    def update(self, detections: Detections) -> Tracks:
        centers, center_scores = _occlusion_centers(detections)  # checked before any state changes
        super().update(detections)
        self._refind(detections, centers[center_scores >= self.params.occlusion_score_threshold])
        return self.pool.output(self.frame)

    def _refind(self, detections: Detections, centers: np.ndarray) -> None:
        """Algorithm 1 (OUTrack) on the lost tracks last matched within the window."""
        p, pool = self.params, self.pool
        window = int(p.frame_rate / 30.0 * p.refind_window)  # scaled like JDE's track_buffer
        lost = np.flatnonzero((pool.states == TrackState.LOST) & (self.frame - pool.last_frame <= window))
        if not len(lost) or not len(centers):
            return
        high = np.flatnonzero(detections.scores >= p.det_threshold)
        if p.skip_seen_overlaps:
            centers = centers[points_in_boxes(centers, detections.boxes[high]).sum(axis=1) < 2]
        predicted = pool.boxes(lost)  # step 1: after this frame's Kalman predict, no update
        tracks, occluders, used, scores = assign_occlusion_centers(
            predicted, pool.classes[lost], detections.boxes[high], detections.classes[high], centers,
            p.occlusion_threshold, p.occlusion_min_overlap, p.occlusion_sigma,
        )
        if not len(tracks):
            return
        boxes = np.stack([recover_occluded_box(predicted[t], detections.boxes[high[n]], centers[k])
                          for t, n, k in zip(tracks, occluders, used)])
        pool.observe(lost[tracks], boxes, scores, self.frame)
        self._remove_duplicates()  # as JDE at the end of a frame; a no-op when nothing was refound
