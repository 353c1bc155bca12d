"""Long-term SOT benchmarks in their released layouts (OxUvA, TLP, VOT-LT) and the shipped
LaSOT protocol II lists."""
import os
from collections import Counter

import cv2
import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

from mot_heads.data.builtin import check_registered, datasets_root, register_all
from mot_heads.errors import InputError
from mot_heads.data.longterm_sot import load_oxuva, load_tlp, load_vot_lt
from mot_heads.data.sot import SOTFormatError, lasot_protocol_list, read_sequence_list

WIDTH, HEIGHT = 40, 20


def write_frames(folder, names):
    os.makedirs(folder, exist_ok=True)
    for name in names:
        cv2.imwrite(os.path.join(folder, name), np.zeros((HEIGHT, WIDTH, 3), np.uint8))


def write(path, text):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


# OxUvA: video v1, object 0 tracked over frames 0..60, labelled at 1 Hz (every 30th frame).
OXUVA_TASK = "v1,0,0,60,0.25,0.75,0.5,1.0\n"
OXUVA_ANNOTATIONS = ("v1,0,5,dog,False,False,0,present,0.25,0.75,0.5,1.0\n"
                     "v1,0,5,dog,False,False,30,absent,0.0,0.0,0.0,0.0\n"
                     "v1,0,5,dog,False,False,60,present,0.0,0.5,0.0,0.5\n")


def write_oxuva(root, split="dev", tasks=OXUVA_TASK, annotations=OXUVA_ANNOTATIONS):
    write_frames(os.path.join(root, "images", split, "v1"), [f"{t:06d}.jpeg" for t in range(61)])
    write(os.path.join(root, "tasks", f"{split}.csv"), tasks)
    if annotations is not None:
        write(os.path.join(root, "annotations", f"{split}.csv"), annotations)
    return str(root)


def write_tlp_sequence(root, name, gt):
    write_frames(os.path.join(root, name, "img"), [f"{t:05d}.jpg" for t in range(1, len(gt.splitlines()) + 1)])
    write(os.path.join(root, name, "groundtruth_rect.txt"), gt)


def write_vot_sequence(root, name, gt, sequence_file=None, frame_dir="color"):
    write_frames(os.path.join(root, name, frame_dir), [f"{t:08d}.jpg" for t in range(1, len(gt.splitlines()) + 1)])
    write(os.path.join(root, name, "groundtruth.txt"), gt)
    if sequence_file is not None:
        write(os.path.join(root, name, "sequence"), sequence_file)


def by_frame(records):
    return {r["frame_idx"]: r for r in records}


def test_shipped_lasot_protocol_ii_lists():
    test, train = (read_sequence_list(lasot_protocol_list(s)) for s in ("testing", "training"))
    assert (len(test), len(train)) == (280, 1120) and not set(test) & set(train)
    classes = Counter(name.rsplit("-", 1)[0] for name in test)
    assert len(classes) == 70 and set(classes.values()) == {4}  # 70 classes x 4 test sequences
    # Together: sequences 1..20 of every class, 16 a class for training.
    assert set(test) | set(train) == {f"{c}-{i}" for c in classes for i in range(1, 21)}
    assert {"airplane-1", "person-5", "volleyball-19"} <= set(test) and "airplane-2" in train


def test_oxuva_dev_task_with_1hz_labels(tmp_path):
    records = load_oxuva(write_oxuva(tmp_path), "dev")
    assert len(records) == 61 and {r["video_id"] for r in records} == {"v1_0"}
    frames = by_frame(records)
    assert frames[1]["file_name"].endswith(os.path.join("images", "dev", "v1", "000000.jpeg"))
    assert (frames[1]["width"], frames[1]["height"], frames[1]["seq_length"]) == (WIDTH, HEIGHT, 61)
    assert frames[1]["sot_box"] == [10.0, 10.0, 20.0, 10.0]  # relative xmin,xmax,ymin,ymax -> pixels x,y,w,h
    assert frames[31]["sot_absent"] and frames[31]["annotations"] == []
    assert frames[61]["sot_box"] == [0.0, 0.0, 20.0, 10.0]
    labelled = [t for t, r in frames.items() if "sot_absent" in r]
    assert labelled == [1, 31, 61]  # frames 0, 30, 60: the others carry no gt and are not scored


