"""Single-object tracking (SOT) sequences: box files, and Detectron2 datasets of LaSOT,
GOT-10k, a generic folder layout, and one target per sequence of the synthetic set.

Box files (values separated by commas, tabs or spaces), line t is frame t:

- ``x, y, w, h``: the box in pixels (LaSOT and GOT-10k gt, OTB-style result files);
- ``x, y, w, h, confidence``: a result with the tracker's confidence (VOT-LT);
- ``nan, nan, nan, nan`` or a box of zero width or height (``0,0,0,0``): no box, the
  target is absent (gt) or reported absent (result).

A sequence folder holds ``groundtruth.txt`` and optionally absence flags, 1 = absent:
``full_occlusion.txt`` and ``out_of_view.txt`` (LaSOT, one comma-separated line) and
``absence.label`` (GOT-10k, one value a line). A frame flagged in any of them is absent.
Errors name ``file:line`` and what was expected.

Each frame becomes one dataset dict:

    file_name, height, width, image_id ("<sequence>/<frame>"), video_id (sequence
    name), frame_idx (1-based), seq_length,
    sot_box: [x, y, w, h] (XYWH_ABS) of the target, None where it is absent,
    sot_absent: bool

    frame_rate (30: the SOT sets give none), annotations: the target as one box of
    track 1, category 0 (none where it is absent), so that the frames also train
    DMTrack as single-target template-search pairs (``IdentityPairMapper``)

Frames without ground truth (GOT-10k test: only the first frame is annotated) carry
neither ``sot_box`` nor ``sot_absent`` nor ``annotations``. Boxes are as in the files
(the SOT toolkits and trackers use LaSOT and GOT-10k boxes unshifted); synthetic boxes
come from the MOTChallenge reader (0-based). Layouts:

- ``lasot``: ``<root>/<class>/<class>-<n>/img/00000001.jpg``, ``groundtruth.txt``,
  ``full_occlusion.txt``, ``out_of_view.txt`` (protocol II's sequence lists ship in
  ``lists/``: :func:`lasot_protocol_list`);
- ``got10k``: ``<root>`` is a split folder: ``<root>/<seq>/00000001.jpg``,
  ``groundtruth.txt``, ``absence.label``, and ``<root>/list.txt`` naming the sequences;
- ``generic``: ``<root>/<seq>/`` with the frames (or ``<seq>/img/`` holding them) and
  ``groundtruth.txt``.

Frames are the image files of the frame folder in name order; their count must equal
the number of gt lines.
"""
import logging
import math
import os
import re
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode
from PIL import Image

from ..errors import InputError
from ..files import read_text
from .mot_challenge import load_mot_folder
from .synthetic import SPLITS, SYNTHETIC_CLASSES, SYNTHETIC_MIN_VISIBILITY

logger = logging.getLogger(__name__)

SOT_LAYOUTS = ("lasot", "got10k", "generic")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
GT_FILE = "groundtruth.txt"
ABSENCE_FILES = ("full_occlusion.txt", "out_of_view.txt", "absence.label")

_SEPARATORS = re.compile(r"[,\s]+")
SOT_TRACK_ID = 1  # the track id of the target in the training annotations
SOT_FRAME_RATE = 30.0  # LaSOT and GOT-10k record none; their videos are mostly 30 fps


# ---------------------------------------------------------------------------- box files

class SOTFormatError(InputError):
    """An SOT box or flag file that does not follow the format; the message names the file."""


