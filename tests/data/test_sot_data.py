"""SOT dataset readers: LaSOT, GOT-10k and generic layouts, and targets of the synthetic set."""
import os

import cv2
import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

from mot_heads.data import (
    load_mot_folder,
    load_sot_folder,
    load_sot_sequence,
    load_synthetic_sot,
    register_sot_folder,
    register_synthetic_sot,
)
from mot_heads.data.sot import SOTFormatError, choose_target, find_sot_sequences
from mot_heads.data.synthetic import SYNTHETIC_MIN_VISIBILITY

from ..conftest import write_sequence


def write_sot_sequence(seq_dir, gt, frames=None, frame_dir=".", flags=None, size=(32, 24)):
    """A sequence folder: ``frames`` (default: one per gt line) tiny images in
    ``seq_dir/frame_dir``, ``groundtruth.txt`` and flag files {name: text}."""
    frames = len(gt.strip().splitlines()) if frames is None else frames
    image_dir = os.path.join(str(seq_dir), frame_dir)
    os.makedirs(image_dir, exist_ok=True)
    for t in range(1, frames + 1):
        cv2.imwrite(os.path.join(image_dir, f"{t:08d}.jpg"), np.zeros((size[1], size[0], 3), np.uint8))
    with open(os.path.join(str(seq_dir), "groundtruth.txt"), "w") as f:
        f.write(gt)
    for name, text in (flags or {}).items():
        with open(os.path.join(str(seq_dir), name), "w") as f:
            f.write(text)
    return str(seq_dir)


def test_lasot_layout(tmp_path):
    write_sot_sequence(tmp_path / "bird" / "bird-2", "1,2,3,4\n5,6,7,8\n9,9,4,4\n", frame_dir="img",
                       flags={"full_occlusion.txt": "0,1,0", "out_of_view.txt": "0,0,0"})
    write_sot_sequence(tmp_path / "airplane" / "airplane-1", "1,1,5,5\n", frame_dir="img")
    dicts = load_sot_folder(str(tmp_path), "lasot")
    assert [(d["video_id"], d["frame_idx"]) for d in dicts] == [
        ("airplane-1", 1), ("bird-2", 1), ("bird-2", 2), ("bird-2", 3)]
    bird = dicts[1:]
    assert bird[0]["file_name"].endswith(os.path.join("bird-2", "img", "00000001.jpg"))
    assert (bird[0]["width"], bird[0]["height"], bird[0]["seq_length"]) == (32, 24, 3)
    assert bird[0]["image_id"] == "bird-2/00000001"
    assert [d["sot_box"] for d in bird] == [[1, 2, 3, 4], None, [9, 9, 4, 4]]  # as in the file
    assert [d["sot_absent"] for d in bird] == [False, True, False]
    only = load_sot_folder(str(tmp_path), "lasot", sequences=["bird-2"])
    assert {d["video_id"] for d in only} == {"bird-2"}


def test_got10k_layout_with_list_and_test_split(tmp_path):
    write_sot_sequence(tmp_path / "GOT-10k_Val_000002", "1,1,5,5\n2,2,5,5\n3,3,5,5\n",
                       flags={"absence.label": "0\n1\n0\n"})
    write_sot_sequence(tmp_path / "GOT-10k_Val_000001", "4,4,6,6\n", frames=3)  # test split: first frame only
    (tmp_path / "list.txt").write_text("GOT-10k_Val_000002\nGOT-10k_Val_000001\n")
    dicts = load_sot_folder(str(tmp_path), "got10k")
    assert [d["video_id"] for d in dicts] == ["GOT-10k_Val_000002"] * 3 + ["GOT-10k_Val_000001"] * 3
    assert [d["sot_absent"] for d in dicts[:3]] == [False, True, False]
    assert dicts[3]["sot_box"] == [4, 4, 6, 6]
    assert all("sot_box" not in d and "sot_absent" not in d for d in dicts[4:])
    (tmp_path / "list.txt").write_text("GOT-10k_Val_000009\n")
    with pytest.raises(SOTFormatError, match=r"list\.txt: names .*GOT-10k_Val_000009, which has no groundtruth\.txt"):
        find_sot_sequences(str(tmp_path), "got10k")