def test_oxuva_test_split_has_first_frames_only(tmp_path):
    records = load_oxuva(write_oxuva(tmp_path, "test", annotations=None), "test")
    assert [r["frame_idx"] for r in records if "sot_box" in r] == [1] and len(records) == 61


@pytest.mark.parametrize("tasks, annotations, message", [
    ("v1,0,0,60,0.25,0.75,0.5\n", OXUVA_ANNOTATIONS,
     r"tasks/dev.csv:1: expected 8 comma-separated values \(video_id,object_id,init_frame,last_frame,"),
    ("v1,0,zero,60,0.25,0.75,0.5,1.0\n", OXUVA_ANNOTATIONS, r"tasks/dev.csv:1: expected init_frame to be an integer"),
    ("v1,0,0,60,0.75,0.25,0.5,1.0\n", OXUVA_ANNOTATIONS, r"tasks/dev.csv:1: expected 0 <= xmin < xmax <= 1"),
    ("v1,0,0,61,0.25,0.75,0.5,1.0\n", OXUVA_ANNOTATIONS, r"000061.jpeg: missing; task v1,0 spans frames 0..61"),
    (OXUVA_TASK, OXUVA_ANNOTATIONS.replace("absent", "gone"),
     r"annotations/dev.csv:2: expected object_presence present or absent, got 'gone'"),
    (OXUVA_TASK, OXUVA_ANNOTATIONS.replace("0.0,0.5,0.0,0.5", "0.0,1.5,0.0,0.5"),
     r"annotations/dev.csv:3: expected 0 <= xmin < xmax <= 1"),
])
def test_oxuva_errors(tmp_path, tasks, annotations, message):
    root = write_oxuva(tmp_path, tasks=tasks, annotations=annotations)
    with pytest.raises(SOTFormatError, match=message):
        load_oxuva(root, "dev")


def test_tlp_layout(tmp_path):
    write_tlp_sequence(tmp_path, "Bike", "1,5,6,10,8,0\n2,6,6,10,8,1\n3,7,6,10,8,0\n")
    write_tlp_sequence(tmp_path, "Alladin", "1,1,1,4,4,0\n")
    records = load_tlp(str(tmp_path))
    assert [r["video_id"] for r in records] == ["Alladin", "Bike", "Bike", "Bike"]
    assert [r["sot_box"] for r in records[1:]] == [[5, 6, 10, 8], None, [7, 6, 10, 8]]
    assert records[2]["sot_absent"] and records[1]["file_name"].endswith(os.path.join("Bike", "img", "00001.jpg"))


@pytest.mark.parametrize("gt, message", [
    ("1,5,6,10,8\n", r"groundtruth_rect.txt:1: expected 6 comma-separated values \(frame,x,y,w,h,isLost\)"),
    ("1,5,6,10,8,0\n3,5,6,10,8,0\n", r"groundtruth_rect.txt:2: expected frame 2 \(frames 1, 2, ... in order\)"),
    ("1,5,6,10,8,2\n", r"groundtruth_rect.txt:1: expected isLost 0 or 1, got 2"),
    ("1,5,6,0,8,0\n", r"groundtruth_rect.txt:1: expected a box of positive width and height where isLost is 0"),
    ("1,5,six,10,8,0\n", r"groundtruth_rect.txt:1: expected integers frame and isLost and numbers x,y,w,h"),
])
def test_tlp_errors(tmp_path, gt, message):
    write_tlp_sequence(tmp_path, "Bike", gt)
    with pytest.raises(SOTFormatError, match=message):
        load_tlp(str(tmp_path))


