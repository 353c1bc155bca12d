"""OUTrack's lost-object refinding (Algorithm 1, Eq. 15-16): the box recovery and the
Gaussian score by hand, the greedy assignment, and hand-made occlusion scenarios."""
import math

import numpy as np
import pytest

from trackers import Detections, OUTrackParams, OUTrackTracker, RecordError, build_tracker
from trackers.costs import iou_matrix
from trackers.gaussian import gaussian_radius
from trackers.outrack import (
    assign_occlusion_centers, occlusion_pair_score, points_in_boxes, recover_occluded_box,
)

OCCLUDER = [10.0, 10.0, 30.0, 50.0]  # D; the hidden object is 16 wide and 30 high


def paper_f(a1, a2, b1, b2, z):
    """Eq. 16, OUTrack: F(a1, a2, b1, b2, z)."""
    if a1 <= b1 and a2 <= b2:
        return 2 * z - b1 - (a2 - a1)
    if a1 > b1 and a2 <= b2:
        return z - (a2 - a1) / 2
    if a1 > b1 and a2 > b2:
        return 2 * z - b2
    return a1


def paper_recovered_box(predicted, occluder, center):
    """Eq. 15, OUTrack, with a1, a2 the predicted box's sides on the axis, b1, b2 the
    occluder's and z the occlusion centre's coordinate: the left (top) side from F, the
    right (bottom) one at the predicted width (height) from it."""
    x_l, y_t, x_r, y_b = predicted
    x = paper_f(x_l, x_r, occluder[0], occluder[2], center[0])
    y = paper_f(y_t, y_b, occluder[1], occluder[3], center[1])
    return [x, y, x + x_r - x_l, y + y_b - y_t]


# Per axis, the predicted sides (a1, a2) against the occluder's (10, 30) on x and (10, 50)
# on y, one of each case of Eq. 16: before it, inside it, after it, spanning it.
X_SIDES = {"before": (2, 18), "inside": (14, 26), "after": (22, 38), "spanning": (4, 36)}
Y_SIDES = {"before": (0, 30), "inside": (15, 45), "after": (30, 60), "spanning": (5, 55)}


@pytest.mark.parametrize("x_case", list(X_SIDES))
@pytest.mark.parametrize("y_case", list(Y_SIDES))
def test_eq_15_16_every_case(x_case, y_case):
    (x1, x2), (y1, y2) = X_SIDES[x_case], Y_SIDES[y_case]
    predicted = [x1, y1, x2, y2]
    center = [17.0, 33.0]  # any point: F is a formula of it
    np.testing.assert_allclose(recover_occluded_box(predicted, OCCLUDER, center),
                               paper_recovered_box(predicted, OCCLUDER, center),
                               err_msg=f"Eq. 15-16, x {x_case}, y {y_case}")


@pytest.mark.parametrize("x_case", list(X_SIDES))
@pytest.mark.parametrize("y_case", list(Y_SIDES))
def test_eq_15_16_give_back_the_true_box_from_its_overlap_centre(x_case, y_case):
    # P the true box and z the centre of P n D: F returns P in all four cases
    (x1, x2), (y1, y2) = X_SIDES[x_case], Y_SIDES[y_case]
    true_box = np.array([x1, y1, x2, y2], float)
    center = (np.maximum(true_box[:2], OCCLUDER[:2]) + np.minimum(true_box[2:], OCCLUDER[2:])) / 2
    np.testing.assert_allclose(recover_occluded_box(true_box, OCCLUDER, center), true_box)


def test_eq_16_a_box_inside_its_occluder():
    # a 20 x 40 box in a 200 x 200 occluder, overlap centre (50, 60): the box itself
    np.testing.assert_allclose(recover_occluded_box([40, 40, 60, 80], [0, 0, 200, 200], [50, 60]),
                               [40, 40, 60, 80], err_msg="Eq. 16, a1 > b1 and a2 <= b2")


