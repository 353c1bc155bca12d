"""Reading and writing SOT box files and LaSOT / GOT-10k ground-truth folders."""
import numpy as np
import pytest

from mot_heads.data.sot import read_sot_boxes
from mot_heads.evaluation import SOTFormatError, SOTSequence, read_sot_gt, read_sot_results, write_sot_results


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def test_separators_and_absent_rows(tmp_path):
    path = _write(tmp_path / "r.txt", "1,2,3,4\n5\t6\t7\t8\n\n9 10  11 12\nnan,nan,nan,nan\n0,0,0,0\n3,3,0,5\n")
    boxes, confidences = read_sot_boxes(path)
    assert confidences is None
    np.testing.assert_array_equal(boxes[:3], [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]])
    assert np.isnan(boxes[3:]).all()  # nan, 0,0,0,0 and a zero width: no box


def test_confidence_column(tmp_path):
    path = _write(tmp_path / "r.txt", "1,2,3,4,0.9\nnan,nan,nan,nan,nan\n0,0,0,0,0.1\n")
    boxes, confidences = read_sot_boxes(path)
    np.testing.assert_array_equal(confidences[[0, 2]], [0.9, 0.1])
    assert np.isnan(boxes[1:]).all()


@pytest.mark.parametrize(
    "text, message",
    [
        ("1,2,3,4\n1,2,3\n", r"r\.txt:2: expected 4 or 5 values"),
        ("1,2,3,4\n1,2,3,4,0.5\n", r"r\.txt:2: expected 4 values as on the first line"),
        ("1,2,3,4\nnan,2,3,4\n", r"r\.txt:2: expected a box or nan,nan,nan,nan"),
        ("1,2,-3,4\n", r"r\.txt:1: box width and height must not be negative"),
        ("1,2,x,4\n", r"r\.txt:1: expected numbers"),
        ("1,2,inf,4\n", r"r\.txt:1: expected finite numbers"),
        ("1,2,3,4,nan\n", r"r\.txt:1: expected a finite confidence with a box"),
    ],
)
def test_errors_name_file_and_line(tmp_path, text, message):
    with pytest.raises(SOTFormatError, match=message):
        read_sot_boxes(_write(tmp_path / "r.txt", text))


def test_gt_takes_no_confidence(tmp_path):
    _write(tmp_path / "S" / "groundtruth.txt", "1,2,3,4,0.5\n")
    with pytest.raises(SOTFormatError, match=r"groundtruth\.txt:1: expected 4 values \(x,y,w,h\)"):
        read_sot_gt(str(tmp_path / "S"))


def test_lasot_and_got10k_absence_flags(tmp_path):
    seq = tmp_path / "airplane-1"
    _write(seq / "groundtruth.txt", "".join(f"{i},1,5,5\n" for i in range(1, 6)))
    _write(seq / "full_occlusion.txt", "0,1,0,0,0")
    _write(seq / "out_of_view.txt", "0,0,0,1,0\n")
    gt = read_sot_gt(str(seq))
    assert gt.name == "airplane-1" and len(gt) == 5
    np.testing.assert_array_equal(gt.absent, [False, True, False, True, False])
    np.testing.assert_array_equal(gt.boxes[4], [5, 1, 5, 5])
    got = tmp_path / "GOT-10k_Val_000001"
    _write(got / "groundtruth.txt", "1,1,5,5\n2,2,5,5\n3,3,5,5\n")
    _write(got / "absence.label", "0\n0\n1\n")
    np.testing.assert_array_equal(read_sot_gt(str(got)).absent, [False, False, True])


@pytest.mark.parametrize(
    "flags, message",
    [("0,1,0", r"full_occlusion\.txt: expected 2 0/1 flags .* got 3"), ("0,2", r"expected 0/1 flags, got '2'")],
)
def test_bad_flags(tmp_path, flags, message):
    _write(tmp_path / "S" / "groundtruth.txt", "1,1,5,5\n2,2,5,5\n")
    _write(tmp_path / "S" / "full_occlusion.txt", flags)
    with pytest.raises(SOTFormatError, match=message):
        read_sot_gt(str(tmp_path / "S"))


def test_results_length_and_missing_file(tmp_path):
    path = _write(tmp_path / "S.txt", "1,1,5,5,0.5\n2,2,5,5,0.7\n")
    res = read_sot_results(path, "S", 2)
    assert res.name == "S"
    np.testing.assert_array_equal(res.confidences, [0.5, 0.7])
    with pytest.raises(SOTFormatError, match=r"S\.txt: expected 3 lines \(one per frame of S's groundtruth\.txt\)"):
        read_sot_results(path, "S", 3)
    with pytest.raises(SOTFormatError, match="missing; expected the results of sequence T"):
        read_sot_results(str(tmp_path / "T.txt"), "T", 2)


def test_write_then_read_round_trip(tmp_path):
    seq = SOTSequence("S", [[1.5, 2, 3, 4], [np.nan] * 4, [10, 20, 30, 40.25]], confidences=[0.9, 0.1, 0.5])
    path = tmp_path / "out" / "S.txt"
    write_sot_results(str(path), seq)
    assert path.read_text().splitlines() == ["1.5,2,3,4,0.9", "0,0,0,0,0.1", "10,20,30,40.25,0.5"]
    back = read_sot_results(str(path), "S", 3)
    np.testing.assert_array_equal(back.boxes, seq.boxes)
    np.testing.assert_array_equal(back.confidences, seq.confidences)
    write_sot_results(str(path), SOTSequence("S", seq.boxes))
    assert read_sot_results(str(path), "S", 3).confidences is None


def test_sequence_checks_lengths():
    with pytest.raises(ValueError, match="2 boxes but 1 confidences"):
        SOTSequence("S", np.zeros((2, 4)), confidences=[0.5])
