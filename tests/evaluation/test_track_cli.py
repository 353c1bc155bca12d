"""``mot-track`` end to end on a small synthetic set, scored by ``mot-eval``, and its
answers to bad input."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from mot_heads.cli import evaluate, track
from mot_heads.data import SyntheticConfig, generate_dataset
from mot_heads.data.mot_challenge import find_sequences, read_seqinfo
from mot_heads.evaluation import read_mot_results

# Two val sequences of 40 frames (about 1 s to generate); no train split.
CONFIG = SyntheticConfig(seed=1, train_sequences=0, val_sequences=2, num_frames=40)


@pytest.fixture(scope="module")
def val_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("track_cli") / "synthetic"
    generate_dataset(str(root), CONFIG)
    return str(root / "val")


# COMBINED scores measured on CONFIG: sort MOTA 0.935, IDF1 0.967; jde with the second
# association MOTA 0.944, IDF1 0.966. The thresholds leave a margin for tracker changes.
@pytest.mark.parametrize(
    "tracker, params, min_mota, min_idf1",
    [("sort", [], 0.88, 0.91), ("jde", ["--param", "second_association=true"], 0.88, 0.91)],
)
def test_track_then_evaluate(val_dir, tmp_path, capsys, tracker, params, min_mota, min_idf1):
    out = tmp_path / "res"
    assert track.main(["--det-dir", val_dir, "--out-dir", str(out), "--tracker", tracker, *params]) == 0
    assert f"wrote 2 result files to {out}" in capsys.readouterr().out

    seq_dirs = find_sequences(val_dir)
    names = [os.path.basename(d) for d in seq_dirs]
    assert sorted(os.listdir(out)) == [f"{n}.txt" for n in names]
    for name, seq_dir in zip(names, seq_dirs):
        path = str(out / f"{name}.txt")
        with open(path) as f:
            assert len(f.readline().split(",")) == 10  # frame, id, x, y, w, h, score, class, -1, -1
        seq_length = read_seqinfo(seq_dir).seq_length
        # read_mot_results checks every line: frames in 1..seqLength, boxes, one box per id and frame
        result = read_mot_results(path, name, seq_length)
        assert len(result) > 0 and 1 <= result.frames.min() and result.frames.max() <= seq_length

    # The gt holds class 1 (person) and 2 (car), public detections have no class, so the
    # tracks cover both: score persons, and make cars distractors so that tracks on cars
    # are neither true nor false positives.
    scores = tmp_path / "scores.json"
    argv = ["--gt-dir", val_dir, "--results-dir", str(out), "--class-id", "1", "--distractor-classes", "2",
            "--json", str(scores)]
    assert evaluate.main(argv) == 0
    combined = json.loads(scores.read_text())["COMBINED"]
    assert combined["MOTA"] >= min_mota and combined["IDF1"] >= min_idf1, combined


@pytest.fixture
def det_dir(val_dir, tmp_path):
    """A writable copy of the val sequences (no images: mot-track does not read them)."""
    copy = tmp_path / "val"
    shutil.copytree(val_dir, copy, ignore=shutil.ignore_patterns("img1"))
    return copy


def _append_det(det_dir, line):
    path = det_dir / "synth-val-00" / "det" / "det.txt"
    with open(path) as f:
        line_no = sum(1 for _ in f) + 1
    with open(path, "a") as f:
        f.write(line + "\n")
    return line_no


def _missing_det_dir(det_dir):
    shutil.rmtree(det_dir)
    return [], "no such folder"


def _missing_det_txt(det_dir):
    os.remove(det_dir / "synth-val-01" / "det" / "det.txt")
    return [], "synth-val-01/det/det.txt: missing"


def _nan_box(det_dir):
    line_no = _append_det(det_dir, "3,-1,nan,20,10,20,0.9,-1,-1,-1")
    return [], f"det.txt:{line_no}: expected finite numbers"


def _frame_beyond_length(det_dir):
    line_no = _append_det(det_dir, "41,-1,10,20,10,20,0.9,-1,-1,-1")
    return [], f"det.txt:{line_no}: frame 41 is outside 1..40 (seqLength)"


def _unknown_param(det_dir):
    return ["--param", "max_lost=3"], "unknown parameter(s) ['max_lost']"


def _badly_typed_param(det_dir):
    return ["--param", "max_age=three"], "max_age='three': expected a int"


def _param_without_value(det_dir):
    return ["--param", "max_age"], "expected key=value"


@pytest.mark.parametrize(
    "breaks",
    [_missing_det_dir, _missing_det_txt, _nan_box, _frame_beyond_length, _unknown_param, _badly_typed_param,
     _param_without_value],
)
def test_bad_input_one_sentence_exit_2(det_dir, tmp_path, capsys, breaks):
    params, expected = breaks(det_dir)
    out = tmp_path / "res"
    with pytest.raises(SystemExit) as e:
        track.main(["--det-dir", str(det_dir), "--out-dir", str(out), "--tracker", "sort", *params])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and expected in err[0], err
    assert not out.exists() or not os.listdir(out)  # every input is checked before writing


def test_unknown_tracker_is_an_argparse_error(det_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        track.main(["--det-dir", str(det_dir), "--out-dir", str(tmp_path / "res"), "--tracker", "deepsort"])
    assert e.value.code == 2
    assert "invalid choice: 'deepsort'" in capsys.readouterr().err


def test_module_help_shows_the_example():
    proc = subprocess.run(
        [sys.executable, "-m", "mot_heads.cli.track", "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "Example" in proc.stdout and "mot-track --det-dir" in proc.stdout
    for option in ("--det-dir", "--out-dir", "--tracker", "--param"):
        assert option in proc.stdout
