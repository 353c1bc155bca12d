"""PRW and CUHK-SYSU readers on tiny fake files; the synthetic person-search split."""
import os

import cv2
import numpy as np
import pytest
import scipy.io
from detectron2.data import DatasetCatalog, MetadataCatalog

from mot_heads.data import (
    IdentityIndex,
    MOTFormatError,
    load_cuhk_sysu,
    load_cuhk_sysu_queries,
    load_prw,
    load_prw_queries,
    load_synthetic_person_search,
    register_cuhk_sysu,
    register_prw,
    register_synthetic_person_search,
)


def write_images(folder, names, size=(60, 40)):
    os.makedirs(folder, exist_ok=True)
    for name in names:
        cv2.imwrite(os.path.join(folder, name), np.zeros((size[1], size[0], 3), np.uint8))


def cell(strings):
    """A MATLAB (N, 1) cell array of strings."""
    array = np.empty((len(strings), 1), dtype=object)
    array[:, 0] = strings
    return array


def structs(fields, rows):
    """A MATLAB 1 x N struct array."""
    array = np.zeros((1, len(rows)), dtype=[(f, "O") for f in fields])
    for i, row in enumerate(rows):
        for f, v in zip(fields, row):
            array[0, i][f] = v
    return array


# ---------------------------------------------------------------------------- PRW

@pytest.fixture
def prw(tmp_path):
    root = tmp_path / "PRW"
    write_images(root / "frames", ["c1s1_000001.jpg", "c1s1_000002.jpg", "c2s1_000003.jpg"])
    os.makedirs(root / "annotations")
    annotations = {
        "c1s1_000001": ("box_new", [[3, 1, 2, 10, 20], [-2, 30, 5, 10, 20]]),
        "c1s1_000002": ("box_new", [[3, -4, 2, 10, 20]]),  # one row; x < 0 is clipped
        "c2s1_000003": ("anno_file", [[3, 20, 2, 10, 20], [5, 40, 2, 10, 20]]),  # another variable name
    }
    for name, (variable, rows) in annotations.items():
        scipy.io.savemat(str(root / "annotations" / f"{name}.jpg.mat"), {variable: np.array(rows, float)})
    scipy.io.savemat(str(root / "frame_train.mat"), {"img_index_train": cell(["c1s1_000001"])})
    scipy.io.savemat(str(root / "frame_test.mat"), {"img_index_test": cell(["c1s1_000002", "c2s1_000003"])})
    (root / "query_info.txt").write_text("3 20 2 10 20 c2s1_000003\r\n5 40.5 2 10 20 c2s1_000003\r\n")
    return str(root)


def test_prw_scenes_and_queries(prw):
    (train,) = load_prw(prw, "train")
    assert (train["image_id"], train["camera_id"], train["width"], train["height"]) == ("c1s1_000001.jpg", 1, 60, 40)
    assert [(a["person_id"], a["bbox"]) for a in train["annotations"]] == [(3, [1, 2, 10, 20]), (-1, [30, 5, 10, 20])]
    assert train["annotations"][0]["category_id"] == 0
    gallery = load_prw(prw, "gallery")
    assert [g["camera_id"] for g in gallery] == [1, 2]
    assert gallery[0]["annotations"][0]["bbox"] == [0, 2, 6, 20]  # x -4 clipped to 0, right edge kept
    assert [a["person_id"] for a in gallery[1]["annotations"]] == [3, 5]
    queries = load_prw_queries(prw)
    assert [(q["person_id"], q["image_id"], q["camera_id"], q["bbox"]) for q in queries] == [
        (3, "c2s1_000003.jpg", 2, [20, 2, 10, 20]), (5, "c2s1_000003.jpg", 2, [40.5, 2, 10, 20])]
    assert all("gallery" not in q for q in queries)  # every other test frame


def test_prw_errors_name_file_and_what_was_expected(prw):
    with open(os.path.join(prw, "query_info.txt"), "a") as f:
        f.write("7 1 2 3 c1s1_000002\n")
    with pytest.raises(MOTFormatError, match=r"query_info.txt:3: expected 'id x y w h frame_name'"):
        load_prw_queries(prw)
    scipy.io.savemat(os.path.join(prw, "annotations", "c1s1_000002.jpg.mat"), {"boxes": np.zeros((1, 5))})
    with pytest.raises(MOTFormatError, match=r"c1s1_000002.jpg.mat: expected a box array in one of .*'boxes'"):
        load_prw(prw, "gallery")
    os.remove(os.path.join(prw, "annotations", "c1s1_000002.jpg.mat"))
    with pytest.raises(FileNotFoundError, match="c1s1_000002.jpg.mat: missing"):
        load_prw(prw, "gallery")
    scipy.io.savemat(os.path.join(prw, "frame_train.mat"), {"frames": cell(["c1s1_000001"])})
    with pytest.raises(MOTFormatError, match=r"frame_train.mat: no variable 'img_index_train' \(found \['frames'\]\)"):
        load_prw(prw, "train")
    os.remove(os.path.join(prw, "frames", "c1s1_000001.jpg"))
    scipy.io.savemat(os.path.join(prw, "frame_train.mat"), {"img_index_train": cell(["c1s1_000001"])})
    with pytest.raises(MOTFormatError, match="image .*c1s1_000001.jpg is missing"):
        load_prw(prw, "train")