def test_vot_lt_layouts(tmp_path):
    # VOT2019-LT: frames in color/, named by the sequence file; VOT2018-LT: frames in the sequence folder.
    write_vot_sequence(tmp_path, "ballet", "1,2,3,4\nnan,nan,nan,nan\n5,6,7,8\n",
                       sequence_file="channels.color=color/%08d.jpg\nfps=30\nformat=default\n")
    write_vot_sequence(tmp_path, "car1", "1,1,4,4\n2,2,4,4\n", frame_dir=".")
    write(tmp_path / "list.txt", "car1\nballet\n")
    records = load_vot_lt(str(tmp_path))
    assert [r["video_id"] for r in records] == ["car1"] * 2 + ["ballet"] * 3  # the order of list.txt
    assert [r["sot_box"] for r in records[2:]] == [[1, 2, 3, 4], None, [5, 6, 7, 8]]
    assert records[2]["file_name"].endswith(os.path.join("ballet", "color", "00000001.jpg"))
    assert records[0]["file_name"].endswith(os.path.join("car1", "00000001.jpg"))


def test_vot_lt_errors(tmp_path):
    write_vot_sequence(tmp_path, "ballet", "1,2,3,4\n", sequence_file="channels.color=color/%08d.jpg\nfps 30\n")
    write(tmp_path / "list.txt", "ballet\n")
    with pytest.raises(SOTFormatError, match=r"ballet/sequence:2: expected key=value .*, got 'fps 30'"):
        load_vot_lt(str(tmp_path))
    os.remove(tmp_path / "ballet" / "sequence")  # frames then in color/
    write(tmp_path / "list.txt", "ballet\nbike1\n")
    with pytest.raises(SOTFormatError, match=r"list.txt:2: names bike1, expected a folder .*bike1 with a groundtruth"):
        load_vot_lt(str(tmp_path))
    write(tmp_path / "ballet" / "groundtruth.txt", "1,2,3\n")
    write(tmp_path / "list.txt", "ballet\n")
    with pytest.raises(SOTFormatError, match=r"ballet/groundtruth.txt:1: expected 4 values"):
        load_vot_lt(str(tmp_path))
    os.remove(tmp_path / "list.txt")
    with pytest.raises(SOTFormatError, match=r"list.txt: missing; expected the VOT sequence names"):
        load_vot_lt(str(tmp_path))


def test_builtin_scan_registers_longterm_benchmarks(tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    write_oxuva(tmp_path / "OxUvA")
    write_oxuva(tmp_path / "OxUvA", "test", annotations=None)
    write_tlp_sequence(tmp_path / "TLP", "Bike", "1,5,6,10,8,0\n")
    for folder in ("VOT2018-LT", "VOT2019-LT"):
        write_vot_sequence(tmp_path / folder, "car1", "1,1,4,4\n")
        write(tmp_path / folder / "list.txt", "car1\n")
    names = {"oxuva_dev": "oxuva", "oxuva_test": "oxuva", "tlp": "tlp", "vot2018_lt": "vot_lt", "vot2019_lt": "vot_lt"}
    assert not set(names) & set(DatasetCatalog)
    register_all(datasets_root())
    try:
        for name, protocol in names.items():
            meta = MetadataCatalog.get(name)
            assert (meta.evaluator_type, meta.dataset_format, meta.sot_protocol) == ("sot", "sot", protocol)
            assert DatasetCatalog.get(name)[0]["sot_box"] is not None
        assert len(DatasetCatalog.get("oxuva_test")) == 61
    finally:
        for name in names:
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)


def test_unregistered_benchmark_names_its_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    with pytest.raises(InputError, match=r"'vot2019_lt' is not registered: its files were expected at .*VOT2019-LT"):
        check_registered(["vot2019_lt"])
    with pytest.raises(InputError, match=r"'oxuva_test' is not registered: its files were expected at .*OxUvA"):
        check_registered(["oxuva_test"])
