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
- rows of every other class (vehicles, occluders) are dropped.

Dropped rows are counted and logged per sequence. MOT15 gt lines have 10 columns, the
last three world coordinates rather than class and visibility (see :func:`read_gt_rows`);
they, and rows whose class is -1, are read as pedestrians with visibility 1.
"""
import configparser
import logging
import math
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode

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

_GT_COLUMNS = 9  # frame, id, x, y, w, h, mark, class, visibility
_MOT15_GT_COLUMNS = 10  # frame, id, x, y, w, h, mark, wx, wy, wz
_DET_COLUMNS = 7  # frame, id, x, y, w, h, score


class MOTFormatError(ValueError):
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
    if not os.path.isfile(path):
        raise MOTFormatError(f"{path}: missing; a MOTChallenge sequence folder needs seqinfo.ini")
    parser = configparser.ConfigParser()
    try:
        parser.read(path)
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


def read_mot_rows(
    path: str,
    min_columns: int,
    seq_length: int,
    max_columns: Optional[int] = None,
    unique_ids: bool = False,
) -> np.ndarray:
    """Read a gt.txt / det.txt / result file into a float64 array, checking each line.

    Each line must hold at least ``min_columns`` comma-separated numbers; the first
    ``max_columns`` (default ``min_columns``) are read, and the columns a shorter line
    lacks read as NaN, so the array is (N, max_columns). Errors name the file and the
    1-based line: too few, non-numeric or non-finite values, a frame number outside
    1..seq_length, a box with non-positive width or height, and, with ``unique_ids``,
    an id given twice in one frame.
    """
    max_columns = min_columns if max_columns is None else max_columns
    rows = []
    seen: Dict[Tuple[float, float], int] = {}
    with open(path) as f:
        for line_no, line in enumerate(f, start=1):
            line = line.strip()
            if not line:
                continue
            fields = line.replace(" ", "").split(",")
            if len(fields) < min_columns:
                raise MOTFormatError(
                    f"{path}:{line_no}: expected at least {min_columns} comma-separated values, "
                    f"got {len(fields)}: {line!r}"
                )
            try:
                values = [float(v) for v in fields[:max_columns]]
            except ValueError:
                raise MOTFormatError(f"{path}:{line_no}: expected numbers, got {line!r}") from None
            if not all(math.isfinite(v) for v in values):
                raise MOTFormatError(f"{path}:{line_no}: expected finite numbers, got {line!r}")
            frame = values[0]
            if frame != int(frame) or not 1 <= frame <= seq_length:
                raise MOTFormatError(
                    f"{path}:{line_no}: frame {fields[0]} is outside 1..{seq_length} (seqLength)"
                )
            if values[4] <= 0 or values[5] <= 0:
                raise MOTFormatError(
                    f"{path}:{line_no}: box width and height must be positive, got "
                    f"{fields[4]} x {fields[5]}"
                )
            if unique_ids:
                first = seen.setdefault((frame, values[1]), line_no)
                if first != line_no:
                    raise MOTFormatError(
                        f"{path}:{line_no}: id {fields[1]} appears twice in frame {fields[0]} "
                        f"(first on line {first}); expected one box per id and frame"
                    )
            rows.append(values + [math.nan] * (max_columns - len(values)))
    return np.asarray(rows, dtype=np.float64).reshape(-1, max_columns)


def read_gt_rows(path: str, seq_length: int, unique_ids: bool = False) -> np.ndarray:
    """gt.txt rows as a float64 (N, 9) array: frame, id, x, y, w, h, mark, class, visibility.

    A line with a 10th column is MOT15, whose columns 8-10 are world coordinates (real
    values in TUD-Stadtmitte), not class and visibility: both read as -1 there. Lines
    are checked by :func:`read_mot_rows`.
    """
    rows = read_mot_rows(path, _GT_COLUMNS, seq_length, max_columns=_MOT15_GT_COLUMNS, unique_ids=unique_ids)
    rows[~np.isnan(rows[:, 9]), 7:9] = -1
    return rows[:, :_GT_COLUMNS]


def read_public_detections(path: str, seq_length: int) -> List[np.ndarray]:
    """``det.txt`` split per frame: one float64 (K, 5) array of x1, y1, x2, y2, score
    (0-based pixels) for each frame 1..seq_length, empty where the frame has no line.

    Lines are checked by :func:`read_mot_rows`.
    """
    rows = read_mot_rows(path, _DET_COLUMNS, seq_length)
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
    if os.path.isfile(gt_path):
        rows = read_gt_rows(gt_path, info.seq_length)
        per_frame_gt, counts = _gt_annotations(rows, class_map, ignore_classes, min_visibility)
        dropped = {k: v for k, v in counts.items() if v}
        if dropped:
            logger.info("%s: dropped gt rows by the MOTChallenge rules: %s", gt_path, dropped)
    det_path = os.path.join(seq_dir, "det", "det.txt")
    per_frame_det = None
    if os.path.isfile(det_path):
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


def find_sequences(root: str, name_filter: Optional[str] = None) -> List[str]:
    """Sorted sequence folders (those holding seqinfo.ini) directly under ``root``."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{root}: no such folder; expected MOTChallenge sequence folders inside")
    sequences = sorted(
        os.path.join(root, d)
        for d in os.listdir(root)
        if os.path.isfile(os.path.join(root, d, "seqinfo.ini"))
        and (name_filter is None or name_filter in d)
    )
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
