"""Reader for the JDE / FairMOT training mix: image lists over ``labels_with_ids`` files.

JDE (Wang et al., ECCV 2020) and FairMOT (Zhang et al., IJCV 2021) train on one folder
of datasets (Caltech, CityPersons, CUHK-SYSU, PRW, ETH, MOT16/17/20, CrowdHuman) in one
format. A list file ``<key>.<ext>`` (FairMOT ships them in ``src/data``) names one image
a line; each image has a label file of lines ``class id cx cy w h``: class 0
(pedestrian), the identity (-1: none) and the box centre and size normalised to the image
size. Each list becomes one Detectron2 dataset of dicts:

    file_name, height, width, image_id (the list line), identity_scope,
    annotations: [{bbox (XYXY_ABS pixels), bbox_mode, category_id 0, track_id, iscrowd 0}],
    and for frames of a sequence folder (``.../<sequence>/img1/<frame>.jpg``): video_id
    (the sequence), frame_idx (the file's number) and frame_rate (from the sequence's
    ``seqinfo.ini`` when it has one).

The conventions of the reference loader (``JointDataset`` of both authors' code):

- a line is a path relative to the list's folder (the ``root`` of their data config);
  blank lines are skipped (theirs would read the root folder as an image);
- the label file is the image path with ``images`` -> ``labels_with_ids`` and the
  extension -> ``.txt``; a missing label file is an image without boxes, as their
  ``get_data`` reads it (their identity count would stop on it); missing ones are logged;
- identities are per dataset: ``identity_scope`` (the dataset name) keys them in
  :class:`~mot_heads.data.identities.IdentityIndex`, which numbers each dataset's after
  those of the datasets before it in ``DATASETS.TRAIN`` order. The authors offset by the
  previous datasets' largest id + 1; the index counts the ids present (the same on
  contiguous ids, ours where ids have gaps);
- an identity below 0 is none (-1), as they offset only ids above -1;
- boxes are kept as labelled, also where they cross the image border (MOTChallenge boxes
  do; Detectron2's mapper clips them).

Errors (``JDEFormatError`` naming the file and line): a label line without 6 numbers, a
class other than 0, a non-integer identity, a box of non-positive size or lying wholly
outside the image beyond the labels' rounding, a list line naming a missing image.
Image sizes come from the image headers (PIL reads no pixels).
"""
import logging
import math
import os
from typing import Dict, List, Optional

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode
from PIL import Image

from ..errors import InputError
from ..files import read_text
from .mot_challenge import read_seqinfo

logger = logging.getLogger(__name__)

JDE_FOLDER = "JDE"  # under $DETECTRON2_DATASETS
SEQUENCE_IMAGE_FOLDER = "img1"  # MOTChallenge frames: <sequence>/img1/<frame>.jpg
# Labels are written with 6 decimals: a box may pass the image border by this much
# (normalised) and still touch it.
LABEL_ROUNDING = 1e-5


class JDEFormatError(InputError):
    """A JDE list or label file that does not follow the format; the message names the file."""


def label_file(image_path: str) -> str:
    """The label file of an image path: ``images`` -> ``labels_with_ids``, extension -> ``.txt``."""
    return os.path.splitext(image_path.replace("images", "labels_with_ids"))[0] + ".txt"


def dataset_name(list_name: str) -> str:
    """``jde_<key>_<ext>`` of a list file ``<key>.<ext>`` (dots become underscores)."""
    return "jde_" + list_name.replace(".", "_")


