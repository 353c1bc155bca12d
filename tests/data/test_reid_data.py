"""ReID data: Market-1501 names and folders, crops of MOT gt boxes, query / gallery split,
the bag-of-tricks mapper, and P x K batches."""
import itertools
import os
from collections import Counter

import cv2
import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode

from mot_heads.data import (
    IdentitySampler,
    ReIDIdentityIndex,
    ReIDMapper,
    load_market1501,
    load_mot_crops,
    register_market1501,
    register_synthetic,
    split_query_gallery,
)
from mot_heads.data.reid import parse_market_name

MARKET_FILES = {
    "bounding_box_train": ["0002_c1s1_000451_03.jpg", "0002_c2s1_000301_01.jpg", "0007_c3s3_000001_01.jpg",
                           "Thumbs.db"],
    "query": ["0002_c1s1_001051_00.jpg", "0007_c6s1_000076_00.jpg"],
    "bounding_box_test": ["0002_c2s1_000801_01.jpg", "0000_c1s1_000001_02.jpg", "-1_c3s1_000026_01.jpg",
                          "0007_c6s1_000101_02.jpg"],
}


@pytest.fixture
def market_root(tmp_path):
    for folder, files in MARKET_FILES.items():
        os.makedirs(tmp_path / folder)
        for name in files:
            if name.endswith(".jpg"):
                cv2.imwrite(str(tmp_path / folder / name), np.zeros((8, 4, 3), np.uint8))
            else:  # Market ships Windows thumbnail caches
                (tmp_path / folder / name).write_bytes(b"\0")
    return str(tmp_path)


def test_market_file_names():
    assert parse_market_name("/x/0002_c1s1_000451_03.jpg") == (2, 1)
    assert parse_market_name("-1_c3s1_000026_01.jpg") == (-1, 3)  # junk
    assert parse_market_name("0000_c6s2_000001_02.jpg") == (0, 6)  # distractor
    with pytest.raises(ValueError, match="bad.jpg: expected a Market-1501 file name"):
        parse_market_name("/data/bad.jpg")


def test_market_folders_follow_the_protocol(market_root):
    train = load_market1501(market_root, "train", "m_train")
    assert [(r["person_id"], r["camera_id"]) for r in train] == [(2, 1), (2, 2), (7, 3)]  # Thumbs.db skipped
    assert "split" not in train[0] and train[0]["dataset"] == "m_train"
    gallery = load_market1501(market_root, "gallery")
    # junk (-1) dropped, distractor (0000) kept as a wrong match of every query
    assert sorted(r["person_id"] for r in gallery) == [0, 2, 7] and {r["split"] for r in gallery} == {"gallery"}
    names = register_market1501(market_root, prefix="mkt")
    assert names == ["mkt_train", "mkt_query", "mkt_gallery", "mkt_test"]
    test = DatasetCatalog.get("mkt_test")
    assert Counter(r["split"] for r in test) == {"query": 2, "gallery": 3}
    assert {r["dataset"] for r in test} == {"mkt_test"}
    assert MetadataCatalog.get("mkt_test").evaluator_type == "retrieval"
    index = ReIDIdentityIndex(["mkt_train"])
    assert index.num_identities == 2 and [index(r) for r in DatasetCatalog.get("mkt_train")] == [0, 0, 1]
    with pytest.raises(FileNotFoundError, match="nowhere/bounding_box_train: no such folder"):
        load_market1501("/nowhere", "train")


def test_crops_of_mot_gt_boxes(synthetic_root):
    register_synthetic(synthetic_root, prefix="rdc")
    source = DatasetCatalog.get("rdc_train")
    crops = load_mot_crops("rdc_train", "rdc_crops", min_visibility=0.5, stride_frames=2)
    assert crops and all((c["frame_idx"] - 1) % 2 == 0 for c in crops)
    kept = [(r, a) for r in source if (r["frame_idx"] - 1) % 2 == 0 for a in r["annotations"]
            if a["track_id"] >= 0 and not a["iscrowd"] and a["visibility"] >= 0.5]
    assert len(crops) == len(kept)
    for crop, (record, ann) in zip(crops, kept):
        assert crop["file_name"] == record["file_name"] and crop["track_id"] == ann["track_id"]
        np.testing.assert_allclose(crop["crop_box"], BoxMode.convert(ann["bbox"], ann["bbox_mode"], BoxMode.XYXY_ABS))
    keys = {(c["video_id"], c["track_id"]): c["person_id"] for c in crops}
    assert sorted(keys.values()) == list(range(len(keys)))  # contiguous, one per (video, track)
    videos = sorted({c["video_id"] for c in crops})
    assert {(c["video_id"], c["camera_id"]) for c in crops} == {(v, i) for i, v in enumerate(videos)}
    assert {c["dataset"] for c in crops} == {"rdc_crops"}


