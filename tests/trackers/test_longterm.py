"""DMTrack's long-term tracker: the target selections of Table 1 (Top-1, position
constraint, re-id association) and our position prior on hand-made per-frame candidate
records."""
import math

import numpy as np
import pytest

from trackers import (
    Detections, LongTermParams, LongTermTracker, RecordError, build_tracker, build_tracker_for_video,
    parse_param_strings,
)
from trackers.costs import iou_matrix
from trackers.longterm import TARGET_ID, position_scores


def unit(v):
    v = np.asarray(v, float)
    return v / np.linalg.norm(v)


TARGET, DISTRACTOR, OTHER = unit([1, 0, 0, 0]), unit([0, 1, 0, 0]), unit([0, 0, 1, 0])
LOOKALIKE = unit([1, 0.2, 0, 0])  # cosine distance 1 - 1 / sqrt(1.04) = 0.0194 to TARGET
START = [100.0, 100, 140, 180]


def frame(*candidates):
    """A record of (box, score, embedding) candidates."""
    boxes, scores, embeddings = zip(*candidates) if candidates else ((), (), ())
    return Detections(np.reshape(boxes, (-1, 4)), np.asarray(scores, float), embeddings=np.reshape(embeddings, (-1, 4)))


def run(tracker, records):
    return [tracker.update(r) for r in records]


def reported_box(tracks):
    assert tracks.track_ids.tolist() == [TARGET_ID] and tracks.classes.tolist() == [0]
    return tracks.boxes[0]


def overlap(a, b):
    return iou_matrix(np.asarray(a, float)[None], np.asarray(b, float)[None])[0, 0]


def test_top1_reports_the_best_candidate_and_absence():
    tracker = build_tracker("longterm", selection="top1")
    first = tracker.start(START)
    assert first.track_ids.tolist() == [TARGET_ID] and first.scores.tolist() == [1.0]
    np.testing.assert_allclose(first.boxes, [START])
    out = tracker.update(Detections([[0, 0, 10, 10], [50, 50, 60, 60], [90, 0, 99, 9]], [0.5, 0.9, 0.7]))
    np.testing.assert_allclose(reported_box(out), [50, 50, 60, 60])
    assert out.scores.tolist() == [0.9]
    assert len(tracker.update(Detections(np.zeros((0, 4)), np.zeros(0)))) == 0
    assert len(tracker.update(Detections([[0, 0, 10, 10]], [0.03]))) == 0  # below min_score


def test_position_prior_by_hand():  # ours: "position_prior"
    # Last target 40 x 40 centred at (120, 120): size 40. Near: centre (130, 120), d = 0.25;
    # far: centre (320, 120), d = 5. With sigma = 1: 0.8 exp(-0.25^2 / 2) = 0.77539 and
    # 0.9 exp(-12.5) = 3.3541e-06; with sigma = 20: 0.8 exp(-0.25^2 / 800) = 0.79994 and
    # 0.9 exp(-25 / 800) = 0.87231.
    last = [100.0, 100, 140, 140]
    boxes, scores = np.array([[110.0, 100, 150, 140], [300, 100, 340, 140]]), np.array([0.8, 0.9])
    np.testing.assert_allclose(position_scores(boxes, scores, last, 1.0), [0.77539, 3.3541e-06], rtol=1e-4)
    np.testing.assert_allclose(position_scores(boxes, scores, last, 20.0), [0.79994, 0.87231], rtol=1e-4)


def paper_position_constraint(candidates, last_box, top=5):
    """Table 1 "PC", Sec. 4.2, DMTrack: "choose the object which is closest to last frame
    prediction among top 5 candidates". Closest: the smallest distance between box
    centres (the sentence names no measure; the centre distance is the plain one).
    ``candidates``: (box, score) pairs; returns the chosen pair, None without candidates."""
    def centre(box):
        return ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)

    top_candidates = sorted(candidates, key=lambda c: -c[1])[:top]
    if not top_candidates:
        return None
    return min(top_candidates, key=lambda c: math.dist(centre(c[0]), centre(last_box)))


