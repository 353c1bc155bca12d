"""Tracker parameters: each field of a tracker's parameter dataclass declares the values
it accepts (:func:`in_range`, :func:`one_of`; else its default's type), and
:class:`TrackerParams` checks every field when an instance is made, so a tracker never
runs with a negative count, a threshold outside [0, 1] or a NaN."""
import dataclasses
import math
import numbers
from typing import Optional, Sequence

import numpy as np


class ParamError(ValueError):
    """A tracker parameter that is unknown, of the wrong type or out of its range; the
    message names the parameter and what it accepts."""


def in_range(default, low: float = -math.inf, high: float = math.inf, low_open: bool = False):
    """A dataclass field for a number in [``low``, ``high``] (``(low, high]`` with
    ``low_open``); NaN and infinities are refused."""
    return dataclasses.field(default=default, metadata={"range": (low, high, low_open)})


def one_of(default: str, choices: Sequence[str]):
    """A dataclass field for one of the strings ``choices``."""
    return dataclasses.field(default=default, metadata={"choices": tuple(choices)})


def _bounds(low: float, high: float, low_open: bool) -> str:
    if math.isinf(high):
        return "" if math.isinf(low) else f" {'>' if low_open else '>='} {low}"
    return f" in {'(' if low_open else '['}{low}, {high}]"


def _expected(value, kind: type, metadata) -> Optional[str]:
    """What a field of type ``kind`` declared with ``metadata`` accepts, when ``value``
    is not that; else None."""
    if kind is bool:
        return None if isinstance(value, (bool, np.bool_)) else "true or false"
    if kind is str:
        choices = metadata.get("choices")
        if isinstance(value, str) and (choices is None or value in choices):
            return None
        return f"one of {', '.join(choices)}" if choices else "a string"
    low, high, low_open = metadata.get("range", (-math.inf, math.inf, False))
    number = numbers.Integral if kind is int else numbers.Real
    if (isinstance(value, number) and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)
            and (low < value if low_open else low <= value) and value <= high):
        return None
    return ("an integer" if kind is int else "a number") + _bounds(low, high, low_open)


class TrackerParams:
    """Base of the trackers' parameter dataclasses: making an instance checks every field
    against its declaration and raises a :class:`ParamError` naming the first bad one."""

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            expected = _expected(value, type(field.default), field.metadata)
            if expected:
                raise ParamError(f"tracker parameter {field.name}={value!r}: expected {expected}")
