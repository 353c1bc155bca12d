"""Single-object tracking (SOT) gt and result files as one box container per sequence.

The file formats (one ``x,y,w,h[,confidence]`` line per frame, ``nan`` or ``0,0,0,0``
for no box; absence flag files) are those of :mod:`mot_heads.data.sot`, which parses and
checks every line; errors name ``file:line`` and what was expected.
"""
import os
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..data.sot import GT_FILE, SOTFormatError, read_gt_boxes, read_sot_boxes
from ..files import atomic_write


@dataclass
class SOTSequence:
    """The boxes of one sequence (gt or result), one row per frame."""

    name: str
    boxes: np.ndarray  # (N, 4) float64 x, y, w, h; NaN rows where there is no box
    confidences: Optional[np.ndarray] = None  # (N,) float64, results of long-term trackers only

    def __post_init__(self):
        self.boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        if self.confidences is not None:
            self.confidences = np.asarray(self.confidences, dtype=np.float64).reshape(-1)
            if len(self.confidences) != len(self.boxes):
                raise ValueError(f"sequence {self.name}: {len(self.boxes)} boxes but "
                                 f"{len(self.confidences)} confidences")

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def absent(self) -> np.ndarray:
        """(N,) bool: frames without a box."""
        return np.isnan(self.boxes).any(axis=1)


def read_sot_gt(seq_dir: str) -> SOTSequence:
    """Ground truth of a sequence folder (``groundtruth.txt`` and absence flags), NaN rows
    where the target is absent. The sequence is named after its folder, as result files
    (``<name>.txt``) are."""
    return SOTSequence(os.path.basename(os.path.normpath(seq_dir)), read_gt_boxes(seq_dir))


def read_sot_results(path: str, name: str, length: int) -> SOTSequence:
    """A tracker's result file for sequence ``name``: ``length`` lines, one per gt frame."""
    if not os.path.exists(path):
        raise SOTFormatError(f"{path}: missing; expected the results of sequence {name}")
    boxes, confidences = read_sot_boxes(path)
    if len(boxes) != length:
        raise SOTFormatError(f"{path}: expected {length} lines (one per frame of {name}'s {GT_FILE}), "
                             f"got {len(boxes)}")
    return SOTSequence(name, boxes, confidences)


def _number(value: float) -> str:
    """At most 3 decimals, no exponent, no trailing zeros ("12", "0.5", "129.1")."""
    return np.format_float_positional(float(value), precision=3, trim="-")


def write_sot_results(path: str, seq: SOTSequence) -> None:
    """Write ``seq`` as ``x,y,w,h[,confidence]`` lines; frames without a box as
    ``0,0,0,0`` (which the LaSOT toolkits and pytracking read, unlike ``nan``). The file
    appears only once complete; parent folders are created."""
    lines = []
    for t, box in enumerate(seq.boxes):
        values = [0.0] * 4 if np.isnan(box).any() else box
        if seq.confidences is not None:
            values = [*values, seq.confidences[t]]
        lines.append(",".join(_number(v) for v in values) + "\n")
    with atomic_write(path) as f:
        f.writelines(lines)
