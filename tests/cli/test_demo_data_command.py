"""``mot demo-data``: a tiny synthetic set on disk, and answers to bad input."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mot_heads.cli.main import main
from mot_heads.data.mot_challenge import read_seqinfo

TINY = ["--train-sequences", "2", "--val-sequences", "1", "--num-frames", "3", "--width", "96", "--height", "160",
        "--no-camera-motion"]


def demo_data(root, *options):
    return main(["demo-data", "--root", str(root), *options])


def test_writes_the_set(tmp_path, capsys):
    root = tmp_path / "synthetic"
    assert demo_data(root, *TINY) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"synthetic set in {root}: 2 train and 1 val sequences of 3 frames, 96x160")
    assert sorted(os.listdir(root / "train")) == ["synth-train-00", "synth-train-01"]
    assert os.listdir(root / "val") == ["synth-val-00"]
    for seq in (root / "train" / "synth-train-00", root / "val" / "synth-val-00"):
        info = read_seqinfo(str(seq))
        assert (info.seq_length, info.width, info.height) == (3, 96, 160)
        assert sorted(os.listdir(seq / "img1")) == ["000001.jpg", "000002.jpg", "000003.jpg"]
        for text in ("gt/gt.txt", "det/det.txt"):
            assert (seq / text).stat().st_size > 0
    manifest = json.loads((root / "synthetic.json").read_text())
    assert manifest["camera_motion"] is False and manifest["num_frames"] == 3

    # the same options again: the set is left as it is
    written = (root / "val" / "synth-val-00" / "gt" / "gt.txt").stat().st_mtime_ns
    assert demo_data(root, *TINY) == 0
    assert (root / "val" / "synth-val-00" / "gt" / "gt.txt").stat().st_mtime_ns == written


def test_crowded_set(tmp_path):
    def first_frame_objects(root):
        rows = np.loadtxt(root / "val" / "synth-val-00" / "gt" / "gt.txt", delimiter=",", ndmin=2)
        return int((rows[:, 0] == 1).sum())

    small = ["--train-sequences", "1", "--val-sequences", "1", "--num-frames", "2"]
    assert demo_data(tmp_path / "default", *small) == 0
    assert demo_data(tmp_path / "crowded", *small, "--initial-objects", "14", "--target-objects", "16") == 0
    manifest = json.loads((tmp_path / "crowded" / "synthetic.json").read_text())
    assert (manifest["initial_objects"], manifest["target_objects"]) == (14, 16)
    assert first_frame_objects(tmp_path / "crowded") > first_frame_objects(tmp_path / "default") + 4


def _root_under_a_file(tmp_path):
    (tmp_path / "a_file").write_text("")
    return tmp_path / "a_file" / "synthetic", "cannot write (Not a directory)"


def _root_holding_other_files(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("")
    return tmp_path / "mine", "exists, is not empty and holds no synthetic.json; choose another --root"


@pytest.mark.parametrize("bad_root", [_root_under_a_file, _root_holding_other_files])
def test_unwritable_root_one_sentence_exit_2(tmp_path, capsys, bad_root):
    root, expected = bad_root(tmp_path)
    with pytest.raises(SystemExit) as e:
        demo_data(root, *TINY)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and expected in err[0]


@pytest.mark.parametrize("sizes, expected", [
    (["--num-frames", "0", "--val-sequences", "-5"], "error: --val-sequences, --num-frames must be at least 1"),
    (["--height", "64"], "error: --width 320 --height 64: frames must be at least 80x150 pixels, the size of the "
                         "largest objects and false detections"),
])
def test_too_small_sizes_one_sentence_exit_2(tmp_path, capsys, sizes, expected):
    with pytest.raises(SystemExit) as e:
        demo_data(tmp_path / "synthetic", *sizes)
    assert e.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [expected]
    assert not (tmp_path / "synthetic").exists()


def test_module_entry_point_runs_the_command(tmp_path):
    root = tmp_path / "synthetic"
    proc = subprocess.run([sys.executable, "-m", "mot_heads.data.synthetic", "--root", str(root), *TINY],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1].startswith(f"synthetic set in {root}: 2 train and 1 val sequences")
    assert os.path.isfile(root / "val" / "synth-val-00" / "gt" / "gt.txt")


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as e:
        main(["demo-data", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for option in ("--root", "--seed", "--train-sequences", "--val-sequences", "--num-frames", "--width", "--height",
                   "--frame-rate", "--initial-objects", "--target-objects", "--no-camera-motion"):
        assert option in text
    assert "Examples" in text and "mot demo-data --root" in text