def test_position_constraint_is_the_closest_of_the_top5_to_the_last_prediction():
    # Frame 2, last prediction [100, 100, 140, 140] (the start): the closest candidate of all
    # is ranked 6th, the closest of the top 5 is the weakest of them. Frame 3: the last
    # prediction is frame 2's choice. Frame 4: no candidate, absent. Frame 5: the last
    # prediction is still frame 3's ("last frame prediction" read as the last reported box).
    # No two candidates overlap, so NMS keeps all of them.
    start = [100.0, 100, 140, 140]
    frames = [
        [([380.0, 100, 420, 140], 0.95), ([280.0, 100, 320, 140], 0.9), ([100.0, 280, 140, 320], 0.85),
         ([180.0, 100, 220, 140], 0.8), ([141.0, 100, 181, 140], 0.1), ([100.0, 80, 140, 120], 0.07)],
        [([100.0, 100, 140, 140], 0.9), ([150.0, 100, 190, 140], 0.5), ([600.0, 0, 640, 40], 0.99)],
        [],
        [([150.0, 150, 190, 190], 0.6), ([0.0, 0, 40, 40], 0.97), ([170.0, 100, 210, 140], 0.4)],
    ]
    tracker = build_tracker("longterm", selection="position")
    tracker.start(start)
    last = start
    for candidates in frames:
        out = tracker.update(Detections(np.reshape([c[0] for c in candidates], (-1, 4)), [c[1] for c in candidates]))
        chosen = paper_position_constraint(candidates, last)
        if chosen is None:
            assert len(out) == 0
            continue
        np.testing.assert_allclose(reported_box(out), chosen[0], err_msg="PC: the closest of the top 5")
        assert out.scores.tolist() == [chosen[1]]
        last = chosen[0]


def test_position_constraint_counts_the_top5_after_nms():
    # The top 5 of the "group of interests" that NMS leaves (Sec. 3.5): the duplicate of the
    # best candidate (IoU 0.82) is dropped, so the candidate closest to the last prediction,
    # 6th by score, becomes 5th and is chosen.
    far = [[300.0 + 50 * k, 0, 340 + 50 * k, 40] for k in range(4)]
    duplicate = [304.0, 0, 344, 40]
    near = [100.0, 100, 140, 140]
    tracker = build_tracker("longterm", selection="position")
    tracker.start([100.0, 100, 140, 140])
    out = tracker.update(Detections(far + [duplicate, near], [0.9, 0.8, 0.7, 0.6, 0.85, 0.5]))
    np.testing.assert_allclose(reported_box(out), near)
    assert out.scores.tolist() == [0.5]
    tracker = build_tracker("longterm", selection="position", position_candidates=4)
    tracker.start([100.0, 100, 140, 140])
    np.testing.assert_allclose(reported_box(tracker.update(Detections(far + [duplicate, near], [0.9, 0.8, 0.7, 0.6,
                                                                                                  0.85, 0.5]))), far[0])


@pytest.mark.parametrize("sigma, chosen", [(1.0, 0), (20.0, 1)])
def test_position_prefers_a_slightly_weaker_candidate_next_to_the_target(sigma, chosen):
    boxes, scores = [[110.0, 100, 150, 140], [300, 100, 340, 140]], [0.8, 0.9]
    tracker = build_tracker("longterm", selection="position_prior", position_sigma=sigma)
    tracker.start([100.0, 100, 140, 140])
    out = tracker.update(Detections(boxes, scores))
    np.testing.assert_allclose(reported_box(out), boxes[chosen])
    assert out.scores.tolist() == [scores[chosen]]  # the raw score, not the penalised one


