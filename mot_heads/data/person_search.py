"""Person-search datasets: PRW, CUHK-SYSU and a synthetic split, as scenes + queries.

Person search (Xiao et al., CVPR 2017) finds a query person, given as a box in one
scene image, among the detections of gallery scene images. Every reader gives:

- scene dicts (training or gallery), one per image: ``file_name``, ``height``,
  ``width``, ``image_id`` (the image file name), ``annotations``: [{``bbox``
  (XYWH_ABS), ``bbox_mode``, ``category_id`` 0, ``person_id`` (-1: unlabelled
  person), ``iscrowd``}]; PRW scenes add ``camera_id``;
- query dicts, one per query: ``file_name``, ``height``, ``width``, ``image_id`` of the
  query's scene, its ``bbox`` (XYWH_ABS), ``bbox_mode``, ``person_id`` and
  ``gallery``: the image ids of its own gallery. A query without ``gallery`` (PRW, the
  CUHK-SYSU full set) searches every gallery scene but its own
  (:mod:`mot_heads.evaluation.person_search`).

Boxes of zero width or height are dropped (as the reference CUHK-SYSU reader does).

The registered training scenes (``<prefix>_train``) train identities too: their
annotations also carry ``track_id`` (the ``person_id``, -1 unlabelled) and the scenes an
``identity_scope`` (the dataset name), which :class:`~mot_heads.data.identities.IdentityIndex`
keys the identities with, so ``DATASETS.TRAIN`` mixes them with other datasets.

PRW (Zheng et al., CVPR 2017), files as the dataset ships them (read as SeqNet does):
``frames/<frame>.jpg``; ``annotations/<frame>.jpg.mat`` with a (K, 5) array of rows
(id, x, y, w, h) in a variable ``box_new`` (``anno_file`` or ``anno_previous`` in some
files), id -2 = unlabelled; ``frame_train.mat`` / ``frame_test.mat`` with the frame
names in ``img_index_train`` / ``img_index_test``; ``query_info.txt`` with lines
"id x y w h frame_name". The camera is the ``c<cam>`` prefix of the frame name. A few
boxes have negative corners: they are clipped to the image origin. ``ID_train.mat`` /
``ID_test.mat`` are not needed (the frame annotations carry the ids).

CUHK-SYSU (Xiao et al., CVPR 2017): ``Image/SSM/<name>.jpg`` and these MATLAB
variables, read with ``loadmat(squeeze_me=True, struct_as_record=False)`` (the
structure the reference code ``psdb.py`` reads, fields by name; a different file
stops with its path and the missing variable or field):

- ``annotation/Images.mat``: ``Img``, struct array, one per image: ``imname``,
  ``box``: struct array, one per person, field ``idlocate`` (x, y, w, h);
- ``annotation/pool.mat``: ``pool``, cell array of the test (gallery) image names;
  the training images are all other images of ``Img``;
- ``annotation/test/train_test/Train.mat``: ``Train``, cell array, one struct per
  training identity: ``scene``, struct array of its appearances (``imname``,
  ``idlocate``); identity k (0-based) is ``person_id`` k;
- ``annotation/test/train_test/TestG<N>.mat``: ``TestG<N>``, struct array, one per
  query (test identity k is ``person_id`` k): ``Query`` (``imname``, ``idlocate``)
  and ``Gallery``: struct array of N entries (``imname``, ``idlocate``, empty where
  the person is absent). N = 100 by default, as reported in the literature.

Identities are given to Images.mat boxes by exact match of the integer boxes, as
the reference code does; a protocol box matching none is an error.
"""
import os
import re
from typing import Dict, List, Optional, Tuple

import numpy as np
import scipy.io
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode
from PIL import Image
from tqdm import tqdm

from .mot_challenge import MOTFormatError, load_mot_folder
from .synthetic import SYNTHETIC_CLASSES, SYNTHETIC_MIN_VISIBILITY

PRW_SPLITS = {"train": ("frame_train.mat", "img_index_train"), "gallery": ("frame_test.mat", "img_index_test")}
_PRW_BOX_VARIABLES = ("box_new", "anno_file", "anno_previous")
CUHK_SYSU_GALLERY_SIZES = (50, 100, 500, 1000, 2000, 4000, -1)  # -1: the full set (every test image)


# ---------------------------------------------------------------------------- helpers

