"""Person-crop (ReID) data of KDMOT's teacher: readers, the bag-of-tricks mapper, P x K batches.

One dataset dict is one crop:

    file_name, image_id, person_id, camera_id, dataset (the registered name; training
    identities are (dataset, person_id) pairs, so several datasets train one classifier),
    split ("query" | "gallery", test sets only),
    crop_box (x1, y1, x2, y2 in pixels of file_name) plus height, width, video_id,
    frame_idx, track_id, category_id (crops cut from video frames only).

Sources: Market-1501 folders (:func:`load_market1501`) and the gt boxes of any
MOTChallenge-layout dataset (:func:`load_mot_crops`). Test sets hold query and gallery
crops in one dataset, told apart by ``split``, so that Detectron2 evaluates them as one
(``TEST.EVALUATOR "retrieval"``). ``ReIDMapper`` gives ``image`` (uint8 CHW at
``INPUT.REID.SIZE``) with Luo et al.'s augmentations, and ``IdentitySampler`` the P x K
batches of the triplet loss (``DATALOADER.SAMPLER_TRAIN "IdentitySampler"``).
"""
import logging
import math
import os
import re
from collections import defaultdict
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from detectron2.config import configurable
from detectron2.data import DatasetCatalog, MetadataCatalog, build_detection_test_loader, build_detection_train_loader
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T
from detectron2.data.build import get_detection_dataset_dicts
from detectron2.structures import BoxMode
from detectron2.utils import comm
from torch.utils.data import Sampler
from torchvision import transforms as tvt

from ..errors import InputError
from .build import MAPPER_REGISTRY
from .builtin import check_registered

logger = logging.getLogger(__name__)

# Market-1501 (Zheng et al., ICCV 2015): "<person>_c<camera>s<sequence>_<frame>_<box>.jpg".
MARKET_SUBSETS = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}
_MARKET_NAME = re.compile(r"^(-1|\d+)_c(\d+)s\d+_\d+_\d+\.jpg$")
JUNK_ID, DISTRACTOR_ID = -1, 0


def _reid_metadata(name: str, **extra) -> None:
    MetadataCatalog.get(name).set(dataset_format="reid", evaluator_type="retrieval", **extra)


def parse_market_name(path: str) -> Tuple[int, int]:
    """(person id, camera) of a Market-1501 file: ``0002_c1s1_000451_03.jpg`` -> (2, 1);
    ``-1_c3s...`` (junk) -> (-1, 3); ``0000_c...`` (distractor) -> (0, ...)."""
    match = _MARKET_NAME.match(os.path.basename(path))
    if not match:
        raise InputError(f"{path}: expected a Market-1501 file name <person id>_c<camera>s<sequence>_<frame>_<box>"
                         ".jpg, e.g. 0002_c1s1_000451_03.jpg")
    return int(match.group(1)), int(match.group(2))


def load_market1501(root: str, subset: str, dataset_name: Optional[str] = None) -> List[dict]:
    """Crops of one Market-1501 subset ("train", "query" or "gallery") under ``root``.

    The standard protocol (Zheng et al.; as torchreid and fast-reid read it): junk images
    (person -1) are dropped everywhere (the evaluation code ranks them as if absent);
    distractors (person 0000) stay in the gallery, where they are wrong matches of every
    query, and are dropped elsewhere. Files other than .jpg (Market ships Thumbs.db) are
    skipped. Cameras keep their 1-based number.
    """
    if subset not in MARKET_SUBSETS:
        raise ValueError(f"subset {subset!r}: expected one of {sorted(MARKET_SUBSETS)}")
    folder = os.path.join(root, MARKET_SUBSETS[subset])
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{folder}: no such folder; expected the Market-1501 layout (datasets/README.md)")
    records = []
    for file in sorted(f for f in os.listdir(folder) if f.endswith(".jpg")):
        person, camera = parse_market_name(os.path.join(folder, file))
        if person == JUNK_ID or (person == DISTRACTOR_ID and subset != "gallery"):
            continue
        record = {"file_name": os.path.join(folder, file), "image_id": file[:-4], "person_id": person,
                  "camera_id": camera, "dataset": dataset_name}
        if subset != "train":
            record["split"] = subset
        records.append(record)
    return records


