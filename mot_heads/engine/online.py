"""Online tracking with a model: a driver steps one video frame by frame.

``DetectorDriver`` runs a detector and hands its detections to any tracker of
``trackers``. ``SiamMOTDriver`` runs SiamMOT with its solver in one loop: per frame
it gives the solver's live tracks (active and dormant) with their cached templates to
the model, which detects and propagates them; the solver turns detections and
propagated boxes into tracks; the templates of the tracks seen in this frame are then
refreshed from this frame's features. A dormant track keeps its last
box and template (Sec. 3.4), so the model can find it again. ``SOTDriver`` tracks
one target given by its first-frame box with DMTrack and the long-term tracker.
"""
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from detectron2.structures import Instances
from torch import nn

from trackers import Tracker, Tracks, build_tracker_for_video
from trackers.longterm import LongTermTracker
from trackers.siammot import SiamMOTSolver

from ..errors import InputError
from .records import instances_to_detections, output_to_detections


class SiamMOTDriver:
    """Tracks one video at a time with a ``SiamMOT`` model (in eval mode) and a solver."""

    def __init__(self, model, solver: SiamMOTSolver):
        if not isinstance(solver, SiamMOTSolver):
            raise TypeError(f"SiamMOT tracks with the 'siammot' solver (TRACKER.NAME), got {type(solver).__name__}")
        self.model, self.solver = model, solver
        self.templates: Dict[int, torch.Tensor] = {}

    def reset(self) -> None:
        self.solver.reset()
        self.templates.clear()

    def step(self, frame: dict) -> Tuple[Instances, Tracks]:
        """Detections (original pixels) and tracks of the next frame of the video."""
        live = self.solver.live_tracks()
        templates = [self.templates[i] for i in live.track_ids.tolist()]
        detections, boxes, visibility, state = self.model.track_frame(
            frame, torch.as_tensor(live.boxes, dtype=torch.float32),
            torch.stack(templates) if templates else torch.zeros(0), torch.as_tensor(live.classes),
        )
        record = instances_to_detections(detections)
        record.extras.update(
            track_ids=live.track_ids, track_boxes=boxes.cpu().numpy().astype(np.float64),
            track_scores=visibility.cpu().numpy().astype(np.float64),
        )
        tracks = self.solver.update(record)
        if len(tracks):
            fresh = self.model.track_templates(state, torch.as_tensor(tracks.boxes, dtype=torch.float32))
            self.templates.update(zip(tracks.track_ids.tolist(), fresh))
        alive = set(self.solver.live_tracks().track_ids.tolist())
        self.templates = {i: t for i, t in self.templates.items() if i in alive}
        return detections, tracks


class DetectorDriver:
    """A detector (any Detectron2 model in eval mode) followed by a tracker."""

    def __init__(self, model, tracker: Tracker):
        self.model, self.tracker = model, tracker

    def reset(self) -> None:
        self.tracker.reset()

    @torch.no_grad()
    def step(self, frame: dict) -> Tuple[Instances, Tracks]:
        output = self.model([frame])[0]
        return output["instances"], self.tracker.update(output_to_detections(output))


class SOTDriver:
    """One target through one video: a ``DMTrack`` model (in eval mode) gives the
    template of the first frame's box, then each frame's top-k candidates, which the
    long-term tracker associates; the output is the target's box or nothing."""

    def __init__(self, model, tracker: LongTermTracker):
        if not isinstance(tracker, LongTermTracker):
            raise TypeError(f"single-target tracking needs the 'longterm' tracker (TRACKER.NAME), got "
                            f"{type(tracker).__name__}")
        self.model, self.tracker, self.template = model, tracker, None

    def start(self, frame: dict, box: Sequence[float]) -> Tracks:
        """Begin with the target at ``box`` (x1, y1, x2, y2, original pixels) in ``frame``."""
        self.template = self.model.init_template(frame, box)
        embedding = None if self.template.embedding is None else self.template.embedding.cpu().numpy()
        return self.tracker.start(np.asarray(box, dtype=np.float64), embedding)

    def step(self, frame: dict) -> Tracks:
        if self.template is None:
            raise RuntimeError("SOTDriver.step before start: give the target's first-frame box first")
        candidates = self.model.detect_candidates(frame, self.template)
        return self.tracker.update(instances_to_detections(candidates))


