"""MOTChallenge ground truth and result files as one row container per sequence.

Line formats (comma-separated, boxes in 1-based pixels as in the files), one per file:

- gt, MOT16/17/20: ``frame, id, x, y, w, h, consider, class, visibility`` (9 columns);
- gt, MOT15: ``frame, id, x, y, w, h, consider, wx, wy, wz`` (10 columns; the last three
  are world coordinates, usually -1): read with class and visibility -1 (the rule of
  :func:`mot_heads.data.mot_challenge.read_gt_rows`, which also refuses unknown classes);
- results: ``frame, id, x, y, w, h, score[, class[, ...]]`` (7 to 10 columns); column 8,
  an integer, is the class as in TrackEval's ``MotChallenge2DBox._load_raw_file`` and our
  writer (``..., score, class, -1, -1``), -1 when absent;
- results, MOT15-3D: ``frame, id, x, y, w, h, score, wx, wy, wz``: a 10-column file whose
  columns 9-10 are not all -1, or whose column 8 is not an integer, holds world
  coordinates; it is read without a class (-1), with a warning naming the file.
  (TrackEval reads column 8 as the class there and refuses the file when it exceeds 1.)

Every line is checked by :func:`mot_heads.data.mot_challenge.read_mot_rows`; errors name
``file:line`` and what was expected. Ids are integers, kept exact (int64).
"""
import logging
import os
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from ..data.mot_challenge import (
    MOT_COLUMNS, NOT_GIVEN, MOTFormatError, MOTRows, read_gt_rows, read_mot_rows, read_seqinfo,
)
from ..files import atomic_write

logger = logging.getLogger(__name__)

_CLASS = 7  # column 8: the class in result files, wx in MOT15-3D ones
_AFTER_CLASS = slice(8, 10)  # columns 9-10: -1, -1 in result files, wy, wz in MOT15-3D ones


@dataclass
class MOTSequence:
    """The rows of one sequence (gt or result), one array entry per box."""

    name: str
    seq_length: int
    frames: np.ndarray  # (N,) int, 1-based frame numbers
    ids: np.ndarray  # (N,) int
    boxes: np.ndarray  # (N, 4) float64, x, y, w, h in MOTChallenge (1-based) pixels, as in the file
    scores: np.ndarray  # (N,) float; for gt the "consider" mark (0 = zero-marked)
    classes: np.ndarray  # (N,) int; -1 where the file has no class (MOT15, most result files)
    visibility: np.ndarray  # (N,) float; -1 where absent

    def __post_init__(self):
        self.frames = np.asarray(self.frames, dtype=np.int64).reshape(-1)
        n = len(self.frames)
        self.ids = np.asarray(self.ids, dtype=np.int64).reshape(-1)
        self.boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        self.scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        self.classes = np.asarray(self.classes, dtype=np.int64).reshape(-1)
        self.visibility = np.asarray(self.visibility, dtype=np.float64).reshape(-1)
        lengths = {len(a) for a in (self.ids, self.boxes, self.scores, self.classes, self.visibility)}
        if lengths != {n}:
            raise ValueError(f"sequence {self.name}: all row arrays must have {n} rows")

    def __len__(self) -> int:
        return len(self.frames)


def read_mot_gt(seq_dir: str, known_classes: Iterable[int] = ()) -> MOTSequence:
    """Ground truth of the sequence folder ``seq_dir`` (``seqinfo.ini`` + ``gt/gt.txt``).

    The sequence is named after its folder, as results files (``<name>.txt``) are. Classes
    other than -1 and the MOTChallenge ones (1..13) must be among ``known_classes`` (the
    evaluated and distractor classes).
    """
    info = read_seqinfo(seq_dir)
    path = os.path.join(seq_dir, "gt", "gt.txt")
    if not os.path.exists(path):
        raise MOTFormatError(f"{path}: missing; a sequence folder to evaluate on needs gt/gt.txt")
    rows = read_gt_rows(path, info.seq_length, unique_ids=True, known_classes=known_classes)
    return MOTSequence(
        name=os.path.basename(os.path.normpath(seq_dir)),
        seq_length=info.seq_length,
        frames=rows[:, 0],
        ids=rows[:, 1],
        boxes=rows[:, 2:6],
        scores=rows[:, 6],
        classes=rows[:, 7],
        visibility=rows[:, 8],
    )


def read_mot_results(path: str, name: str, seq_length: int) -> MOTSequence:
    """A tracker's MOTChallenge result file for the sequence ``name`` (module docstring).

    A frame beyond ``seq_length``, a non-finite value, a non-positive box, a non-integer id
    or class, or an id given twice in one frame is an error naming ``path:line``.
    """
    if not os.path.exists(path):
        raise MOTFormatError(f"{path}: missing; expected the results of sequence {name}")
    rows = read_mot_rows(path, seq_length, MOT_COLUMNS, unique_ids=True)
    values = rows.values
    return MOTSequence(
        name=name,
        seq_length=seq_length,
        frames=values[:, 0],
        ids=values[:, 1],
        boxes=values[:, 2:6],
        scores=values[:, 6],
        classes=_result_classes(path, rows),
        visibility=np.full(len(values), float(NOT_GIVEN)),
    )


def _result_classes(path: str, rows: MOTRows) -> np.ndarray:
    """Column 8 of a result file as the class; -1 where the file has none (7 columns, or
    MOT15-3D world coordinates, see the module docstring)."""
    values = rows.values
    if values.shape[1] <= _CLASS:
        return np.full(len(values), NOT_GIVEN)
    classes = values[:, _CLASS]
    integral = classes == np.round(classes)
    if values.shape[1] == _AFTER_CLASS.stop and (not integral.all() or (values[:, _AFTER_CLASS] != NOT_GIVEN).any()):
        logger.warning("%s: columns 8-10 are world coordinates (MOT15-3D results frame,id,x,y,w,h,score,wx,wy,wz), "
                       "not class,-1,-1; read without a class", path)
        return np.full(len(values), NOT_GIVEN)
    if not integral.all():
        row = np.flatnonzero(~integral)[0]
        raise MOTFormatError(f"{path}:{rows.lines[row]}: class {classes[row]:g} (column 8) is not an integer; "
                             "expected frame,id,x,y,w,h,score[,class[,...]] with an integer class")
    return classes


def _number(value: float) -> str:
    """At most 3 decimals, no exponent, no trailing zeros ("12", "0.5", "129.1")."""
    return np.format_float_positional(float(value), precision=3, trim="-")


def write_mot_results(path: str, seq: MOTSequence) -> None:
    """Write ``seq`` as MOTChallenge result lines ``frame,id,x,y,w,h,score,class,-1,-1``.

    Lines are sorted by frame, then id; the class column holds ``seq.classes`` (-1 where
    absent). The file appears only once complete; parent folders are created.
    """
    order = np.lexsort((seq.ids, seq.frames))
    lines = []
    for i in order:
        box = ",".join(_number(v) for v in seq.boxes[i])
        lines.append(
            f"{seq.frames[i]},{seq.ids[i]},{box},{_number(seq.scores[i])},{seq.classes[i]},-1,-1\n"
        )
    with atomic_write(path) as f:
        f.writelines(lines)