def register_market1501(root: str, prefix: str = "market1501") -> List[str]:
    """Register ``<prefix>_train``, ``_query``, ``_gallery`` and ``_test`` (query + gallery,
    the set ``TEST.EVALUATOR "retrieval"`` scores) from the Market-1501 folder ``root``."""
    names = []
    for subset in ("train", "query", "gallery"):
        name = f"{prefix}_{subset}"
        DatasetCatalog.register(name, lambda s=subset, n=name: load_market1501(root, s, n))
        names.append(name)
    test = f"{prefix}_test"
    DatasetCatalog.register(test, lambda: load_market1501(root, "query", test) + load_market1501(root, "gallery", test))
    for name in names + [test]:
        _reid_metadata(name, dataset_root=root)
    return names + [test]


def load_mot_crops(source: str, dataset_name: Optional[str] = None, min_visibility: float = 0.5,
                   stride_frames: int = 1) -> List[dict]:
    """Crops of the gt boxes with a track id in the frames of registered dataset ``source``.

    Kept: boxes with ``track_id >= 0``, not ignore regions, at least ``min_visibility``
    visible (our choice 0.5: a crop shows mostly its own person), in every
    ``stride_frames``-th frame (frame_idx - 1 divisible by it). ``person_id`` numbers the
    ``(video_id, track_id)`` pairs from 0 in order of appearance; ``camera_id`` numbers
    the videos so.
    """
    if stride_frames < 1:
        raise ValueError(f"stride_frames: expected a positive integer, got {stride_frames}")
    videos: Dict[str, int] = {}
    identities: Dict[Tuple[str, int], int] = {}
    crops = []
    for record in DatasetCatalog.get(source):
        anns = [a for a in record.get("annotations", ()) if a.get("track_id", -1) >= 0 and not a.get("iscrowd", 0)
                and a.get("visibility", 1.0) >= min_visibility]
        if not anns or (record.get("frame_idx", 1) - 1) % stride_frames:
            continue
        if "video_id" not in record or "frame_idx" not in record:
            raise InputError(f"dataset '{source}': {record['file_name']} has track ids but no video_id / frame_idx; "
                             "crops need video frames (e.g. register_mot_folder)")
        video, frame = record["video_id"], record["frame_idx"]
        camera = videos.setdefault(video, len(videos))
        for ann in anns:
            box = BoxMode.convert(list(ann["bbox"]), ann["bbox_mode"], BoxMode.XYXY_ABS)
            crops.append({
                "file_name": record["file_name"], "height": record.get("height"), "width": record.get("width"),
                "image_id": f"{video}/{frame:06d}/{ann['track_id']}", "crop_box": [float(v) for v in box],
                "person_id": identities.setdefault((video, ann["track_id"]), len(identities)),
                "camera_id": camera, "video_id": video, "frame_idx": frame, "track_id": ann["track_id"],
                "category_id": ann.get("category_id", 0), "dataset": dataset_name,
            })
    if not crops:
        raise InputError(f"dataset '{source}': no gt box with a track id and visibility >= {min_visibility}; "
                         "ReID crops need tracked ground truth (MOTChallenge gt.txt)")
    return crops


def split_query_gallery(crops: List[dict]) -> List[dict]:
    """A retrieval test set from video crops (in place): each identity's crops in frame
    order, the first ``floor(n / 2)`` queries and the rest gallery (the rule of the
    tracklet evaluator, ``reid_evaluator.py``). Market-like cameras: each half is its own
    camera, ``camera_id = 2 * video + (0 query, 1 gallery)``, so the same-camera
    exclusion never removes a true match (a query's matches are its track's later crops)
    and identities of other videos are wrong matches."""
    by_identity = defaultdict(list)
    for crop in crops:
        by_identity[crop["person_id"]].append(crop)
    for track in by_identity.values():
        track.sort(key=lambda c: c["frame_idx"])
        for i, crop in enumerate(track):
            query = i < len(track) // 2
            crop["split"] = "query" if query else "gallery"
            crop["camera_id"] = 2 * crop["camera_id"] + (0 if query else 1)
    return crops