def read_sot_boxes(path: str, allow_confidence: bool = True) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """(boxes (N, 4), confidences (N,) or None) of a box file; absent rows become NaN.

    Every line holds 4 values, or 5 (a confidence) in every line when
    ``allow_confidence``. Errors: another count, a non-number, a row partly NaN, a
    negative width or height, a box given with a non-finite confidence.
    """
    if not os.path.exists(path):
        raise SOTFormatError(f"{path}: missing; expected one x,y,w,h box per frame")
    rows, columns = [], None
    for line_no, line in enumerate(read_text(path, "box file").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        fields = _SEPARATORS.split(line)
        expected = "4 or 5" if allow_confidence else "4"
        if len(fields) not in ((4, 5) if allow_confidence else (4,)):
            raise SOTFormatError(f"{path}:{line_no}: expected {expected} values (x,y,w,h"
                                 f"{'[,confidence]' if allow_confidence else ''}), got {line!r}")
        if columns is None:
            columns = len(fields)
        elif len(fields) != columns:
            raise SOTFormatError(f"{path}:{line_no}: expected {columns} values as on the first line, "
                                 f"got {len(fields)}: {line!r}")
        try:
            values = [float(v) for v in fields]
        except ValueError:
            raise SOTFormatError(f"{path}:{line_no}: expected numbers, got {line!r}") from None
        box = values[:4]
        if any(math.isnan(v) for v in box):
            if not all(math.isnan(v) for v in box):
                raise SOTFormatError(f"{path}:{line_no}: expected a box or nan,nan,nan,nan, got {line!r}")
        elif not all(math.isfinite(v) for v in box):
            raise SOTFormatError(f"{path}:{line_no}: expected finite numbers, got {line!r}")
        elif box[2] < 0 or box[3] < 0:
            raise SOTFormatError(f"{path}:{line_no}: box width and height must not be negative, "
                                 f"got {fields[2]} x {fields[3]}")
        elif box[2] == 0 or box[3] == 0:  # 0,0,0,0: absent
            values[:4] = [math.nan] * 4
        elif columns == 5 and not math.isfinite(values[4]):
            raise SOTFormatError(f"{path}:{line_no}: expected a finite confidence with a box, got {line!r}")
        rows.append(values)
    array = np.asarray(rows, dtype=np.float64).reshape(-1, columns or 4)
    return array[:, :4], (array[:, 4] if columns == 5 else None)


def read_sequence_list(path: str) -> List[str]:
    """The sequence names of a list file, one a line (GOT-10k's ``list.txt``, LaSOT's
    ``training_set.txt`` and ``testing_set.txt``)."""
    return [line.strip() for line in read_text(path, "sequence list").splitlines() if line.strip()]


def lasot_protocol_list(split: str) -> str:
    """The shipped list file of LaSOT's protocol II ``split`` ("training": 1120 sequences,
    16 a class; "testing": 280, 4 a class), the names of the LaSOT toolkit's split."""
    if split not in ("training", "testing"):
        raise ValueError(f"unknown LaSOT split {split!r}: expected training or testing")
    return os.path.join(os.path.dirname(__file__), "lists", f"lasot_{split}_set.txt")


def read_flags(path: str, length: int) -> np.ndarray:
    """(length,) bool of a 0/1 flag file: values separated by commas or whitespace, any
    number a line (LaSOT writes one line, GOT-10k one value a line)."""
    fields = [v for v in _SEPARATORS.split(read_text(path, "flag file").strip()) if v]
    if len(fields) != length:
        raise SOTFormatError(f"{path}: expected {length} 0/1 flags (one per line of {GT_FILE}), got {len(fields)}")
    bad = next((v for v in fields if v not in ("0", "1")), None)
    if bad is not None:
        raise SOTFormatError(f"{path}: expected 0/1 flags, got {bad!r}")
    return np.array(fields) == "1"


def read_gt_boxes(seq_dir: str) -> np.ndarray:
    """(N, 4) boxes of ``<seq_dir>/groundtruth.txt``, NaN rows where the target is absent:
    rows without a box, and frames any of :data:`ABSENCE_FILES` present flags."""
    boxes, _ = read_sot_boxes(os.path.join(seq_dir, GT_FILE), allow_confidence=False)
    for flag_file in ABSENCE_FILES:
        path = os.path.join(seq_dir, flag_file)
        if os.path.exists(path):
            boxes[read_flags(path, len(boxes))] = np.nan
    return boxes


# ---------------------------------------------------------------------------- datasets

def _frame_files(seq_dir: str) -> List[str]:
    frame_dir = os.path.join(seq_dir, "img") if os.path.isdir(os.path.join(seq_dir, "img")) else seq_dir
    return frame_files(frame_dir)


def frame_files(frame_dir: str) -> List[str]:
    """The image files of ``frame_dir`` in name order; an error when there is none."""
    files = sorted(f for f in os.listdir(frame_dir) if f.lower().endswith(IMAGE_EXTENSIONS))
    if not files:
        raise SOTFormatError(f"{frame_dir}: no frames ({', '.join(IMAGE_EXTENSIONS)} files)")
    return [os.path.join(frame_dir, f) for f in files]


def load_sot_sequence(seq_dir: str) -> List[dict]:
    """Dataset dicts of one sequence folder, one per frame (see the module docstring)."""
    return sequence_records(os.path.basename(os.path.normpath(seq_dir)), _frame_files(seq_dir),
                            read_gt_boxes(seq_dir), os.path.join(seq_dir, GT_FILE))


def sequence_records(name: str, frames: List[str], boxes: np.ndarray, gt_file: str) -> List[dict]:
    """One dict per frame file of sequence ``name`` with the gt ``boxes`` (NaN rows: absent)
    of ``gt_file``: one per frame, or one for the first frame only. Height and width are
    those of the first frame (a sequence has one frame size)."""
    if len(boxes) not in (1, len(frames)):
        raise SOTFormatError(
            f"{gt_file}: {len(boxes)} boxes for {len(frames)} frames; expected one per frame, "
            "or one for the first frame only"
        )
    with Image.open(frames[0]) as image:
        width, height = image.size
    dicts = []
    for t, file_name in enumerate(frames):
        record = {
            "file_name": file_name,
            "height": height,
            "width": width,
            "image_id": f"{name}/{t + 1:08d}",
            "video_id": name,
            "frame_idx": t + 1,
            "seq_length": len(frames),
        }
        if t < len(boxes):
            absent = bool(np.isnan(boxes[t]).any())
            set_target(record, None if absent else [float(v) for v in boxes[t]])
        dicts.append(record)
    return dicts


def set_target(record: dict, box: Optional[List[float]]) -> None:
    """Give a frame dict its target: ``sot_box`` / ``sot_absent`` and, for training, the
    box as the one annotation of track 1 (category 0) and the default frame rate."""
    record["sot_box"], record["sot_absent"] = box, box is None
    record["annotations"] = [] if box is None else [
        {"bbox": list(box), "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0, "track_id": SOT_TRACK_ID, "iscrowd": 0}]
    record.setdefault("frame_rate", SOT_FRAME_RATE)


def _check_layout(layout: str) -> None:
    if layout not in SOT_LAYOUTS:
        raise ValueError(f"unknown SOT layout {layout!r}: expected one of {', '.join(SOT_LAYOUTS)}")


def _has_gt(folder: str) -> bool:
    return os.path.exists(os.path.join(folder, GT_FILE))


def find_sot_sequences(root: str, layout: str = "generic", sequences: Optional[Sequence[str]] = None) -> List[str]:
    """Sequence folders under ``root`` in ``layout``, sorted by name (GOT-10k: in the
    order of ``list.txt``); ``sequences`` keeps only those names (e.g. LaSOT's test set)."""
    _check_layout(layout)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{root}: no such folder; expected {layout} sequence folders inside")
    if layout == "lasot":
        found = sorted(
            os.path.join(root, c, s) for c in os.listdir(root) if os.path.isdir(os.path.join(root, c))
            for s in os.listdir(os.path.join(root, c)) if _has_gt(os.path.join(root, c, s))
        )
    elif layout == "got10k" and os.path.exists(os.path.join(root, "list.txt")):
        found = [os.path.join(root, name) for name in read_sequence_list(os.path.join(root, "list.txt"))]
        missing = [d for d in found if not _has_gt(d)]
        if missing:
            raise SOTFormatError(f"{os.path.join(root, 'list.txt')}: names {missing[0]}, which has no {GT_FILE}")
    else:
        found = sorted(os.path.join(root, d) for d in os.listdir(root) if _has_gt(os.path.join(root, d)))
    if sequences is not None:
        by_name = {os.path.basename(d): d for d in found}
        unknown = [s for s in sequences if s not in by_name]
        if unknown:
            more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
            raise SOTFormatError(f"{root}: no {layout} sequence folder named {', '.join(unknown[:3])}{more} "
                                 f"(of {len(sequences)} sequences listed); expected one with a {GT_FILE} each")
        found = [by_name[s] for s in sequences]
    if not found:
        raise SOTFormatError(f"{root}: no {layout} sequence folder with a {GT_FILE} inside")
    return found


def load_sot_folder(root: str, layout: str = "generic", sequences: Optional[Sequence[str]] = None) -> List[dict]:
    """Dataset dicts of every sequence of :func:`find_sot_sequences`."""
    dicts = []
    for seq_dir in find_sot_sequences(root, layout, sequences):
        dicts.extend(load_sot_sequence(seq_dir))
    return dicts


def register_sot_dataset(name: str, root: str, layout: str, loader, protocol: Optional[str] = None) -> None:
    """Register ``loader`` as SOT dataset ``name``; ``protocol`` (metadata ``sot_protocol``,
    a key of :data:`mot_heads.evaluation.sot_metrics.PROTOCOL_KEYS`) names the benchmark
    protocol whose metrics the ``sot`` evaluator reports (None: every metric)."""
    DatasetCatalog.register(name, loader)
    MetadataCatalog.get(name).set(
        thing_classes=["target"], evaluator_type="sot", dataset_root=root, dataset_format="sot", sot_layout=layout,
        sot_protocol=protocol,
    )


def register_sot_folder(
    name: str, root: str, layout: str = "generic", sequences: Optional[Sequence[str]] = None
) -> None:
    """Register the SOT sequences under ``root`` (``layout`` one of :data:`SOT_LAYOUTS`)
    as Detectron2 dataset ``name``; files are read when the dataset is first used (a bad
    ``layout`` fails now)."""
    _check_layout(layout)
    register_sot_dataset(name, root, layout, lambda: load_sot_folder(root, layout, sequences))


# ---------------------------------------------------------------------------- synthetic

def _visible_frames(records: List[dict]) -> Dict[int, Dict[int, dict]]:
    """track id -> frame -> its annotation, for boxes that are no ignore region."""
    tracks: Dict[int, Dict[int, dict]] = {}
    for record in records:
        for a in record.get("annotations", ()):
            if not a["iscrowd"]:
                tracks.setdefault(a["track_id"], {})[record["frame_idx"]] = a
    return tracks


def choose_target(records: List[dict]) -> Optional[int]:
    """The track id a sequence's SOT task follows, None when no object is visible in the
    first frame. Among objects visible there (the tracker starts from that box): the one
    that reappears most often after being absent, then the one visible in most frames,
    then the smallest id."""
    tracks = _visible_frames(records)
    frames = [r["frame_idx"] for r in records]

    def rank(track_id: int):
        visible = np.array([f in tracks[track_id] for f in frames])
        reappearances = int((~visible[:-1] & visible[1:]).sum())
        return reappearances, int(visible.sum()), -track_id

    candidates = [t for t, seen in tracks.items() if frames[0] in seen]
    return max(candidates, key=rank) if candidates else None


def load_synthetic_sot(root: str, split: str) -> List[dict]:
    """SOT dicts of the ``split`` sequences of a synthetic set: one target per sequence
    (:func:`choose_target`), absent in frames where its gt box is missing (it left the
    view for good, as objects of the generator do) or an ignore region (less than
    ``SYNTHETIC_MIN_VISIBILITY`` visible: hidden behind another object, after which it
    may reappear). Records add ``sot_track_id``; sequences with no object in their first
    frame are left out (logged)."""
    records = load_mot_folder(
        os.path.join(root, split), class_map={i + 1: i for i in range(len(SYNTHETIC_CLASSES))},
        min_visibility=SYNTHETIC_MIN_VISIBILITY, ignore_classes=(),  # as register_synthetic
    )
    by_video: Dict[str, List[dict]] = {}
    for record in records:
        by_video.setdefault(record["video_id"], []).append(record)
    dicts = []
    for video_id, frames in by_video.items():
        target = choose_target(frames)
        if target is None:
            logger.info("%s: no object in the first frame, no SOT sequence", video_id)
            continue
        boxes = _visible_frames(frames)[target]
        for record in frames:
            annotation = boxes.get(record["frame_idx"])
            sot = {k: record[k] for k in ("file_name", "height", "width", "image_id", "video_id", "frame_idx",
                                          "seq_length", "frame_rate")}
            set_target(sot, None if annotation is None else [float(v) for v in annotation["bbox"]])
            sot["sot_track_id"] = target
            dicts.append(sot)
    return dicts


def register_synthetic_sot(root: str, prefix: str = "synth") -> List[str]:
    """Register ``<prefix>_sot_train`` and ``<prefix>_sot_val`` of a generated synthetic set."""
    names = []
    for split in SPLITS:
        name = f"{prefix}_sot_{split}"
        register_sot_dataset(name, root, "synthetic", lambda split=split: load_synthetic_sot(root, split))
        names.append(name)
    return names