@pytest.mark.parametrize("true_box, center", [
    ([2, 0, 18, 30], [14, 20]),  # top-left: overlap [10, 10, 18, 30]
    ([22, 0, 38, 30], [26, 20]),  # top-right: overlap [22, 10, 30, 30]
    ([2, 30, 18, 60], [14, 40]),  # bottom-left: overlap [10, 30, 18, 50]
    ([22, 30, 38, 60], [26, 40]),  # bottom-right: overlap [22, 30, 30, 50]
])
@pytest.mark.parametrize("error", [(0, 0), (3, -2), (-2, 1.5)])
def test_eq_15_16_recover_the_true_box_from_a_shifted_prediction(true_box, center, error):
    # P has the right size but is off by `error` (not enough to change the case of Eq. 16):
    # the box comes from D and the centre alone
    predicted = np.asarray(true_box, float) + np.tile(error, 2)
    np.testing.assert_allclose(recover_occluded_box(predicted, OCCLUDER, center), true_box)


def paper_score(predicted, occluder, center, min_overlap=0.7):
    """Algorithm 1 line 19, OUTrack: G(O(P, D), c), "the aforementioned Gaussian kernel
    function" of Eq. 10: exp(-|c - o|^2 / (2 sigma^2)), o the centre of the overlap O(P, D)
    and sigma "relative to the size of o following [23]" (CornerNet: diameter / 6 of the
    radius r of the overlap's size, ``gaussian_radius``, tested on its own); 0 without overlap."""
    x1, y1 = max(predicted[0], occluder[0]), max(predicted[1], occluder[1])
    x2, y2 = min(predicted[2], occluder[2]), min(predicted[3], occluder[3])
    if x2 <= x1 or y2 <= y1:
        return 0.0
    sigma = (2 * gaussian_radius(y2 - y1, x2 - x1, min_overlap) + 1) / 6
    return math.exp(-((center[0] - (x1 + x2) / 2) ** 2 + (center[1] - (y1 + y2) / 2) ** 2) / (2 * sigma ** 2))


def test_algorithm_1_score_is_the_heatmap_gaussian():
    predicted, occluders = [0, 0, 20, 20], [[10, 10, 30, 30], [40, 40, 50, 50], [5, 12, 60, 19]]
    centers = [[15, 15], [16, 15], [15, 14], [20, 16]]
    expected = [[paper_score(predicted, d, c) for c in centers] for d in occluders]
    np.testing.assert_allclose(occlusion_pair_score(predicted, occluders, centers), expected, atol=1e-9,
                               err_msg="Algorithm 1: G of Eq. 10")
    # ours, the authors' code: sigma = r. P n D = [10, 10, 20, 20], r = 2.7332; one pixel
    # off: exp(-1 / (2 * 2.7332^2)) = 0.93526
    score = occlusion_pair_score(predicted, occluders[:2], centers[:3], sigma_rule="radius")
    np.testing.assert_allclose(score, [[1.0, 0.93526, 0.93526], [0.0] * 3], atol=1e-5)
    with pytest.raises(ValueError, match="occlusion_sigma"):
        occlusion_pair_score(predicted, occluders, centers, sigma_rule="wide")


def test_algorithm_1_each_lost_track_takes_its_best_pair():
    boxes = np.array([[2, 0, 18, 30], [2.5, 0, 18.5, 30], [22, 0, 38, 30]], float)
    occluders, centers = np.array([OCCLUDER]), np.array([[14.25, 20.0], [26.0, 20.0]])
    # Line 19 for each lost track on its own: tracks 0 and 1 both take the first centre
    # (their overlap centres are (14, 20) and (14.25, 20)), track 2 the second.
    tracks, dets, used, scores = assign_occlusion_centers(boxes, np.zeros(3, int), occluders, np.zeros(1, int),
                                                          centers, sigma_rule="radius")
    assert sorted(zip(tracks.tolist(), dets.tolist(), used.tolist())) == [(0, 0, 0), (1, 0, 0), (2, 0, 1)], \
        "Algorithm 1: one argmax per lost track"
    np.testing.assert_allclose(scores[tracks == 1], 1.0)
    # ours (one_track_per_center): a centre refinds one track, the best scored
    tracks, dets, used, _ = assign_occlusion_centers(boxes, np.zeros(3, int), occluders, np.zeros(1, int),
                                                     centers, sigma_rule="radius", one_track_per_center=True)
    assert sorted(zip(tracks.tolist(), dets.tolist(), used.tolist())) == [(1, 0, 0), (2, 0, 1)]
    # Another class is never an occluder (ours); a centre outside P finds nothing.
    assert not len(assign_occlusion_centers(boxes, np.zeros(3, int), occluders, np.ones(1, int), centers)[0])
    assert not len(assign_occlusion_centers(boxes[:1], [0], OCCLUDER, [0], [[25.0, 40.0]])[0])
    assert len(assign_occlusion_centers(boxes[:1], [0], OCCLUDER, [0], [[14.0, 20.0]])[0]) == 1