def register_mot_crops(name: str, source_dataset_name: str, min_visibility: float = 0.5, stride_frames: int = 1,
                       query_gallery: bool = False) -> None:
    """Register the crops of MOTChallenge-layout dataset ``source_dataset_name`` as ``name``
    (:func:`load_mot_crops`); with ``query_gallery``, as a retrieval test set
    (:func:`split_query_gallery`). Read when first used."""
    def load():
        crops = load_mot_crops(source_dataset_name, name, min_visibility, stride_frames)
        return split_query_gallery(crops) if query_gallery else crops

    DatasetCatalog.register(name, load)
    _reid_metadata(name, source_dataset=source_dataset_name)


class ReIDIdentityIndex:
    """Contiguous training labels ``0..num_identities-1`` of the ``(dataset, person_id)``
    pairs (``person_id >= 0``) of ``dataset_names``, dataset after dataset, ids sorted."""

    def __init__(self, dataset_names: Sequence[str]):
        self._labels: Dict[Tuple[Optional[str], int], int] = {}
        for name in dataset_names:
            keys = {(r.get("dataset"), r["person_id"]) for r in DatasetCatalog.get(name) if r["person_id"] >= 0}
            for key in sorted(keys, key=lambda k: (str(k[0]), k[1])):
                self._labels.setdefault(key, len(self._labels))
        self.num_identities = len(self._labels)

    def __call__(self, record: dict) -> int:
        key = (record.get("dataset"), record["person_id"])
        if key not in self._labels:
            raise KeyError(f"{record['file_name']}: person {key[1]} of dataset {key[0]!r} is not a training identity "
                           "(a test crop given to a training mapper, or a person id < 0)")
        return self._labels[key]


def cut_box(image: np.ndarray, box: Sequence[float], file_name: str) -> np.ndarray:
    """The pixels of ``image`` (H, W, C) covered by ``box`` (x1, y1, x2, y2), clipped to it."""
    height, width = image.shape[:2]
    x1, y1 = max(math.floor(box[0]), 0), max(math.floor(box[1]), 0)
    x2, y2 = min(math.ceil(box[2]), width), min(math.ceil(box[3]), height)
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"{file_name}: crop_box {list(box)} has no pixel inside the {width}x{height} image")
    return image[y1:y2, x1:x2]


@MAPPER_REGISTRY.register()
class ReIDMapper:
    """One crop -> ``image`` (uint8 CHW tensor at ``size``), ``person_id``, ``camera_id``,
    ``split`` (when given), and in training ``label`` (the contiguous training identity).

    Training augmentations of Luo et al. (Sec. 2, 3.2), in order: random horizontal flip,
    zero padding + random crop back to ``size``, random erasing (torchvision's, after
    Zhong et al.) filled with the pixel mean (zero once normalised). Each is off at 0.
    """

    @configurable
    def __init__(self, is_train: bool = True, *, size: Tuple[int, int], image_format: str, flip_prob: float = 0.5,
                 padding: int = 10, erasing_prob: float = 0.5, erasing_area=(0.02, 0.4), erasing_ratio=(0.3, 3.33),
                 fill: Sequence[float] = (0.0, 0.0, 0.0), identities: Optional[ReIDIdentityIndex] = None):
        self.size, self.image_format, self.identities = tuple(size), image_format, identities
        self.resize = T.Resize(self.size)
        steps = []
        if is_train and flip_prob > 0:
            steps.append(tvt.RandomHorizontalFlip(flip_prob))
        if is_train and padding > 0:
            steps += [tvt.Pad(padding, fill=0), tvt.RandomCrop(self.size)]
        if is_train and erasing_prob > 0:
            fill = [float(v) for v in fill]
            steps.append(tvt.RandomErasing(erasing_prob, tuple(erasing_area), tuple(erasing_ratio), fill))
        self.augment = tvt.Compose(steps)

    @classmethod
    def from_config(cls, cfg, is_train: bool = True):
        reid = cfg.INPUT.REID
        return {
            "is_train": is_train, "size": reid.SIZE, "image_format": cfg.INPUT.FORMAT, "flip_prob": reid.FLIP_PROB,
            "padding": reid.PADDING, "erasing_prob": reid.ERASING_PROB, "erasing_area": reid.ERASING_AREA,
            "erasing_ratio": reid.ERASING_RATIO, "fill": cfg.MODEL.PIXEL_MEAN,
            "identities": ReIDIdentityIndex(cfg.DATASETS.TRAIN) if is_train else None,
        }

    def __call__(self, dataset_dict: dict) -> dict:
        image = utils.read_image(dataset_dict["file_name"], format=self.image_format)
        if "crop_box" in dataset_dict:
            image = cut_box(image, dataset_dict["crop_box"], dataset_dict["file_name"])
        image = self.resize.get_transform(image).apply_image(image)
        tensor = torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))
        out = {k: dataset_dict[k] for k in ("file_name", "image_id", "person_id", "camera_id", "split")
               if k in dataset_dict}
        out["image"] = self.augment(tensor)
        if self.identities is not None:
            out["label"] = self.identities(dataset_dict)
        return out


