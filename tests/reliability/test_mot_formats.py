"""MOTChallenge gt and result files are read per file, strictly: a column layout decided
for the whole file, integer ids and classes, known gt classes, and one sentence naming
the file (and line) for anything else, through ``mot evaluate`` and the reader API."""
import json
import os
import signal

import numpy as np
import pytest

from mot_heads.cli.main import main
from mot_heads.data import MOTFormatError
from mot_heads.data.mot_challenge import load_mot_sequence
from mot_heads.evaluation import read_mot_gt, read_mot_results

from ..conftest import write_sequence

# SEQ-01, 3 frames: pedestrian 1 in every frame, a car (class 3) and a distractor (class 8).
GT = """1,1,10,10,20,40,1,1,1
2,1,11,10,20,40,1,1,1
3,1,12,10,20,40,1,1,1
1,2,50,10,20,40,1,3,1
2,2,51,10,20,40,1,3,1
1,3,90,10,20,40,1,8,1
"""
# The tracker follows the pedestrian, the car (track 7) and the distractor (track 8).
RESULT_ROWS = [
    "1,1,10,10,20,40,0.9", "2,1,11,10,20,40,0.9", "3,1,12,10,20,40,0.9",
    "1,7,50,10,20,40,0.8", "2,7,51,10,20,40,0.8", "1,8,90,10,20,40,0.7",
]
RESULTS = "".join(f"{row},-1,-1,-1\n" for row in RESULT_ROWS)
SOT_GT = "1,1,10,10\n2,1,10,10\n"


def mot_folders(tmp_path, gt=GT, results=RESULTS):
    """GT/SEQ-01 (seqinfo.ini, gt/gt.txt) and RES/SEQ-01.txt; returns (GT, RES)."""
    gt_dir, res_dir = tmp_path / "gt", tmp_path / "res"
    write_sequence(gt_dir, "SEQ-01", length=3, gt=gt, images=[])
    res_dir.mkdir()
    (res_dir / "SEQ-01.txt").write_text(results)
    return gt_dir, res_dir


def sot_folders(tmp_path):
    """GT/bike-1/groundtruth.txt and RES/bike-1.txt; returns (GT, RES)."""
    gt_dir, res_dir = tmp_path / "sot_gt", tmp_path / "sot_res"
    (gt_dir / "bike-1").mkdir(parents=True)
    res_dir.mkdir()
    (gt_dir / "bike-1" / "groundtruth.txt").write_text(SOT_GT)
    (res_dir / "bike-1.txt").write_text(SOT_GT)
    return gt_dir, res_dir


def evaluate(capsys, *argv):
    """``mot evaluate ARGV``: (exit status, stdout, stderr lines)."""
    try:
        code = main(["evaluate", *map(str, argv)])
    except SystemExit as e:
        code = e.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip().splitlines()


def refused(capsys, *argv):
    """The one ``error:`` line of ``mot evaluate ARGV``, which must exit with status 2."""
    code, _, err = evaluate(capsys, *argv)
    assert code == 2 and len(err) == 1 and err[0].startswith("error: "), (code, err)
    return err[0]


# ---------------------------------------------------------------------------- columns

def test_gt_mixing_9_and_10_columns_names_first_differing_line(tmp_path, capsys):
    gt, res = mot_folders(tmp_path, gt=GT + "3,2,52,10,20,40,1,-1,-1,-1\n")
    line = refused(capsys, "--gt-dir", gt, "--results-dir", res)
    assert "gt.txt:7:" in line and "9" in line and "10" in line


def test_gt_mixing_columns_through_the_reader(tmp_path):
    seq = write_sequence(tmp_path, "SEQ-01", length=3, gt="1,9,10,10,20,40,1,-1,-1,-1\n" + GT, images=[])
    with pytest.raises(MOTFormatError, match=r"gt\.txt:2: .*10"):
        read_mot_gt(seq)


def test_gt_with_too_many_columns(tmp_path, capsys):
    gt, res = mot_folders(tmp_path, gt="".join(f"{line},-1,-1\n" for line in GT.splitlines()))
    assert "gt.txt:1:" in refused(capsys, "--gt-dir", gt, "--results-dir", res)


def test_results_mixing_column_counts(tmp_path, capsys):
    gt, res = mot_folders(tmp_path, results=RESULTS + "3,7,52,10,20,40,0.8,3\n")
    assert "SEQ-01.txt:7:" in refused(capsys, "--gt-dir", gt, "--results-dir", res)


def test_mot15_3d_results_read_without_class(tmp_path, capsys):
    """``frame,id,x,y,w,h,conf,wx,wy,wz``: world coordinates, not a class (scored as
    the same rows with -1,-1,-1), and one line on stderr saying so."""
    gt, res = mot_folders(tmp_path)
    assert evaluate(capsys, "--gt-dir", gt, "--results-dir", res, "--json", tmp_path / "2d.json")[0] == 0
    (res / "SEQ-01.txt").write_text("".join(f"{row},4.4852,5.5016,0\n" for row in RESULT_ROWS))
    code, _, err = evaluate(capsys, "--gt-dir", gt, "--results-dir", res, "--json", tmp_path / "3d.json")
    assert code == 0
    notices = [line for line in err if "SEQ-01.txt" in line]
    assert len(notices) == 1 and "world coordinates" in notices[0]
    assert json.loads((tmp_path / "3d.json").read_text()) == json.loads((tmp_path / "2d.json").read_text())