def test_generic_layout_and_registration(tmp_path):
    write_sot_sequence(tmp_path / "clip", "1,1,5,5\nnan,nan,nan,nan\n0,0,0,0\n2,2,5,5\n")
    dicts = load_sot_sequence(str(tmp_path / "clip"))
    assert [d["sot_absent"] for d in dicts] == [False, True, True, False]
    register_sot_folder("sot_test_generic", str(tmp_path))
    try:
        assert [d["image_id"] for d in DatasetCatalog.get("sot_test_generic")] == [d["image_id"] for d in dicts]
        meta = MetadataCatalog.get("sot_test_generic")
        assert (meta.dataset_format, meta.evaluator_type, meta.sot_layout) == ("sot", "sot", "generic")
    finally:
        DatasetCatalog.remove("sot_test_generic")
        MetadataCatalog.remove("sot_test_generic")


def test_reader_errors(tmp_path):
    write_sot_sequence(tmp_path / "short", "1,1,5,5\n2,2,5,5\n", frames=3)
    with pytest.raises(SOTFormatError, match=r"groundtruth\.txt: 2 boxes for 3 frames"):
        load_sot_sequence(str(tmp_path / "short"))
    with pytest.raises(ValueError, match="unknown SOT layout 'otb'"):
        register_sot_folder("sot_test_bad", str(tmp_path), "otb")
    with pytest.raises(SOTFormatError, match="no generic sequence folder named nope"):
        find_sot_sequences(str(tmp_path), sequences=["nope"])
    with pytest.raises(FileNotFoundError, match="no such folder"):
        find_sot_sequences(str(tmp_path / "missing"), "lasot")
    with pytest.raises(SOTFormatError, match="no lasot sequence folder"):
        find_sot_sequences(str(tmp_path), "lasot")  # sequences one level too high


# Track 1 is hidden (visibility 0) in frames 2-3 and reappears; track 2 is always visible;
# track 3 enters in frame 2 (not visible in the first frame: not a candidate).
REAPPEARING_GT = """1,1,11,21,10,20,1,1,1.0
2,1,12,21,10,20,1,1,0.0
3,1,13,21,10,20,1,1,0.05
4,1,14,21,10,20,1,1,0.8
1,2,31,11,8,16,1,1,1.0
2,2,31,11,8,16,1,1,1.0
3,2,31,11,8,16,1,1,1.0
4,2,31,11,8,16,1,1,1.0
2,3,41,11,8,16,1,1,1.0
3,3,41,11,8,16,1,1,1.0
4,3,41,11,8,16,1,1,1.0
"""


def test_synthetic_target_that_reappears(tmp_path):
    write_sequence(tmp_path / "train", "synth-train-00", length=4, gt=REAPPEARING_GT)
    dicts = load_synthetic_sot(str(tmp_path), "train")
    assert {d["sot_track_id"] for d in dicts} == {1}
    assert [d["sot_absent"] for d in dicts] == [False, True, True, False]
    # MOTChallenge 1-based pixels -> 0-based, as the MOT reader
    assert [d["sot_box"] for d in dicts] == [[10, 20, 10, 20], None, None, [13, 20, 10, 20]]


def test_synthetic_set(synthetic_root):
    for split in ("train", "val"):
        dicts = load_synthetic_sot(synthetic_root, split)
        mot = {(r["video_id"], r["frame_idx"]): r for r in load_mot_folder(
            os.path.join(synthetic_root, split), class_map={1: 0, 2: 1}, min_visibility=SYNTHETIC_MIN_VISIBILITY,
            ignore_classes=())}
        videos = {d["video_id"] for d in dicts}
        assert len(videos) == len({v for v, _ in mot})  # one target per sequence
        for d in dicts:
            if d["frame_idx"] == 1:
                assert not d["sot_absent"]
            boxes = [a["bbox"] for a in mot[d["video_id"], d["frame_idx"]]["annotations"]
                     if a["track_id"] == d["sot_track_id"] and not a["iscrowd"]]
            assert d["sot_box"] == (boxes[0] if boxes else None)
            assert d["sot_absent"] == (not boxes)
    names = register_synthetic_sot(synthetic_root, prefix="sot_test")
    try:
        assert names == ["sot_test_sot_train", "sot_test_sot_val"]
        assert len(DatasetCatalog.get(names[1])) == len(load_synthetic_sot(synthetic_root, "val"))
        assert MetadataCatalog.get(names[0]).dataset_format == "sot"
    finally:
        for name in names:
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)