def unit(v):
    v = np.asarray(v, float)
    return v / np.linalg.norm(v)


FRONT, BEHIND = unit([1, 0, 0, 0]), unit([0, 1, 0, 0])


def walkers(steps=40, hidden=range(23, 28), with_centers=True):
    """Two people: the front one walks right, the other (shorter, further back) walks left
    and passes behind it; its detection is missing in frames `hidden` (0-based), where the
    record carries the occlusion centre at the overlap of the two true boxes.
    Returns the records and the true box of the one behind per frame."""
    records, truth = [], []
    for t in range(steps):
        front = np.array([4.0 * t, 100, 4.0 * t + 40, 200])
        behind = np.array([200 - 4.0 * t, 80, 240 - 4.0 * t, 160])
        lo, hi = np.maximum(front[:2], behind[:2]), np.minimum(front[2:], behind[2:])
        overlapping = (hi > lo).all()
        centers = ((lo + hi) / 2)[None] if overlapping and with_centers else np.zeros((0, 2))
        shown = [front] if t in hidden else [front, behind]
        embeddings = [FRONT] if t in hidden else [FRONT, BEHIND]
        extras = {"occlusion_centers": centers, "occlusion_scores": np.full(len(centers), 0.8)}
        records.append(Detections(np.array(shown), np.full(len(shown), 0.9), embeddings=np.array(embeddings),
                                  extras=extras))
        truth.append(behind)
    return records, truth


def run(tracker, records):
    return [tracker.update(r) for r in records]


def test_outrack_keeps_reporting_the_hidden_walker_where_jde_misses_it():
    records, truth = walkers()
    by_name = {name: run(build_tracker(name), records) for name in ("jde", "outrack")}
    for name, outputs in by_name.items():
        assert all(1 in o.track_ids for o in outputs), name  # the front walker throughout
        assert 2 in outputs[-1].track_ids.tolist() and max(o.track_ids.max() for o in outputs) == 2, name
    jde_seen = [2 in o.track_ids for o in by_name["jde"]]
    assert [t for t, seen in enumerate(jde_seen) if not seen] == list(range(23, 28))  # JDE misses the occlusion
    for t, out in enumerate(by_name["outrack"]):
        assert 2 in out.track_ids, t  # OUTrack reports it in every frame, with its id
        box = out.boxes[out.track_ids.tolist().index(2)]
        assert iou_matrix(box[None], truth[t][None])[0, 0] > 0.9, t
    refound = by_name["outrack"][25]
    assert 0.7 < refound.scores[refound.track_ids.tolist().index(2)] <= 1.0  # the Gaussian score


def same_outputs(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.track_ids, y.track_ids)
        np.testing.assert_allclose(x.boxes, y.boxes)
        np.testing.assert_allclose(x.scores, y.scores)


def test_without_occlusion_centres_outrack_is_jde():
    records, _ = walkers(with_centers=False)
    same_outputs(run(build_tracker("outrack"), records), run(build_tracker("jde"), records))
    # Centres below occlusion_score_threshold count as none.
    records, _ = walkers()
    tracker = build_tracker("outrack", occlusion_score_threshold=0.9)
    same_outputs(run(tracker, records), run(build_tracker("jde"), records))


def frame(boxes, centers=()):
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    centers = np.asarray(centers, float).reshape(-1, 2)
    return Detections(boxes, np.full(len(boxes), 0.9),
                      extras={"occlusion_centers": centers, "occlusion_scores": np.full(len(centers), 0.9)})


@pytest.mark.parametrize("gap, refound", [(5, True), (6, False)])
@pytest.mark.parametrize("window, frame_rate", [(5, 30.0), (10, 15.0)])  # scaled like track_buffer
def test_only_tracks_lost_within_the_window_are_refound(gap, refound, window, frame_rate):
    still, occluder = [200.0, 80, 240, 160], [220.0, 100, 260, 200]
    tracker = build_tracker("outrack", refind_window=window, frame_rate=frame_rate)
    run(tracker, [frame([[10, 10, 50, 90], still])] * 3)  # tracks 1 and 2; 2 stands still
    run(tracker, [frame([[10, 10, 50, 90]])] * (gap - 1))  # 2 unseen, no occlusion centre
    # `gap` frames after its last match an occluder stands over it with a centre at the overlap.
    out = tracker.update(frame([[10, 10, 50, 90], occluder], centers=[[230, 130]]))
    assert (2 in out.track_ids) == refound
    if refound:
        np.testing.assert_allclose(out.boxes[out.track_ids.tolist().index(2)], still, atol=1e-6)


