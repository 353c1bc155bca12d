"""OUTrack's lost-object refinding (Algorithm 1, Eq. 15-16): the box recovery and the
Gaussian score by hand, the greedy assignment, and hand-made occlusion scenarios."""
import numpy as np
import pytest

from trackers import Detections, OUTrackParams, OUTrackTracker, RecordError, build_tracker
from trackers.costs import iou_matrix
from trackers.outrack import (
    assign_occlusion_centers, occlusion_pair_score, points_in_boxes, recover_occluded_box,
)

OCCLUDER = [10.0, 10.0, 30.0, 50.0]  # D; the hidden object is 16 wide and 30 high


@pytest.mark.parametrize("true_box, center", [
    ([2, 0, 18, 30], [14, 20]),  # top-left: overlap [10, 10, 18, 30]
    ([22, 0, 38, 30], [26, 20]),  # top-right: overlap [22, 10, 30, 30]
    ([2, 30, 18, 60], [14, 40]),  # bottom-left: overlap [10, 30, 18, 50]
    ([22, 30, 38, 60], [26, 40]),  # bottom-right: overlap [22, 30, 30, 50]
])
@pytest.mark.parametrize("error", [(0, 0), (3, -2), (-2, 1.5)])
def test_eq_15_16_recover_the_true_box_in_the_four_cases(true_box, center, error):
    # The prediction P has the right size but is off by `error`; the box comes from D and c.
    predicted = np.asarray(true_box, float) + np.tile(error, 2)
    np.testing.assert_allclose(recover_occluded_box(predicted, OCCLUDER, center), true_box)


def test_gaussian_score_by_hand():
    # P n D = [10, 10, 20, 20], o = (15, 15); r = gaussian_radius(10, 10) =
    # (sqrt(28^2 + 11.2 * 0.3 * 100) - 28) / 2 = 2.7332; one pixel off:
    # sigma = (2r + 1) / 6 = 1.07773: exp(-1 / (2 * 1.07773^2)) = exp(-0.43048) = 0.65020;
    # sigma = r: exp(-1 / (2 * 2.7332^2)) = exp(-0.066931) = 0.93526.
    args = ([0, 0, 20, 20], [[10, 10, 30, 30], [40, 40, 50, 50]], [[15, 15], [16, 15], [15, 14]])
    score = occlusion_pair_score(*args, sigma_rule="centernet")
    np.testing.assert_allclose(score, [[1.0, 0.65020, 0.65020], [0.0, 0.0, 0.0]], atol=1e-5)
    np.testing.assert_allclose(occlusion_pair_score(*args), [[1.0, 0.93526, 0.93526], [0.0] * 3], atol=1e-5)
    with pytest.raises(ValueError, match="occlusion_sigma"):
        occlusion_pair_score(*args, sigma_rule="wide")


def test_assignment_is_greedy_one_track_per_centre_and_class_aware():
    boxes = np.array([[2, 0, 18, 30], [2.5, 0, 18.5, 30], [22, 0, 38, 30]], float)
    occluders, centers = np.array([OCCLUDER]), np.array([[14.25, 20.0], [26.0, 20.0]])
    # Track 1's overlap centre is (14.25, 20) exactly, track 0's (14, 20): the first centre
    # refinds track 1 only; track 2 (right of D) gets the second; one D occludes both.
    tracks, dets, used, scores = assign_occlusion_centers(boxes, np.zeros(3, int), occluders, np.zeros(1, int),
                                                          centers)
    assert sorted(zip(tracks.tolist(), dets.tolist(), used.tolist())) == [(1, 0, 0), (2, 0, 1)]
    np.testing.assert_allclose(scores, 1.0)
    # Another class is never an occluder; a centre outside P finds nothing.
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


def test_centres_inside_two_seen_objects_refind_nothing():
    assert points_in_boxes([[5, 5], [15, 5], [30, 30]], [[0, 0, 10, 10], [4, 0, 20, 10]]).tolist() == [
        [True, True], [False, True], [False, False]]
    still, occluder, passer = [200.0, 80, 240, 160], [220.0, 100, 260, 200], [225.0, 110, 300, 140]
    for skip, refound in ((True, False), (False, True)):
        tracker = build_tracker("outrack", skip_seen_overlaps=skip)
        run(tracker, [frame([[10, 10, 50, 90], still])] * 3)
        # (230, 130) lies in the occluder and in a passer-by, both detected: a seen overlap.
        out = tracker.update(frame([[10, 10, 50, 90], occluder, passer], centers=[[230, 130]]))
        assert (2 in out.track_ids) == refound, skip


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
    assert (defaults.occlusion_threshold, defaults.refind_window, defaults.occlusion_score_threshold,
            defaults.occlusion_min_overlap) == (0.7, 30, 0.4, 0.7)
    with pytest.raises(ValueError, match="unknown parameter"):
        build_tracker("outrack", tau=0.7)
