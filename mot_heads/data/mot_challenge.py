"""Reader for the MOTChallenge layout (MOT15/16/17/20 and any folder laid out alike).

A sequence folder holds ``seqinfo.ini``, ``img1/000001.jpg...``, and optionally
``gt/gt.txt`` and ``det/det.txt``. Each frame becomes one Detectron2 dataset dict:

    file_name, height, width, image_id ("<sequence>/<frame>"), video_id (sequence
    name), frame_idx (1-based, as in the files), seq_length, frame_rate,
    annotations: [{bbox (XYWH_ABS, 0-based pixels), bbox_mode, category_id, track_id,
                   visibility, iscrowd, hidden}],
    public_detections: float32 array (K, 5) of x1, y1, x2, y2, score (when det.txt exists)

Which gt rows count (the MOTChallenge conventions, as in TrackEval's preprocessing):

- rows with the "consider" mark (column 7) at 0 are dropped;
- rows of ``ignore_classes`` (person on vehicle, static person, distractor, reflection)
  become ignore regions (``iscrowd=1``): neither trained on nor counted as misses or
  false positives by COCO-style evaluation;
- rows of ``class_map`` classes with visibility below ``min_visibility`` become
  ignore regions too, marked ``hidden=1``: objects that are there but barely seen
  (OUTrack's occlusion targets count them, see ``data.identities.pop_annotations``);
- rows of every other MOTChallenge class (vehicles, occluders) are dropped.

Dropped rows are counted and logged per sequence. A MOT15 gt file has 10 columns, the
last three world coordinates rather than class and visibility (see :func:`read_gt_rows`);
its rows, and rows whose class is -1, are read as pedestrians with visibility 1. Class 0,
or any class that is neither a MOTChallenge class (1..13) nor in ``class_map`` or
``ignore_classes``, is an error naming ``gt.txt:line``: such a row is never guessed to be
a pedestrian nor dropped unseen.
"""
import configparser
import logging
import math
import os
from dataclasses import dataclass
from decimal import Decimal
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode

from ..errors import InputError
from ..files import read_text

logger = logging.getLogger(__name__)

# MOTChallenge class ids (MOT16/17/20 gt.txt, column 8).
MOT_CLASS_NAMES = {
    1: "pedestrian",
    2: "person_on_vehicle",
    3: "car",
    4: "bicycle",
    5: "motorbike",
    6: "non_mot_vehicle",
    7: "static_person",
    8: "distractor",
    9: "occluder",
    10: "occluder_on_ground",
    11: "occluder_full",
    12: "reflection",
    13: "crowd",
}
# TrackEval's distractor classes for MOT16/17/20 (MOT20 adds non_mot_vehicle).
MOT_IGNORE_CLASSES = (2, 7, 8, 12)
MOT20_IGNORE_CLASSES = (2, 6, 7, 8, 12)

NOT_GIVEN = -1  # the class or visibility of a file that has none (MOT15, most results)
MAX_ID = 2 ** 53  # float64 holds every integer up to this magnitude exactly

_GT_COLUMNS = 9  # frame, id, x, y, w, h, mark, class, visibility
_MOT15_GT_COLUMNS = 10  # frame, id, x, y, w, h, mark, wx, wy, wz
_DET_COLUMNS = 7  # frame, id, x, y, w, h, score
MOT_COLUMNS = range(_DET_COLUMNS, 11)  # det.txt and result files: up to 3 more columns
SEQUENCE_PARTS = ("gt", "img1", "det")  # the sub-folders that mark a sequence folder


class MOTFormatError(InputError):
    """A MOTChallenge file that does not follow the format; the message names the file."""


@dataclass(frozen=True)
class SequenceInfo:
    """The ``[Sequence]`` section of seqinfo.ini."""

    name: str
    directory: str
    image_dir: str
    frame_rate: float
    seq_length: int
    width: int
    height: int
    image_ext: str

    def image_path(self, frame: int) -> str:
        return os.path.join(self.directory, self.image_dir, f"{frame:06d}{self.image_ext}")