def test_algorithm_1_a_refound_track_keeps_its_lost_count():
    # Lines 22 and 25: w grows in each frame a lost track is not refound and stays as it is
    # when it is refound; line 17: searched while w < tau_w (refind_window = 3 here).
    still, occluder, mover = [200.0, 80, 240, 160], [220.0, 100, 260, 200], [10.0, 10, 50, 90]
    centre = [230.0, 130.0]

    def scenario(centres_at):
        tracker = build_tracker("outrack", refind_window=3)
        run(tracker, [frame([mover, still])] * 3)  # frames 1-3: tracks 1 and 2
        found = []
        for t in range(4, 10):  # track 2 never detected again
            out = tracker.update(frame([mover, occluder], centers=[centre] if t in centres_at else []))
            found.append(2 in out.track_ids)
        return found
    # w: frame 4 -> 1, frame 5 refound (w 1), frames 6, 7 -> 2, 3; frame 8: w = 3, not searched
    assert scenario({5, 8}) == [False, True, False, False, False, False], "Algorithm 1: w kept when refound"
    assert scenario({5, 7}) == [False, True, False, True, False, False]  # frame 7: w = 2 < 3


def test_centres_inside_two_seen_objects_refind_nothing_as_an_option():
    assert points_in_boxes([[5, 5], [15, 5], [30, 30]], [[0, 0, 10, 10], [4, 0, 20, 10]]).tolist() == [
        [True, True], [False, True], [False, False]]
    still, occluder, passer = [200.0, 80, 240, 160], [220.0, 100, 260, 200], [225.0, 110, 300, 140]
    for options, refound in (({}, True), ({"skip_seen_overlaps": True}, False)):
        tracker = build_tracker("outrack", **options)
        run(tracker, [frame([[10, 10, 50, 90], still])] * 3)
        # (230, 130) lies in the occluder and in a passer-by, both detected: a seen overlap
        # (ours: skip_seen_overlaps; Algorithm 1 refinds from it)
        out = tracker.update(frame([[10, 10, 50, 90], occluder, passer], centers=[[230, 130]]))
        assert (2 in out.track_ids) == refound, options


def test_missing_or_malformed_occlusion_extras_are_errors():
    tracker = build_tracker("outrack")
    with pytest.raises(RecordError, match="occlusion_centers"):
        tracker.update(Detections(np.zeros((0, 4)), np.zeros(0)))
    assert tracker.frame == 0  # checked before any state changes
    bad = Detections(np.zeros((0, 4)), np.zeros(0),
                     extras={"occlusion_centers": np.zeros((2, 2)), "occlusion_scores": np.zeros(3)})
    with pytest.raises(RecordError, match="occlusion_scores"):
        tracker.update(bad)
    assert len(tracker.update(frame([]))) == 0  # empty arrays: nothing to refind


def test_registry_builds_outrack_with_overrides():
    tracker = build_tracker("outrack", occlusion_threshold="0.5", refind_window="12", det_threshold=0.3)
    assert isinstance(tracker, OUTrackTracker) and isinstance(tracker.params, OUTrackParams)
    assert (tracker.params.occlusion_threshold, tracker.params.refind_window, tracker.params.det_threshold) == (
        0.5, 12, 0.3)
    defaults = OUTrackParams()
    # tau_o = 0.7 (Sec. 3.2.2); the paper's Gaussian and Algorithm 1's rules; ours off
    assert (defaults.occlusion_threshold, defaults.occlusion_sigma, defaults.skip_seen_overlaps,
            defaults.one_track_per_center) == (0.7, "centernet", False, False)
    assert (defaults.refind_window, defaults.occlusion_score_threshold, defaults.occlusion_min_overlap) == (
        30, 0.4, 0.7)  # ours: the paper gives no tau_w, no peak threshold; CenterNet's 0.7
    with pytest.raises(ValueError, match="unknown parameter"):
        build_tracker("outrack", tau=0.7)
