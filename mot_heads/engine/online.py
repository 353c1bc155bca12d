"""A model tracking during Detectron2's ``inference_on_dataset``, with its driver."""
from typing import Dict, List, Optional

from torch import nn

from trackers import parse_param_strings

from ..errors import InputError
from .drivers import build_driver, driver_class

# The frame rate of the tracker of a video whose frames give none.
DEFAULT_FRAME_RATE = 30.0


class OnlineTracking(nn.Module):
    """``model`` and a tracker (``tracker_name``, ``tracker_params``) over the frames of
    a test set, through the driver the model declares (:mod:`.drivers`).

    Frames must arrive in order, one video after another (the test loader's
    ``VideoInferenceSampler`` does this); each video gets a fresh driver. A
    single-target driver starts from the first frame's ``sot_box`` (x, y, w, h). Each
    output holds the frame's ``"tracks"`` (what the MOT evaluator scores) and the
    driver's outputs (detections as "instances" for box AP, a single target's
    ``sot_box`` and ``sot_confidence`` for the SOT evaluator). With ``public_detections``
    tracks are born from each frame's ``public_detections`` (the sequence's det/det.txt).
    The tracker's name and parameters are checked when this is built, before any frame.
    """

    def __init__(self, model: nn.Module, tracker_name: str, tracker_params: Dict[str, object],
                 public_detections: bool = False):
        super().__init__()
        self.model = model
        self.tracker_name, self.tracker_params = tracker_name, dict(tracker_params)
        self.public_detections = public_detections
        self.driver_class = driver_class(model)
        build_driver(model, tracker_name, DEFAULT_FRAME_RATE, self.tracker_params, public_detections)
        self._video, self._frame, self._driver = None, 0, None

    @classmethod
    def from_config(cls, cfg, model: nn.Module) -> "OnlineTracking":
        """``model`` with the config's tracker (``TRACKER.NAME``, ``TRACKER.PARAMS``,
        ``TRACKER.PUBLIC_DETECTIONS``)."""
        return cls(model, cfg.TRACKER.NAME, parse_param_strings(cfg.TRACKER.PARAMS), cfg.TRACKER.PUBLIC_DETECTIONS)

    def forward(self, batched_inputs: List[dict]) -> List[Dict[str, object]]:
        outputs = []
        for frame in batched_inputs:
            if frame["video_id"] != self._video:
                self._video, self._frame = frame["video_id"], frame["frame_idx"]
                self._driver = build_driver(self.model, self.tracker_name, frame.get("frame_rate", DEFAULT_FRAME_RATE),
                                            self.tracker_params, self.public_detections)
                result = self._driver.start(frame, self._target_box(frame))
            elif frame["frame_idx"] != self._frame + 1:
                raise ValueError(
                    f"{self._video}: frame {frame['frame_idx']} came after frame {self._frame}; online tracking "
                    "needs the frames of a video in order"
                )
            else:
                self._frame += 1
                result = self._driver.step(frame)
            outputs.append({**result.outputs, "tracks": result.tracks})
        return outputs

    def _target_box(self, frame: dict) -> Optional[List[float]]:
        """A single-target driver's target: the first frame's ``sot_box`` as x1, y1, x2, y2."""
        if not self.driver_class.single_target:
            return None
        box = frame.get("sot_box")
        if box is None:
            raise InputError(f"{frame['video_id']}: the first frame ({frame['file_name']}) has no target box; "
                             "single-target tracking starts from the first frame's sot_box")
        x, y, w, h = box
        return [x, y, x + w, y + h]
