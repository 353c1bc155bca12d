"""JDE / FairMOT image lists over labels_with_ids files: records, identities, registration, errors."""
import os

import pytest
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode

from mot_heads import add_mot_config
from mot_heads.data import IdentityIndex, IdentityMapper, JDEFormatError, load_jde_list, register_jde_list
from mot_heads.data.builtin import check_registered, register_all

from .jde_fixtures import IMAGE_SIZE, write_jde_dataset

MOT17 = {  # a sequence dataset: two frames of one sequence, one of another
    "MOT17/images/train/MOT17-02-SDP/img1/000001.jpg": [(0, 0, 0.25, 0.5, 0.125, 0.5), (0, 2, 0.75, 0.5, 0.25, 0.25)],
    "MOT17/images/train/MOT17-02-SDP/img1/000002.jpg": [(0, 0, 0.3, 0.5, 0.125, 0.5)],
    "MOT17/images/train/MOT17-04-SDP/img1/000007.jpg": [(0, 1, 0.5, 0.5, 0.5, 0.5)],
}
CALTECH = {  # an image dataset; -1: a box without identity
    "Caltech/data/images/set00_V000_1271.png": [(0, 1, 0.5, 0.5, 0.25, 0.5), (0, -1, 0.1, 0.2, 0.1, 0.2)],
    "Caltech/data/images/set00_V000_1272.png": [(0, 0, 0.5, 0.5, 0.25, 0.5)],
}