def _image_size(file_name: str, source: str) -> Tuple[int, int]:
    if not os.path.isfile(file_name):
        raise MOTFormatError(f"{source}: image {file_name} is missing")
    with Image.open(file_name) as im:
        return im.size


def _annotations(boxes: np.ndarray, person_ids) -> List[dict]:
    return [
        {"bbox": [float(v) for v in box], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0,
         "person_id": int(pid) if pid >= 0 else -1, "iscrowd": 0}
        for box, pid in zip(boxes, person_ids) if box[2] > 0 and box[3] > 0
    ]


def _image_record(image_dir: str, name: str, source: str, **fields) -> dict:
    file_name = os.path.join(image_dir, name)
    width, height = _image_size(file_name, source)
    return {"file_name": file_name, "height": height, "width": width, "image_id": name, **fields}


def _query(image_dir: str, name: str, box, person_id: int, source: str, **fields) -> dict:
    return _image_record(image_dir, name, source, bbox=[float(v) for v in box], bbox_mode=BoxMode.XYWH_ABS,
                         person_id=int(person_id), **fields)


def _load_mat(path: str, variable: str):
    """One variable of a .mat file; errors name the file and what was expected."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: missing (see datasets/README.md for the expected layout)")
    data = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
    if variable not in data:
        found = sorted(k for k in data if not k.startswith("__"))
        raise MOTFormatError(f"{path}: no variable {variable!r} (found {found}); see the docstring of "
                             "mot_heads.data.person_search for the expected structure")
    return data[variable]


def _field(struct, name: str, path: str, where: str):
    """Field ``name`` of a MATLAB struct loaded with ``struct_as_record=False``."""
    fields = getattr(struct, "_fieldnames", None)
    if fields is None or name not in fields:
        raise MOTFormatError(f"{path}: {where} has no field {name!r} (fields: {fields}); see the docstring of "
                             "mot_heads.data.person_search for the expected structure")
    return getattr(struct, name)


def _items(value) -> list:
    """Elements of a struct / cell array (``squeeze_me`` loads a 1x1 array as its element)."""
    return list(np.atleast_1d(value))


def _box(value, path: str, where: str) -> Optional[np.ndarray]:
    """An ``idlocate`` (x, y, w, h) as int32, truncated as the reference code; None if empty."""
    try:
        box = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        box = np.zeros(1)
    if box.size == 0:
        return None
    if box.size != 4:
        raise MOTFormatError(f"{path}: {where}.idlocate: expected a box (x, y, w, h), got {value!r}")
    return box.astype(np.int32)


def _clip_xywh(boxes: np.ndarray) -> np.ndarray:
    """Boxes (x, y, w, h) with their top-left corner clipped to the image origin."""
    corner = np.maximum(boxes[:, :2], 0)
    return np.concatenate([corner, boxes[:, :2] + boxes[:, 2:] - corner], axis=1)


# ---------------------------------------------------------------------------- PRW

def prw_camera(frame_name: str, source: str) -> int:
    match = re.match(r"c(\d+)s", frame_name)
    if match is None:
        raise MOTFormatError(f"{source}: frame name {frame_name!r} does not start with c<camera>s<sequence>")
    return int(match.group(1))


def _jpg(name: str) -> str:
    return name if name.endswith(".jpg") else name + ".jpg"


def _prw_rows(path: str) -> np.ndarray:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: missing annotation of a listed frame (see datasets/README.md)")
    data = scipy.io.loadmat(path, squeeze_me=True)
    variable = next((v for v in _PRW_BOX_VARIABLES if v in data), None)
    if variable is None:
        found = sorted(k for k in data if not k.startswith("__"))
        raise MOTFormatError(f"{path}: expected a box array in one of {_PRW_BOX_VARIABLES}, found {found}")
    rows = np.asarray(data[variable], dtype=np.float64)
    rows = rows.reshape(0, 5) if rows.size == 0 else np.atleast_2d(rows)
    if rows.shape[1] != 5:
        raise MOTFormatError(f"{path}: {variable}: expected rows (id, x, y, w, h), got shape {rows.shape}")
    return rows


def load_prw(root: str, split: str) -> List[dict]:
    """Scene dicts of PRW's ``"train"`` or ``"gallery"`` (test) frames."""
    if split not in PRW_SPLITS:
        raise ValueError(f"split: expected one of {sorted(PRW_SPLITS)}, got {split!r}")
    mat_name, variable = PRW_SPLITS[split]
    names = [_jpg(str(n)) for n in _items(_load_mat(os.path.join(root, mat_name), variable))]
    scenes = []
    for name in tqdm(names, desc=f"PRW {split}", unit="img"):
        path = os.path.join(root, "annotations", name + ".mat")
        rows = _prw_rows(path)
        scene = _image_record(os.path.join(root, "frames"), name, path, camera_id=prw_camera(name, path))
        scene["annotations"] = _annotations(_clip_xywh(rows[:, 1:]), rows[:, 0])  # id -2: unlabelled
        scenes.append(scene)
    return scenes