def test_choose_target_prefers_reappearance_then_length():
    def frame(t, tracks):
        return {"frame_idx": t, "annotations": [{"track_id": k, "iscrowd": 0} for k in tracks]}

    # 5 visible everywhere; 7 leaves after frame 2 and comes back in frame 4; 9 leaves for good
    records = [frame(1, [5, 7, 9]), frame(2, [5, 7, 9]), frame(3, [5]), frame(4, [5, 7])]
    assert choose_target(records) == 7
    records = [frame(1, [5, 9]), frame(2, [5, 9]), frame(3, [5])]
    assert choose_target(records) == 5
    assert choose_target([frame(1, []), frame(2, [5])]) is None


def test_builtin_registers_lasot_and_got10k_under_the_root(tmp_path):
    from mot_heads.data.builtin import register_all

    write_sot_sequence(tmp_path / "LaSOT" / "cat" / "cat-1", "1,1,5,5\n", frame_dir="img")
    write_sot_sequence(tmp_path / "LaSOT" / "cat" / "cat-2", "2,2,5,5\n", frame_dir="img")
    (tmp_path / "LaSOT" / "testing_set.txt").write_text("cat-2\n")  # protocol II's test list (toolkit)
    write_sot_sequence(tmp_path / "GOT-10k" / "val" / "GOT-10k_Val_000001", "1,1,5,5\n2,2,5,5\n")
    assert "lasot" not in DatasetCatalog and "got10k_val" not in DatasetCatalog
    register_all(str(tmp_path))
    try:
        assert [d["sot_box"] for d in DatasetCatalog.get("lasot")] == [[1, 1, 5, 5], [2, 2, 5, 5]]
        assert [d["video_id"] for d in DatasetCatalog.get("lasot_test")] == ["cat-2"]
        # No training_set.txt in LaSOT/: the shipped protocol II list; of its sequences only cat-2 is here.
        with pytest.raises(SOTFormatError, match=r"no lasot sequence folder named airplane-2, airplane-3, "
                                                 r"airplane-4 and 1116 more \(of 1120 sequences listed\)"):
            DatasetCatalog.get("lasot_train")
        assert len(DatasetCatalog.get("got10k_val")) == 2 and "got10k_train" not in DatasetCatalog
        assert MetadataCatalog.get("lasot").dataset_format == "sot"
    finally:
        for name in ("lasot", "lasot_train", "lasot_test", "got10k_val"):
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)


def test_sot_frames_train_dmtrack_as_single_target_pairs(tmp_path):
    """The target is the one annotation (track 1, category 0) of each frame where it is
    present, so IdentityPairMapper builds template-search pairs from any SOT set."""
    from detectron2.config import get_cfg

    from mot_heads import add_mot_config
    from mot_heads.data.pair_sampling import IdentityPairMapper

    write_sot_sequence(tmp_path / "cat-1", "2,2,8,6\nnan,nan,nan,nan\n4,4,8,6\n", size=(32, 24))
    register_sot_folder("sot_pairs_generic", str(tmp_path), "generic")
    dicts = DatasetCatalog.get("sot_pairs_generic")
    assert [[a["bbox"] for a in d["annotations"]] for d in dicts] == [[[2, 2, 8, 6]], [], [[4, 4, 8, 6]]]
    assert {a["track_id"] for d in dicts for a in d["annotations"]} == {1} and dicts[0]["frame_rate"] == 30.0
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_list(["DATASETS.TRAIN", ("sot_pairs_generic",), "INPUT.PAIR.MAX_FRAMES", 100000,
                         "INPUT.MIN_SIZE_TRAIN", (24,), "INPUT.MAX_SIZE_TRAIN", 1000, "INPUT.RANDOM_FLIP", "none"])
    mapper = IdentityPairMapper(cfg, is_train=True)
    np.random.seed(0)
    out = mapper(dicts[0])
    assert out["instances"].gt_boxes.tensor.tolist() == [[2.0, 2.0, 10.0, 8.0]]
    assert out["instances"].gt_identities.tolist() == [0]
    search = out["pair"]["instances"]
    assert len(search) == (0 if out["pair"]["frame_idx"] == 2 else 1)
    assert search.gt_identities.tolist() == [0] * len(search)
