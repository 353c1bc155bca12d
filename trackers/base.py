"""The tracker API: ``update(detections) -> tracks of this frame`` and ``reset()``."""
import abc
from typing import Optional

from .record import Detections, Tracks
from .registry import make_params


class Tracker(abc.ABC):
    """An online tracker: one call per frame, state kept between calls, one video at a time.

    Subclasses set ``Params`` to a dataclass whose defaults are the paper's constants.
    """

    Params: type

    def __init__(self, params: Optional[object] = None):
        self.params = make_params(self.Params) if params is None else params
        self.frame = 0

    @abc.abstractmethod
    def update(self, detections: Detections) -> Tracks:
        """Consume the next frame's detections; return the tracks visible in it."""

    def reset(self) -> None:
        """Forget all tracks, before the next video."""
        self.frame = 0
