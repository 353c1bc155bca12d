"""How a model tracks online: one driver class per way, chosen by the model.

A model class declares its driver by name in ``tracking_driver``, a class registered in
:data:`DRIVER_REGISTRY`; models that only detect (any Detectron2 detector) need no
declaration and get ``DetectorDriver``. A driver follows one video: it is built per
video with a fresh tracker (:func:`build_driver`), given the first frame with
:meth:`TrackingDriver.start` and every later frame with :meth:`TrackingDriver.step`.
The same drivers serve evaluation (``OnlineTracking``) and ``mot track`` (``VideoTracker``).

``DetectorDriver`` hands a detector's outputs to any tracker of ``trackers``.
``SiamMOTDriver`` runs SiamMOT with its solver in one loop: per frame it gives the
solver's live tracks (active and dormant) with their cached templates to the model,
which detects and propagates them; the solver turns detections and propagated boxes
into tracks; the templates of the tracks seen in this frame are then refreshed from
this frame's features. A dormant track keeps its last box and template (Sec. 3.4), so
the model can find it again. With public detections (``TRACKER.PUBLIC_DETECTIONS``) each
frame's ``public_detections`` (det/det.txt) replace the RPN's proposals of the box head,
so tracks are born only from them. ``SOTDriver`` follows one target given by its first-frame
box with DMTrack and the long-term tracker.
"""
from typing import Dict, NamedTuple, Optional, Sequence

import numpy as np
import torch
from detectron2.utils.registry import Registry

from trackers import Tracker, Tracks, build_tracker_for_video
from trackers.longterm import LongTermTracker
from trackers.siammot import SiamMOTSolver

from ..errors import InputError
from .records import instances_to_detections, output_to_detections

DRIVER_REGISTRY = Registry("TRACKING_DRIVER")
DRIVER_REGISTRY.__doc__ = """Drivers by class name, built as ``Driver(model, tracker)`` for one video;
a model class names its own in ``tracking_driver``."""
DEFAULT_DRIVER = "DetectorDriver"


class FrameResult(NamedTuple):
    """One frame through a driver: its tracks and the model's outputs for the evaluators
    (a detector's "instances", OUTrack's "occlusions", a single target's "sot_box")."""

    tracks: Tracks
    outputs: Dict[str, object]


class TrackingDriver:
    """A model in eval mode and a tracker following one video.

    Class attributes: ``single_target``, the driver follows one target given by its
    box in the first frame; ``tracker_in_the_loop``, the model's outputs exist only
    with its tracker, so evaluation always runs it through the driver.
    """

    single_target = False
    tracker_in_the_loop = False
    # Whether tracks can be born from given detections (TRACKER.PUBLIC_DETECTIONS).
    takes_public_detections = False

    def __init__(self, model, tracker: Tracker):
        self.model, self.tracker = model, tracker

    def start(self, frame: dict, init_box: Optional[Sequence[float]] = None) -> FrameResult:
        """The first frame of the video; ``init_box`` (x1, y1, x2, y2, original pixels) is
        a single-target driver's target."""
        if init_box is not None:
            raise ValueError(f"{type(self).__name__} tracks every object; a target box is for single-target drivers")
        return self.step(frame)

    def step(self, frame: dict) -> FrameResult:
        """The next frame of the video."""
        raise NotImplementedError


@DRIVER_REGISTRY.register()
class DetectorDriver(TrackingDriver):
    """A detector (any Detectron2 model in eval mode) followed by any tracker."""

    @torch.no_grad()
    def step(self, frame: dict) -> FrameResult:
        output = self.model([frame])[0]
        return FrameResult(self.tracker.update(output_to_detections(output)), output)


