"""Online trackers: per-frame :class:`Detections` in, per-frame :class:`Tracks` out.

Only numpy, scipy and lap are used here, never torch or Detectron2, so the package
runs beside any detector. Build a tracker by name with :func:`build_tracker`.
"""
from .base import Tracker
from .params import ParamError, TrackerParams, in_range, one_of
from .record import Detections, RecordError, Tracks
from .registry import TRACKERS, build_tracker, build_tracker_for_video, parse_param_strings, register_tracker
from . import jde, longterm, outrack, siammot, sort  # noqa: F401  (registration)
from .jde import JDEParams, JDETracker
from .longterm import LongTermParams, LongTermTracker
from .outrack import OUTrackParams, OUTrackTracker
from .siammot import SiamMOTParams, SiamMOTSolver
from .sort import SORT, SORTParams
