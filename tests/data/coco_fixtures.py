"""Writes a tiny COCO instances dataset in its real on-disk format (Detectron2's
``coco/annotations/instances_<split>.json`` and ``coco/<split>/``)."""
import json
import os

import cv2
import numpy as np
from detectron2.data.datasets.builtin_meta import COCO_CATEGORIES

#: (x, y, w, h) of the objects of every image: two people and a crowd region
COCO_BOXES = ((4, 6, 14, 30), (34, 8, 12, 28), (48, 30, 10, 10))


def write_coco(root, split="train2017", images=2):
    """``images`` 64x48 images, each with :data:`COCO_BOXES` (the last one ``iscrowd``,
    all with a polygon) of category 1 (person), and COCO's 80 categories; returns the
    path of the json."""
    folder = os.path.join(str(root), "coco")
    os.makedirs(os.path.join(folder, split), exist_ok=True)
    os.makedirs(os.path.join(folder, "annotations"), exist_ok=True)
    entries, annotations = [], []
    for image_id in range(1, images + 1):
        file_name = f"{image_id:012d}.jpg"
        cv2.imwrite(os.path.join(folder, split, file_name), np.full((48, 64, 3), 30 * image_id, np.uint8))
        entries.append({"id": image_id, "file_name": file_name, "height": 48, "width": 64})
        for index, (x, y, w, h) in enumerate(COCO_BOXES):
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": 1, "bbox": [x, y, w, h],
                "area": w * h, "iscrowd": int(index == len(COCO_BOXES) - 1),
                "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]]})
    path = os.path.join(folder, "annotations", f"instances_{split}.json")
    with open(path, "w") as f:
        json.dump({"images": entries, "annotations": annotations,
                   "categories": [{"id": c["id"], "name": c["name"]} for c in COCO_CATEGORIES if c["isthing"]]}, f)
    return path