def test_query_gallery_split_by_time():
    crops = [{"person_id": 0, "camera_id": 1, "frame_idx": f} for f in (9, 1, 5, 3, 7)]
    crops.append({"person_id": 1, "camera_id": 0, "frame_idx": 4})
    split_query_gallery(crops)
    first = sorted(crops[:5], key=lambda c: c["frame_idx"])
    assert [c["split"] for c in first] == ["query", "query", "gallery", "gallery", "gallery"]
    assert [c["camera_id"] for c in first] == [2, 2, 3, 3, 3]  # camera = 2 * video + half
    assert (crops[5]["split"], crops[5]["camera_id"]) == ("gallery", 1)  # one crop: gallery only


@pytest.fixture
def frame_file(tmp_path):
    image = np.arange(48 * 64 * 3, dtype=np.uint32).reshape(48, 64, 3).astype(np.uint8)
    path = str(tmp_path / "frame.png")  # lossless, so pixels compare exactly
    cv2.imwrite(path, image)
    return path, image


def test_mapper_without_augmentation_gives_the_resized_crop(frame_file):
    path, image = frame_file
    record = {"file_name": path, "crop_box": [8.0, 4.0, 24.0, 36.0], "person_id": 3, "camera_id": 1, "split": "query"}
    mapper = ReIDMapper(True, size=(32, 16), image_format="BGR", flip_prob=0.0, padding=0, erasing_prob=0.0)
    out = mapper(dict(record))
    assert out["image"].dtype == torch.uint8 and out["image"].shape == (3, 32, 16)
    np.testing.assert_array_equal(out["image"].numpy(), image[4:36, 8:24].transpose(2, 0, 1))
    assert (out["person_id"], out["camera_id"], out["split"]) == (3, 1, "query") and "label" not in out
    test_mapper = ReIDMapper(False, size=(16, 8), image_format="BGR")  # augmentation is for training only
    crop = image[4:36, 8:24]
    np.testing.assert_array_equal(test_mapper(dict(record))["image"].numpy(),
                                  test_mapper.resize.get_transform(crop).apply_image(crop).transpose(2, 0, 1))


def test_mapper_augments_in_training(frame_file):
    path, image = frame_file
    record = {"file_name": path, "person_id": 3, "camera_id": 1, "dataset": "rdm_train"}
    DatasetCatalog.register("rdm_train", lambda: [dict(record, person_id=1), record])
    mapper = ReIDMapper(True, size=(48, 64), image_format="BGR", flip_prob=0.0, padding=0, erasing_prob=1.0,
                        fill=(7, 7, 7), identities=ReIDIdentityIndex(["rdm_train"]))
    torch.manual_seed(0)
    out = mapper(dict(record))
    assert out["label"] == 1 and out["image"].shape == (3, 48, 64)
    erased = (out["image"].numpy() != image.transpose(2, 0, 1)).any(0)
    assert erased.any() and (out["image"].numpy()[:, erased] == 7).all()
    flipped = ReIDMapper(True, size=(48, 64), image_format="BGR", flip_prob=1.0, padding=0, erasing_prob=0.0)
    np.testing.assert_array_equal(flipped(dict(record))["image"].numpy(), image[:, ::-1].transpose(2, 0, 1))
    padded = ReIDMapper(True, size=(48, 64), image_format="BGR", flip_prob=0.0, padding=10, erasing_prob=0.0)
    assert padded(dict(record))["image"].shape == (3, 48, 64)


def test_identity_sampler_batches_p_identities_of_k_crops():
    counts = {0: 6, 1: 4, 2: 2, 3: 5, 4: 9}  # identity 2 has fewer than K crops
    dicts = [{"person_id": p, "dataset": "d"} for p, n in counts.items() for _ in range(n)]
    dicts.append({"person_id": -1, "dataset": "d"})  # no identity: never sampled
    sampler = IdentitySampler(dicts, batch_size=12, num_instances=4, seed=0)
    stream = list(itertools.islice(iter(sampler), 12 * 20))
    for start in range(0, len(stream), 12):
        batch = Counter(dicts[i]["person_id"] for i in stream[start:start + 12])
        assert len(batch) == 3 and set(batch.values()) == {4}
    assert stream == list(itertools.islice(iter(sampler), 12 * 20))  # deterministic for a seed
    with pytest.raises(ValueError, match="P = 6 identities, but the training set has 5"):
        IdentitySampler(dicts, batch_size=24, num_instances=4, seed=0)
    with pytest.raises(ValueError, match="multiple of K = 4"):
        IdentitySampler(dicts, batch_size=10, num_instances=4, seed=0)
