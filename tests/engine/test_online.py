"""The online drivers: SiamMOT's template cache and live-track loop, frame-order checks."""
import numpy as np
import pytest
import torch
from detectron2.structures import Boxes, Instances

from mot_heads.engine.drivers import SiamMOTDriver
from mot_heads.engine.online import OnlineTracking
from trackers import build_tracker


class ScriptedSiamMOT(torch.nn.Module):
    """Stands in for the model: detections and propagation read from the frame dict;
    a template is the frame index and the box it was cut from."""

    tracking_driver = "SiamMOTDriver"

    def __init__(self):
        super().__init__()
        self.calls = []

    def track_frame(self, frame, prev_boxes, templates, classes, given_boxes=None):
        self.calls.append((frame["frame_idx"], prev_boxes.clone(), templates.clone()))
        detections = Instances((100, 100))
        detections.pred_boxes = Boxes(torch.tensor(frame["dets"], dtype=torch.float32).reshape(-1, 4))
        detections.scores = torch.tensor(frame["scores"], dtype=torch.float32)
        detections.pred_classes = torch.zeros(len(frame["scores"]), dtype=torch.long)
        propagated = prev_boxes + torch.tensor([5.0, 0.0, 5.0, 0.0])
        visibility = torch.tensor(frame["visibility"][: len(prev_boxes)], dtype=torch.float32)
        return detections, propagated, visibility, frame["frame_idx"]

    def track_templates(self, state, boxes):
        return torch.cat([torch.full((len(boxes), 1), float(state)), boxes], dim=1)


def _frame(index, dets=(), scores=(), visibility=()):
    return {"video_id": "v", "frame_idx": index, "frame_rate": 10.0, "dets": list(dets),
            "scores": list(scores), "visibility": list(visibility)}


def test_templates_follow_active_tracks_and_stay_with_dormant_ones():
    model = ScriptedSiamMOT()
    driver = SiamMOTDriver(model, build_tracker("siammot"))
    tracks = driver.step(_frame(1, [[10, 10, 30, 50]], [0.9])).tracks
    assert tracks.track_ids.tolist() == [1]
    tracks = driver.step(_frame(2, visibility=[0.9])).tracks  # propagated 5 px right, continued
    assert tracks.boxes.tolist() == [[15, 10, 35, 50]]
    frame_idx, prev_boxes, templates = model.calls[1]
    assert prev_boxes.tolist() == [[10, 10, 30, 50]] and templates.tolist() == [[1, 10, 10, 30, 50]]
    driver.step(_frame(3, visibility=[0.1]))  # below alpha: dormant, keeps box and template
    driver.step(_frame(4, visibility=[0.1]))
    _, prev_boxes, templates = model.calls[3]
    assert prev_boxes.tolist() == [[15, 10, 35, 50]] and templates.tolist() == [[2, 15, 10, 35, 50]]


def test_dead_tracks_leave_the_cache():
    driver = SiamMOTDriver(ScriptedSiamMOT(), build_tracker("siammot", max_dormant=1))
    driver.step(_frame(1, [[10, 10, 30, 50]], [0.9]))
    for index in range(2, 5):
        driver.step(_frame(index, visibility=[0.0]))
    assert driver.templates == {} and len(driver.tracker.live_tracks()) == 0


def test_siammot_driver_needs_the_siammot_solver():
    with pytest.raises(TypeError, match="siammot"):
        SiamMOTDriver(ScriptedSiamMOT(), build_tracker("sort"))


def test_online_tracking_resets_per_video_and_checks_frame_order():
    online = OnlineTracking(ScriptedSiamMOT(), "siammot", {})
    out = online([_frame(1, [[10, 10, 30, 50]], [0.9]), _frame(2, visibility=[0.9])])
    assert [o["tracks"].track_ids.tolist() for o in out] == [[1], [1]]
    other = dict(_frame(1, [[50, 50, 60, 70]], [0.9]), video_id="w")
    assert online([other])[0]["tracks"].boxes.tolist() == [[50, 50, 60, 70]]
    with pytest.raises(ValueError, match="in order"):
        online([dict(_frame(3), video_id="w")])
