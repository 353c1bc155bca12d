"""Long-term single-object tracking benchmarks in their released layouts: OxUvA, TLP and
VOT-LT (2018, 2019). Frames become the dataset dicts of :mod:`.sot` (``sot_box``,
``sot_absent``, ``annotations``); each dataset's metadata ``sot_protocol`` names the
protocol that scores it.

- OxUvA (Valmadre et al., ECCV 2018), ``<root>/images/<split>/<video>/<frame:06d>.jpeg``,
  ``tasks/<split>.csv`` and ``annotations/<split>.csv`` (no header). A task line
  ``video_id,object_id,init_frame,last_frame,xmin,xmax,ymin,ymax`` is one sequence
  ``<video>_<object>``, frames ``init_frame..last_frame``, started from the box given in
  coordinates relative to the frame size. An annotation line
  ``video_id,object_id,class_id,class_name,contains_cuts,always_visible,frame_num,
  object_presence,xmin,xmax,ymin,ymax`` labels one frame ``present`` or ``absent``; tracks
  are labelled at 1 Hz (every 30th frame), so only those frames carry gt and are scored.
  The test split's annotations are withheld: without the file, the first frame only.
- TLP (Moudgil and Gandhi, ACCV 2018), ``<root>/<seq>/img/*.jpg`` and
  ``groundtruth_rect.txt``: lines ``frame,x,y,w,h,isLost``, frame 1, 2, ... in order;
  ``isLost`` 1: the target is absent (fully occluded or out of view).
- VOT-LT (Lukezic et al., ACCV 2018; the VOT toolkit's sequence layout),
  ``<root>/list.txt`` naming the sequences, ``<seq>/groundtruth.txt`` (``x,y,w,h`` or
  ``nan,nan,nan,nan`` where the target is absent), the frames in ``<seq>/color/`` or in
  ``<seq>/`` itself, and an optional ``<seq>/sequence`` file of ``key=value`` lines whose
  ``channels.color`` (e.g. ``color/%08d.jpg``) names the frame folder.
"""
import csv
import math
import os
from typing import Dict, List, Optional, Tuple

import numpy as np
from PIL import Image

from ..files import read_text
from .sot import (
    GT_FILE,
    SOTFormatError,
    frame_files,
    read_gt_boxes,
    read_sequence_list,
    register_sot_dataset,
    sequence_records,
    set_target,
)

OXUVA_SPLITS = ("dev", "test")
OXUVA_TASK_FIELDS = ("video_id", "object_id", "init_frame", "last_frame", "xmin", "xmax", "ymin", "ymax")
OXUVA_ANNOTATION_FIELDS = ("video_id", "object_id", "class_id", "class_name", "contains_cuts", "always_visible",
                           "frame_num", "object_presence", "xmin", "xmax", "ymin", "ymax")
OXUVA_PRESENCE = ("present", "absent")
TLP_GT_FILE = "groundtruth_rect.txt"
VOT_SEQUENCE_FILE = "sequence"
VOT_FRAME_FOLDER = "color"  # the VOT toolkit's colour channel folder


# ---------------------------------------------------------------------------- OxUvA

def _csv_rows(path: str, fields: Tuple[str, ...], what: str):
    """(line number, {field: text}) of a header-less CSV file with ``fields`` per line."""
    for line_no, row in enumerate(csv.reader(read_text(path, what).splitlines()), start=1):
        if not row:
            continue
        if len(row) != len(fields):
            raise SOTFormatError(f"{path}:{line_no}: expected {len(fields)} comma-separated values "
                                 f"({','.join(fields)}), got {len(row)}: {','.join(row)!r}")
        yield line_no, dict(zip(fields, (v.strip() for v in row)))


def _number(path: str, line_no: int, row: Dict[str, str], field: str, kind=float):
    try:
        value = kind(row[field])
    except ValueError:
        raise SOTFormatError(f"{path}:{line_no}: expected {field} to be {'an integer' if kind is int else 'a number'}, "
                             f"got {row[field]!r}") from None
    if kind is float and not math.isfinite(value):
        raise SOTFormatError(f"{path}:{line_no}: expected {field} to be a finite number, got {row[field]!r}")
    return value


def _relative_box(path: str, line_no: int, row: Dict[str, str]) -> Tuple[float, float, float, float]:
    """(xmin, xmax, ymin, ymax) in [0, 1] with min < max."""
    xmin, xmax, ymin, ymax = (_number(path, line_no, row, k) for k in ("xmin", "xmax", "ymin", "ymax"))
    if not (0 <= xmin < xmax <= 1 and 0 <= ymin < ymax <= 1):
        raise SOTFormatError(f"{path}:{line_no}: expected 0 <= xmin < xmax <= 1 and 0 <= ymin < ymax <= 1 "
                             f"(box relative to the frame size), got {xmin},{xmax},{ymin},{ymax}")
    return xmin, xmax, ymin, ymax


