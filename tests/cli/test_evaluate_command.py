"""``mot evaluate`` on result files: MOT (TUD, and several classes by hand), SOT (hand-made
sequences), plots, and its answers to bad input. The model mode is in test_train_command.py."""
import csv
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from mot_heads.cli.main import main
from mot_heads.evaluation import METRIC_KEYS

from ..conftest import write_sequence
from ..evaluation.conftest import TUD_NAMES, tud_dirs  # noqa: F401 (a fixture)

PNG = b"\x89PNG\r\n\x1a\n"
COUNTS = {"IDSW", "FP", "FN", "Frag", "MT", "PT", "ML"}
ROWS = list(TUD_NAMES) + ["COMBINED"]


def evaluate(*argv):
    return main(["evaluate", *map(str, argv)])


def assert_png(path):
    assert os.path.getsize(path) > 0 and open(path, "rb").read(8) == PNG


def one_error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


# ---------------------------------------------------------------------------- MOT, one class

def test_mot_end_to_end(tud_dirs, tmp_path, capsys):  # noqa: F811 (the fixture)
    gt_root, res_root = tud_dirs
    json_path, csv_path = tmp_path / "m.json", tmp_path / "m.csv"
    assert evaluate("--gt-dir", gt_root, "--results-dir", res_root, "--json", json_path, "--csv", csv_path,
                    "--plot-dir", tmp_path / "plots") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["Sequence", *METRIC_KEYS]
    campus = next(line for line in lines if line.startswith("TUD-Campus")).split()
    assert campus[1] == "39.1" and campus[METRIC_KEYS.index("MOTA") + 1] == "52.6"
    combined = next(line for line in lines if line.startswith("COMBINED"))
    assert lines[-1] == f"wrote {tmp_path / 'plots' / 'sequences.png'}" and lines[-2] == combined

    metrics = json.loads(json_path.read_text())
    assert list(metrics) == ROWS
    for row in metrics.values():
        assert list(row) == list(METRIC_KEYS)
        assert all(type(row[k]) is (int if k in COUNTS else float) for k in METRIC_KEYS)
    assert metrics["COMBINED"]["HOTA"] == pytest.approx(0.3999570912884786, abs=1e-12)

    with open(csv_path) as f:
        table = list(csv.reader(f))
    assert table[0] == ["sequence", *METRIC_KEYS]
    assert [r[0] for r in table[1:]] == ROWS
    assert float(table[1][METRIC_KEYS.index("IDF1") + 1]) == pytest.approx(metrics["TUD-Campus"]["IDF1"])
    assert os.listdir(tmp_path / "plots") == ["sequences.png"]
    assert_png(tmp_path / "plots" / "sequences.png")


@pytest.fixture
def tud_copy(tud_dirs, tmp_path):  # noqa: F811 (the fixture)
    """A writable copy of the TUD layout."""
    gt_root, res_root = tud_dirs
    gt, res = tmp_path / "gt", tmp_path / "res"
    shutil.copytree(gt_root, gt)
    shutil.copytree(res_root, res)
    return gt, res


def _append(path, line):
    with open(path, "a") as f:
        f.write(line + "\n")


def _extra_result(gt, res):
    shutil.copy(res / "TUD-Campus.txt", res / "TUD-Other.txt")
    return "without ground truth", "TUD-Other"


def _frame_beyond_length(gt, res):
    _append(res / "TUD-Campus.txt", "72,1,1,1,5,5,-1,-1,-1,-1")
    return "TUD-Campus.txt:223: frame 72 is outside 1..71", ""


def _nan_box(gt, res):
    _append(res / "TUD-Stadtmitte.txt", "3,1,nan,1,5,5,-1,-1,-1,-1")
    return "TUD-Stadtmitte.txt:750: expected finite numbers", ""


def _missing_gt_dir(gt, res):
    shutil.rmtree(gt)
    return "no such folder", ""