def _number(value: str, source: str, line: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise JDEFormatError(f"{source}: expected 'class id cx cy w h' (6 numbers), got {line!r}")
    return number


def read_labels(path: str, width: int, height: int) -> List[dict]:
    """The annotations of a label file (none when it is missing), boxes in pixels."""
    if not os.path.exists(path):
        return []
    annotations = []
    for line_no, line in enumerate(read_text(path, "label file").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        source = f"{path}:{line_no}"
        if len(fields) != 6:
            raise JDEFormatError(f"{source}: expected 'class id cx cy w h' (6 numbers), got {line.strip()!r}")
        cls, identity, cx, cy, w, h = (_number(v, source, line.strip()) for v in fields)
        if cls != 0:
            raise JDEFormatError(f"{source}: expected class 0 (pedestrian) in column 1, got {fields[0]!r}")
        if not identity.is_integer():
            raise JDEFormatError(f"{source}: expected an integer identity (-1: none) in column 2, got {fields[1]!r}")
        x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
        if not (w > 0 and h > 0) or min(x2, y2) < -LABEL_ROUNDING or max(x1, y1) > 1 + LABEL_ROUNDING:
            raise JDEFormatError(f"{source}: expected a box of positive size inside the image (cx cy w h "
                                 f"normalised to [0, 1]), got {' '.join(fields[2:])}")
        annotations.append({"bbox": [x1 * width, y1 * height, x2 * width, y2 * height],
                            "bbox_mode": BoxMode.XYXY_ABS, "category_id": 0,
                            "track_id": max(int(identity), -1), "iscrowd": 0})
    return annotations


def _sequence_fields(file_name: str, frame_rates: Dict[str, Optional[float]]) -> dict:
    """video_id, frame_idx (and frame_rate) of a frame ``<sequence>/img1/<number>.<ext>``; {} otherwise."""
    folder, name = os.path.split(file_name)
    stem = os.path.splitext(name)[0]
    if os.path.basename(folder) != SEQUENCE_IMAGE_FOLDER or not stem.isdigit():
        return {}
    sequence = os.path.dirname(folder)
    if sequence not in frame_rates:
        has_info = os.path.isfile(os.path.join(sequence, "seqinfo.ini"))
        frame_rates[sequence] = read_seqinfo(sequence).frame_rate if has_info else None
    fields = {"video_id": os.path.basename(sequence), "frame_idx": int(stem)}
    if frame_rates[sequence] is not None:
        fields["frame_rate"] = frame_rates[sequence]
    return fields


def load_jde_list(list_file: str, identity_scope: str, root: Optional[str] = None) -> List[dict]:
    """Dataset dicts of the images of ``list_file``, paths relative to ``root`` (default:
    the list's folder); ``identity_scope`` keys their identities."""
    root = os.path.dirname(os.path.abspath(list_file)) if root is None else root
    records, unlabelled, frame_rates = [], 0, {}
    for line_no, line in enumerate(read_text(list_file, "image list").splitlines(), start=1):
        relative = line.strip()
        if not relative:
            continue
        file_name = os.path.join(root, relative)
        if not os.path.isfile(file_name):
            raise JDEFormatError(f"{list_file}:{line_no}: expected an image at {file_name}, which is missing")
        with Image.open(file_name) as image:
            width, height = image.size
        labels = os.path.join(root, label_file(relative))
        unlabelled += not os.path.exists(labels)
        records.append({
            "file_name": file_name, "height": height, "width": width, "image_id": relative,
            "identity_scope": identity_scope, **_sequence_fields(file_name, frame_rates),
            "annotations": read_labels(labels, width, height),
        })
    if unlabelled:
        logger.info("%s: %d of %d images have no label file (read as images without boxes)",
                    list_file, unlabelled, len(records))
    return records


def register_jde_list(name: str, list_file: str, root: Optional[str] = None) -> None:
    """Register the images of ``list_file`` as Detectron2 dataset ``name`` (one class: pedestrian)."""
    DatasetCatalog.register(name, lambda: load_jde_list(list_file, name, root))
    MetadataCatalog.get(name).set(thing_classes=["pedestrian"], evaluator_type="coco", dataset_format="jde",
                                  list_file=list_file)


def register_jde_folder(folder: str) -> List[str]:
    """Register every list file ``<key>.<ext>`` in ``folder`` not registered yet as
    ``jde_<key>_<ext>``; returns the names registered."""
    names = []
    for entry in sorted(os.listdir(folder)):
        path = os.path.join(folder, entry)
        if entry.startswith(".") or "." not in entry or not os.path.isfile(path):
            continue
        name = dataset_name(entry)
        if name not in DatasetCatalog:
            register_jde_list(name, path)
            names.append(name)
    return names
