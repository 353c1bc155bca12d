"""SiamMOT's online solver on hand-made frames."""
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


A, B = [10, 10, 30, 50], [100, 10, 120, 50]


def test_birth_above_beta_and_continuation_above_alpha():
    solver = build_tracker("siammot")
    out = solver.update(frame([A, B], [0.9, 0.55]))  # B is below beta = 0.6
    assert out.track_ids.tolist() == [1]
    moved = [12, 10, 32, 50]
    out = solver.update(frame([moved, B], [0.9, 0.9], {1: (moved, 0.8)}))
    # track 1 continues (v 0.8 > alpha); its detection (IoU 1) is suppressed; B is born
    assert out.track_ids.tolist() == [1, 2]
    np.testing.assert_allclose(out.boxes[0], moved)


def test_dormant_tracks_resume_and_die_after_tau():
    solver = build_tracker("siammot", max_dormant=3)
    solver.update(frame([A], [0.9]))
    for _ in range(3):  # low visibility: dormant, not reported, still propagated
        assert len(solver.update(frame([], [], {1: (A, 0.3)}))) == 0
    assert solver.live_tracks().track_ids.tolist() == [1]
    out = solver.update(frame([], [], {1: (A, 0.9)}))  # found again within tau
    assert out.track_ids.tolist() == [1]
    for _ in range(4):
        solver.update(frame([], [], {1: (A, 0.1)}))
    assert len(solver.live_tracks()) == 0  # dormant for more than tau frames


@pytest.mark.parametrize("resume", [False, True])
def test_a_detection_resumes_the_dormant_track_it_overlaps_when_asked(resume):
    solver = build_tracker("siammot", resume_with_detections=resume)
    solver.update(frame([A, B], [0.9, 0.9]))
    moved, other = [12, 10, 32, 50], [200, 10, 220, 50]
    # track 1's visibility drops below alpha while the detector still sees it (IoU 0.82 with
    # its propagated box A); track 2 is dormant too, far from every detection
    out = solver.update(frame([moved, other], [0.9, 0.9], {1: (A, 0.2), 2: (B, 0.1)}))
    if resume:
        assert out.track_ids.tolist() == [1, 3]  # track 1 goes on at the detection's box
        np.testing.assert_allclose(out.boxes[0], moved)
        assert solver.live_tracks().track_ids.tolist() == [1, 2, 3]
    else:
        assert out.track_ids.tolist() == [3, 4]  # the paper's solver: a new track (a switch)
    # a detection below beta or of another class resumes nothing, class-agnostic or not
    for agnostic in (False, True):
        solver = build_tracker("siammot", resume_with_detections=True, class_agnostic=agnostic)
        solver.update(frame([A], [0.9], classes=[0]))
        assert len(solver.update(frame([A], [0.5], {1: (A, 0.2)}, classes=[0]))) == 0
        out = solver.update(frame([A], [0.9], {1: (A, 0.2)}, classes=[1]))
        assert out.track_ids.tolist() == [2] and out.classes.tolist() == [1]


def test_a_dormant_track_resumes_from_its_last_box_when_its_propagated_box_drifted():
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