def sot_output(tracks: Tracks) -> Dict[str, object]:
    """The target's box as x, y, w, h (None when reported absent) and its confidence."""
    if not len(tracks):
        return {"sot_box": None, "sot_confidence": 0.0}
    x1, y1, x2, y2 = tracks.boxes[0].tolist()
    return {"sot_box": [x1, y1, x2 - x1, y2 - y1], "sot_confidence": float(tracks.scores[0])}


def build_driver(model, tracker_name: str, frame_rate: float, tracker_params: Dict[str, object]):
    """The driver for ``model``: SiamMOT's (it has ``track_frame``) or a detector's."""
    tracker = build_tracker_for_video(tracker_name, frame_rate, **tracker_params)
    return SiamMOTDriver(model, tracker) if hasattr(model, "track_frame") else DetectorDriver(model, tracker)


class OnlineTracking(nn.Module):
    """A model tracking during Detectron2's ``inference_on_dataset`` (for SiamMOT,
    whose tracker must run in the loop).

    Frames must arrive in order, one video after another (the test loader's
    ``VideoInferenceSampler`` does this); each output holds the frame's detections
    ("instances", for box AP) and tracks ("tracks", for the MOT evaluator).
    """

    def __init__(self, model: nn.Module, tracker_name: str, tracker_params: Dict[str, object]):
        super().__init__()
        self.model = model
        self.tracker_name, self.tracker_params = tracker_name, dict(tracker_params)
        self._video, self._frame, self._driver = None, 0, None

    def forward(self, batched_inputs):
        outputs = []
        for frame in batched_inputs:
            if frame["video_id"] != self._video:
                self._video, self._frame = frame["video_id"], frame["frame_idx"]
                outputs.append(self.start_video(frame))
                continue
            if frame["frame_idx"] != self._frame + 1:
                raise ValueError(
                    f"{self._video}: frame {frame['frame_idx']} came after frame {self._frame}; online tracking "
                    "needs the frames of a video in order"
                )
            self._frame += 1
            outputs.append(self.next_frame(frame))
        return outputs

    def start_video(self, frame: dict) -> Dict[str, object]:
        """The output of the first frame of a video, after a fresh driver is built."""
        self._driver = build_driver(self.model, self.tracker_name, frame["frame_rate"], self.tracker_params)
        return self.next_frame(frame)

    def next_frame(self, frame: dict) -> Dict[str, object]:
        detections, tracks = self._driver.step(frame)
        return {"instances": detections, "tracks": tracks}


class SingleTargetTracking(OnlineTracking):
    """A DMTrack model tracking one target per video during ``inference_on_dataset``.

    Frames of an SOT dataset (``mot_heads.data.sot``) arrive in order, one video after
    another; the first frame's ``sot_box`` starts the tracker. Each output holds
    ``sot_box`` (x, y, w, h or None) and ``sot_confidence``, what ``SOTEvaluator`` scores.
    """

    def start_video(self, frame: dict) -> Dict[str, object]:
        box: Optional[Sequence[float]] = frame.get("sot_box")
        if box is None:
            raise InputError(f"{frame['video_id']}: the first frame ({frame['file_name']}) has no target box; "
                             "single-target tracking starts from the first frame's sot_box")
        tracker = build_tracker_for_video(self.tracker_name, frame.get("frame_rate", 30.0), **self.tracker_params)
        self._driver = SOTDriver(self.model, tracker)
        x, y, w, h = box
        return sot_output(self._driver.start(frame, [x, y, x + w, y + h]))

    def next_frame(self, frame: dict) -> Dict[str, object]:
        return sot_output(self._driver.step(frame))