# ---------------------------------------------------------------------------- CUHK-SYSU

BOXES = {  # image -> its boxes (x, y, w, h) in Images.mat
    "s1.jpg": [[1, 2, 10, 20]],  # training image
    "s2.jpg": [[1, 2, 10, 20], [30, 2, 10, 20], [5, 5, 0, 20]],  # the last has no width: dropped
    "s3.jpg": [[3, 4, 10, 20], [40, 4, 10, 20]],
    "s4.jpg": [[8, 8, 10, 20]],
}
POOL = ["s2.jpg", "s3.jpg", "s4.jpg"]


def write_cuhk_sysu(root, img_fields=("imname", "nAppear", "box")):
    write_images(os.path.join(root, "Image", "SSM"), BOXES)
    protocol = os.path.join(root, "annotation", "test", "train_test")
    os.makedirs(protocol)
    images = structs(img_fields, [
        (name, len(boxes), structs(("idlocate", "ishard"), [(np.array([b], float), 0) for b in boxes]))
        for name, boxes in BOXES.items()
    ])
    scipy.io.savemat(os.path.join(root, "annotation", "Images.mat"), {"Img": images})
    scipy.io.savemat(os.path.join(root, "annotation", "pool.mat"), {"pool": cell(POOL)})
    train = np.empty((1, 1), dtype=object)
    train[0, 0] = {"idname": "p1", "nAppear": 1, "scene": structs(
        ("imname", "idlocate", "ishard"), [("s1.jpg", np.array([[1, 2, 10, 20]], float), 0)])}
    scipy.io.savemat(os.path.join(protocol, "Train.mat"), {"Train": train})
    # Two test identities, galleries of 2 images; an empty idlocate: the person is absent.
    gallery_fields = ("imname", "idlocate", "ishard")
    tests = structs(("Query", "Gallery"), [
        ({"imname": "s2.jpg", "idlocate": np.array([[30, 2, 10, 20]], float), "ishard": 0, "idname": "p9"},
         structs(gallery_fields, [("s3.jpg", np.array([[3, 4, 10, 20]], float), 0), ("s4.jpg", np.zeros((0, 0)), 0)])),
        ({"imname": "s3.jpg", "idlocate": np.array([[40, 4, 10, 20]], float), "ishard": 0, "idname": "p10"},
         structs(gallery_fields, [("s4.jpg", np.array([[8, 8, 10, 20]], float), 0), ("s2.jpg", np.zeros((0, 0)), 0)])),
    ])
    scipy.io.savemat(os.path.join(protocol, "TestG100.mat"), {"TestG100": tests})
    scipy.io.savemat(os.path.join(protocol, "TestG50.mat"), {"TestG50": tests})
    return str(root)


def person_ids(scenes):
    return {s["image_id"]: [a["person_id"] for a in s["annotations"]] for s in scenes}


def test_cuhk_sysu_scenes_and_queries(tmp_path):
    root = write_cuhk_sysu(tmp_path / "CUHK-SYSU")
    (train,) = load_cuhk_sysu(root, "train")
    assert (train["image_id"], train["width"], train["height"]) == ("s1.jpg", 60, 40)
    assert person_ids([train]) == {"s1.jpg": [0]}
    gallery = load_cuhk_sysu(root, "gallery")
    assert [g["image_id"] for g in gallery] == POOL
    assert person_ids(gallery) == {"s2.jpg": [-1, 0], "s3.jpg": [0, 1], "s4.jpg": [1]}
    assert gallery[0]["annotations"][1]["bbox"] == [30, 2, 10, 20]
    queries = load_cuhk_sysu_queries(root)
    assert [(q["image_id"], q["person_id"], q["bbox"], q["gallery"]) for q in queries] == [
        ("s2.jpg", 0, [30, 2, 10, 20], ["s3.jpg", "s4.jpg"]), ("s3.jpg", 1, [40, 4, 10, 20], ["s4.jpg", "s2.jpg"])]
    full = load_cuhk_sysu_queries(root, gallery_size=-1)  # TestG50's queries, the whole pool as gallery
    assert [q["person_id"] for q in full] == [0, 1] and all("gallery" not in q for q in full)
    with pytest.raises(ValueError, match="gallery_size: expected one of"):
        load_cuhk_sysu_queries(root, gallery_size=70)


