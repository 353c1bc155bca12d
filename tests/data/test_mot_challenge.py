import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode

from mot_heads.data import (
    MOTFormatError,
    half_split_frames,
    load_mot_folder,
    load_mot_sequence,
    read_seqinfo,
    register_mot_folder,
)
from mot_heads.data.builtin import check_registered

from ..conftest import SEQINFO, write_sequence

GT = """1,1,11,21,10,20,1,1,1.0
1,2,31,21,10,20,1,1,0.2
2,1,12,21,10,20,1,1,0.9
2,3,1,1,5,5,0,1,1.0
2,4,40,10,8,16,1,7,1.0
3,5,5,5,20,10,1,3,1.0
"""


def test_seqinfo_fields(tmp_path):
    info = read_seqinfo(write_sequence(tmp_path, length=4))
    assert (info.name, info.seq_length, info.width, info.height, info.frame_rate) == ("SEQ-01", 4, 64, 48, 10)
    assert info.image_path(3).endswith("img1/000003.jpg")


def test_frames_and_annotations(tmp_path):
    seq = write_sequence(tmp_path, length=4, gt=GT, det="1,-1,11,21,10,20,0.9\n4,-1,2,3,4,5,0.5,-1,-1,-1\n")
    dicts = load_mot_sequence(seq, min_visibility=0.5)
    assert [d["frame_idx"] for d in dicts] == [1, 2, 3, 4]
    assert {d["video_id"] for d in dicts} == {"SEQ-01"}
    frame1 = dicts[0]["annotations"]
    # 1-based MOT pixels -> 0-based Detectron2 boxes
    assert frame1[0]["bbox"] == [10, 20, 10, 20] and frame1[0]["bbox_mode"] == BoxMode.XYWH_ABS
    assert [a["track_id"] for a in frame1] == [1, 2]
    # visibility 0.2 < 0.5: kept as an ignore region, not as a training box, marked hidden
    assert [(a["iscrowd"], a["hidden"]) for a in frame1] == [(0, 0), (1, 1)]
    assert frame1[1]["visibility"] == pytest.approx(0.2)
    frame2 = dicts[1]["annotations"]
    # zero-marked row dropped; static person (class 7) is an ignore region
    # (an ignore class is not a hidden object, whatever its visibility)
    assert [(a["track_id"], a["iscrowd"], a["hidden"]) for a in frame2] == [(1, 0, 0), (4, 1, 0)]
    assert dicts[2]["annotations"] == []  # the car (class 3) is not a pedestrian
    np.testing.assert_allclose(dicts[0]["public_detections"], [[10, 20, 20, 40, 0.9]])
    np.testing.assert_allclose(dicts[3]["public_detections"], [[1, 2, 5, 7, 0.5]])
    assert dicts[1]["public_detections"].shape == (0, 5)


def test_multi_class_map(tmp_path):
    seq = write_sequence(tmp_path, length=4, gt=GT)
    dicts = load_mot_sequence(seq, class_map={1: 0, 3: 1})
    assert [(a["track_id"], a["category_id"]) for a in dicts[2]["annotations"]] == [(5, 1)]


def test_mot15_rows_are_pedestrians(tmp_path):
    seq = write_sequence(tmp_path, length=2, gt="1,1,11,21,10,20,1,-1,-1,-1\n")
    (ann,) = load_mot_sequence(seq)[0]["annotations"]
    assert (ann["category_id"], ann["visibility"], ann["iscrowd"]) == (0, 1.0, 0)


def test_mot15_world_coordinates_are_not_a_class(tmp_path):
    # TUD-Stadtmitte's first lines: columns 8-10 are world coordinates, not class and
    # visibility; read as a 9-column line, 4.4852 would be class 4 (bicycle) and dropped.
    gt = "1,1,88,99,61.08,218.56,1,4.4852,5.5016,0\n1,2,181,95,75.808,227.01,1,12.621,0.05,0\n"
    seq = write_sequence(tmp_path, length=2, gt=gt)
    anns = load_mot_sequence(seq, min_visibility=0.5)[0]["annotations"]
    assert [(a["track_id"], a["category_id"], a["visibility"], a["iscrowd"]) for a in anns] == [
        (1, 0, 1.0, 0),
        (2, 0, 1.0, 0),
    ]
    assert anns[0]["bbox"] == pytest.approx([87, 98, 61.08, 218.56])


def test_sequence_without_gt_has_no_annotations(tmp_path):
    dicts = load_mot_sequence(write_sequence(tmp_path, length=2))
    assert all("annotations" not in d and "public_detections" not in d for d in dicts)


@pytest.mark.parametrize(
    "length, first, second",
    [(4, (1, 3), (4, 4)), (5, (1, 3), (4, 5)), (600, (1, 301), (302, 600))],
)
def test_half_split(length, first, second):
    assert half_split_frames(length, "first_half") == first
    assert half_split_frames(length, "second_half") == second


