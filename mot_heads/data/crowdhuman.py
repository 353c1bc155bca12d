"""Reader for CrowdHuman (``annotation_{train,val}.odgt`` + ``Images/<ID>.jpg``).

CrowdHuman is an image dataset without identities: it trains detection only, and its
annotations carry ``track_id = -1``. Each odgt line is a JSON object with ``ID`` and
``gtboxes``; a box tagged ``mask`` or with ``extra.ignore = 1`` is an ignore region
(``iscrowd=1``). ``box_type`` picks the full-body ``fbox`` (the default of the MOT
papers) or the visible ``vbox``; visibility is area(vbox within fbox) / area(fbox).
"""
import json
import logging
import os
from typing import List

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode
from PIL import Image
from tqdm import tqdm

from .mot_challenge import MOTFormatError

logger = logging.getLogger(__name__)

BOX_TYPES = ("fbox", "vbox")


def _visibility(fbox, vbox) -> float:
    ix = max(0.0, min(fbox[0] + fbox[2], vbox[0] + vbox[2]) - max(fbox[0], vbox[0]))
    iy = max(0.0, min(fbox[1] + fbox[3], vbox[1] + vbox[3]) - max(fbox[1], vbox[1]))
    return float(ix * iy / (fbox[2] * fbox[3]))


def _annotation(path: str, line_no: int, box: dict, box_type: str) -> dict:
    if len(box.get(box_type, ())) != 4:
        raise MOTFormatError(f"{path}:{line_no}: a gtbox lacks '{box_type}' as [x, y, w, h]")
    xywh = [float(v) for v in box[box_type]]
    if xywh[2] <= 0 or xywh[3] <= 0:
        raise MOTFormatError(f"{path}:{line_no}: {box_type} {xywh} has non-positive width or height")
    ignore = box.get("tag") != "person" or box.get("extra", {}).get("ignore", 0) == 1
    return {
        "bbox": xywh,
        "bbox_mode": BoxMode.XYWH_ABS,
        "category_id": 0,
        "track_id": -1,
        "visibility": _visibility(xywh, box.get("vbox", xywh)) if box_type == "fbox" else 1.0,
        "iscrowd": int(ignore),
    }


def load_crowdhuman(odgt_path: str, image_dir: str, box_type: str = "fbox") -> List[dict]:
    """Dataset dicts, one per image; image sizes are read from the image headers."""
    if box_type not in BOX_TYPES:
        raise ValueError(f"box_type must be one of {BOX_TYPES}, got {box_type!r}")
    if not os.path.isfile(odgt_path):
        raise FileNotFoundError(f"{odgt_path}: no such annotation file")
    dicts = []
    with open(odgt_path) as f:
        lines = f.readlines()
    for line_no, line in enumerate(tqdm(lines, desc=os.path.basename(odgt_path), unit="img"), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            image_id, boxes = entry["ID"], entry["gtboxes"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise MOTFormatError(
                f"{odgt_path}:{line_no}: expected a JSON object with 'ID' and 'gtboxes' ({e})"
            ) from None
        file_name = os.path.join(image_dir, f"{image_id}.jpg")
        if not os.path.isfile(file_name):
            raise MOTFormatError(f"{odgt_path}:{line_no}: image {file_name} is missing")
        with Image.open(file_name) as im:
            width, height = im.size
        dicts.append(
            {
                "file_name": file_name,
                "height": height,
                "width": width,
                "image_id": image_id,
                "video_id": image_id,
                "frame_idx": 1,
                "annotations": [_annotation(odgt_path, line_no, b, box_type) for b in boxes],
            }
        )
    return dicts


def register_crowdhuman(name: str, odgt_path: str, image_dir: str, box_type: str = "fbox") -> None:
    """Register a CrowdHuman split as Detectron2 dataset ``name`` (one class: pedestrian)."""
    DatasetCatalog.register(name, lambda: load_crowdhuman(odgt_path, image_dir, box_type))
    MetadataCatalog.get(name).set(
        thing_classes=["pedestrian"], evaluator_type="coco", dataset_format="crowdhuman"
    )