def test_cuhk_sysu_errors_name_file_and_field(tmp_path):
    root = write_cuhk_sysu(tmp_path / "no-box", img_fields=("imname", "nAppear", "boxes"))
    with pytest.raises(MOTFormatError, match=r"Images.mat: Img\[0\] has no field 'box'"):
        load_cuhk_sysu(root, "gallery")
    root = write_cuhk_sysu(tmp_path / "moved")
    bad = structs(("Query", "Gallery"), [
        ({"imname": "s2.jpg", "idlocate": np.array([[31, 2, 10, 20]], float)},
         structs(("imname", "idlocate"), [("s3.jpg", np.zeros((0, 0)))])),
    ])
    scipy.io.savemat(os.path.join(root, "annotation", "test", "train_test", "TestG100.mat"), {"TestG100": bad})
    with pytest.raises(MOTFormatError, match=r"TestG100.mat: TestG100\[0\].Query: box \[31, 2, 10, 20\] is none"):
        load_cuhk_sysu(root, "gallery")
    os.remove(os.path.join(root, "annotation", "pool.mat"))
    with pytest.raises(FileNotFoundError, match="pool.mat: missing"):
        load_cuhk_sysu(root, "train")


# ---------------------------------------------------------------------------- synthetic

def test_synthetic_split(synthetic_root):
    every, min_gap = 2, 4
    gallery, queries = load_synthetic_person_search(synthetic_root, every=every, min_gap=min_gap)
    assert [s["frame_idx"] for s in gallery] == [1, 3, 5, 7, 9, 11]  # one val sequence of 12 frames
    by_id = {s["image_id"]: s for s in gallery}
    identity = {}  # person_id -> (video_id, track_id), one to one
    for s in gallery:
        for a in s["annotations"]:
            assert a["category_id"] == 0
            key = (s["video_id"], a["track_id"])
            if a["person_id"] >= 0:
                assert identity.setdefault(a["person_id"], key) == key
    assert len(set(identity.values())) == len(identity)
    assert queries, "the tiny set must give queries"
    for q in queries:
        assert q["image_id"] not in q["gallery"]
        assert all(by_id[i]["frame_idx"] >= q["frame_idx"] + min_gap for i in q["gallery"])
        holding = [i for i in q["gallery"] if any(a["person_id"] == q["person_id"] for a in by_id[i]["annotations"])]
        assert holding and identity[q["person_id"]] == (q["video_id"], q["track_id"])
    assert len({q["person_id"] for q in queries}) == len(queries)  # one query per identity


def test_synthetic_registration(synthetic_root):
    names = register_synthetic_person_search(synthetic_root, prefix="ps_test", every=2, min_gap=4)
    try:
        assert names == ["ps_test_ps_gallery", "ps_test_ps_query"]
        assert MetadataCatalog.get(names[0]).query_dataset == names[1]
        assert len(DatasetCatalog.get(names[1])) == len(load_synthetic_person_search(synthetic_root, 2, 4)[1])
    finally:
        for name in names:
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)


# ---------------------------------------------------------------------------- training identities

def test_registered_training_scenes_carry_identities_and_galleries_do_not(prw, tmp_path):
    cuhk = write_cuhk_sysu(tmp_path / "CUHK-SYSU")
    assert register_prw(prw, prefix="ids_prw") == ["ids_prw_train", "ids_prw_gallery", "ids_prw_query"]
    register_cuhk_sysu(cuhk, prefix="ids_cuhk")
    (prw_scene,) = DatasetCatalog.get("ids_prw_train")
    # PRW's id -2 (unlabelled) is person_id and track_id -1
    assert [(a["person_id"], a["track_id"]) for a in prw_scene["annotations"]] == [(3, 3), (-1, -1)]
    assert prw_scene["identity_scope"] == "ids_prw_train"
    (cuhk_scene,) = DatasetCatalog.get("ids_cuhk_train")
    assert [a["track_id"] for a in cuhk_scene["annotations"]] == [0]
    assert cuhk_scene["identity_scope"] == "ids_cuhk_train"
    assert DatasetCatalog.get("ids_prw_gallery") == load_prw(prw, "gallery")
    assert DatasetCatalog.get("ids_cuhk_gallery") == load_cuhk_sysu(cuhk, "gallery")
    index = IdentityIndex(["ids_prw_train", "ids_cuhk_train"])
    assert index.offsets == {"ids_prw_train": 0, "ids_cuhk_train": 1} and index.num_identities == 2
    assert (index("ids_prw_train", 3), index("ids_cuhk_train", 0), index("ids_prw_train", -1)) == (0, 1, -1)
