"""``mot evaluate``'s folders and outputs: every sequence folder counts, an empty class
selection is refused, outputs are checked before scoring and written whole, and the
partial results of an interrupted ``mot track`` are left out with a warning."""
import csv
import json
import os

import pytest

from mot_heads.cli.main import main

from ..conftest import write_sequence
from .test_mot_formats import evaluate, mot_folders, refused


def test_class_without_gt_rows_is_refused(tmp_path, capsys):
    gt, res = mot_folders(tmp_path)
    line = refused(capsys, "--gt-dir", gt, "--results-dir", res, "--classes", "5")
    assert "--classes" in line and "class 5" in line


def test_sequence_folder_without_seqinfo_is_refused(tmp_path, capsys):
    gt, res = mot_folders(tmp_path)
    (gt / "SEQ-02" / "gt").mkdir(parents=True)
    (gt / "SEQ-02" / "gt" / "gt.txt").write_text("1,1,10,10,20,40,1,1,1\n")
    line = refused(capsys, "--gt-dir", gt, "--results-dir", res)
    assert str(gt / "SEQ-02") in line and "seqinfo.ini" in line


def test_track_refuses_sequence_folder_without_seqinfo(tmp_path, capsys):
    det = "1,-1,10,10,20,40,0.9\n2,-1,11,10,20,40,0.9\n3,-1,12,10,20,40,0.9\n"
    write_sequence(tmp_path / "seqs", "SEQ-01", length=3, det=det, images=[])
    (tmp_path / "seqs" / "SEQ-02" / "det").mkdir(parents=True)
    (tmp_path / "seqs" / "SEQ-02" / "det" / "det.txt").write_text(det)
    with pytest.raises(SystemExit) as e:
        main(["track", "--tracker", "sort", "--input", str(tmp_path / "seqs"), "--output", str(tmp_path / "out")])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert str(tmp_path / "seqs" / "SEQ-02") in err[-1] and "seqinfo.ini" in err[-1]


# ---------------------------------------------------------------------------- outputs

@pytest.mark.parametrize("option", ["--json", "--csv"])
def test_unwritable_table_found_before_scoring(tmp_path, capsys, option):
    gt, res = mot_folders(tmp_path)
    (tmp_path / "file").write_text("")
    code, out, err = evaluate(capsys, "--gt-dir", gt, "--results-dir", res, option, tmp_path / "file" / "m.out")
    assert code == 2 and out == "" and len(err) == 1 and str(tmp_path / "file") in err[0]


def test_unwritable_plot_dir_found_before_scoring(tmp_path, capsys):
    gt, res = mot_folders(tmp_path)
    (tmp_path / "plots").write_text("")
    code, out, err = evaluate(capsys, "--gt-dir", gt, "--results-dir", res, "--plot-dir", tmp_path / "plots")
    assert code == 2 and out == "" and len(err) == 1 and str(tmp_path / "plots") in err[0]


def _interrupt_json(monkeypatch):
    def dump(obj, f, **kwargs):
        f.write('{"SEQ-01": ')
        raise KeyboardInterrupt
    monkeypatch.setattr(json, "dump", dump)


def _interrupt_csv(monkeypatch):
    real_writer = csv.writer

    class Writer:
        def __init__(self, f):
            self.writer, self.rows = real_writer(f), 0

        def writerow(self, row):
            self.rows += 1
            if self.rows == 2:
                raise KeyboardInterrupt
            self.writer.writerow(row)
    monkeypatch.setattr(csv, "writer", Writer)


@pytest.mark.parametrize("option, interrupt", [("--json", _interrupt_json), ("--csv", _interrupt_csv)])
def test_interrupted_write_keeps_the_previous_file(tmp_path, capsys, monkeypatch, option, interrupt):
    gt, res = mot_folders(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "m.out").write_text("complete earlier result\n")
    interrupt(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        main(["evaluate", "--gt-dir", str(gt), "--results-dir", str(res), option, str(out / "m.out")])
    assert os.listdir(out) == ["m.out"]
    assert (out / "m.out").read_text() == "complete earlier result\n"


# ---------------------------------------------------------------------------- partial results

def test_partial_results_are_ignored_with_a_warning(tmp_path, capsys):
    gt, res = mot_folders(tmp_path)
    (res / "SEQ-01.partial.txt").write_text("1,1,10,10,20,40,0.9,-1,-1,-1\n")
    code, out, err = evaluate(capsys, "--gt-dir", gt, "--results-dir", res)
    assert code == 0 and "COMBINED" in out
    warnings = [line for line in err if "SEQ-01.partial.txt" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: ")


def test_partial_result_alone_is_no_result(tmp_path, capsys):
    gt, res = mot_folders(tmp_path)
    os.rename(res / "SEQ-01.txt", res / "SEQ-01.partial.txt")
    code, _, err = evaluate(capsys, "--gt-dir", gt, "--results-dir", res)
    assert code == 2 and err[-1].startswith("error: ") and "no <seq>.txt result file" in err[-1]
    assert any(line.startswith("warning: ") and "SEQ-01.partial.txt" in line for line in err)