@pytest.mark.parametrize("nms_iou, chosen", [(0.5, 1), (0.7, 0)])
def test_position_keeps_the_last_position_while_absent_and_nms_comes_first(nms_iou, chosen):
    tracker = build_tracker("longterm", selection="position_prior", nms_iou=nms_iou)
    tracker.start([100.0, 100, 140, 140])
    assert len(tracker.update(Detections([[110.0, 100, 150, 140]], [0.2]))) == 0  # < position_min_score
    # Still anchored at the start box (centre (120, 120), size 40): the prior alone prefers the
    # near box, 0.88 exp(-0.05^2 / 2) = 0.8789 > 0.9 exp(-0.3^2 / 2) = 0.8604, but it overlaps
    # the stronger one by IoU 30 / 50 = 0.6: NMS at 0.5 drops it before the prior.
    boxes = [[102.0, 100, 142, 140], [112, 100, 152, 140]]
    out = tracker.update(Detections(boxes, [0.88, 0.9]))
    np.testing.assert_allclose(reported_box(out), boxes[chosen])


def alternating_scores():
    """Target walking right and a static distractor nearby, swapping score ranks every frame."""
    records, truth = [], []
    for t in range(1, 20):
        target, distractor = [100.0 + 2 * t, 100, 140 + 2 * t, 180], [185.0, 100, 225, 180]
        target_score, distractor_score = (0.9, 0.6) if t % 2 else (0.6, 0.9)
        records.append(frame((target, target_score, TARGET), (distractor, distractor_score, DISTRACTOR)))
        truth.append((target, target_score))
    return records, truth


def test_reid_follows_the_target_where_top1_jumps_to_the_distractor():
    records, truth = alternating_scores()
    reid, top1 = build_tracker("longterm"), build_tracker("longterm", selection="top1")
    reid.start(START, TARGET)
    top1.start(START)
    for out, (target, score) in zip(run(reid, records), truth):
        assert overlap(reported_box(out), target) > 0.85 and out.scores.tolist() == [score]
    on_target = [overlap(reported_box(out), target) > 0.85 for out, (target, _) in zip(run(top1, records), truth)]
    assert on_target == [t % 2 == 1 for t in range(1, 20)]


def test_reid_redetects_the_target_far_away_and_never_adopts_a_coexisting_lookalike():
    # Frames 2-10: the target and a look-alike distractor; 11-15: the target is gone and a
    # newcomer of another appearance arrives (frame 12); 16-25: the target is back far away.
    lookalike, newcomer, back = [400.0, 100, 440, 180], [250.0, 300, 290, 380], [700.0, 300, 740, 380]
    records = []
    for t in range(2, 26):
        candidates = [(lookalike, 0.8, LOOKALIKE)] + ([(newcomer, 0.7, OTHER)] if t >= 12 else [])
        if t <= 10:
            candidates.append((START, 0.9, TARGET))
        elif t >= 16:
            candidates.append((back, 0.9, TARGET))
        records.append(frame(*candidates))
    tracker = build_tracker("longterm")
    tracker.start(START, TARGET)
    first_tracklet = tracker.target_track
    outputs = dict(zip(range(2, 26), run(tracker, records)))
    for t, out in outputs.items():
        if t <= 10:
            np.testing.assert_allclose(reported_box(out), START, atol=1e-6)
        elif t <= 16:  # absent; at 16 the target's new tracklet is still tentative
            assert len(out) == 0, t
        else:
            assert overlap(reported_box(out), back) > 0.95 and out.scores.tolist() == [0.9], t
    assert tracker.target_track != first_tracklet and first_tracklet not in tracker.association.pool.ids


def test_reid_links_with_the_three_clues_of_fairmot():
    # Sec. 3.5: "appearance information (re-id features), position information (IoU between
    # adjacent frames) and motion information (Kalman Filter)", as FairMOT [40].
    tracker = build_tracker("longterm")
    tracker.start(START, TARGET)
    run(tracker, [frame((START, 0.9, TARGET))] * 4)
    # appearance fails (cosine distance 1 to the template), IoU 0.9 to the last box: IoU links
    moved = [102.0, 100, 142, 180]
    assert overlap(reported_box(tracker.update(frame((moved, 0.9, OTHER)))), moved) > 0.95  # the filtered box
    # the same appearance far beyond the Kalman filter's gate is not the target's tracklet
    jump = [600.0, 400, 640, 480]
    assert len(tracker.update(frame((jump, 0.9, TARGET)))) == 0