def load_prw_queries(root: str) -> List[dict]:
    """Query dicts of ``query_info.txt`` (with ``camera_id``; no ``gallery``: every other test frame)."""
    path = os.path.join(root, "query_info.txt")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: missing (see datasets/README.md for the expected layout)")
    queries = []
    with open(path) as f:
        for line_no, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                continue
            source = f"{path}:{line_no}"
            try:
                if len(fields) != 6:
                    raise ValueError
                values = [float(v) for v in fields[:5]]
            except ValueError:
                raise MOTFormatError(f"{source}: expected 'id x y w h frame_name', got {line.strip()!r}") from None
            name = _jpg(fields[5])
            box = _clip_xywh(np.array([values[1:]]))[0]
            queries.append(_query(os.path.join(root, "frames"), name, box, int(values[0]), source,
                                  camera_id=prw_camera(name, source)))
    return queries


# ---------------------------------------------------------------------------- CUHK-SYSU

def _cuhk_paths(root: str, gallery_size: int) -> Dict[str, str]:
    if gallery_size not in CUHK_SYSU_GALLERY_SIZES:
        raise ValueError(f"gallery_size: expected one of {CUHK_SYSU_GALLERY_SIZES}, got {gallery_size}")
    protocol = f"TestG{50 if gallery_size == -1 else gallery_size}"  # the full set takes TestG50's queries
    annotation = os.path.join(root, "annotation")
    return {
        "images": os.path.join(annotation, "Images.mat"),
        "pool": os.path.join(annotation, "pool.mat"),
        "train": os.path.join(annotation, "test", "train_test", "Train.mat"),
        "test": os.path.join(annotation, "test", "train_test", protocol + ".mat"),
        "protocol": protocol,
    }


def _cuhk_boxes(path: str) -> Dict[str, np.ndarray]:
    """Images.mat: image name -> its int32 boxes (x, y, w, h)."""
    boxes = {}
    for i, image in enumerate(_items(_load_mat(path, "Img"))):
        where = f"Img[{i}]"
        name = str(_field(image, "imname", path, where))
        found = []
        for j, person in enumerate(_items(_field(image, "box", path, where))):
            box = _box(_field(person, "idlocate", path, f"{where}.box[{j}]"), path, f"{where}.box[{j}]")
            if box is None:
                raise MOTFormatError(f"{path}: {where}.box[{j}].idlocate is empty; expected (x, y, w, h)")
            found.append(box)
        boxes[name] = np.array(found, np.int32).reshape(-1, 4)
    return boxes


