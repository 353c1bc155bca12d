"""A trained model tracking the frames of one video after another.

    video_tracker = VideoTracker(cfg, model)
    for frame, tracks in video_tracker.track(source, source.frame_rate):
        ...                       # BGR frame and its trackers.Tracks (original pixels)

Each model tracks with the driver it declares (:mod:`.drivers`): SiamMOT with its
solver in the loop, a detector followed by ``TRACKER.NAME``; a single-target driver
(DMTrack's) follows one target from its box in the first frame.
"""
from typing import Dict, Iterable, Iterator, Optional, Sequence, Tuple

import numpy as np
import torch
from detectron2.data.detection_utils import build_augmentation

from trackers import Tracks, parse_param_strings

from ..errors import InputError
from .drivers import TrackingDriver, build_driver, driver_class


def model_input(frame: np.ndarray, augmentation, input_format: str) -> dict:
    """A BGR frame as the test-time input dict Detectron2's models take."""
    image = frame[:, :, ::-1] if input_format == "RGB" else frame
    resized = augmentation.get_transform(image).apply_image(image)
    tensor = torch.as_tensor(np.ascontiguousarray(resized.transpose(2, 0, 1)))
    return {"image": tensor, "height": frame.shape[0], "width": frame.shape[1]}


class VideoTracker:
    """A model in eval mode with its config's test resizing and tracker
    (``TRACKER.NAME``; ``tracker_params`` replace ``TRACKER.PARAMS`` when given); with
    ``TRACKER.PUBLIC_DETECTIONS`` tracks are born from the detections given to :meth:`track`."""

    def __init__(self, cfg, model, tracker_params: Optional[Dict[str, str]] = None):
        self.model = model
        self.tracker_name = cfg.TRACKER.NAME
        self.tracker_params = parse_param_strings(cfg.TRACKER.PARAMS) if tracker_params is None else tracker_params
        self.public_detections = cfg.TRACKER.PUBLIC_DETECTIONS
        (self.augmentation,) = build_augmentation(cfg, is_train=False)
        self.input_format = cfg.INPUT.FORMAT

    @property
    def single_target(self) -> bool:
        """Whether the model's driver follows one target given by its first-frame box (DMTrack)."""
        return driver_class(self.model).single_target

    def track(self, frames: Iterable[np.ndarray], frame_rate: float, init_box: Optional[Sequence[float]] = None,
              given: Optional[Sequence[np.ndarray]] = None) -> Iterator[Tuple[np.ndarray, Tracks]]:
        """Each BGR frame of one video with its tracks, frame by frame.

        ``init_box`` (x1, y1, x2, y2 pixels of the first frame) is the target of a
        single-target model, and is refused for other models. ``given`` holds each frame's
        public detections ((K, 4) x1, y1, x2, y2 pixels), required with
        ``TRACKER.PUBLIC_DETECTIONS`` and ignored without. The tracker is built (and its
        parameters checked) before the first frame is read.
        """
        if self.single_target != (init_box is not None):
            raise InputError(
                "this model follows one target: give its box in the first frame (--init-box x,y,w,h)"
                if self.single_target else
                "a target box is only for single-target models such as DMTrack; this model tracks every object"
            )
        if self.public_detections and given is None:
            raise InputError("TRACKER.PUBLIC_DETECTIONS: give the public detections of every frame (a MOTChallenge "
                             "sequence's det/det.txt)")
        try:
            driver = build_driver(self.model, self.tracker_name, frame_rate, self.tracker_params,
                                  self.public_detections)
        except TypeError as e:  # the drivers refuse a tracker of another kind (TRACKER.NAME)
            raise InputError(str(e)) from e
        return self._steps(driver, frames, init_box, given if self.public_detections else None)

    def _steps(self, driver: TrackingDriver, frames: Iterable[np.ndarray], init_box: Optional[Sequence[float]],
               given: Optional[Sequence[np.ndarray]]):
        inputs = ((frame, model_input(frame, self.augmentation, self.input_format)) for frame in frames)
        if given is not None:
            inputs = ((frame, dict(data, public_detections=boxes)) for (frame, data), boxes in zip(inputs, given))
        first = next(inputs, None)
        if first is None:
            return
        yield first[0], driver.start(first[1], init_box).tracks
        for frame, later in inputs:
            yield frame, driver.step(later).tracks
