"""The per-frame record's checks and building trackers by name."""
import numpy as np
import pytest

import trackers
from trackers import Detections, RecordError, build_tracker, parse_param_strings


def test_record_defaults_and_select():
    dets = Detections(np.array([[0, 0, 2, 2], [1, 1, 3, 4]]), np.array([0.9, 0.3]))
    assert dets.classes.tolist() == [0, 0] and len(dets) == 2
    kept = dets.select(dets.scores > 0.5)
    assert len(kept) == 1 and kept.boxes[0, 3] == 2


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"boxes": [[0, 0, np.nan, 1]], "scores": [1.0]}, "row 0 is not finite"),
        ({"boxes": [[0, 0, 1, 1], [5, 5, 4, 9]], "scores": [1.0, 1.0]}, "row 1 has x2 < x1"),
        ({"boxes": [[0, 0, 1, 1]], "scores": [1.0, 0.5]}, "Detections.scores"),
        ({"boxes": [[0, 0, 1, 1]], "scores": [1.0], "classes": [-1]}, "non-negative integer"),
        ({"boxes": [[0, 0, 1, 1]], "scores": [1.0], "classes": [0.5]}, "non-negative integer"),
        ({"boxes": [[0, 0, 1, 1]], "scores": [1.0], "embeddings": np.ones((2, 4))}, "embeddings"),
    ],
)
def test_record_rejects_bad_input(kwargs, message):
    with pytest.raises(RecordError, match=message):
        Detections(**kwargs)


def test_empty_frame_is_valid():
    assert len(Detections(np.zeros((0, 4)), np.zeros(0))) == 0


def test_build_by_name_with_typed_string_params():
    tracker = build_tracker("jde", **parse_param_strings(["track_buffer=60", "second_association=true"]))
    assert tracker.params.track_buffer == 60 and tracker.params.second_association is True
    assert set(trackers.TRACKERS) >= {"sort", "jde"}


def test_build_errors_name_the_problem():
    with pytest.raises(trackers.ParamError, match="unknown tracker 'bytetrack'.*jde"):
        build_tracker("bytetrack")
    with pytest.raises(ValueError, match="unknown parameter.*max_agee"):
        build_tracker("sort", max_agee=3)
    with pytest.raises(ValueError, match="min_hits='three'.*int"):
        build_tracker("sort", **parse_param_strings(["min_hits=three"]))
    with pytest.raises(ValueError, match="expected key=value"):
        parse_param_strings(["min_hits"])
