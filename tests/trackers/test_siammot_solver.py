"""SiamMOT's online solver (Sec. 3.4 and 4.2, SiamMOT) on hand-made frames.

Each test quotes the rule of the paper it checks; the expected tracks follow from that
rule by hand.
"""
import numpy as np
import pytest

from trackers import Detections, RecordError, build_tracker


def frame(dets=(), det_scores=(), tracks=None, classes=None):
    """A record: detections plus the model's propagated boxes {id: (box, visibility)}."""
    tracks = tracks or {}
    extras = {
        "track_ids": np.array(list(tracks), dtype=np.int64),
        "track_boxes": np.array([b for b, _ in tracks.values()], dtype=float).reshape(-1, 4),
        "track_scores": np.array([v for _, v in tracks.values()], dtype=float),
    }
    return Detections(np.array(dets, dtype=float).reshape(-1, 4), np.array(det_scores, dtype=float),
                      None if classes is None else np.array(classes), extras=extras)


def iou(a, b):
    """Intersection over union of two x1, y1, x2, y2 boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


A, B = [10, 10, 30, 50], [100, 10, 120, 50]


def test_birth_above_beta_and_continuation_above_alpha():
    # Sec. 3.4: "1) a trajectory is continued if its visibility confidence is above alpha;
    # 2) a trajectory is born if there is a non-matched detection and its confidence is
    # above beta" (Sec. 4.2: alpha = 0.4, beta = 0.6).
    solver = build_tracker("siammot")
    out = solver.update(frame([A, B], [0.9, 0.55]))  # B is below beta
    assert out.track_ids.tolist() == [1]
    moved = [12, 10, 32, 50]
    out = solver.update(frame([moved, B], [0.9, 0.9], {1: (moved, 0.8)}))
    # track 1 continues (v 0.8 > alpha) at its propagated box; its detection is suppressed
    assert out.track_ids.tolist() == [1, 2]
    np.testing.assert_allclose(out.boxes[0], moved)
    out = solver.update(frame([], [], {1: (moved, 0.41), 2: (B, 0.39)}))  # just above / below alpha
    assert out.track_ids.tolist() == [1]


def test_detections_matching_any_tracked_instance_are_suppressed():
    # Sec. 3.4: "detections that spatially match (IOU >= 0.5) to any tracked instance are
    # suppressed and thus removed" -- any tracked instance, also one whose visibility is
    # below alpha this frame or a dormant one.
    wide = [0, 0, 30, 10]
    half = [10, 0, 40, 10]  # IoU exactly 0.5 with `wide`
    apart = [11, 0, 41, 10]  # IoU just below 0.5
    assert iou(wide, half) == 0.5 and iou(wide, apart) < 0.5
    solver = build_tracker("siammot")
    solver.update(frame([wide], [0.9]))
    # track 1's visibility falls below alpha: it is not continued, yet its propagated
    # box suppresses the detection on it, which starts no second track
    out = solver.update(frame([half], [0.9], {1: (wide, 0.2)}))
    assert len(out) == 0 and solver.live_tracks().track_ids.tolist() == [1]
    # dormant now (below alpha last frame): it still suppresses a detection at IoU 0.5
    out = solver.update(frame([half], [0.9], {1: (wide, 0.1)}))
    assert len(out) == 0 and solver.live_tracks().track_ids.tolist() == [1]
    # a detection below IoU 0.5 with it is not a match: it starts a track
    out = solver.update(frame([apart], [0.9], {1: (wide, 0.1)}))
    assert out.track_ids.tolist() == [2]


def test_active_tracks_win_the_nms_over_dormant_tracks():
    # Sec. 3.4 applies "a standard IOU-based NMS" to the tracker's outputs; the paper does
    # not order active and dormant tracks. The authors' solver ranks active tracks before
    # dormant ones (it adds 1 to the scores of active tracks before one NMS), so a dormant
    # track whose propagated box lands on an active one stays dormant.
    solver = build_tracker("siammot")
    solver.update(frame([A, B], [0.9, 0.9]))
    solver.update(frame([], [], {1: (A, 0.9), 2: (B, 0.1)}))  # track 2 dormant
    out = solver.update(frame([], [], {1: (A, 0.5), 2: (A, 0.95)}))
    assert out.track_ids.tolist() == [1]
    assert solver.live_tracks().track_ids.tolist() == [1, 2]


def test_dormant_tracks_resume_above_the_resume_threshold():
    # Sec. 3.4, "Short occlusion handling": dormant tracks are searched "to check whether
    # they can be re-instated". The paper gives no separate threshold; the authors'
    # solver re-instates a dormant track whose score reaches RESUME_TRACK_THRESH = 0.4,
    # alpha's value.
    solver = build_tracker("siammot")
    solver.update(frame([A], [0.9]))
    solver.update(frame([], [], {1: (A, 0.2)}))  # dormant
    out = solver.update(frame([], [], {1: (A, 0.5)}))
    assert out.track_ids.tolist() == [1]
    solver = build_tracker("siammot", resume_threshold=0.7)
    solver.update(frame([A], [0.9]))
    solver.update(frame([], [], {1: (A, 0.2)}))
    assert len(solver.update(frame([], [], {1: (A, 0.5)}))) == 0  # above alpha, below 0.7
    assert solver.update(frame([], [], {1: (A, 0.8)})).track_ids.tolist() == [1]


@pytest.mark.parametrize("tau", [1, 3, 30])
def test_a_track_below_alpha_for_tau_consecutive_frames_is_killed(tau):
    # Sec. 3.4: "3) a trajectory is killed if its visibility confidence is below alpha
    # for consecutive tau frames"; Sec. 5: with tau = 1 "the trajectory is killed
    # immediately if it is unseen". Sec. 4.2: tau = 30.
    solver = build_tracker("siammot", max_dormant=tau)
    solver.update(frame([A], [0.9]))
    for below in range(1, tau):
        solver.update(frame([], [], {1: (A, 0.3)}))
        assert solver.live_tracks().track_ids.tolist() == [1], f"killed after {below} of {tau} frames"
    solver.update(frame([], [], {1: (A, 0.3)}))
    assert len(solver.live_tracks()) == 0, f"alive after {tau} consecutive frames below alpha"
    # a frame above alpha starts the count again
    solver = build_tracker("siammot", max_dormant=tau)
    solver.update(frame([A], [0.9]))
    for _ in range(3):
        for _ in range(tau - 1):
            solver.update(frame([], [], {1: (A, 0.3)}))
        assert solver.update(frame([], [], {1: (A, 0.9)})).track_ids.tolist() == [1]
    with pytest.raises(ValueError, match="max_dormant"):
        build_tracker("siammot", max_dormant=0)


def test_default_constants_are_the_papers():
    # Sec. 4.2: "alpha = 0.4 and ... beta = 0.6 ... tau = 30 frames"; Sec. 3.4: IoU >= 0.5.
    params = build_tracker("siammot").params
    assert (params.continue_threshold, params.start_threshold, params.max_dormant) == (0.4, 0.6, 30)
    assert params.suppress_iou == 0.5
    assert not params.resume_with_detections and not params.correct_with_detections


@pytest.mark.parametrize("resume", [False, True])
def test_a_detection_resumes_the_lapsed_track_it_overlaps_when_asked(resume):
    solver = build_tracker("siammot", resume_with_detections=resume)
    solver.update(frame([A, B], [0.9, 0.9]))
    moved, other = [12, 10, 32, 50], [200, 10, 220, 50]
    # track 1's visibility drops below alpha while the detector still sees it (IoU 0.82
    # with its propagated box A); track 2 lapses too, far from every detection
    out = solver.update(frame([moved, other], [0.9, 0.9], {1: (A, 0.2), 2: (B, 0.1)}))
    if resume:  # ours: track 1 goes on at the detection's box
        assert out.track_ids.tolist() == [1, 3]
        np.testing.assert_allclose(out.boxes[0], moved)
    else:  # the paper: the detection is suppressed by track 1, which is not reported
        assert out.track_ids.tolist() == [3]
    assert solver.live_tracks().track_ids.tolist() == [1, 2, 3]
    # a detection below beta or of another class resumes nothing, class-agnostic or not;
    # across classes the track suppresses it only when class-agnostic
    for agnostic in (False, True):
        solver = build_tracker("siammot", resume_with_detections=True, class_agnostic=agnostic)
        solver.update(frame([A], [0.9], classes=[0]))
        assert len(solver.update(frame([A], [0.5], {1: (A, 0.2)}, classes=[0]))) == 0
        out = solver.update(frame([A], [0.9], {1: (A, 0.2)}, classes=[1]))
        expected = ([], []) if agnostic else ([2], [1])  # (track ids, classes)
        assert (out.track_ids.tolist(), out.classes.tolist()) == expected


def test_a_lapsed_track_resumes_from_its_last_box_when_its_propagated_box_drifted():
    solver = build_tracker("siammot", resume_with_detections=True)
    solver.update(frame([A], [0.9]))
    moved, drifted = [12, 10, 32, 50], [60, 10, 80, 50]
    # the Siamese box drifted away (visibility below alpha); the detection overlaps the
    # track's last box A with IoU 0.82
    out = solver.update(frame([moved], [0.9], {1: (drifted, 0.2)}))
    assert out.track_ids.tolist() == [1]
    np.testing.assert_allclose(out.boxes[0], moved)


@pytest.mark.parametrize("correct", [False, True])
def test_continued_tracks_take_the_detection_they_overlap_most_when_asked(correct):
    solver = build_tracker("siammot", correct_with_detections=correct)
    solver.update(frame([A, B], [0.9, 0.9]))
    drifted = [18, 10, 38, 50]  # IoU 480 / 1120 = 0.43 with A
    near_b = [101, 10, 121, 50]  # IoU 0.9 with B
    beside_b = [108, 10, 128, 50]  # IoU 0.43 with B, 0.48 with near_b
    far_car = [200, 10, 240, 30]
    # track 1 drifted off A, where the detector still sees the object; track 2 is near B,
    # whose detection it suppresses, and leaves the detection beside it to a new track
    record = frame([A, B, beside_b, [16, 10, 36, 50], far_car], [0.9, 0.9, 0.9, 0.9, 0.9],
                   {1: (drifted, 0.9), 2: (near_b, 0.8)}, classes=[0, 0, 0, 1, 1])
    out = solver.update(record)
    if correct:
        # track 1 takes A (IoU 0.43; the car detection overlapping it more is of another
        # class), track 2 takes B, with its score
        assert out.track_ids.tolist() == [1, 2, 3, 4, 5]
        np.testing.assert_allclose(out.boxes[:2], [A, B])
        np.testing.assert_allclose(out.scores[:2], [0.9, 0.9])
        assert out.classes.tolist() == [0, 0, 0, 1, 1]
    else:
        assert out.track_ids.tolist() == [1, 2, 3, 4, 5, 6]  # a second track on the object at A
        np.testing.assert_allclose(out.boxes[:3], [drifted, near_b, A])
        np.testing.assert_allclose(out.scores[:2], [0.9, 0.8])


def test_nms_on_track_boxes_and_class_aware_suppression():
    solver = build_tracker("siammot")
    solver.update(frame([A, [11, 10, 31, 50]], [0.9, 0.95], classes=[0, 1]))  # two classes: no NMS
    assert solver.live_tracks().track_ids.tolist() == [1, 2]
    # Both tracks propagate onto one place; same-class NMS does not apply across classes,
    # so both continue. A class-0 detection there is suppressed only by track 1 (class 0).
    out = solver.update(frame([A], [0.9], {1: (A, 0.9), 2: (A, 0.8)}, classes=[0]))
    assert out.track_ids.tolist() == [1, 2]
    solver = build_tracker("siammot")
    solver.update(frame([A, B], [0.9, 0.9]))
    out = solver.update(frame([], [], {1: (A, 0.9), 2: (A, 0.7)}))  # same class, same box
    assert out.track_ids.tolist() == [1]  # track 2's box lost NMS: dormant
    assert solver.live_tracks().track_ids.tolist() == [1, 2]


def test_unknown_or_missing_track_ids():
    solver = build_tracker("siammot")
    solver.update(frame([A], [0.9]))
    with pytest.raises(RecordError, match=r"track_ids \[7\] are not live"):
        solver.update(frame([], [], {7: (A, 0.9)}))
    with pytest.raises(RecordError, match="needs 'track_ids'"):
        solver.update(Detections(np.zeros((0, 4)), np.zeros(0)))
    out = solver.update(frame([], [], {}))  # a live track not propagated: dormant
    assert len(out) == 0 and solver.live_tracks().track_ids.tolist() == [1]


def test_class_agnostic_nms_and_suppression():
    solver = build_tracker("siammot", class_agnostic=True)
    # one object detected as both classes: only the higher-scoring class starts a track
    out = solver.update(frame([A, [11, 10, 31, 50]], [0.9, 0.95], classes=[0, 1]))
    assert out.track_ids.tolist() == [1] and out.classes.tolist() == [1]
    # a class-0 detection on the class-1 track is the same object: suppressed, no birth
    out = solver.update(frame([A], [0.99], {1: (A, 0.8)}, classes=[0]))
    assert out.track_ids.tolist() == [1]
    solver.update(frame([B], [0.9], {1: (A, 0.8)}, classes=[0]))  # track 2 (class 0) at B
    # tracks of two classes propagated onto one box: NMS keeps the more visible one
    out = solver.update(frame([], [], {1: (B, 0.6), 2: (B, 0.9)}))
    assert out.track_ids.tolist() == [2]


def test_live_tracks_are_a_snapshot():
    solver = build_tracker("siammot")
    solver.update(frame([A], [0.9]))
    live = solver.live_tracks()
    solver.update(frame([], [], {1: ([12, 10, 32, 50], 0.9)}))
    assert live.boxes.tolist() == [A]  # not moved by the next update
