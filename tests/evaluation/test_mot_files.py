"""Reading and writing MOTChallenge gt / result files."""
import numpy as np
import pytest

from mot_heads.data import MOTFormatError
from mot_heads.evaluation import MOTSequence, read_mot_gt, read_mot_results, write_mot_results

from ..conftest import write_sequence

MOT17_GT = """1,1,11,21,10,20,1,1,0.9
1,2,31,21,10,20,0,7,0.5
2,1,12,21,10,20,1,1,1.0
"""
# MOT15: columns 8-10 are world coordinates (real values in TUD-Stadtmitte), no class.
MOT15_GT = """1,1,11,21,10,20,1,4.4852,5.5016,0
2,1,12,21,10,20,1,-1,-1,-1
"""


def test_mot17_gt(tmp_path):
    gt = read_mot_gt(write_sequence(tmp_path, "MOT17-XX", length=3, gt=MOT17_GT, images=[]))
    assert (gt.name, gt.seq_length, len(gt)) == ("MOT17-XX", 3, 3)
    np.testing.assert_array_equal(gt.frames, [1, 1, 2])
    np.testing.assert_array_equal(gt.classes, [1, 7, 1])
    np.testing.assert_allclose(gt.visibility, [0.9, 0.5, 1.0])
    np.testing.assert_allclose(gt.scores, [1, 0, 1])
    np.testing.assert_allclose(gt.boxes[0], [11, 21, 10, 20])  # 1-based pixels, as in the file
    assert gt.boxes.dtype == np.float64 and gt.ids.dtype.kind == "i"


def test_mot15_gt_has_no_class(tmp_path):
    gt = read_mot_gt(write_sequence(tmp_path, length=2, gt=MOT15_GT, images=[]))
    np.testing.assert_array_equal(gt.classes, [-1, -1])
    np.testing.assert_array_equal(gt.visibility, [-1, -1])


@pytest.mark.parametrize(
    "line, cls",
    [("1,5,1,2,3,4,0.9,-1,-1,-1", -1), ("1,5,1,2,3,4,0.9,3,-1", 3), ("1,5,1,2,3,4,0.9", -1)],
)
def test_result_columns(tmp_path, line, cls):
    path = tmp_path / "r.txt"
    path.write_text(line + "\n")
    res = read_mot_results(str(path), "SEQ", 2)
    assert (res.name, res.seq_length) == ("SEQ", 2)
    np.testing.assert_array_equal(res.classes, [cls])
    np.testing.assert_allclose(res.scores, [0.9])


def test_write_then_read_round_trip(tmp_path):
    seq = MOTSequence(
        name="S", seq_length=5, frames=[3, 1, 1], ids=[2, 9, 4],
        boxes=[[1.5, 2, 3, 4], [10, 20, 30, 40.25], [0.1, 0.2, 0.3, 0.4]],
        scores=[0.5, 1, 0.25], classes=[-1, 1, -1], visibility=[-1, -1, -1],
    )
    path = tmp_path / "out" / "S.txt"
    write_mot_results(str(path), seq)
    lines = path.read_text().splitlines()
    # sorted by frame, then id; the class column kept, then -1,-1
    assert lines == [
        "1,4,0.1,0.2,0.3,0.4,0.25,-1,-1,-1",
        "1,9,10,20,30,40.25,1,1,-1,-1",
        "3,2,1.5,2,3,4,0.5,-1,-1,-1",
    ]
    back = read_mot_results(str(path), "S", 5)
    order = np.lexsort((seq.ids, seq.frames))
    np.testing.assert_array_equal(back.frames, seq.frames[order])
    np.testing.assert_array_equal(back.ids, seq.ids[order])
    np.testing.assert_array_equal(back.boxes, seq.boxes[order])
    np.testing.assert_array_equal(back.classes, seq.classes[order])


@pytest.mark.parametrize(
    "text, message",
    [
        ("1,1,1,1,5,5,1\n4,1,1,1,5,5,1\n", r"r\.txt:2: frame 4 is outside 1\.\.3"),
        ("1,1,nan,1,5,5,1\n", r"r\.txt:1: expected finite numbers"),
        ("1,1,1,1,0,5,1\n", r"r\.txt:1: box width and height must be positive"),
        ("1,1,1,1,5,5,1\n\n1,1,3,3,5,5,1\n", r"r\.txt:3: id 1 appears twice in frame 1 \(first on line 1\)"),
        ("1,1,1,1,5\n", r"r\.txt:1: expected at least 7"),
    ],
)
def test_result_errors_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "r.txt"
    path.write_text(text)
    with pytest.raises(MOTFormatError, match=message):
        read_mot_results(str(path), "SEQ", 3)


def test_missing_files(tmp_path):
    with pytest.raises(MOTFormatError, match="missing; expected the results of sequence SEQ"):
        read_mot_results(str(tmp_path / "none.txt"), "SEQ", 3)
    with pytest.raises(MOTFormatError, match="gt/gt.txt"):
        read_mot_gt(write_sequence(tmp_path, length=2, images=[]))


def test_sequence_checks_row_counts():
    with pytest.raises(ValueError, match="3 rows"):
        MOTSequence("S", 2, [1, 1, 2], [1, 2], np.zeros((3, 4)), [1, 1, 1], [1, 1, 1], [1, 1, 1])