@pytest.mark.parametrize("gap, track_buffer, delay", [(3, 5, 0), (15, 5, 1), (15, 30, 0)])
def test_reid_refinds_the_target_after_its_tracklet_expired(gap, track_buffer, delay):
    # Within the buffer the lost tracklet itself is matched again on reappearance; after it
    # expired a new tracklet starts (reported once confirmed, a frame later) and is re-detected.
    empty = frame()
    records = [frame((START, 0.9, TARGET))] * 4 + [empty] * gap + [frame((START, 0.8, TARGET))] * 5
    tracker = build_tracker("longterm", track_buffer=track_buffer)
    tracker.start(START, TARGET)
    first_tracklet = tracker.target_track
    outputs = run(tracker, records)
    assert [len(out) for out in outputs] == [1] * 4 + [0] * (gap + delay) + [1] * (5 - delay)
    assert (first_tracklet in tracker.association.pool.ids) == (delay == 0)
    assert outputs[-1].scores.tolist() == [0.8]
    np.testing.assert_allclose(reported_box(outputs[-1]), START, atol=1e-6)


def test_errors_name_the_problem():
    with pytest.raises(RuntimeError, match="start"):
        build_tracker("longterm").update(frame())
    with pytest.raises(RecordError, match="embedding"):
        build_tracker("longterm").start(START)
    tracker = build_tracker("longterm")
    tracker.start(START, TARGET)
    with pytest.raises(RecordError, match="Detections.embeddings"):
        tracker.update(Detections([START], [0.9]))
    with pytest.raises(RecordError, match="Detections.embeddings: expected 4 dims"):
        tracker.update(Detections([START], [0.9], embeddings=np.ones((1, 3))))
    with pytest.raises(ValueError, match="selection.*'top-1'"):
        build_tracker("longterm", selection="top-1")
    with pytest.raises(RecordError, match=r"\(4,\)"):
        build_tracker("longterm", selection="top1").start([0, 0, 1])


def test_start_resets_the_previous_video():
    tracker = build_tracker("longterm")
    tracker.start(START, TARGET)
    run(tracker, [frame((START, 0.9, TARGET), ([300.0, 0, 340, 80], 0.9, OTHER))] * 3)
    tracker.start([300.0, 0, 340, 80], OTHER)
    out = tracker.update(frame((START, 0.9, TARGET), ([300.0, 0, 340, 80], 0.9, OTHER)))
    np.testing.assert_allclose(reported_box(out), [300, 0, 340, 80], atol=1e-6)
    assert len(tracker.association.pool) == 2 and tracker.frame == 2


def test_registry_builds_with_the_video_frame_rate_and_string_overrides():
    tracker = build_tracker_for_video("longterm", 25.0, selection="top1")
    assert isinstance(tracker, LongTermTracker) and isinstance(tracker.params, LongTermParams)
    assert (tracker.params.selection, tracker.params.frame_rate) == ("top1", 25.0)
    strings = parse_param_strings(["position_sigma=2", "redetect_distance=0.2", "det_threshold=0.5",
                                   "track_buffer=60", "selection=position_prior", "position_candidates=3"])
    params = build_tracker("longterm", **strings).params
    assert (params.position_sigma, params.redetect_distance, params.det_threshold, params.track_buffer,
            params.selection, params.position_candidates) == (2.0, 0.2, 0.5, 60, "position_prior", 3)
    defaults = LongTermParams()
    assert (defaults.selection, defaults.nms_iou, defaults.min_score, defaults.det_threshold) == (
        "reid", 0.5, 0.05, 0.3)
    assert defaults.position_candidates == 5  # Sec. 4.2: PC's "top 5 candidates"
    with pytest.raises(ValueError, match="unknown parameter"):
        build_tracker("longterm", sigma=2)
