"""The box filter of the authors' evaluation scripts (FairMOT's and CSTrack's ``track.py``):
``vertical = tlwh[2] / tlwh[3] > 1.6`` and ``if tlwh[2] * tlwh[3] > opt.min_box_area and not
vertical`` (``min_box_area`` 100) decide which online tracks are written."""
import numpy as np
import pytest

from trackers import build_tracker
from trackers.jde import reportable
from trackers.params import ParamError
from tests.trackers import test_outrack
from tests.trackers.test_trackers import frame, run

RELEASED = {"max_output_aspect_ratio": 1.6, "min_output_area": 100.0}


def xywh(x, y, w, h):
    return [x, y, x + w, y + h]


@pytest.mark.parametrize("w, h, written", [
    (16, 10, True),     # width / height = 1.6: not "> 1.6"
    (17, 10, False),    # 1.7 > 1.6
    (10, 10, False),    # area 100: not "> min_box_area"
    (10, 10.5, True),   # area 105
    (8, 40, True),      # a standing person
    (0, 0, False),      # no area
    (5, 0, False),      # zero height: width / height is inf
])
def test_rule_of_track_py(w, h, written):
    assert reportable(np.array([xywh(3, 7, w, h)], float), 1.6, 100).tolist() == [written]


def test_off_by_default_and_each_test_alone():
    boxes = np.array([xywh(0, 0, 40, 10), xywh(0, 0, 4, 8)], float)  # wide; tiny
    assert reportable(boxes, 0, 0).tolist() == [True, True]
    assert reportable(boxes, 1.6, 0).tolist() == [False, True]
    assert reportable(boxes, 0, 100).tolist() == [True, False]


def test_filtered_tracks_live_on_and_keep_their_ids():
    """Filtered boxes are not reported, but their tracks keep matching: the ids reported
    with the filter are those without it, less the filtered boxes."""
    # a person, a wide box (a bench) and a small box that grows past 100 px^2 at frame 3 (72, 98, 128, ...)
    frames = [frame([xywh(10, 50, 20, 40), xywh(100, 50, 60, 20), xywh(200, 50, 6 + t, 12 + 2 * t)])
              for t in range(6)]
    plain = run(build_tracker("jde"), frames)
    filtered = run(build_tracker("jde", **RELEASED), frames)
    assert [sorted(f) for f in plain] == [[1, 2, 3]] * 6
    for shown, everything in zip(filtered, plain):
        kept = reportable(np.array(list(everything.values())), 1.6, 100)
        assert sorted(shown) == [tid for tid, keep in zip(everything, kept) if keep]
    assert [sorted(f) for f in filtered] == [[1]] * 2 + [[1, 3]] * 4  # the small one keeps id 3


def test_outrack_reports_through_the_same_filter():
    boxes = [xywh(10, 50, 20, 40), xywh(100, 50, 60, 20)]
    out = build_tracker("outrack", **RELEASED).update(test_outrack.frame(boxes))
    assert out.track_ids.tolist() == [1]


@pytest.mark.parametrize("name, value", [("max_output_aspect_ratio", -1), ("min_output_area", -1)])
def test_ranges(name, value):
    with pytest.raises(ParamError, match=name):
        build_tracker("jde", **{name: value})