def expected_box(cx, cy, w, h):
    width, height = IMAGE_SIZE
    return [(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height]


def test_sequence_frames_records(tmp_path):
    list_file = write_jde_dataset(tmp_path, "mot17", "train", MOT17)
    assert os.path.isfile(tmp_path / "JDE/MOT17/labels_with_ids/train/MOT17-02-SDP/img1/000001.txt")
    records = load_jde_list(list_file, "seq_scope")
    assert [r["image_id"] for r in records] == list(MOT17)
    first = records[0]
    assert first["file_name"] == os.path.join(str(tmp_path), "JDE", list(MOT17)[0])
    assert (first["width"], first["height"]) == IMAGE_SIZE
    assert [(r["video_id"], r["frame_idx"]) for r in records] == [
        ("MOT17-02-SDP", 1), ("MOT17-02-SDP", 2), ("MOT17-04-SDP", 7)]
    assert all(r["identity_scope"] == "seq_scope" and "frame_rate" not in r for r in records)
    for record, labels in zip(records, MOT17.values()):
        assert [a["track_id"] for a in record["annotations"]] == [label[1] for label in labels]
        for annotation, label in zip(record["annotations"], labels):
            assert annotation["bbox"] == pytest.approx(expected_box(*label[2:]))
            assert (annotation["bbox_mode"], annotation["category_id"], annotation["iscrowd"]) == (
                BoxMode.XYXY_ABS, 0, 0)


def test_a_sequence_with_seqinfo_gives_its_frame_rate(tmp_path):
    list_file = write_jde_dataset(tmp_path, "mot17", "half", dict(list(MOT17.items())[:1]))
    (tmp_path / "JDE/MOT17/images/train/MOT17-02-SDP/seqinfo.ini").write_text(
        "[Sequence]\nname=MOT17-02-SDP\nimDir=img1\nframeRate=30\nseqLength=600\nimWidth=64\nimHeight=48\n"
        "imExt=.jpg\n")
    (record,) = load_jde_list(list_file, "x")
    assert record["frame_rate"] == 30


def test_image_dataset_blank_lines_and_missing_labels(tmp_path):
    list_file = write_jde_dataset(tmp_path, "caltech", "all", CALTECH)
    with open(list_file, "a") as f:
        f.write("\n  \n")
    os.remove(tmp_path / "JDE/Caltech/data/labels_with_ids/set00_V000_1272.txt")
    records = load_jde_list(list_file, "caltech")
    assert len(records) == 2 and not any("video_id" in r or "frame_idx" in r for r in records)
    assert [a["track_id"] for a in records[0]["annotations"]] == [1, -1]
    assert records[1]["annotations"] == []  # no label file: an image without boxes


def test_builtin_scan_registers_every_list(tmp_path, monkeypatch):
    write_jde_dataset(tmp_path, "scanmot", "train", MOT17)
    write_jde_dataset(tmp_path, "scan.10k", "val", CALTECH)
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    register_all(str(tmp_path))
    assert len(DatasetCatalog.get("jde_scanmot_train")) == 3 and len(DatasetCatalog.get("jde_scan_10k_val")) == 2
    assert DatasetCatalog.get("jde_scanmot_train")[0]["identity_scope"] == "jde_scanmot_train"
    assert MetadataCatalog.get("jde_scan_10k_val").thing_classes == ["pedestrian"]
    with pytest.raises(ValueError, match=r"'jde_absent_train' is not registered: its files were expected at .*JDE "
                                         r"\(an image list <key>.<ext>"):
        check_registered(["jde_absent_train"])


def test_datasets_with_overlapping_ids_get_disjoint_identities(tmp_path):
    register_jde_list("idmix_mot17", write_jde_dataset(tmp_path / "a", "mot17", "train", MOT17))
    register_jde_list("idmix_caltech", write_jde_dataset(tmp_path / "b", "caltech", "all", CALTECH))
    crowd = load_jde_list(write_jde_dataset(tmp_path / "c", "crowdhuman", "train", {
        "crowdhuman/images/train/273271,1.jpg": [(0, -1, 0.5, 0.5, 0.2, 0.4)]}), "idmix_crowd")
    DatasetCatalog.register("idmix_crowd", lambda: crowd)
    index = IdentityIndex(["idmix_mot17", "idmix_crowd", "idmix_caltech"])
    # raw ids 0, 1, 2 in MOT17 and 0, 1 in Caltech; CrowdHuman-like boxes have none
    assert index.offsets == {"idmix_mot17": 0, "idmix_crowd": 3, "idmix_caltech": 3} and index.num_identities == 5
    assert [index("idmix_mot17", t) for t in (0, 1, 2)] == [0, 1, 2]
    assert [index("idmix_caltech", t) for t in (0, 1, -1)] == [3, 4, -1]
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_list(["DATASETS.TRAIN", ("idmix_mot17", "idmix_crowd", "idmix_caltech"),
                         "INPUT.MIN_SIZE_TRAIN", (48,), "INPUT.RANDOM_FLIP", "none",
                         "INPUT.TRAIN_MAPPER", "IdentityMapper"])
    mapper = IdentityMapper(cfg, is_train=True)
    caltech = DatasetCatalog.get("idmix_caltech")
    assert mapper(dict(caltech[0]))["instances"].gt_identities.tolist() == [4, -1]
    assert mapper(dict(DatasetCatalog.get("idmix_mot17")[0]))["instances"].gt_identities.tolist() == [0, 2]
    assert mapper(dict(crowd[0]))["instances"].gt_identities.tolist() == [-1]


@pytest.mark.parametrize("line, expected", [
    ("0 1 0.5 0.5 0.2", r"labels_with_ids/a.txt:2: expected 'class id cx cy w h' \(6 numbers\), got '0 1 0.5 0.5 0.2'"),
    ("0 1 0.5 x 0.2 0.2", r"a.txt:2: expected 'class id cx cy w h' \(6 numbers\)"),
    ("1 1 0.5 0.5 0.2 0.2", r"a.txt:2: expected class 0 \(pedestrian\) in column 1, got '1'"),
    ("0 1.5 0.5 0.5 0.2 0.2", r"a.txt:2: expected an integer identity \(-1: none\) in column 2, got '1.5'"),
    ("0 1 0.5 0.5 0 0.2", r"a.txt:2: expected a box of positive size inside the image .*, got 0.5 0.5 0 0.2"),
    ("0 1 1.2 0.5 0.2 0.2", r"a.txt:2: expected a box of positive size inside the image"),
    ("0 1 0.5 -0.3 0.2 0.2", r"a.txt:2: expected a box of positive size inside the image"),
])
def test_malformed_label_lines_name_file_line_and_what_was_expected(tmp_path, line, expected):
    list_file = write_jde_dataset(tmp_path, "bad", "train", {"Bad/images/a.jpg": [(0, 0, 0.5, 0.5, 0.2, 0.2)]})
    with open(tmp_path / "JDE/Bad/labels_with_ids/a.txt", "a") as f:
        f.write(line + "\n")
    with pytest.raises(JDEFormatError, match=expected):
        load_jde_list(list_file, "bad")


def test_boxes_crossing_the_border_are_kept_and_integral_float_ids_read(tmp_path):
    list_file = write_jde_dataset(tmp_path, "edge", "train", {"Edge/images/a.jpg": [(0, 3, 0.05, 0.5, 0.2, 0.4)]})
    with open(tmp_path / "JDE/Edge/labels_with_ids/a.txt", "a") as f:
        f.write("0 4.0 1.0 1.0 0.2 0.2\n")
    (record,) = load_jde_list(list_file, "edge")
    assert [a["track_id"] for a in record["annotations"]] == [3, 4]
    assert record["annotations"][0]["bbox"] == pytest.approx(expected_box(0.05, 0.5, 0.2, 0.4))


def test_a_list_line_naming_a_missing_image(tmp_path):
    list_file = write_jde_dataset(tmp_path, "gone", "train", {"Gone/images/a.jpg": []})
    with open(list_file, "a") as f:
        f.write("Gone/images/b.jpg\n")
    with pytest.raises(JDEFormatError, match=r"gone.train:2: expected an image at .*Gone/images/b.jpg, which is"):
        load_jde_list(list_file, "gone")