def test_half_split_loads_disjoint_frames(tmp_path):
    seq = write_sequence(tmp_path, length=5, gt=GT)
    first = load_mot_sequence(seq, split="first_half")
    second = load_mot_sequence(seq, split="second_half")
    assert [d["frame_idx"] for d in first] == [1, 2, 3]
    assert [d["frame_idx"] for d in second] == [4, 5]
    with pytest.raises(ValueError, match="first_half"):
        half_split_frames(5, "middle")


@pytest.mark.parametrize(
    "gt, message",
    [
        ("1,1,11,21,10,20,1,1\n", r"gt\.txt:1: expected at least 9"),
        ("1,1,11,21,10,20,1,1,1\n1,2,a,21,10,20,1,1,1\n", r"gt\.txt:2: expected numbers"),
        ("5,1,11,21,10,20,1,1,1\n", r"gt\.txt:1: frame 5 is outside 1\.\.4"),
        ("0,1,11,21,10,20,1,1,1\n", r"gt\.txt:1: frame 0 is outside"),
        ("1.5,1,11,21,10,20,1,1,1\n", r"gt\.txt:1: frame 1\.5 is outside"),
        ("1,1,11,21,0,20,1,1,1\n", r"gt\.txt:1: box width and height must be positive"),
        ("\n1,1,11,21,10,-3,1,1,1\n", r"gt\.txt:2: box width and height must be positive"),
    ],
)
def test_malformed_gt_names_file_and_line(tmp_path, gt, message):
    seq = write_sequence(tmp_path, length=4, gt=gt)
    with pytest.raises(MOTFormatError, match=message):
        load_mot_sequence(seq)


def test_malformed_det_names_file_and_line(tmp_path):
    seq = write_sequence(tmp_path, length=4, det="1,-1,1,1,5,5,0.9\n2,-1,1,1,5\n")
    with pytest.raises(MOTFormatError, match=r"det\.txt:2: expected at least 7"):
        load_mot_sequence(seq)


def test_missing_seqinfo(tmp_path):
    seq = write_sequence(tmp_path)
    (tmp_path / "SEQ-01" / "seqinfo.ini").unlink()
    with pytest.raises(MOTFormatError, match=r"seqinfo\.ini: missing"):
        load_mot_sequence(seq)


def test_seqinfo_missing_key_and_bad_value(tmp_path):
    seq = write_sequence(tmp_path, seqinfo=SEQINFO.format(name="S", length=4).replace("imExt=.jpg\n", ""))
    with pytest.raises(MOTFormatError, match="missing key 'imExt'"):
        read_seqinfo(seq)
    seq = write_sequence(tmp_path, name="S2", seqinfo=SEQINFO.format(name="S2", length="ten"))
    with pytest.raises(MOTFormatError, match="'seqLength' = 'ten' is not a int"):
        read_seqinfo(seq)


def test_missing_image_names_the_frame(tmp_path):
    seq = write_sequence(tmp_path, length=4, images=[1, 2, 4])
    with pytest.raises(MOTFormatError, match=r"000003\.jpg: missing image for frame 3"):
        load_mot_sequence(seq)
    # the second half does not need frame 3
    assert [d["frame_idx"] for d in load_mot_sequence(seq, split="second_half")] == [4]


def test_folder_reader_and_registration(tmp_path):
    write_sequence(tmp_path, "A-FRCNN", length=2, gt="1,1,11,21,10,20,1,1,1\n")
    write_sequence(tmp_path, "A-DPM", length=2, gt="1,1,11,21,10,20,1,1,1\n")
    (tmp_path / "not-a-sequence").mkdir()
    assert {d["video_id"] for d in load_mot_folder(str(tmp_path))} == {"A-FRCNN", "A-DPM"}
    register_mot_folder("test_mot_folder_frcnn", str(tmp_path), name_filter="FRCNN")
    dicts = DatasetCatalog.get("test_mot_folder_frcnn")
    assert {d["video_id"] for d in dicts} == {"A-FRCNN"}
    assert MetadataCatalog.get("test_mot_folder_frcnn").thing_classes == ["pedestrian"]
    with pytest.raises(MOTFormatError, match="no sequence folder whose name contains 'SDP'"):
        load_mot_folder(str(tmp_path), "SDP")


def test_unknown_dataset_name_says_where_files_were_expected():
    if "mot17_train" in DatasetCatalog:
        pytest.skip("MOT17 is present under $DETECTRON2_DATASETS")
    with pytest.raises(ValueError, match=r"'mot17_train' is not registered: .*MOT17/train"):
        check_registered(["mot17_train"])
    with pytest.raises(ValueError, match=r"'my_videos' is not registered: register it first"):
        check_registered(["my_videos"])