def _pixel_box(box: Tuple[float, float, float, float], width: int, height: int) -> List[float]:
    xmin, xmax, ymin, ymax = box
    return [xmin * width, ymin * height, (xmax - xmin) * width, (ymax - ymin) * height]


def read_oxuva_tasks(path: str) -> Dict[Tuple[str, str], dict]:
    """(video, object) -> {init_frame, last_frame, box (relative xmin, xmax, ymin, ymax)}."""
    tasks = {}
    for line_no, row in _csv_rows(path, OXUVA_TASK_FIELDS, "OxUvA task file"):
        init, last = (_number(path, line_no, row, k, int) for k in ("init_frame", "last_frame"))
        if not 0 <= init <= last:
            raise SOTFormatError(f"{path}:{line_no}: expected 0 <= init_frame <= last_frame, got {init}, {last}")
        key = (row["video_id"], row["object_id"])
        if key in tasks:
            raise SOTFormatError(f"{path}:{line_no}: expected one task per video and object, got a second for {key}")
        tasks[key] = {"init_frame": init, "last_frame": last, "box": _relative_box(path, line_no, row)}
    if not tasks:
        raise SOTFormatError(f"{path}: no task; expected lines {','.join(OXUVA_TASK_FIELDS)}")
    return tasks


def read_oxuva_annotations(path: str) -> Dict[Tuple[str, str], Dict[int, Optional[tuple]]]:
    """(video, object) -> frame -> relative box, None where the object is absent."""
    labels: Dict[Tuple[str, str], Dict[int, Optional[tuple]]] = {}
    for line_no, row in _csv_rows(path, OXUVA_ANNOTATION_FIELDS, "OxUvA annotation file"):
        frame = _number(path, line_no, row, "frame_num", int)
        presence = row["object_presence"]
        if presence not in OXUVA_PRESENCE:
            raise SOTFormatError(f"{path}:{line_no}: expected object_presence present or absent, got {presence!r}")
        box = _relative_box(path, line_no, row) if presence == "present" else None
        labels.setdefault((row["video_id"], row["object_id"]), {})[frame] = box
    return labels


def load_oxuva(root: str, split: str) -> List[dict]:
    """Dataset dicts of every task of an OxUvA split (see the module docstring): frames
    ``init_frame..last_frame``, ``frame_idx`` counted from 1 at the init frame, gt at the
    init frame and at the annotated frames."""
    if split not in OXUVA_SPLITS:
        raise ValueError(f"unknown OxUvA split {split!r}: expected one of {', '.join(OXUVA_SPLITS)}")
    tasks = read_oxuva_tasks(os.path.join(root, "tasks", f"{split}.csv"))
    annotation_file = os.path.join(root, "annotations", f"{split}.csv")
    labels = read_oxuva_annotations(annotation_file) if os.path.exists(annotation_file) else {}
    dicts = []
    for (video, obj), task in sorted(tasks.items()):
        name, image_dir = f"{video}_{obj}", os.path.join(root, "images", split, video)
        frames = range(task["init_frame"], task["last_frame"] + 1)
        paths = [os.path.join(image_dir, f"{t:06d}.jpeg") for t in frames]
        for path in (paths[0], paths[-1]):
            if not os.path.isfile(path):
                raise SOTFormatError(f"{path}: missing; task {video},{obj} spans frames {frames[0]}..{frames[-1]}")
        with Image.open(paths[0]) as image:
            width, height = image.size
        track_labels = {**labels.get((video, obj), {}), task["init_frame"]: task["box"]}
        for t, file_name in zip(frames, paths):
            record = {"file_name": file_name, "height": height, "width": width, "image_id": f"{name}/{t:06d}",
                      "video_id": name, "frame_idx": t - task["init_frame"] + 1, "seq_length": len(frames)}
            if t in track_labels:
                box = track_labels[t]
                set_target(record, None if box is None else _pixel_box(box, width, height))
            dicts.append(record)
    return dicts


# ---------------------------------------------------------------------------- TLP

