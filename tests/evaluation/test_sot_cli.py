"""``mot-sot-eval`` end to end on hand-made sequences, and its answers to bad input."""
import json
import subprocess
import sys

import numpy as np
import pytest

from mot_heads.cli.sot_eval import main

ROWS = ["bike-1", "car-2", "COMBINED"]
ALL_KEYS = ["success_auc", "precision_20px", "norm_precision", "norm_precision_auc",
            "lt_precision", "lt_recall", "lt_fscore", "tpr", "tnr", "maxgm"]


@pytest.fixture
def dirs(tmp_path):
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


def test_end_to_end(dirs, tmp_path, capsys):
    gt, res = dirs
    json_path, plot_path = tmp_path / "m.json", tmp_path / "success.png"
    assert main(["--gt-dir", str(gt), "--results-dir", str(res), "--json", str(json_path),
                 "--plot", str(plot_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["Sequence", *ALL_KEYS]
    assert lines[-1].split()[0] == "COMBINED"

    metrics = json.loads(json_path.read_text())
    assert list(metrics) == ROWS
    assert all(list(row) == ALL_KEYS for row in metrics.values())
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
    assert plot_path.read_bytes()[:4] == b"\x89PNG"


def test_no_confidences_no_longterm_metrics(dirs, capsys):
    gt, res = dirs
    (res / "bike-1.txt").write_text("1,1,10,10\n2,1,10,10\n0,0,0,0\n90,90,10,10\n")
    (res / "car-2.txt").write_text("5,5,20,10\n6,5,20,10\n")
    assert main(["--gt-dir", str(gt), "--results-dir", str(res)]) == 0
    header = capsys.readouterr().out.splitlines()[0].split()
    assert "lt_fscore" not in header and "maxgm" in header


def _missing_result(gt, res):
    (res / "car-2.txt").unlink()
    return "no <seq>.txt result file for the sequences car-2"


def _extra_result(gt, res):
    (res / "bus-3.txt").write_text("1,1,5,5\n")
    return "results for sequences without ground truth"


def _short_result(gt, res):
    (res / "car-2.txt").write_text("5,5,20,10,0.7\n")
    return "car-2.txt: expected 2 lines (one per frame of car-2's groundtruth.txt), got 1"


def _bad_line(gt, res):
    (res / "car-2.txt").write_text("5,5,20,10,0.7\n6,5,x,10,0.6\n")
    return "car-2.txt:2: expected numbers"


def _confidence_in_one_file_only(gt, res):
    (res / "car-2.txt").write_text("5,5,20,10\n6,5,20,10\n")
    return "confidences given for some sequences but not for car-2"


def _bad_flags(gt, res):
    (gt / "bike-1" / "out_of_view.txt").write_text("0,0,1")
    return "out_of_view.txt: expected 4 0/1 flags"


def _absent_first_frame(gt, res):
    (gt / "bike-1" / "full_occlusion.txt").write_text("1,0,0,0")
    return "sequence bike-1: no gt box in the first frame"


def _missing_gt_dir(gt, res):
    for seq in gt.iterdir():
        for f in seq.iterdir():
            f.unlink()
        seq.rmdir()
    gt.rmdir()
    return "no such folder"


@pytest.mark.parametrize("breaks", [_missing_result, _extra_result, _short_result, _bad_line,
                                    _confidence_in_one_file_only, _bad_flags, _absent_first_frame,
                                    _missing_gt_dir])
def test_bad_input_one_sentence_exit_2(dirs, capsys, breaks):
    gt, res = dirs
    expected = breaks(gt, res)
    with pytest.raises(SystemExit) as e:
        main(["--gt-dir", str(gt), "--results-dir", str(res)])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and expected in err[0]


def test_module_run_reports_bad_input_without_traceback(dirs):
    gt, res = dirs
    expected = _missing_result(gt, res)
    proc = subprocess.run(
        [sys.executable, "-m", "mot_heads.cli.sot_eval", "--gt-dir", str(gt), "--results-dir", str(res)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and expected in err[0]
    assert proc.stdout == ""


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for option in ("--gt-dir", "--results-dir", "--json", "--plot"):
        assert option in text
    assert "Example" in text and "mot-sot-eval --gt-dir" in text
