"""Tiny datasets in their real on-disk formats, written under one ``$DETECTRON2_DATASETS``
root where the built-in registration finds them (datasets/README.md), for the recipes'
dry runs: two people walking in every frame or image."""
import json
import os
from typing import Sequence

import cv2
import numpy as np

from tests.conftest import write_sequence
from tests.data.jde_fixtures import IMAGE_SIZE as JDE_IMAGE_SIZE, write_jde_dataset

# (x, y, w, h) of the two people in frame 1 of the 64x48 frames of ``write_sequence``;
# they move 2 pixels right a frame.
PEOPLE = ((4, 10, 12, 26), (30, 12, 12, 26))


def write_mot_train(root: str, benchmark: str, sequences: Sequence[str], length: int = 4) -> None:
    """MOTChallenge training sequences ``root/<benchmark>/train/<sequence>`` with gt
    (``frame,id,x,y,w,h,conf,class,visibility``)."""
    gt = "".join(f"{frame},{pid},{x + 2 * frame},{y},{w},{h},1,1,1.0\n"
                 for frame in range(1, length + 1) for pid, (x, y, w, h) in enumerate(PEOPLE, 1))
    for name in sequences:
        write_sequence(os.path.join(root, benchmark, "train"), name, length=length, gt=gt)


def write_crowdhuman(root: str, split: str = "train", images: int = 2) -> None:
    """CrowdHuman's ``annotation_<split>.odgt`` (one JSON object a line: full and visible
    boxes as x, y, w, h) and its ``Images/<ID>.jpg``."""
    folder = os.path.join(root, "CrowdHuman")
    os.makedirs(os.path.join(folder, "Images"), exist_ok=True)
    lines = []
    for index in range(images):
        image_id = f"273271,{index:05x}"
        cv2.imwrite(os.path.join(folder, "Images", f"{image_id}.jpg"), np.zeros((48, 64, 3), np.uint8))
        boxes = [{"tag": "person", "fbox": list(box), "vbox": list(box), "extra": {"ignore": 0}} for box in PEOPLE]
        lines.append(json.dumps({"ID": image_id, "gtboxes": boxes}))
    with open(os.path.join(folder, f"annotation_{split}.odgt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def write_market1501(root: str, identities: int = 2, crops: int = 2) -> None:
    """Market-1501's ``bounding_box_train`` crops, named ``<person>_c<camera>s1_<frame>_01.jpg``."""
    folder = os.path.join(root, "Market-1501-v15.09.15", "bounding_box_train")
    os.makedirs(folder, exist_ok=True)
    for person in range(1, identities + 1):
        for crop in range(crops):
            name = f"{person:04d}_c{crop + 1}s1_{100 * crop + person:06d}_01.jpg"
            cv2.imwrite(os.path.join(folder, name), np.full((32, 16, 3), 40 * person, np.uint8))


# An image of each JDE/FairMOT list (a path relative to JDE/ as FairMOT's src/data/ lists
# name them, with {index}); ETH and CityPersons boxes have no identity (-1).
JDE_IMAGES = {
    ("crowdhuman", "train"): "crowdhuman/images/train/273271,{index:05x}.jpg",
    ("eth", "train"): "ETHZ/eth01/images/image_{index:08d}_0.png",
    ("citypersons", "train"): "Cityscapes/images/train/aachen/aachen_{index:06d}_000019_leftImg8bit.png",
    ("caltech", "all"): "Caltech/data/images/set00_V000_{index}.png",
    ("mot17", "train"): "MOT17/images/train/MOT17-02-SDP/img1/{index:06d}.jpg",
    ("cuhksysu", "train"): "CUHK-SYSU/images/s{index}.jpg",
    ("prw", "train"): "PRW/images/c1s1_{index:06d}.png",
}
JDE_WITHOUT_IDENTITIES = {"eth", "citypersons"}


def write_jde_lists(root: str, lists: Sequence[str], images: int = 2) -> None:
    """The JDE/FairMOT lists ``lists`` (dataset names ``jde_<key>_<ext>``) under ``root/JDE``,
    ``images`` images each with the two people of :data:`PEOPLE` (``labels_with_ids``:
    ``class id cx cy w h`` normalised; CrowdHuman's ids one per box, as FairMOT's labels)."""
    width, height = JDE_IMAGE_SIZE
    for name in lists:
        key, ext = name[len("jde_"):].rsplit("_", 1)
        labels = {}
        for index in range(1, images + 1):
            ids = [-1, -1] if key in JDE_WITHOUT_IDENTITIES else (
                [2 * index, 2 * index + 1] if key == "crowdhuman" else [1, 2])
            labels[JDE_IMAGES[key, ext].format(index=index)] = [
                (0, pid, (x + w / 2) / width, (y + h / 2) / height, w / width, h / height)
                for pid, (x, y, w, h) in zip(ids, PEOPLE)]
        write_jde_dataset(root, key, ext, labels)
