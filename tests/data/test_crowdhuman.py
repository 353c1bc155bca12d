import json

import cv2
import numpy as np
import pytest

from mot_heads.data import MOTFormatError, load_crowdhuman


def _write(tmp_path, entries, images=("img-a",)):
    (tmp_path / "Images").mkdir(exist_ok=True)
    for name in images:
        cv2.imwrite(str(tmp_path / "Images" / f"{name}.jpg"), np.zeros((30, 50, 3), np.uint8))
    odgt = tmp_path / "annotation_train.odgt"
    odgt.write_text("\n".join(e if isinstance(e, str) else json.dumps(e) for e in entries) + "\n")
    return str(odgt), str(tmp_path / "Images")


ENTRY = {
    "ID": "img-a",
    "gtboxes": [
        {"tag": "person", "fbox": [0, 0, 10, 20], "vbox": [0, 0, 10, 10], "extra": {"ignore": 0}},
        {"tag": "person", "fbox": [5, 5, 4, 4], "vbox": [5, 5, 4, 4], "extra": {"ignore": 1}},
        {"tag": "mask", "fbox": [20, 2, 8, 8], "vbox": [20, 2, 8, 8]},
    ],
}


def test_boxes_ignore_regions_and_visibility(tmp_path):
    (record,) = load_crowdhuman(*_write(tmp_path, [ENTRY]))
    assert (record["width"], record["height"]) == (50, 30)
    anns = record["annotations"]
    assert [a["iscrowd"] for a in anns] == [0, 1, 1]
    assert anns[0]["bbox"] == [0, 0, 10, 20] and anns[0]["visibility"] == pytest.approx(0.5)
    assert all(a["track_id"] == -1 for a in anns)
    (visible,) = load_crowdhuman(*_write(tmp_path, [ENTRY]), box_type="vbox")
    assert visible["annotations"][0]["bbox"] == [0, 0, 10, 10]


def test_bad_lines_name_file_and_line(tmp_path):
    with pytest.raises(MOTFormatError, match=r"annotation_train\.odgt:2: expected a JSON object"):
        load_crowdhuman(*_write(tmp_path, [ENTRY, "{not json"]))
    with pytest.raises(MOTFormatError, match=r"odgt:1: image .*img-b\.jpg is missing"):
        load_crowdhuman(*_write(tmp_path, [dict(ENTRY, ID="img-b")]))
    bad_box = dict(ENTRY, gtboxes=[{"tag": "person", "fbox": [0, 0, 0, 5]}])
    with pytest.raises(MOTFormatError, match=r"odgt:1: fbox .* non-positive"):
        load_crowdhuman(*_write(tmp_path, [bad_box]))
