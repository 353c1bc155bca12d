"""JDE-style training identities: per-dataset offsets, mapping, mapper alignment."""
import cv2
import numpy as np
import pytest
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog
from detectron2.structures import BoxMode

from mot_heads import add_mot_config
from mot_heads.data import IdentityIndex, IdentityMapper


def frame(video, track_ids, file_name="x.jpg"):
    return {"file_name": file_name, "video_id": video, "annotations": [
        {"track_id": t, "bbox": [0, 0, 4, 4], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0} for t in track_ids]}


@pytest.fixture(scope="module")
def registered():
    sets = {
        "ids_a": [frame("a1", [3, 1]), frame("a1", [1, 7]), frame("a2", [1])],  # a1: 1, 3, 7; a2: 1
        "ids_b": [frame("b1", [5, 2]), frame("b1", [2])],  # b1: 2, 5
        "ids_none": [frame(None, [-1, -1])],  # CrowdHuman-like: no identities
        "ids_clash": [frame("a2", [9])],
    }
    for name, records in sets.items():
        if name not in DatasetCatalog.list():
            DatasetCatalog.register(name, lambda records=records: records)
    return sets


def test_identities_of_each_dataset_follow_the_previous_datasets(registered):
    index = IdentityIndex(["ids_a", "ids_none", "ids_b"])
    assert index.num_identities == 6 and index.offsets == {"ids_a": 0, "ids_none": 4, "ids_b": 4}
    assert [index("a1", t) for t in (1, 3, 7)] == [0, 1, 2] and index("a2", 1) == 3
    assert [index("b1", t) for t in (2, 5)] == [4, 5]
    assert index(None, -1) == -1 and index("a1", -1) == -1
    swapped = IdentityIndex(["ids_b", "ids_a"])
    assert swapped.offsets == {"ids_b": 0, "ids_a": 2} and swapped("a1", 1) == 2


def test_a_video_in_two_datasets_or_ids_without_video_are_errors(registered):
    with pytest.raises(ValueError, match="video a2 is in datasets 'ids_a' and 'ids_clash'"):
        IdentityIndex(["ids_a", "ids_clash"])
    DatasetCatalog.register("ids_novideo", lambda: [frame(None, [4])])
    with pytest.raises(ValueError, match="has track ids but no video_id"):
        IdentityIndex(["ids_novideo"])


def test_mapper_keeps_identities_aligned_with_boxes(tmp_path):
    image = str(tmp_path / "f.jpg")
    cv2.imwrite(image, np.zeros((48, 64, 3), np.uint8))
    record = {"file_name": image, "height": 48, "width": 64, "video_id": "m1", "annotations": [
        {"track_id": 4, "bbox": [2, 2, 10, 20], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0},
        {"track_id": 8, "bbox": [100, 2, 10, 20], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0},  # outside
        {"track_id": 6, "bbox": [30, 10, 10, 20], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 1},
        {"track_id": -1, "bbox": [40, 10, 5, 5], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0, "iscrowd": 1},
    ]}
    DatasetCatalog.register("ids_mapper", lambda: [record])
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_list(["DATASETS.TRAIN", ("ids_mapper",), "INPUT.MIN_SIZE_TRAIN", (48,),
                         "INPUT.RANDOM_FLIP", "none", "INPUT.TRAIN_MAPPER", "IdentityMapper"])
    instances = IdentityMapper(cfg, is_train=True)(dict(record))["instances"]
    # identities m1: 4 -> 0, 6 -> 1, 8 -> 2; the box outside the image is filtered out
    assert instances.gt_identities.tolist() == [0, 1]
    assert instances.gt_classes.tolist() == [0, 1] and instances.gt_track_ids.tolist() == [4, 6]
    np.testing.assert_allclose(instances.gt_boxes.tensor[1].numpy(), [30, 10, 40, 30])


def test_mapper_gives_the_boxes_of_hidden_objects_apart(tmp_path):
    image = str(tmp_path / "f.jpg")
    cv2.imwrite(image, np.zeros((48, 64, 3), np.uint8))
    box = {"bbox_mode": BoxMode.XYWH_ABS, "category_id": 0}
    record = {"file_name": image, "height": 48, "width": 64, "video_id": "m2", "annotations": [
        {**box, "track_id": 1, "bbox": [2, 2, 10, 20]},
        {**box, "track_id": 2, "bbox": [4, 4, 6, 12], "iscrowd": 1, "hidden": 1},  # behind track 1
        {**box, "track_id": 3, "bbox": [58, 30, 20, 10], "iscrowd": 1, "hidden": 1},  # half outside: clipped
        {**box, "track_id": 4, "bbox": [80, 2, 10, 20], "iscrowd": 1, "hidden": 1},  # outside: dropped
        {**box, "track_id": -1, "bbox": [40, 10, 5, 5], "iscrowd": 1},  # an ignore region, not hidden
    ]}
    DatasetCatalog.register("hidden_mapper", lambda: [record])
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_list(["DATASETS.TRAIN", ("hidden_mapper",), "INPUT.MIN_SIZE_TRAIN", (48,),
                         "INPUT.RANDOM_FLIP", "none", "INPUT.TRAIN_MAPPER", "IdentityMapper"])
    mapped = IdentityMapper(cfg, is_train=True)(dict(record))
    assert mapped["instances"].gt_track_ids.tolist() == [1]
    np.testing.assert_allclose(mapped["hidden_boxes"].numpy(), [[4, 4, 10, 16], [58, 30, 64, 40]])
