"""OUTrack's lost-object refinding (Liu et al., "Online multi-object tracking with
unsupervised re-identification learning and occlusion estimation", Neurocomputing 2022,
Sec. 3.2.2, Algorithm 1) on the JDE cascade.

The model predicts occlusion centres: peaks of a heatmap at the centres of the overlaps
between objects (``Detections.extras["occlusion_centers"]`` / ``["occlusion_scores"]``).
After the JDE cascade of a frame (Algorithm 1 steps 2-4: ASSIGN, updates, births), each
lost track i is looked for behind the frame's detections (step 5):

1. only while w_i < tau_w, w_i the frames it has been lost and not refound since its last
   match (line 17; a refound track keeps its w, line 22; one not refound counts one more,
   line 25);
2. P = its Kalman-predicted box; candidates: the confident detections D of its class
   overlapping P, and the occlusion centres c inside P;
3. each pair (D, c) scores G(O(P, D), c) = exp(-|c - o|^2 / (2 sigma^2)), o the centre of
   P n D, "the aforementioned Gaussian kernel" of Eq. 10: sigma = (2r + 1) / 6, r the
   CornerNet radius of P n D, in input pixels (``occlusion_sigma="radius"``: sigma = r,
   the authors' code);
4. if its best pair scores above tau_o, its box is recovered from D and c with P's size
   (Eq. 15-16) and the track is updated with it (Kalman update, TRACKED, reported in this
   frame with that score; its appearance template is kept: an occluded object shows none);
5. otherwise it stays lost with its predicted box, and is removed after JDE's buffer.

Our options, off by default: ``one_track_per_center`` lets an occlusion centre refind one
track at most (greedily, highest score first; Algorithm 1 takes each track's best pair on
its own); ``skip_seen_overlaps``: a centre inside two of the frame's confident detections
marks the overlap of two objects that are both seen, not a hidden one, and refinds
nothing (without it, a lost duplicate of a person standing in front of a car can be
"refound" at their overlap).
"""
from dataclasses import dataclass
from typing import Tuple

import numpy as np

from .gaussian import gaussian_radius
from .jde import JDEParams, JDETracker
from .params import in_range, one_of
from .record import Detections, RecordError, Tracks
from .registry import register_tracker
from .track_pool import TrackState

SIGMA_RULES = ("radius", "centernet")  # the sigma of step 3's Gaussian (see occlusion_pair_score)


@dataclass
class OUTrackParams(JDEParams):
    """JDE's constants, plus those of Algorithm 1 (OUTrack)."""

    occlusion_threshold: float = in_range(0.7, 0, 1)  # tau_o: min Gaussian score of a (detection, centre) pair (paper)
    refind_window: int = in_range(30, 0)  # tau_w, at 30 fps (ours: the paper gives no value; JDE's buffer)
    # min heatmap peak of an occlusion centre (ours: FairMOT's det threshold)
    occlusion_score_threshold: float = in_range(0.4, 0, 1)
    occlusion_min_overlap: float = in_range(0.7, 0, 1, low_open=True)  # sizes step 3's Gaussian (CenterNet)
    # sigma of that Gaussian: "centernet" ((2r + 1) / 6, the heatmap target's, Eq. 10) or
    # "radius" (sigma = r, the authors' code)
    occlusion_sigma: str = one_of("centernet", SIGMA_RULES)
    one_track_per_center: bool = False  # ours, see the module docstring
    skip_seen_overlaps: bool = False  # ours, see the module docstring


def occluded_side(a1: float, a2: float, b1: float, b2: float, z: float) -> float:
    """Eq. 16, OUTrack: F(a1, a2, b1, b2, z), the first side (left or top) of an object whose
    predicted sides on the axis are a1 <= a2, hidden by an occluder with sides b1 <= b2,
    their overlap centred at z."""
    if a1 <= b1 and a2 <= b2:  # before the occluder: the overlap is [b1, a2]
        return 2 * z - b1 - (a2 - a1)
    if a1 > b1 and a2 <= b2:  # inside it: the overlap is [a1, a2]
        return z - (a2 - a1) / 2
    if a1 > b1 and a2 > b2:  # after it: the overlap is [a1, b2]
        return 2 * z - b2
    return a1  # spanning it: the overlap [b1, b2] does not place the object