def read_seqinfo(seq_dir: str) -> SequenceInfo:
    """Parse ``<seq_dir>/seqinfo.ini``; every key MOTChallenge defines is required."""
    path = os.path.join(seq_dir, "seqinfo.ini")
    if not os.path.exists(path):
        raise MOTFormatError(f"{path}: missing; a MOTChallenge sequence folder needs seqinfo.ini")
    parser = configparser.ConfigParser()
    try:
        parser.read_string(read_text(path, "seqinfo.ini file"), source=path)
    except configparser.Error as e:
        raise MOTFormatError(f"{path}: not an ini file ({e})") from e
    if "Sequence" not in parser:
        raise MOTFormatError(f"{path}: expected a [Sequence] section")
    section = parser["Sequence"]
    values = {}
    for key, cast in (
        ("name", str), ("imDir", str), ("frameRate", float), ("seqLength", int),
        ("imWidth", int), ("imHeight", int), ("imExt", str),
    ):
        if key not in section:
            raise MOTFormatError(f"{path}: missing key '{key}' in [Sequence]")
        try:
            values[key] = cast(section[key])
        except ValueError as e:
            raise MOTFormatError(f"{path}: key '{key}' = {section[key]!r} is not a {cast.__name__}") from e
    for key in ("frameRate", "seqLength", "imWidth", "imHeight"):
        if values[key] <= 0:
            raise MOTFormatError(f"{path}: key '{key}' must be positive, got {values[key]}")
    return SequenceInfo(
        name=values["name"], directory=seq_dir, image_dir=values["imDir"],
        frame_rate=values["frameRate"], seq_length=values["seqLength"],
        width=values["imWidth"], height=values["imHeight"], image_ext=values["imExt"],
    )


class MOTRows(NamedTuple):
    """The lines of a MOTChallenge text file, as :func:`read_mot_rows` reads them."""

    values: np.ndarray  # (N, columns) float64, one row per non-empty line
    lines: np.ndarray  # (N,) int, the 1-based line number of each row


