"""The shared life cycle, SORT and the JDE cascade on hand-made sequences."""
import numpy as np
import pytest

from trackers import Detections, RecordError, build_tracker


def box_at(x, y=50.0, w=20.0, h=40.0):
    return [x, y, x + w, y + h]


def frame(boxes, scores=None, classes=None, embeddings=None):
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    scores = np.full(len(boxes), 0.9) if scores is None else np.asarray(scores, float)
    return Detections(boxes, scores, None if classes is None else np.asarray(classes), embeddings)


def run(tracker, frames):
    """Per frame: {track id: box} of the reported tracks."""
    return [dict(zip(t.track_ids.tolist(), t.boxes)) for t in map(tracker.update, frames)]


def test_sort_confirms_after_min_hits_and_keeps_ids():
    tracker = build_tracker("sort")
    frames = [frame([box_at(10 + 3 * t)] + ([box_at(200 + 2 * t, 120)] if t >= 5 else [])) for t in range(12)]
    out = run(tracker, frames)
    # The first object is born in frame 1 (<= min_hits: reported at once), keeps id 1.
    assert all(list(o)[:1] == [1] for o in out)
    # The second is born in frame 6 and reported after min_hits = 3 more matches.
    assert [len(o) for o in out] == [1] * 8 + [2] * 4
    np.testing.assert_allclose(out[-1][1], box_at(43), atol=0.5)


def test_sort_max_age():
    tracker = build_tracker("sort")
    boxes = [box_at(10 + 2 * t) for t in range(10)]
    frames = [frame(boxes[t]) if t not in (4, 7, 8) else frame([]) for t in range(10)]
    out = run(tracker, frames)
    # One missed frame (max_age 1) keeps id 1; two missed frames end it, a new track starts
    # at frame 10 and, born after the first min_hits frames, is not reported yet.
    assert [list(o) for o in out] == [[1], [1], [1], [1], [], [1], [1], [], [], []]
    assert tracker.pool.ids.tolist() == [2]


def test_trackers_are_class_aware():
    for name in ("sort", "jde"):
        tracker = build_tracker(name)
        tracker.update(frame([box_at(10)], classes=[0]))
        out = tracker.update(frame([box_at(10)], classes=[1]))
        # Same place, other class: track 1 is not continued, a track of class 1 starts.
        assert 1 not in out.track_ids.tolist(), name
        assert sorted(tracker.pool.classes.tolist()) == [0, 1], name


def unit(v):
    v = np.asarray(v, float)
    return v / np.linalg.norm(v)


def test_jde_refinds_a_lost_track_by_appearance_and_forgets_it_after_the_buffer():
    a, b = unit([1, 0, 0, 0]), unit([0, 1, 0, 0])
    tracker = build_tracker("jde", track_buffer=15, frame_rate=30)
    seq = [frame([box_at(10), box_at(200)], embeddings=np.stack([a, b])) for _ in range(3)]
    seq += [frame([box_at(10)], embeddings=a[None]) for _ in range(10)]  # b hidden 10 frames
    seq += [frame([box_at(10), box_at(200)], embeddings=np.stack([a, b]))]
    out = run(tracker, seq)
    assert list(out[-1]) == [1, 2]  # b comes back as track 2
    tracker.reset()
    seq = [frame([box_at(10), box_at(200)], embeddings=np.stack([a, b])) for _ in range(3)]
    seq += [frame([box_at(10)], embeddings=a[None]) for _ in range(16)]  # longer than the buffer
    seq += [frame([box_at(10), box_at(200)], embeddings=np.stack([a, b])) for _ in range(2)]
    out = run(tracker, seq)
    assert list(out[-1]) == [1, 3]  # ids restart at 1 after reset; b is a new track


def test_jde_appearance_beats_position_when_objects_swap():
    a, b = unit([1, 0, 0, 0]), unit([0, 1, 0, 0])
    tracker = build_tracker("jde")
    first = frame([box_at(100), box_at(106)], embeddings=np.stack([a, b]))
    swapped = frame([box_at(106), box_at(100)], embeddings=np.stack([a, b]))
    tracker.update(first)
    out = tracker.update(swapped)
    by_id = dict(zip(out.track_ids.tolist(), out.boxes[:, 0]))
    assert by_id[1] > by_id[2]  # track 1 (appearance a) follows a to the right


def test_jde_tentative_track_dies_unless_matched_next_frame():
    tracker = build_tracker("jde")
    tracker.update(frame([box_at(10)]))
    out = run(tracker, [frame([box_at(10), box_at(200)]), frame([box_at(10)]), frame([box_at(10)])])
    assert [list(o) for o in out] == [[1], [1], [1]]  # the one-frame blip never shows
    out = run(tracker, [frame([box_at(10), box_at(200)]), frame([box_at(10), box_at(200)])])
    assert [list(o) for o in out] == [[1], [1, 3]]  # confirmed on its second frame (2 was the blip)


@pytest.mark.parametrize("second, expected", [(False, []), (True, [1])])
def test_jde_second_association_keeps_tracks_on_low_scores(second, expected):
    tracker = build_tracker("jde", second_association=second)
    run(tracker, [frame([box_at(10 + t)]) for t in range(3)])
    out = tracker.update(frame([box_at(13)], scores=[0.2]))  # occluded: low confidence
    assert out.track_ids.tolist() == expected


def test_jde_rejects_embeddings_in_some_frames_only():
    tracker = build_tracker("jde")
    tracker.update(frame([box_at(10)], embeddings=np.ones((1, 4))))
    with pytest.raises(RecordError, match="some frames"):
        tracker.update(frame([box_at(10)]))


def test_empty_frames_everywhere():
    # SORT reports tracks born in its first min_hits frames at once; JDE only in frame 1.
    for name, expected in (("sort", [0, 1, 0, 0]), ("jde", [0, 0, 0, 0])):
        tracker = build_tracker(name)
        out = run(tracker, [frame([]), frame([box_at(10)]), frame([]), frame([])])
        assert [len(o) for o in out] == expected, name