def _missing_results_dir(gt, res):
    shutil.rmtree(res)
    return "no such folder", "result file"


def _missing_result(gt, res):
    os.remove(res / "TUD-Campus.txt")
    return "no <seq>.txt result file", "TUD-Campus"


def _unreadable_gt(gt, res):
    (gt / "TUD-Campus" / "gt" / "gt.txt").write_text("1,1,x,5,5,5,1,1,1\n")
    return "gt.txt:1: expected numbers", ""


def _no_sequences(gt, res):
    for seq in TUD_NAMES:
        shutil.rmtree(gt / seq)
    (gt / "notes").mkdir()
    return "no sequence folder inside holds seqinfo.ini", "groundtruth.txt"


@pytest.mark.parametrize("breaks", [_missing_gt_dir, _missing_results_dir, _extra_result, _frame_beyond_length,
                                    _nan_box, _missing_result, _unreadable_gt, _no_sequences])
def test_mot_bad_input_one_sentence_exit_2(tud_copy, capsys, breaks):
    gt, res = tud_copy
    expected, also = breaks(gt, res)
    with pytest.raises(SystemExit) as e:
        evaluate("--gt-dir", gt, "--results-dir", res)
    assert e.value.code == 2
    line = one_error_line(capsys)
    assert expected in line and also in line


def test_unwritable_output_one_sentence(tud_copy, tmp_path, capsys):
    gt, res = tud_copy
    with pytest.raises(SystemExit) as e:
        evaluate("--gt-dir", gt, "--results-dir", res, "--json", tmp_path / "no" / "such" / "m.json")
    assert e.value.code == 2
    assert "m.json: cannot write (No such file or directory)" in one_error_line(capsys)