def read_mot_rows(
    path: str, seq_length: int, columns: Sequence[int], unique_ids: bool = False, mixed: bool = False
) -> MOTRows:
    """Read a gt.txt / det.txt / result file, checking each line.

    The format is decided per file: every line holds the same number of comma-separated
    numbers, one of ``columns``; with ``mixed`` (det.txt, whose optional columns are not
    read), each line any of ``columns``, of which the first ``min(columns)`` are read.
    Errors name the file and the 1-based line: another count, non-numeric or non-finite
    values, a frame number outside 1..seq_length, an id that is no integer ("17" and
    "17.0" are) or lies beyond +-2^53 (so float64 holds every id exactly), a box with
    non-positive width or height, and, with ``unique_ids``, an id given twice in one
    frame. An empty file has ``min(columns)`` columns.
    """
    rows, lines = [], []
    seen: Dict[Tuple[int, int], int] = {}
    for line_no, line in enumerate(read_text(path, "MOTChallenge text file").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        fields = line.replace(" ", "").split(",")
        if (mixed or not rows) and len(fields) not in columns:
            raise MOTFormatError(
                f"{path}:{line_no}: expected at least {min(columns)} and at most {max(columns)} comma-separated "
                f"values, got {len(fields)}: {line!r}"
            )
        if mixed:
            fields = fields[:min(columns)]
        elif rows and len(fields) != len(rows[0]):
            raise MOTFormatError(
                f"{path}:{line_no}: expected {len(rows[0])} comma-separated values as on line {lines[0]} (one "
                f"format per file), got {len(fields)}: {line!r}"
            )
        try:
            values = [float(v) for v in fields]
        except ValueError:
            raise MOTFormatError(f"{path}:{line_no}: expected numbers, got {line!r}") from None
        if not all(math.isfinite(v) for v in values):
            raise MOTFormatError(f"{path}:{line_no}: expected finite numbers, got {line!r}")
        frame = values[0]
        if frame != int(frame) or not 1 <= frame <= seq_length:
            raise MOTFormatError(
                f"{path}:{line_no}: frame {fields[0]} is outside 1..{seq_length} (seqLength)"
            )
        track_id = _exact_id(fields[1], f"{path}:{line_no}")
        values[1] = float(track_id)
        if values[4] <= 0 or values[5] <= 0:
            raise MOTFormatError(
                f"{path}:{line_no}: box width and height must be positive, got "
                f"{fields[4]} x {fields[5]}"
            )
        if unique_ids:
            first = seen.setdefault((int(frame), track_id), line_no)
            if first != line_no:
                raise MOTFormatError(
                    f"{path}:{line_no}: id {fields[1]} appears twice in frame {fields[0]} "
                    f"(first on line {first}); expected one box per id and frame"
                )
        rows.append(values)
        lines.append(line_no)
    width = len(rows[0]) if rows else min(columns)
    return MOTRows(np.asarray(rows, dtype=np.float64).reshape(-1, width), np.asarray(lines, dtype=np.int64))


def _exact_id(text: str, where: str) -> int:
    """The integer id written as ``text``, a finite number; an error naming ``where``
    unless it is an integer of magnitude at most :data:`MAX_ID`."""
    try:
        track_id = int(text)
    except ValueError:
        number = Decimal(text)  # exact, unlike float
        if number != number.to_integral_value():
            raise MOTFormatError(f"{where}: id {text} is not an integer; expected integer track ids") from None
        track_id = int(number)
    if abs(track_id) > MAX_ID:
        raise MOTFormatError(f"{where}: id {text} is beyond 2^53 in magnitude; expected track ids that float64 "
                             f"holds exactly (at most {MAX_ID})")
    return track_id


def read_gt_rows(
    path: str, seq_length: int, unique_ids: bool = False, known_classes: Iterable[int] = ()
) -> np.ndarray:
    """gt.txt rows as a float64 (N, 9) array: frame, id, x, y, w, h, mark, class, visibility.

    The file is MOT16/17/20 (9 columns) or MOT15 (10 columns, the last three world
    coordinates, real values in TUD-Stadtmitte, not class and visibility: both read as
    -1). A class must be -1 (not given), a MOTChallenge class (1..13) or one of
    ``known_classes``; errors name ``path:line``. Lines are checked by :func:`read_mot_rows`.
    """
    rows = read_mot_rows(path, seq_length, (_GT_COLUMNS, _MOT15_GT_COLUMNS), unique_ids)
    values = rows.values[:, :_GT_COLUMNS].copy()
    if rows.values.shape[1] == _MOT15_GT_COLUMNS:
        values[:, 7:9] = NOT_GIVEN
    unknown = np.flatnonzero(~np.isin(values[:, 7], [NOT_GIVEN, *MOT_CLASS_NAMES, *known_classes]))
    if len(unknown):
        raise MOTFormatError(
            f"{path}:{rows.lines[unknown[0]]}: unknown class {values[unknown[0], 7]:g}; expected -1 (not given), "
            "a MOTChallenge class 1..13 or a class configured as evaluated or distractor class"
        )
    return values


def read_public_detections(path: str, seq_length: int) -> List[np.ndarray]:
    """``det.txt`` split per frame: one float64 (K, 5) array of x1, y1, x2, y2, score
    (0-based pixels) for each frame 1..seq_length, empty where the frame has no line.

    Lines are checked by :func:`read_mot_rows`.
    """
    rows = read_mot_rows(path, seq_length, MOT_COLUMNS, mixed=True).values
    rows = rows[np.argsort(rows[:, 0], kind="stable")]
    # 1-based x, y, w, h -> 0-based x1, y1, x2, y2, plus score; then one slice per frame.
    boxes = np.concatenate([rows[:, 2:4] - 1, rows[:, 2:4] - 1 + rows[:, 4:6], rows[:, 6:7]], axis=1)
    bounds = np.searchsorted(rows[:, 0], np.arange(1, seq_length + 2))
    return np.split(boxes, bounds[1:-1])


def half_split_frames(seq_length: int, half: str) -> Tuple[int, int]:
    """Inclusive 1-based frame range of the "first_half" / "second_half" split.

    The rule of CenterTrack's ``convert_mot_to_coco`` that FairMOT, ByteTrack and the
    seed papers validate with: the first ``seq_length // 2 + 1`` frames train, the rest
    validate.
    """
    cut = seq_length // 2 + 1
    if half == "first_half":
        return 1, cut
    if half == "second_half":
        return cut + 1, seq_length
    raise ValueError(f"unknown split {half!r}: expected 'first_half' or 'second_half'")


def check_images(info: SequenceInfo, first: int, last: int) -> None:
    image_dir = os.path.join(info.directory, info.image_dir)
    if not os.path.isdir(image_dir):
        raise MOTFormatError(f"{image_dir}: missing image folder (imDir={info.image_dir} in seqinfo.ini)")
    present = set(os.listdir(image_dir))
    for frame in range(first, last + 1):
        name = f"{frame:06d}{info.image_ext}"
        if name not in present:
            raise MOTFormatError(
                f"{os.path.join(image_dir, name)}: missing image for frame {frame} "
                f"(seqinfo.ini declares seqLength={info.seq_length})"
            )


def _gt_annotations(
    rows: np.ndarray,
    class_map: Dict[int, int],
    ignore_classes: Sequence[int],
    min_visibility: float,
) -> Tuple[Dict[int, List[dict]], Dict[str, int]]:
    classes = rows[:, 7].astype(int)
    visibility = rows[:, 8].copy()
    classes[classes == -1] = 1  # class not given (MOT15): all rows are pedestrians
    visibility[visibility < 0] = 1.0  # visibility not given (MOT15)
    considered = rows[:, 6] != 0
    known = np.isin(classes, list(class_map))
    ignored = np.isin(classes, list(ignore_classes))
    kept = considered & (known | ignored)
    counts = {
        "zero-marked": int((~considered).sum()),
        "other-class": int((considered & ~known & ~ignored).sum()),
    }
    per_frame: Dict[int, List[dict]] = {}
    for row, cls, vis in zip(rows[kept], classes[kept], visibility[kept]):
        is_hidden = cls in class_map and vis < min_visibility
        is_ignore = cls not in class_map or is_hidden
        per_frame.setdefault(int(row[0]), []).append(
            {
                # MOTChallenge boxes are 1-based pixels; Detectron2's are 0-based.
                "bbox": [row[2] - 1, row[3] - 1, row[4], row[5]],
                "bbox_mode": BoxMode.XYWH_ABS,
                "category_id": class_map.get(cls, 0),
                "track_id": int(row[1]),
                "visibility": float(vis),
                "iscrowd": int(is_ignore),
                "hidden": int(is_hidden),
            }
        )
    return per_frame, counts


def load_mot_sequence(
    seq_dir: str,
    class_map: Optional[Dict[int, int]] = None,
    ignore_classes: Sequence[int] = MOT_IGNORE_CLASSES,
    min_visibility: float = 0.0,
    split: Optional[str] = None,
) -> List[dict]:
    """Dataset dicts of one sequence, one per frame (see the module docstring).

    Args:
        class_map: MOT class id -> contiguous category id (default: pedestrians only).
        ignore_classes: MOT class ids read as ignore regions.
        min_visibility: annotations less visible than this become ignore regions.
        split: None for all frames, "first_half" or "second_half".
    """
    class_map = {1: 0} if class_map is None else class_map
    info = read_seqinfo(seq_dir)
    first, last = (1, info.seq_length) if split is None else half_split_frames(info.seq_length, split)
    check_images(info, first, last)

    gt_path = os.path.join(seq_dir, "gt", "gt.txt")
    per_frame_gt = None
    if os.path.exists(gt_path):
        rows = read_gt_rows(gt_path, info.seq_length, known_classes=[*class_map, *ignore_classes])
        per_frame_gt, counts = _gt_annotations(rows, class_map, ignore_classes, min_visibility)
        dropped = {k: v for k, v in counts.items() if v}
        if dropped:
            logger.info("%s: dropped gt rows by the MOTChallenge rules: %s", gt_path, dropped)
    det_path = os.path.join(seq_dir, "det", "det.txt")
    per_frame_det = None
    if os.path.exists(det_path):
        per_frame_det = [d.astype(np.float32) for d in read_public_detections(det_path, info.seq_length)]

    dicts = []
    for frame in range(first, last + 1):
        record = {
            "file_name": info.image_path(frame),
            "height": info.height,
            "width": info.width,
            "image_id": f"{info.name}/{frame:06d}",
            "video_id": info.name,
            "frame_idx": frame,
            "seq_length": info.seq_length,
            "frame_rate": info.frame_rate,
        }
        if per_frame_gt is not None:
            record["annotations"] = per_frame_gt.get(frame, [])
        if per_frame_det is not None:
            record["public_detections"] = per_frame_det[frame - 1]
        dicts.append(record)
    return dicts


def looks_like_sequence(folder: str) -> bool:
    """Whether ``folder`` holds seqinfo.ini or a sub-folder of :data:`SEQUENCE_PARTS`."""
    return os.path.exists(os.path.join(folder, "seqinfo.ini")) or any(
        os.path.isdir(os.path.join(folder, part)) for part in SEQUENCE_PARTS
    )


def find_sequences(root: str, name_filter: Optional[str] = None) -> List[str]:
    """Sorted sequence folders (those holding seqinfo.ini) directly under ``root``; one that
    looks like a sequence folder without seqinfo.ini is an error naming it, never skipped."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{root}: no such folder; expected MOTChallenge sequence folders inside")
    sequences = sorted(
        os.path.join(root, d)
        for d in os.listdir(root)
        if (name_filter is None or name_filter in d) and looks_like_sequence(os.path.join(root, d))
    )
    for folder in sequences:
        if not os.path.exists(os.path.join(folder, "seqinfo.ini")):
            parts = [f"{part}/" for part in SEQUENCE_PARTS if os.path.isdir(os.path.join(folder, part))]
            raise MOTFormatError(f"{folder}: holds {' and '.join(parts)} but no seqinfo.ini; expected a "
                                 "MOTChallenge sequence folder with its seqinfo.ini")
    if not sequences:
        what = f" whose name contains {name_filter!r}" if name_filter else ""
        raise MOTFormatError(f"{root}: no sequence folder{what} with a seqinfo.ini inside")
    return sequences


def load_mot_folder(root: str, name_filter: Optional[str] = None, **kwargs) -> List[dict]:
    """Dataset dicts of every sequence under ``root``; kwargs go to :func:`load_mot_sequence`."""
    dicts = []
    for seq_dir in find_sequences(root, name_filter):
        dicts.extend(load_mot_sequence(seq_dir, **kwargs))
    return dicts


def register_mot_folder(
    name: str,
    root: str,
    class_names: Sequence[str] = ("pedestrian",),
    mot_class_ids: Sequence[int] = (1,),
    name_filter: Optional[str] = None,
    **kwargs,
) -> None:
    """Register a folder of MOTChallenge-layout sequences as Detectron2 dataset ``name``.

    ``mot_class_ids[i]`` is the class id in gt.txt of category ``class_names[i]``;
    kwargs (``ignore_classes``, ``min_visibility``, ``split``) go to
    :func:`load_mot_sequence`. Files are read when the dataset is first used.
    """
    if len(class_names) != len(mot_class_ids):
        raise ValueError("class_names and mot_class_ids must have the same length")
    class_map = {int(c): i for i, c in enumerate(mot_class_ids)}
    DatasetCatalog.register(
        name, lambda: load_mot_folder(root, name_filter, class_map=class_map, **kwargs)
    )
    MetadataCatalog.get(name).set(
        thing_classes=list(class_names),
        evaluator_type="coco",
        dataset_root=root,
        dataset_format="motchallenge",
        # For tracking evaluation: the gt.txt class of each category, the distractors.
        mot_class_ids=[int(c) for c in mot_class_ids],
        distractor_classes=[c for c in kwargs.get("ignore_classes", MOT_IGNORE_CLASSES) if c not in mot_class_ids],
    )