def read_tlp_boxes(path: str) -> np.ndarray:
    """(N, 4) boxes of a TLP ``groundtruth_rect.txt``, NaN rows where ``isLost`` is 1."""
    rows = []
    for line_no, line in enumerate(read_text(path, "TLP ground truth").splitlines(), start=1):
        if not line.strip():
            continue
        fields = [v.strip() for v in line.split(",")]
        if len(fields) != 6:
            raise SOTFormatError(f"{path}:{line_no}: expected 6 comma-separated values (frame,x,y,w,h,isLost), "
                                 f"got {line.strip()!r}")
        try:
            frame, lost = int(fields[0]), int(fields[5])
            box = [float(v) for v in fields[1:5]]
        except ValueError:
            raise SOTFormatError(f"{path}:{line_no}: expected integers frame and isLost and numbers x,y,w,h, "
                                 f"got {line.strip()!r}") from None
        if frame != len(rows) + 1:
            raise SOTFormatError(f"{path}:{line_no}: expected frame {len(rows) + 1} (frames 1, 2, ... in order), "
                                 f"got {frame}")
        if lost not in (0, 1):
            raise SOTFormatError(f"{path}:{line_no}: expected isLost 0 or 1, got {lost}")
        if not lost and not (all(math.isfinite(v) for v in box) and box[2] > 0 and box[3] > 0):
            raise SOTFormatError(f"{path}:{line_no}: expected a box of positive width and height where isLost "
                                 f"is 0, got {','.join(fields[1:5])}")
        rows.append([math.nan] * 4 if lost else box)
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


def load_tlp(root: str) -> List[dict]:
    """Dataset dicts of every TLP sequence under ``root`` (folders with a ``groundtruth_rect.txt``)."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{root}: no such folder; expected TLP sequence folders inside")
    sequences = sorted(d for d in os.listdir(root) if os.path.isfile(os.path.join(root, d, TLP_GT_FILE)))
    if not sequences:
        raise SOTFormatError(f"{root}: no TLP sequence folder with a {TLP_GT_FILE} inside")
    dicts = []
    for name in sequences:
        gt_file = os.path.join(root, name, TLP_GT_FILE)
        dicts.extend(sequence_records(name, frame_files(os.path.join(root, name, "img")),
                                      read_tlp_boxes(gt_file), gt_file))
    return dicts


# ---------------------------------------------------------------------------- VOT-LT

def read_vot_sequence_file(path: str) -> Dict[str, str]:
    """The ``key=value`` lines of a VOT ``sequence`` metadata file."""
    metadata = {}
    for line_no, line in enumerate(read_text(path, "VOT sequence file").splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise SOTFormatError(f"{path}:{line_no}: expected key=value (e.g. channels.color=color/%08d.jpg), "
                                 f"got {line.strip()!r}")
        metadata[key.strip()] = value.strip()
    return metadata


def vot_frame_folder(seq_dir: str) -> str:
    """The folder of a VOT sequence's colour frames: that of ``channels.color`` in its
    ``sequence`` file, else ``color/`` when present, else the sequence folder."""
    sequence_file = os.path.join(seq_dir, VOT_SEQUENCE_FILE)
    if os.path.isfile(sequence_file):
        pattern = read_vot_sequence_file(sequence_file).get("channels.color")
        if pattern is not None:
            return os.path.join(seq_dir, os.path.dirname(pattern))
    color = os.path.join(seq_dir, VOT_FRAME_FOLDER)
    return color if os.path.isdir(color) else seq_dir


def load_vot_lt(root: str) -> List[dict]:
    """Dataset dicts of the sequences ``<root>/list.txt`` names, in its order."""
    list_file = os.path.join(root, "list.txt")
    if not os.path.isfile(list_file):
        raise SOTFormatError(f"{list_file}: missing; expected the VOT sequence names, one a line")
    dicts = []
    for line_no, name in enumerate(read_sequence_list(list_file), start=1):
        seq_dir = os.path.join(root, name)
        if not os.path.isfile(os.path.join(seq_dir, GT_FILE)):
            raise SOTFormatError(f"{list_file}:{line_no}: names {name}, expected a folder {seq_dir} with a {GT_FILE}")
        dicts.extend(sequence_records(name, frame_files(vot_frame_folder(seq_dir)), read_gt_boxes(seq_dir),
                                      os.path.join(seq_dir, GT_FILE)))
    return dicts


# ---------------------------------------------------------------------------- registration

def register_oxuva(prefix: str, root: str) -> List[str]:
    """Register ``<prefix>_dev`` and ``<prefix>_test`` (the splits whose task file exists)."""
    names = []
    for split in OXUVA_SPLITS:
        if os.path.isfile(os.path.join(root, "tasks", f"{split}.csv")):
            name = f"{prefix}_{split}"
            register_sot_dataset(name, root, "oxuva", lambda split=split: load_oxuva(root, split), protocol="oxuva")
            names.append(name)
    return names


def register_tlp(name: str, root: str) -> None:
    register_sot_dataset(name, root, "tlp", lambda: load_tlp(root), protocol="tlp")


def register_vot_lt(name: str, root: str) -> None:
    register_sot_dataset(name, root, "vot_lt", lambda: load_vot_lt(root), protocol="vot_lt")