def test_command_line_reports_bad_input_without_traceback(tud_copy):
    gt, res = tud_copy
    _nan_box(gt, res)
    proc = subprocess.run(
        [sys.executable, "-m", "mot_heads.cli.main", "evaluate", "--gt-dir", str(gt), "--results-dir", str(res)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    assert "TUD-Stadtmitte.txt:750: expected finite numbers" in err[0]
    assert proc.stdout == ""


# ---------------------------------------------------------------------------- MOT, several classes

# One sequence of 2 frames: a person (class 1) tracked exactly; a car (class 2) found in
# frame 1 only, plus a false car far from everything in frame 2.
GT = """1,1,5,5,10,20,1,1,1
2,1,5,5,10,20,1,1,1
1,2,30,10,20,10,1,2,1
2,2,30,10,20,10,1,2,1
"""
RESULTS = """1,1,5,5,10,20,1,1
2,1,5,5,10,20,1,1
1,5,30,10,20,10,1,2
2,6,5,30,10,10,1,2
"""
# By hand. Person: perfect. Car: 1 match (IoU 1) of 2 gt boxes, 1 FP: MOTA 1 - (1 + 1) / 2
# = 0; IDF1 = 2 IDTP / (2 gt + 2 predicted) = 0.5; HOTA: DetA = 1 / (1 + 1 + 1), AssA =
# 1 / (2 + 1 - 1) (gt id 2 has 2 boxes, track 5 one), HOTA = sqrt(DetA * AssA).
CAR_HOTA = math.sqrt(1 / 3 * 1 / 2)
EXPECTED = {
    "person": {"HOTA": 1.0, "MOTA": 1.0, "IDF1": 1.0, "FP": 0, "FN": 0, "IDSW": 0},
    "car": {"HOTA": CAR_HOTA, "MOTA": 0.0, "IDF1": 0.5, "FP": 1, "FN": 1, "IDSW": 0},
    # the class average: mean of the ratios, sum of the counts
    "COMBINED": {"HOTA": (1 + CAR_HOTA) / 2, "MOTA": 0.5, "IDF1": 0.75, "FP": 1, "FN": 1, "IDSW": 0},
}


@pytest.fixture
def two_classes(tmp_path):
    gt, res = tmp_path / "gt", tmp_path / "res"
    write_sequence(gt, "SEQ-01", length=2, gt=GT, images=[])
    res.mkdir()
    (res / "SEQ-01.txt").write_text(RESULTS)
    return gt, res


def test_classes_scored_apart_and_averaged(two_classes, tmp_path, capsys):
    gt, res = two_classes
    json_path, csv_path, plots = tmp_path / "m.json", tmp_path / "m.csv", tmp_path / "plots"
    assert evaluate("--gt-dir", gt, "--results-dir", res, "--classes", "1,2", "--class-names", "person,car",
                    "--distractor-classes", "", "--json", json_path, "--csv", csv_path, "--plot-dir", plots) == 0
    out = capsys.readouterr().out
    assert "class person (gt class 1)" in out and "class car (gt class 2)" in out
    assert "COMBINED: the class average (mean of each ratio, sum of each count)" in out

    metrics = json.loads(json_path.read_text())
    assert list(metrics) == ["person", "car", "COMBINED"]
    for name, expected in EXPECTED.items():
        assert list(metrics[name]) == ["SEQ-01", "COMBINED"]
        for row in metrics[name].values():  # one sequence: its row is the combined one
            assert {k: row[k] for k in expected} == pytest.approx(expected)

    with open(csv_path) as f:
        table = list(csv.reader(f))
    assert table[0] == ["class", "sequence", *METRIC_KEYS]
    assert [r[:2] for r in table[1:]] == [[c, s] for c in EXPECTED for s in ("SEQ-01", "COMBINED")]
    assert float(table[-1][2 + METRIC_KEYS.index("IDF1")]) == pytest.approx(0.75)

    assert sorted(os.listdir(plots)) == ["sequences-COMBINED.png", "sequences-car.png", "sequences-person.png"]
    for name in os.listdir(plots):
        assert_png(plots / name)
        assert f"wrote {plots / name}" in out


def test_class_ids_name_the_classes_by_default(two_classes, tmp_path, capsys):
    gt, res = two_classes
    assert evaluate("--gt-dir", gt, "--results-dir", res, "--classes", "2,1", "--distractor-classes", "",
                    "--json", tmp_path / "m.json") == 0
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert list(metrics) == ["2", "1", "COMBINED"]
    assert metrics["2"]["COMBINED"]["HOTA"] == pytest.approx(CAR_HOTA)


@pytest.mark.parametrize("options, expected", [
    (["--classes", "1,2"], "gt class 2 is scored and also a distractor class"),  # default distractors 2,7,8,12
    (["--classes", "1,2", "--class-names", "person", "--distractor-classes", ""], "gives 1 names for 2 --classes"),
    (["--classes", "1,2", "--class-names", "a,COMBINED", "--distractor-classes", ""], "no class named COMBINED"),
    (["--classes", ""], "--classes is empty"),
    (["MODEL.WEIGHTS", "w.pth"], "need --config-file"),
])
def test_bad_class_options(two_classes, capsys, options, expected):
    gt, res = two_classes
    with pytest.raises(SystemExit) as e:
        evaluate("--gt-dir", gt, "--results-dir", res, *options)
    assert e.value.code == 2
    assert expected in one_error_line(capsys)


# ---------------------------------------------------------------------------- SOT

SOT_ROWS = ["bike-1", "car-2", "COMBINED"]
SOT_KEYS = ["success_auc", "precision_20px", "norm_precision", "norm_precision_auc", "success_rate_50",
            "lt_precision", "lt_recall", "lt_fscore", "tpr", "tnr", "maxgm"]


@pytest.fixture
def sot_dirs(tmp_path):
    """GT/<seq>/groundtruth.txt (+ LaSOT flags) and RES/<seq>.txt with confidences.

    bike-1: 4 frames, frame 3 flagged out of view; the tracker is exact in frames 1, 2,
    reports the target absent in frame 3 and puts a box far off in frame 4.
    car-2: 2 frames, tracked exactly.
    """
    gt, res = tmp_path / "gt", tmp_path / "res"
    (gt / "bike-1").mkdir(parents=True)
    (gt / "car-2").mkdir()
    res.mkdir()
    (gt / "bike-1" / "groundtruth.txt").write_text("1,1,10,10\n2,1,10,10\n3,1,10,10\n4,1,10,10\n")
    (gt / "bike-1" / "full_occlusion.txt").write_text("0,0,0,0")
    (gt / "bike-1" / "out_of_view.txt").write_text("0,0,1,0")
    (gt / "car-2" / "groundtruth.txt").write_text("5\t5\t20\t10\n6\t5\t20\t10\n")
    (res / "bike-1.txt").write_text("1,1,10,10,0.9\n2,1,10,10,0.8\nnan,nan,nan,nan,0\n90,90,10,10,0.3\n")
    (res / "car-2.txt").write_text("5,5,20,10,0.7\n6,5,20,10,0.6\n")
    return gt, res


def test_sot_end_to_end(sot_dirs, tmp_path, capsys):
    gt, res = sot_dirs
    json_path, csv_path = tmp_path / "m.json", tmp_path / "m.csv"
    assert evaluate("--gt-dir", gt, "--results-dir", res, "--json", json_path, "--csv", csv_path,
                    "--plot-dir", tmp_path / "plots") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["Sequence", *SOT_KEYS]
    assert lines[-2].split()[0] == "COMBINED"
    assert lines[-1] == f"wrote {tmp_path / 'plots' / 'success.png'}"
    assert_png(tmp_path / "plots" / "success.png")

    metrics = json.loads(json_path.read_text())
    assert list(metrics) == SOT_ROWS
    assert all(list(row) == SOT_KEYS for row in metrics.values())
    bike, car = metrics["bike-1"], metrics["car-2"]
    # bike-1: 2 of 4 frames exact (frame 3 has no target, frame 4 misses it)
    assert bike["success_auc"] == pytest.approx(50 * 20 / 21)
    assert bike["precision_20px"] == bike["norm_precision"] == pytest.approx(50.0)
    # OxUvA: present frames 1, 2, 4 (TP, TP, FN), absent frame 3 reported absent (TN)
    assert (bike["tpr"], bike["tnr"]) == pytest.approx((100 * 2 / 3, 100.0))
    assert bike["maxgm"] == pytest.approx(100 * np.sqrt(2 / 3))
    assert car["tnr"] is None and car["maxgm"] is None
    # VOT-LT, bike-1: best at confidence >= 0.8 (Pr 1, Re 2/3)
    assert (bike["lt_precision"], bike["lt_recall"]) == pytest.approx((100.0, 100 * 2 / 3))
    # COMBINED: mean curves; pooled OxUvA frames (TP 4, FN 1, TN 1)
    assert metrics["COMBINED"]["success_auc"] == pytest.approx((bike["success_auc"] + car["success_auc"]) / 2)
    assert metrics["COMBINED"]["tpr"] == pytest.approx(80.0)

    with open(csv_path) as f:
        table = list(csv.reader(f))
    assert table[0] == ["sequence", *SOT_KEYS]
    assert [r[0] for r in table[1:]] == SOT_ROWS
    assert table[2][SOT_KEYS.index("tnr") + 1] == ""  # car-2 has no absent frame: TNR undefined


def test_sot_without_confidences_has_no_longterm_metrics(sot_dirs, capsys):
    gt, res = sot_dirs
    (res / "bike-1.txt").write_text("1,1,10,10\n2,1,10,10\n0,0,0,0\n90,90,10,10\n")
    (res / "car-2.txt").write_text("5,5,20,10\n6,5,20,10\n")
    assert evaluate("--gt-dir", gt, "--results-dir", res) == 0
    header = capsys.readouterr().out.splitlines()[0].split()
    assert "lt_fscore" not in header and "maxgm" in header


def _sot_missing_result(gt, res):
    (res / "car-2.txt").unlink()
    return "no <seq>.txt result file for the sequences car-2"


def _sot_extra_result(gt, res):
    (res / "bus-3.txt").write_text("1,1,5,5\n")
    return "results for sequences without ground truth"


def _sot_short_result(gt, res):
    (res / "car-2.txt").write_text("5,5,20,10,0.7\n")
    return "car-2.txt: expected 2 lines (one per frame of car-2's groundtruth.txt), got 1"


def _sot_bad_line(gt, res):
    (res / "car-2.txt").write_text("5,5,20,10,0.7\n6,5,x,10,0.6\n")
    return "car-2.txt:2: expected numbers"


def _sot_confidence_in_one_file_only(gt, res):
    (res / "car-2.txt").write_text("5,5,20,10\n6,5,20,10\n")
    return "confidences given for some sequences but not for car-2"


def _sot_bad_flags(gt, res):
    (gt / "bike-1" / "out_of_view.txt").write_text("0,0,1")
    return "out_of_view.txt: expected 4 0/1 flags"


def _sot_absent_first_frame(gt, res):
    (gt / "bike-1" / "full_occlusion.txt").write_text("1,0,0,0")
    return "sequence bike-1: no gt box in the first frame"


def _sot_unreadable_gt(gt, res):
    (gt / "car-2" / "groundtruth.txt").write_text("5,5,20\n6,5,20,10\n")
    return "groundtruth.txt:1"


@pytest.mark.parametrize("breaks", [_sot_missing_result, _sot_extra_result, _sot_short_result, _sot_bad_line,
                                    _sot_confidence_in_one_file_only, _sot_bad_flags, _sot_absent_first_frame,
                                    _sot_unreadable_gt])
def test_sot_bad_input_one_sentence_exit_2(sot_dirs, capsys, breaks):
    gt, res = sot_dirs
    expected = breaks(gt, res)
    with pytest.raises(SystemExit) as e:
        evaluate("--gt-dir", gt, "--results-dir", res)
    assert e.value.code == 2
    assert expected in one_error_line(capsys)


def test_mot_options_on_sot_ground_truth(sot_dirs, capsys):
    gt, res = sot_dirs
    with pytest.raises(SystemExit) as e:
        evaluate("--gt-dir", gt, "--results-dir", res, "--classes", "1,2")
    assert e.value.code == 2
    assert "--classes apply to MOT ground truth" in one_error_line(capsys)


# ---------------------------------------------------------------------------- the command line

@pytest.mark.parametrize("argv, expected", [
    ([], "give --gt-dir and --results-dir to score result files, or --config-file to evaluate a model"),
    (["--gt-dir", "g", "--results-dir", "r", "--config-file", "c.yaml"], "not both"),
    (["--gt-dir", "g"], "needs both --gt-dir and --results-dir"),
    (["--config-file", "c.yaml", "--csv", "m.csv"], "--csv apply to result files, not to a model"),
])
def test_modes(capsys, argv, expected):
    with pytest.raises(SystemExit) as e:
        evaluate(*argv)
    assert e.value.code == 2
    assert expected in one_error_line(capsys)


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as e:
        evaluate("--help")
    assert e.value.code == 0
    text = capsys.readouterr().out
    for option in ("--gt-dir", "--results-dir", "--json", "--csv", "--plot-dir", "--classes", "--class-names",
                   "--distractor-classes", "--config-file", "KEY VALUE"):
        assert option in text
    assert "Examples" in text and "mot evaluate --gt-dir" in text and "--distractor-classes ''" in text


def test_bad_distractor_list(capsys):
    with pytest.raises(SystemExit) as e:
        evaluate("--gt-dir", "a", "--results-dir", "b", "--distractor-classes", "2,x")
    assert e.value.code == 2
    assert "comma-separated class ids" in capsys.readouterr().err