def test_mot15_3d_results_through_the_reader(tmp_path):
    path = tmp_path / "r.txt"
    path.write_text("1,1,10,10,20,40,0.9,3,5.5,0\n1,2,10,10,20,40,0.9,-1,-1,-1\n")
    np.testing.assert_array_equal(read_mot_results(str(path), "SEQ", 3).classes, [-1, -1])


def test_result_class_must_be_an_integer(tmp_path, capsys):
    results = "".join(f"{row},1\n" for row in RESULT_ROWS[:2]) + "3,1,12,10,20,40,0.9,2.5\n"
    gt, res = mot_folders(tmp_path, results=results)
    line = refused(capsys, "--gt-dir", gt, "--results-dir", res)
    assert "SEQ-01.txt:3:" in line and "2.5" in line


# ---------------------------------------------------------------------------- ids

def test_fractional_id_is_refused(tmp_path, capsys):
    gt, res = mot_folders(tmp_path, results=RESULTS + "1,1.5,10,10,20,40,0.9,-1,-1,-1\n")
    line = refused(capsys, "--gt-dir", gt, "--results-dir", res)
    assert "SEQ-01.txt:7:" in line and "1.5" in line
    (res / "SEQ-01.txt").write_text(RESULTS.replace("1,7,", "1,7.0,"))  # an integer written as a float
    assert evaluate(capsys, "--gt-dir", gt, "--results-dir", res)[0] == 0


def test_id_beyond_float64_is_refused(tmp_path, capsys):
    gt, res = mot_folders(tmp_path, results="1,9007199254740993,10,10,20,40,0.9,-1,-1,-1\n")
    line = refused(capsys, "--gt-dir", gt, "--results-dir", res)
    assert "SEQ-01.txt:1:" in line and "9007199254740993" in line and "twice" not in line


def test_ids_are_exact_integers(tmp_path):
    path = tmp_path / "r.txt"
    path.write_text("1,9007199254740992,10,10,20,40,0.9\n1,9007199254740991.0,10,10,20,40,0.9\n")
    ids = read_mot_results(str(path), "SEQ", 3).ids
    assert ids.dtype == np.int64 and ids.tolist() == [2 ** 53, 2 ** 53 - 1]


# ---------------------------------------------------------------------------- gt classes

def test_gt_class_0_is_refused(tmp_path, capsys):
    gt, res = mot_folders(tmp_path, gt=GT.replace("1,2,50,10,20,40,1,3,1", "1,2,50,10,20,40,1,0,1"))
    line = refused(capsys, "--gt-dir", gt, "--results-dir", res)
    assert "gt.txt:4:" in line and "class 0" in line


def test_unknown_gt_class_is_refused(tmp_path, capsys):
    gt, res = mot_folders(tmp_path, gt=GT.replace("1,2,50,10,20,40,1,3,1", "1,2,50,10,20,40,1,14,1"))
    line = refused(capsys, "--gt-dir", gt, "--results-dir", res)
    assert "gt.txt:4:" in line and "class 14" in line


def test_configured_gt_class_is_known(tmp_path, capsys):
    gt, res = mot_folders(tmp_path, gt=GT.replace(",1,3,1\n", ",1,14,1\n"))
    assert evaluate(capsys, "--gt-dir", gt, "--results-dir", res, "--classes", "1,14")[0] == 0


def test_dataset_loader_refuses_gt_class_0(tmp_path):
    seq = write_sequence(tmp_path, "SEQ-01", length=3, gt=GT.replace(",1,8,1\n", ",1,0,1\n"), images=[1, 2, 3])
    with pytest.raises(MOTFormatError, match=r"gt\.txt:6: .*class 0"):
        load_mot_sequence(seq)
    annotations = load_mot_sequence(seq, class_map={1: 0, 0: 1})[0]["annotations"]
    assert sorted(a["category_id"] for a in annotations if not a["iscrowd"]) == [0, 1]


# ---------------------------------------------------------------------------- unreadable files

def _mot_gt(tmp_path):
    gt, res = mot_folders(tmp_path)
    return gt, res, gt / "SEQ-01" / "gt" / "gt.txt"


def _mot_result(tmp_path):
    gt, res = mot_folders(tmp_path)
    return gt, res, res / "SEQ-01.txt"


def _seqinfo(tmp_path):
    gt, res = mot_folders(tmp_path)
    return gt, res, gt / "SEQ-01" / "seqinfo.ini"


def _sot_gt(tmp_path):
    gt, res = sot_folders(tmp_path)
    return gt, res, gt / "bike-1" / "groundtruth.txt"


def _sot_result(tmp_path):
    gt, res = sot_folders(tmp_path)
    return gt, res, res / "bike-1.txt"


FILES = [_mot_gt, _mot_result, _seqinfo, _sot_gt, _sot_result]


@pytest.mark.parametrize("file", FILES)
def test_non_utf8_file_is_named(tmp_path, capsys, file):
    gt, res, path = file(tmp_path)
    path.write_bytes(path.read_bytes() + b"\xff\xfe\n")
    line = refused(capsys, "--gt-dir", gt, "--results-dir", res)
    assert str(path) in line and "UTF-8" in line


@pytest.fixture
def no_hang():
    """Fail, rather than hang, when a command blocks (e.g. opening a FIFO) for 30 s."""
    def timeout(*_):
        raise TimeoutError("the command blocked")
    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("file", FILES)
def test_fifo_is_refused(tmp_path, capsys, no_hang, file):
    gt, res, path = file(tmp_path)
    os.remove(path)
    os.mkfifo(path)
    line = refused(capsys, "--gt-dir", gt, "--results-dir", res)
    assert str(path) in line and "FIFO" in line