def recover_occluded_box(predicted, occluder, center) -> np.ndarray:
    """Eq. 15, OUTrack: the box of an object hidden by ``occluder`` (xyxy) whose overlap
    with it is centred at ``center`` (x, y): its left and top sides from Eq. 16 on each
    axis, its width and height those of its ``predicted`` box (xyxy)."""
    p, d, c = np.asarray(predicted, float), np.asarray(occluder, float), np.asarray(center, float)
    x = occluded_side(p[0], p[2], d[0], d[2], c[0])
    y = occluded_side(p[1], p[3], d[1], d[3], c[1])
    return np.array([x, y, x + p[2] - p[0], y + p[3] - p[1]])


def points_in_boxes(points, boxes) -> np.ndarray:
    """(K, N) mask: point k (x, y) of ``points`` (K, 2) lies inside box n of ``boxes`` (N, 4)."""
    p, b = np.asarray(points, float).reshape(-1, 1, 2), np.asarray(boxes, float).reshape(1, -1, 4)
    return ((p >= b[:, :, :2]) & (p <= b[:, :, 2:])).all(axis=2)


def occlusion_pair_score(predicted, occluders, centers, min_overlap: float = 0.7,
                         sigma_rule: str = "centernet") -> np.ndarray:
    """(N, K) Gaussian scores G(O(P, D), c) of the pairs (``occluders[n]``, ``centers[k]``)
    for the predicted box P = ``predicted`` (Algorithm 1 line 19, OUTrack): exp(-|c - o|^2
    / (2 sigma^2)), o the centre of P n D, r = ``gaussian_radius`` of P n D and sigma =
    (2r + 1) / 6 (``"centernet"``: Eq. 10's kernel as CenterNet draws it) or r
    (``"radius"``, the authors' code); 0 where D does not overlap P."""
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
                             threshold: float = 0.7, min_overlap: float = 0.7, sigma_rule: str = "centernet",
                             one_track_per_center: bool = False):
    """Algorithm 1 lines 19-20 (OUTrack) for the lost tracks' ``predicted`` boxes (L, 4):
    the best (detection, centre) pair of each track (detections of its class overlapping P,
    centres inside P) if it scores above ``threshold``; with ``one_track_per_center``
    (ours), pairs are taken greedily from the highest score, one track per centre (an
    occluder may serve several).

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
        if t not in found and not (one_track_per_center and k in used):
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

    def __init__(self, params=None):
        super().__init__(params)
        self.lost_frames = {}  # w of Algorithm 1: track id -> frames lost and not refound

    def reset(self) -> None:
        super().reset()
        self.lost_frames = {}

    def update(self, detections: Detections) -> Tracks:
        centers, center_scores = _occlusion_centers(detections)  # checked before any state changes
        super().update(detections)
        self._refind(detections, centers[center_scores >= self.params.occlusion_score_threshold])
        return self.report()

    def _refind(self, detections: Detections, centers: np.ndarray) -> None:
        """Algorithm 1 step 5 (OUTrack) on the lost tracks."""
        p, pool = self.params, self.pool
        matched = set(pool.ids[pool.last_frame == self.frame].tolist())  # line 7: w <- 0
        self.lost_frames = {i: w for i, w in self.lost_frames.items() if i in set(pool.ids.tolist()) - matched}
        window = int(p.frame_rate / 30.0 * p.refind_window)  # tau_w, scaled like JDE's track_buffer
        lost = np.flatnonzero(pool.states == TrackState.LOST)
        lost = lost[[self.lost_frames.get(i, 0) < window for i in pool.ids[lost].tolist()]]  # line 17
        high = np.flatnonzero(detections.scores >= p.det_threshold)
        if p.skip_seen_overlaps:
            centers = centers[points_in_boxes(centers, detections.boxes[high]).sum(axis=1) < 2]
        predicted = pool.boxes(lost)  # after this frame's Kalman predict, no update
        tracks, occluders, used, scores = assign_occlusion_centers(
            predicted, pool.classes[lost], detections.boxes[high], detections.classes[high], centers,
            p.occlusion_threshold, p.occlusion_min_overlap, p.occlusion_sigma, p.one_track_per_center,
        )
        for i in np.delete(pool.ids[lost], tracks).tolist():  # line 25: not refound, w <- w + 1
            self.lost_frames[i] = self.lost_frames.get(i, 0) + 1
        if not len(tracks):
            return
        boxes = np.stack([recover_occluded_box(predicted[t], detections.boxes[high[n]], centers[k])
                          for t, n, k in zip(tracks, occluders, used)])  # line 21, Eq. 15
        pool.observe(lost[tracks], boxes, scores, self.frame)  # line 22: w kept
        self._remove_duplicates()  # as JDE at the end of a frame