def _identities(path: str, protocol: str, boxes: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Person ids of the boxes of ``boxes``: identity k of Train.mat / TestG<N>.mat is k, -1 elsewhere."""
    pids = {name: np.full(len(b), -1, np.int64) for name, b in boxes.items()}

    def assign(struct, pid: int, where: str) -> None:
        name = str(_field(struct, "imname", path, where))
        box = _box(_field(struct, "idlocate", path, where), path, where)
        if box is None:
            return  # a gallery image without the person
        if name not in boxes:
            raise MOTFormatError(f"{path}: {where}: image {name} is not in annotation/Images.mat")
        hit = np.flatnonzero((boxes[name] == box).all(axis=1))
        if not len(hit):
            raise MOTFormatError(f"{path}: {where}: box {box.tolist()} is none of the boxes of {name} in "
                                 "annotation/Images.mat (expected an exact match)")
        pids[name][hit[0]] = pid

    for k, item in enumerate(_items(_load_mat(path, protocol))):
        if protocol == "Train":
            for j, scene in enumerate(_items(_field(item, "scene", path, f"Train[{k}]"))):
                assign(scene, k, f"Train[{k}].scene[{j}]")
        else:
            assign(_field(item, "Query", path, f"{protocol}[{k}]"), k, f"{protocol}[{k}].Query")
            for j, entry in enumerate(_items(_field(item, "Gallery", path, f"{protocol}[{k}]"))):
                assign(entry, k, f"{protocol}[{k}].Gallery[{j}]")
    return pids


def load_cuhk_sysu(root: str, split: str, gallery_size: int = 100) -> List[dict]:
    """Scene dicts of CUHK-SYSU's ``"train"`` images or ``"gallery"`` (test) images, the
    latter with the person ids of protocol TestG<gallery_size>."""
    if split not in ("train", "gallery"):
        raise ValueError(f"split: expected 'train' or 'gallery', got {split!r}")
    paths = _cuhk_paths(root, gallery_size)
    boxes = _cuhk_boxes(paths["images"])
    pool = [str(n) for n in _items(_load_mat(paths["pool"], "pool"))]
    if split == "train":
        names, pids = sorted(set(boxes) - set(pool)), _identities(paths["train"], "Train", boxes)
    else:
        names, pids = pool, _identities(paths["test"], paths["protocol"], boxes)
    scenes = []
    for name in tqdm(names, desc=f"CUHK-SYSU {split}", unit="img"):
        if name not in boxes:
            raise MOTFormatError(f"{paths['pool']}: image {name} is not in {paths['images']}")
        scene = _image_record(os.path.join(root, "Image", "SSM"), name, paths["images"])
        scene["annotations"] = _annotations(boxes[name], pids[name])
        scenes.append(scene)
    return scenes


def load_cuhk_sysu_queries(root: str, gallery_size: int = 100) -> List[dict]:
    """Query dicts of TestG<gallery_size>.mat, each with its ``gallery`` (none for the full set, -1)."""
    paths = _cuhk_paths(root, gallery_size)
    path, protocol = paths["test"], paths["protocol"]
    queries = []
    for k, item in enumerate(_items(_load_mat(path, protocol))):
        where = f"{protocol}[{k}]"
        query = _field(item, "Query", path, where)
        box = _box(_field(query, "idlocate", path, where + ".Query"), path, where + ".Query")
        if box is None:
            raise MOTFormatError(f"{path}: {where}.Query.idlocate is empty; expected (x, y, w, h)")
        fields = {}
        if gallery_size != -1:
            fields["gallery"] = [str(_field(g, "imname", path, f"{where}.Gallery[{j}]"))
                                 for j, g in enumerate(_items(_field(item, "Gallery", path, where)))]
        name = str(_field(query, "imname", path, where + ".Query"))
        queries.append(_query(os.path.join(root, "Image", "SSM"), name, box, k, f"{path}: {where}", **fields))
    return queries


# ---------------------------------------------------------------------------- synthetic

def load_synthetic_person_search(
    root: str, every: int = 5, min_gap: int = 10, min_query_visibility: float = 0.5
) -> Tuple[List[dict], List[dict]]:
    """(gallery scenes, queries) of the held-out ``val`` sequences of a synthetic set.

    The rule:

    - gallery scenes: frames 1, 1 + every, 1 + 2 * every, ... of every val sequence,
      with their person boxes (cars are left out; persons less than 10% visible stay
      ignore regions, ``iscrowd=1``, person_id -1);
    - identities: persons ``(video_id, track_id)``; ``person_id`` numbers them in order;
    - query: the identity's earliest box (any frame) that is no ignore region and at
      least ``min_query_visibility`` visible;
    - its gallery: every gallery scene except those of its own sequence before frame
      query_frame + ``min_gap`` (so its own frame is never in it; the other sequences
      are distractors). Identities that no scene of their gallery shows get no query.
    """
    if every < 1 or min_gap < 1:
        raise ValueError(f"every and min_gap: expected positive frame counts, got {every} and {min_gap}")
    records = load_mot_folder(
        os.path.join(root, "val"), class_map={i + 1: i for i in range(len(SYNTHETIC_CLASSES))},
        min_visibility=SYNTHETIC_MIN_VISIBILITY, ignore_classes=(),  # as register_synthetic
    )
    person = SYNTHETIC_CLASSES.index("person")

    def persons(record):
        return [a for a in record.get("annotations", ()) if a["category_id"] == person]

    keys = sorted({(r["video_id"], a["track_id"]) for r in records for a in persons(r) if not a["iscrowd"]})
    identity = {key: i for i, key in enumerate(keys)}
    gallery = []
    for record in records:
        if (record["frame_idx"] - 1) % every:
            continue
        scene = {k: v for k, v in record.items() if k not in ("annotations", "public_detections")}
        scene["annotations"] = [
            dict(a, person_id=-1 if a["iscrowd"] else identity[(record["video_id"], a["track_id"])])
            for a in persons(record)
        ]
        gallery.append(scene)
    queries, seen = [], set()
    for record in records:  # in (video, frame) order: the first good box of each identity
        for a in persons(record):
            key = (record["video_id"], a["track_id"])
            if a["iscrowd"] or a["visibility"] < min_query_visibility or key in seen:
                continue
            seen.add(key)
            first_searched = record["frame_idx"] + min_gap
            searched = [s for s in gallery if s["video_id"] != key[0] or s["frame_idx"] >= first_searched]
            if not any(b["person_id"] == identity[key] for s in searched for b in s["annotations"]):
                continue
            queries.append({
                **{k: record[k] for k in ("file_name", "height", "width", "image_id", "video_id", "frame_idx")},
                "bbox": list(a["bbox"]), "bbox_mode": a["bbox_mode"], "person_id": identity[key],
                "track_id": a["track_id"],
                "gallery": [s["image_id"] for s in searched],
            })
    return gallery, queries


# ---------------------------------------------------------------------------- registration

def with_training_identities(scenes: List[dict], scope: str) -> List[dict]:
    """``scenes`` whose annotations carry ``track_id`` = ``person_id`` and ``identity_scope`` = ``scope``."""
    for scene in scenes:
        scene["identity_scope"] = scope
        for annotation in scene["annotations"]:
            annotation["track_id"] = annotation["person_id"]
    return scenes


def _register(prefix: str, root: str, dataset_format: str, loaders: Dict[str, object]) -> List[str]:
    """Register ``<prefix>_<split>`` for each loader; gallery and queries name each other."""
    for split, loader in loaders.items():
        name = f"{prefix}_{split}"
        DatasetCatalog.register(name, loader)
        MetadataCatalog.get(name).set(
            thing_classes=["person"], evaluator_type="person_search", dataset_root=root,
            dataset_format=dataset_format, query_dataset=f"{prefix}_query", gallery_dataset=f"{prefix}_gallery",
        )
    return [f"{prefix}_{split}" for split in loaders]


def register_prw(root: str, prefix: str = "prw") -> List[str]:
    """Register ``<prefix>_train``, ``<prefix>_gallery`` and ``<prefix>_query``."""
    return _register(prefix, root, "prw", {
        "train": lambda: with_training_identities(load_prw(root, "train"), f"{prefix}_train"),
        "gallery": lambda: load_prw(root, "gallery"),
        "query": lambda: load_prw_queries(root),
    })


def register_cuhk_sysu(root: str, prefix: str = "cuhk_sysu", gallery_size: int = 100) -> List[str]:
    """Register ``<prefix>_train``, ``<prefix>_gallery`` and ``<prefix>_query`` (TestG<gallery_size>)."""
    _cuhk_paths(root, gallery_size)  # a bad gallery size fails now
    return _register(prefix, root, "cuhk_sysu", {
        "train": lambda: with_training_identities(load_cuhk_sysu(root, "train", gallery_size), f"{prefix}_train"),
        "gallery": lambda: load_cuhk_sysu(root, "gallery", gallery_size),
        "query": lambda: load_cuhk_sysu_queries(root, gallery_size),
    })


def register_synthetic_person_search(root: str, prefix: str = "synth", **kwargs) -> List[str]:
    """Register ``<prefix>_ps_gallery`` and ``<prefix>_ps_query`` of a generated synthetic set;
    kwargs go to :func:`load_synthetic_person_search`."""
    return _register(f"{prefix}_ps", root, "synthetic", {
        "gallery": lambda: load_synthetic_person_search(root, **kwargs)[0],
        "query": lambda: load_synthetic_person_search(root, **kwargs)[1],
    })
