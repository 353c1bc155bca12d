"""MOTChallenge ground truth and result files as one row container per sequence.

Line formats (comma-separated, boxes in 1-based pixels as in the files):

- gt, MOT16/17/20: ``frame, id, x, y, w, h, consider, class, visibility`` (9 columns);
- gt, MOT15: ``frame, id, x, y, w, h, consider, wx, wy, wz`` (10 columns; the last three
  are world coordinates, usually -1): read with class and visibility -1 (the rule of
  :func:`mot_heads.data.mot_challenge.read_gt_rows`);
- results: ``frame, id, x, y, w, h, score[, class[, ...]]``; column 8 is read as the class
  as TrackEval's ``MotChallenge2DBox._load_raw_file`` does, -1 when absent.

Every line is checked by :func:`mot_heads.data.mot_challenge.read_mot_rows`; errors name
``file:line`` and what was expected.
"""
import os
from dataclasses import dataclass

import numpy as np

from ..data.mot_challenge import MOTFormatError, read_gt_rows, read_mot_rows, read_seqinfo

_RESULT_MIN_COLUMNS = 7  # frame, id, box, score
_RESULT_COLUMNS = 8  # ... and the class


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


def read_mot_gt(seq_dir: str) -> MOTSequence:
    """Ground truth of the sequence folder ``seq_dir`` (``seqinfo.ini`` + ``gt/gt.txt``).

    The sequence is named after its folder, as results files (``<name>.txt``) are.
    """
    info = read_seqinfo(seq_dir)
    path = os.path.join(seq_dir, "gt", "gt.txt")
    if not os.path.isfile(path):
        raise MOTFormatError(f"{path}: missing; a sequence folder to evaluate on needs gt/gt.txt")
    rows = read_gt_rows(path, info.seq_length, unique_ids=True)
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
    """A tracker's MOTChallenge result file for the sequence ``name``.

    A frame beyond ``seq_length``, a non-finite value, a non-positive box or an id given
    twice in one frame is an error naming ``path:line``.
    """
    if not os.path.isfile(path):
        raise MOTFormatError(f"{path}: missing; expected the results of sequence {name}")
    rows = read_mot_rows(path, _RESULT_MIN_COLUMNS, seq_length, max_columns=_RESULT_COLUMNS, unique_ids=True)
    return MOTSequence(
        name=name,
        seq_length=seq_length,
        frames=rows[:, 0],
        ids=rows[:, 1],
        boxes=rows[:, 2:6],
        scores=rows[:, 6],
        classes=np.nan_to_num(rows[:, 7], nan=-1),
        visibility=np.full(len(rows), -1.0),
    )


def _number(value: float) -> str:
    """At most 3 decimals, no exponent, no trailing zeros ("12", "0.5", "129.1")."""
    return np.format_float_positional(float(value), precision=3, trim="-")


def write_mot_results(path: str, seq: MOTSequence) -> None:
    """Write ``seq`` as MOTChallenge result lines ``frame,id,x,y,w,h,score,class,-1,-1``.

    Lines are sorted by frame, then id; the class column holds ``seq.classes`` (-1 where
    absent). Parent folders are created.
    """
    order = np.lexsort((seq.ids, seq.frames))
    lines = []
    for i in order:
        box = ",".join(_number(v) for v in seq.boxes[i])
        lines.append(
            f"{seq.frames[i]},{seq.ids[i]},{box},{_number(seq.scores[i])},{seq.classes[i]},-1,-1\n"
        )
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.writelines(lines)