@DRIVER_REGISTRY.register()
class SiamMOTDriver(TrackingDriver):
    """A ``SiamMOT`` model with the SiamMOT solver, templates cached per live track."""

    tracker_in_the_loop = True
    takes_public_detections = True

    def __init__(self, model, tracker: SiamMOTSolver, public_detections: bool = False):
        if not isinstance(tracker, SiamMOTSolver):
            raise TypeError(f"SiamMOT tracks with the 'siammot' solver (TRACKER.NAME), got {type(tracker).__name__}")
        super().__init__(model, tracker)
        self.public_detections = public_detections
        self.templates: Dict[int, torch.Tensor] = {}

    def step(self, frame: dict) -> FrameResult:
        live = self.tracker.live_tracks()
        templates = [self.templates[i] for i in live.track_ids.tolist()]
        detections, boxes, visibility, state = self.model.track_frame(
            frame, torch.as_tensor(live.boxes, dtype=torch.float32),
            torch.stack(templates) if templates else torch.zeros(0), torch.as_tensor(live.classes),
            self._given_boxes(frame),
        )
        record = instances_to_detections(detections)
        record.extras.update(
            track_ids=live.track_ids, track_boxes=boxes.cpu().numpy().astype(np.float64),
            track_scores=visibility.cpu().numpy().astype(np.float64),
        )
        tracks = self.tracker.update(record)
        if len(tracks):
            fresh = self.model.track_templates(state, torch.as_tensor(tracks.boxes, dtype=torch.float32))
            self.templates.update(zip(tracks.track_ids.tolist(), fresh))
        alive = set(self.tracker.live_tracks().track_ids.tolist())
        self.templates = {i: t for i, t in self.templates.items() if i in alive}
        return FrameResult(tracks, {"instances": detections})

    def _given_boxes(self, frame: dict) -> Optional[torch.Tensor]:
        """Every box of the frame's public detections (x1, y1, x2, y2, score rows), whatever
        its score, as the authors' code takes them; None without public detections."""
        if not self.public_detections:
            return None
        given = frame.get("public_detections")
        if given is None:
            raise InputError(f"{frame.get('file_name', frame.get('video_id'))}: no public detections; "
                             "TRACKER.PUBLIC_DETECTIONS needs the sequence's det/det.txt")
        return torch.as_tensor(np.asarray(given, dtype=np.float32)[:, :4].reshape(-1, 4))


@DRIVER_REGISTRY.register()
class SOTDriver(TrackingDriver):
    """One target through one video: a ``DMTrack`` model gives the template of the first
    frame's box, then each frame's top-k candidates, which the long-term tracker
    associates; the tracks are the target's box or nothing, the outputs ``sot_box`` and
    ``sot_confidence`` (:func:`sot_output`)."""

    single_target = True
    tracker_in_the_loop = True

    def __init__(self, model, tracker: LongTermTracker):
        if not isinstance(tracker, LongTermTracker):
            raise TypeError(f"single-target tracking needs the 'longterm' tracker (TRACKER.NAME), got "
                            f"{type(tracker).__name__}")
        super().__init__(model, tracker)
        self.template = None

    def start(self, frame: dict, init_box: Optional[Sequence[float]] = None) -> FrameResult:
        if init_box is None:
            raise ValueError("single-target tracking starts from the target's box in the first frame")
        self.template = self.model.init_template(frame, init_box)
        embedding = None if self.template.embedding is None else self.template.embedding.cpu().numpy()
        return self._result(self.tracker.start(np.asarray(init_box, dtype=np.float64), embedding))

    def step(self, frame: dict) -> FrameResult:
        if self.template is None:
            raise RuntimeError("SOTDriver.step before start: give the target's first-frame box first")
        candidates = self.model.detect_candidates(frame, self.template)
        return self._result(self.tracker.update(instances_to_detections(candidates)))

    @staticmethod
    def _result(tracks: Tracks) -> FrameResult:
        return FrameResult(tracks, sot_output(tracks))


def sot_output(tracks: Tracks) -> Dict[str, object]:
    """The target's box as x, y, w, h (None when reported absent) and its confidence."""
    if not len(tracks):
        return {"sot_box": None, "sot_confidence": 0.0}
    x1, y1, x2, y2 = tracks.boxes[0].tolist()
    return {"sot_box": [x1, y1, x2 - x1, y2 - y1], "sot_confidence": float(tracks.scores[0])}


def driver_class(model) -> type:
    """The driver class ``model`` declares (``tracking_driver``; ``DetectorDriver`` by default)."""
    return DRIVER_REGISTRY.get(getattr(model, "tracking_driver", DEFAULT_DRIVER))


def build_driver(model, tracker_name: str, frame_rate: float, tracker_params: Dict[str, object],
                 public_detections: bool = False) -> TrackingDriver:
    """``model``'s driver for one video, with a fresh tracker ``tracker_name`` (its
    ``frame_rate``, if it has one, the video's unless ``tracker_params`` set it); with
    ``public_detections`` tracks are born from each frame's ``public_detections``."""
    driver = driver_class(model)
    if public_detections and not driver.takes_public_detections:
        raise InputError(f"TRACKER.PUBLIC_DETECTIONS: {type(model).__name__} ({driver.__name__}) cannot start tracks "
                         "from public detections; SiamMOT can, and `mot track --tracker` tracks them without a model")
    tracker = build_tracker_for_video(tracker_name, frame_rate, **tracker_params)
    return driver(model, tracker, public_detections=True) if public_detections else driver(model, tracker)
