"""``mot-eval`` end to end on TUD, and its answers to bad input."""
import csv
import json
import os
import shutil
import subprocess
import sys

import pytest

from mot_heads.cli.evaluate import main
from mot_heads.evaluation import METRIC_KEYS

from .conftest import TUD_NAMES

COUNTS = {"IDSW", "FP", "FN", "Frag", "MT", "PT", "ML"}
ROWS = list(TUD_NAMES) + ["COMBINED"]


def test_end_to_end(tud_dirs, tmp_path, capsys):
    gt_root, res_root = tud_dirs
    json_path, csv_path = tmp_path / "m.json", tmp_path / "m.csv"
    argv = ["--gt-dir", gt_root, "--results-dir", res_root, "--json", str(json_path), "--csv", str(csv_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["Sequence", *METRIC_KEYS]
    campus = next(line for line in lines if line.startswith("TUD-Campus")).split()
    assert campus[1] == "39.1" and campus[METRIC_KEYS.index("MOTA") + 1] == "52.6"
    assert lines[-1].split()[0] == "COMBINED"

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


@pytest.fixture
def dirs(tud_dirs, tmp_path):
    """A writable copy of the TUD layout."""
    gt_root, res_root = tud_dirs
    gt, res = tmp_path / "gt", tmp_path / "res"
    shutil.copytree(gt_root, gt)
    shutil.copytree(res_root, res)
    return gt, res


def _append(path, line):
    with open(path, "a") as f:
        f.write(line + "\n")


def _bad_extra_result(gt, res):
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


def _missing_result(gt, res):
    os.remove(res / "TUD-Campus.txt")
    return "no <seq>.txt result file", "TUD-Campus"


@pytest.mark.parametrize(
    "breaks", [_missing_gt_dir, _bad_extra_result, _frame_beyond_length, _nan_box, _missing_result]
)
def test_bad_input_one_sentence_exit_2(dirs, capsys, breaks):
    gt, res = dirs
    expected, also = breaks(gt, res)
    with pytest.raises(SystemExit) as e:
        main(["--gt-dir", str(gt), "--results-dir", str(res)])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and expected in err[0] and also in err[0]


def test_module_run_reports_bad_input_without_traceback(dirs):
    gt, res = dirs
    _nan_box(gt, res)
    proc = subprocess.run(
        [sys.executable, "-m", "mot_heads.cli.evaluate", "--gt-dir", str(gt), "--results-dir", str(res)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "TUD-Stadtmitte.txt:750: expected finite numbers" in err[0]
    assert proc.stdout == ""


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for option in ("--gt-dir", "--results-dir", "--json", "--csv", "--class-id", "--distractor-classes"):
        assert option in text
    assert "Example" in text and "mot-eval --gt-dir" in text


def test_bad_distractor_list(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--gt-dir", "a", "--results-dir", "b", "--distractor-classes", "2,x"])
    assert e.value.code == 2
    assert "comma-separated class ids" in capsys.readouterr().err