class IdentitySampler(Sampler):
    """Endless P x K batches (Hermans et al., 2017; Luo et al., Sec. 2: P = 16, K = 4):
    each batch of ``batch_size`` indices draws ``batch_size / K`` distinct identities at
    random and K crops of each (without replacement when it has K, else with).

    Luo et al.'s code walks over all identities once per epoch instead; here, as
    Detectron2's training samplers, there is no epoch (same draw in expectation).
    Identities are ``(dataset, person_id)`` pairs; crops with person_id < 0 are skipped.
    Each process draws its own batches (seed + rank).
    """

    def __init__(self, dataset_dicts: List[dict], batch_size: int, num_instances: int = 4,
                 seed: Optional[int] = None):
        if num_instances < 1 or batch_size % num_instances:
            raise ValueError(f"IdentitySampler: the batch of {batch_size} crops per process must be a multiple of "
                             f"K = {num_instances} (SOLVER.IMS_PER_BATCH / DATALOADER.REID_NUM_INSTANCES)")
        groups = defaultdict(list)
        for i, record in enumerate(dataset_dicts):
            if record["person_id"] >= 0:
                groups[(record.get("dataset"), record["person_id"])].append(i)
        self._groups = list(groups.values())
        self._num_ids, self._num_instances = batch_size // num_instances, num_instances
        if len(self._groups) < self._num_ids:
            raise ValueError(f"IdentitySampler: batches of P = {self._num_ids} identities, but the training set has "
                             f"{len(self._groups)}; lower SOLVER.IMS_PER_BATCH")
        self._seed = (comm.shared_random_seed() if seed is None else int(seed)) + comm.get_rank()

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng(self._seed)
        while True:
            for g in rng.choice(len(self._groups), self._num_ids, replace=False):
                group = self._groups[g]
                yield from rng.choice(group, self._num_instances, replace=len(group) < self._num_instances).tolist()


def build_identity_train_loader(cfg, mapper):
    """Detectron2's train loader over ``cfg.DATASETS.TRAIN`` in P x K batches (:class:`IdentitySampler`)."""
    dicts = get_detection_dataset_dicts(cfg.DATASETS.TRAIN, filter_empty=False)
    world = comm.get_world_size()
    sampler = IdentitySampler(dicts, cfg.SOLVER.IMS_PER_BATCH // world, cfg.DATALOADER.REID_NUM_INSTANCES)
    return build_detection_train_loader(dicts, mapper=mapper, sampler=sampler, aspect_ratio_grouping=False,
                                        total_batch_size=cfg.SOLVER.IMS_PER_BATCH,
                                        num_workers=cfg.DATALOADER.NUM_WORKERS)


def build_reid_test_loader(cfg, dataset_name: str):
    """Detectron2's test loader over the crops of ``dataset_name``, ``DATALOADER.REID_TEST_BATCH_SIZE`` a batch."""
    check_registered([dataset_name])
    return build_detection_test_loader(DatasetCatalog.get(dataset_name), mapper=ReIDMapper(cfg, False),
                                       batch_size=cfg.DATALOADER.REID_TEST_BATCH_SIZE,
                                       num_workers=cfg.DATALOADER.NUM_WORKERS)
