"""CSTrack's online tracking (Sec. III-E), the JDE cascade of ``trackers/jde.py``, against
the paper's rules on hand-made sequences."""
import numpy as np
import pytest

from trackers import Detections, build_tracker


def box_at(x, y=50.0, w=20.0, h=40.0):
    return [x, y, x + w, y + h]


def frame(boxes, embeddings, scores=None):
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    scores = np.full(len(boxes), 0.9) if scores is None else np.asarray(scores, float)
    return Detections(boxes, scores, None, np.asarray(embeddings, float).reshape(len(boxes), -1))


def unit(v):
    v = np.asarray(v, float)
    return v / np.linalg.norm(v)


def ids_of(tracker, frames):
    return [out.track_ids.tolist() for out in map(tracker.update, frames)]


A, B = unit([1, 0, 0, 0]), unit([0, 1, 0, 0])


def test_template_update_is_eq_11():
    """Eq. 11: t_i^t = eps t_i^{t-1} + (1 - eps) e_i^t with eps = 0.9 ("following JDE"); a new
    tracklet's template is its first embedding. The embeddings are unit vectors, as the
    model gives them. Only the template's direction enters the cosine metric, so the test
    compares directions."""
    rng = np.random.default_rng(0)
    embeddings = [unit(A + 0.3 * rng.standard_normal(4)) for _ in range(8)]
    tracker = build_tracker("jde")
    template = None
    for e in embeddings:
        out = tracker.update(frame([box_at(10)], [e]))
        assert out.track_ids.tolist() == [1]
        template = e if template is None else 0.9 * template + (1 - 0.9) * e  # Eq. 11
        kept = tracker.pool.embeddings[tracker.pool.ids == 1][0]
        np.testing.assert_allclose(unit(kept), unit(template), rtol=0, atol=1e-12)


@pytest.mark.parametrize("missed, same_id", [(29, True), (30, False)])
def test_tracklet_unmatched_for_30_frames_is_terminated(missed, same_id):
    """ "If a tracklet cannot find its matched box for 30 frames, it will be terminated. On the
    contrary, the unmatched tracklet will be restored to 'active' state when it is
    successfully matched with a candidate box before terminating." A tracklet missed in 30
    frames in a row is gone in the next frame; one missed in 29 comes back with its id."""
    tracker = build_tracker("jde")
    seq = [frame([box_at(10), box_at(200)], [A, B]) for _ in range(3)]
    seq += [frame([box_at(10)], [A]) for _ in range(missed)]  # B unmatched
    seq += [frame([box_at(10), box_at(200)], [A, B]) for _ in range(2)]  # B back (a new tracklet shows on frame 2)
    last = ids_of(tracker, seq)[-1]
    assert last == ([1, 2] if same_id else [1, 3]), f"after {missed} unmatched frames B is reported as {last}"


def test_embeddings_first_then_kalman_gating():
    """Sec. III-E: the cosine similarity of the ID embeddings decides the match, "a Kalman
    filter is used to provide distance restriction, which removes unreasonable matches".
    Two objects swap places by 6 px: the embeddings keep the ids. A detection with A's
    embedding 300 px from A's track is outside the gate: a new tracklet."""
    tracker = build_tracker("jde")
    tracker.update(frame([box_at(100), box_at(106)], [A, B]))
    out = tracker.update(frame([box_at(106), box_at(100)], [A, B]))
    x = dict(zip(out.track_ids.tolist(), out.boxes[:, 0]))
    assert x[1] > x[2]  # track 1 (embedding A) followed A to the right

    tracker = build_tracker("jde")
    ids_of(tracker, [frame([box_at(100)], [A]) for _ in range(3)])
    ids_of(tracker, [frame([box_at(400)], [A]) for _ in range(2)])
    assert tracker.pool.ids.tolist() == [1, 2]  # track 1 lost, the far detection is tracklet 2


def test_second_stage_matches_the_rest_by_iou():
    """"In the second matching stage, the unmatched tracklets will be re-checked again by an
    IOU matching": a tracked object whose embedding changes beyond the cosine threshold keeps
    its id while its box overlaps (IoU distance <= 0.5, JDE's threshold)."""
    tracker = build_tracker("jde")
    ids_of(tracker, [frame([box_at(100 + t)], [A]) for t in range(3)])
    assert ids_of(tracker, [frame([box_at(103)], [B])]) == [[1]]


def test_unmatched_detections_start_new_tracklets():
    """"The unmatched candidate boxes will be initialized as new tracklets, where the
    corresponding ID embeddings are simultaneously initialized as the template". A new
    tracklet after the first frame is reported from its second matched frame on (JDE's
    tentative tracks, ours: the paper does not say when a tracklet is output)."""
    tracker = build_tracker("jde")
    ids = ids_of(tracker, [frame([box_at(10)], [A])] + [frame([box_at(10), box_at(200)], [A, B]) for _ in range(2)])
    assert ids == [[1], [1], [1, 2]]
    np.testing.assert_allclose(tracker.pool.embeddings[1], B)
