"""Trackers by name: configs and command lines say ``"sort"`` or ``"jde"``, not a class.

Every tracker declares its constants in a dataclass of parameters whose defaults are the
paper's (a :class:`~trackers.params.TrackerParams`, which checks their ranges);
:func:`build_tracker` overrides them from keyword values or ``"k=v"`` strings (as given
on a command line), converting each to the field's type. Bad names and values raise a
:class:`~trackers.params.ParamError`.
"""
import dataclasses
from typing import Callable, Dict, Iterable, Optional

from .params import ParamError

TRACKERS: Dict[str, type] = {}


def register_tracker(name: str) -> Callable[[type], type]:
    """Class decorator: make a tracker buildable by ``name``."""

    def register(cls: type) -> type:
        if name in TRACKERS:
            raise KeyError(f"tracker {name!r} is already registered by {TRACKERS[name].__name__}")
        TRACKERS[name] = cls
        return cls

    return register


def _convert(value, target: type, key: str):
    if not isinstance(value, str) or target is str:
        return value
    if target is bool:
        lowered = value.lower()
        if lowered not in ("true", "false", "1", "0", "yes", "no"):
            raise ParamError(f"tracker parameter {key}={value!r}: expected true or false")
        return lowered in ("true", "1", "yes")
    try:
        return target(value)
    except ValueError:
        kind = "an integer" if target is int else "a number"
        raise ParamError(f"tracker parameter {key}={value!r}: expected {kind}") from None


def parse_param_strings(pairs: Iterable[str]) -> Dict[str, str]:
    """``["k=v", ...]`` -> ``{"k": "v"}``; a pair without ``=`` is an error."""
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ParamError(f"tracker parameter {pair!r}: expected key=value")
        params[key.strip()] = value.strip()
    return params


def make_params(params_cls: type, overrides: Optional[Dict[str, object]] = None):
    """An instance of the dataclass ``params_cls`` with ``overrides`` applied, typed and checked."""
    fields = {f.name: f for f in dataclasses.fields(params_cls)}
    unknown = sorted(set(overrides or {}) - set(fields))
    if unknown:
        raise ParamError(f"{params_cls.__name__}: unknown parameter(s) {unknown}; expected some of {sorted(fields)}")
    hints = {name: type(f.default) for name, f in fields.items()}
    values = {k: _convert(v, hints[k], k) for k, v in (overrides or {}).items()}
    return params_cls(**values)


def build_tracker(name: str, **overrides):
    """The tracker registered as ``name`` with its parameters overridden by ``overrides``."""
    if name not in TRACKERS:
        raise ParamError(f"unknown tracker {name!r}: expected one of {sorted(TRACKERS)}")
    cls = TRACKERS[name]
    return cls(make_params(cls.Params, overrides))


def build_tracker_for_video(name: str, frame_rate: float, /, **overrides):
    """:func:`build_tracker`, with a ``frame_rate`` parameter (trackers whose buffers
    count frames have one) set to the video's unless ``overrides`` sets it."""
    if name in TRACKERS and "frame_rate" in {f.name for f in dataclasses.fields(TRACKERS[name].Params)}:
        overrides.setdefault("frame_rate", frame_rate)
    return build_tracker(name, **overrides)
