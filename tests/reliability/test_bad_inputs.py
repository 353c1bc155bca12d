"""Every bad input of the ``mot`` commands ends with one ``error:`` sentence naming the
file, option or key, and exit status 2; a genuine bug keeps its traceback."""
import math
import os

import pytest

import trackers
from mot_heads.cli import train
from mot_heads.cli.main import main
from mot_heads.data import register_synthetic

from ..conftest import write_sequence

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(REPO, "configs", "quick_schedules", "faster_rcnn_R18_FPN_GN_synthetic.yaml")
# No data-loading processes, CPU, tracking scores only.
FAST = ["DATALOADER.NUM_WORKERS", "0", "MODEL.DEVICE", "cpu", "TEST.EVALUATOR", "mot"]


def error_line(capsys, argv):
    """Runs ``mot ARGV``: it must exit 2 with one ``error:`` line and no traceback; returns the line."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if "error:" in line]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def datasets(synthetic_root):
    """The tiny synthetic set under names of this module, as config overrides."""
    train_set, val_set = register_synthetic(synthetic_root, prefix="badinput")
    return ["DATASETS.TRAIN", f"('{train_set}',)", "DATASETS.TEST", f"('{val_set}',)"]


@pytest.fixture
def no_launch(monkeypatch):
    """``mot train`` that records the runs it would start instead of starting them."""
    launched = []
    monkeypatch.setattr(train, "launch", lambda *args, **kwargs: launched.append(args))
    return launched


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    return str(path)


# --- the config file ---------------------------------------------------------------------

def _train_config_error(capsys, tmp_path, config):
    return error_line(capsys, ["train", "--config-file", config, "OUTPUT_DIR", str(tmp_path / "out")])


def test_config_with_a_yaml_syntax_error(tmp_path, capsys):
    config = _write(tmp_path / "bad.yaml", "MODEL:\n  WEIGHTS: [unclosed\nSOLVER: {}\n")
    error = _train_config_error(capsys, tmp_path, config)
    assert "bad.yaml:3" in error and "YAML" in error


def test_base_config_with_a_yaml_syntax_error(tmp_path, capsys):
    _write(tmp_path / "base.yaml", "MODEL:\n  WEIGHTS: 'unclosed\n")
    config = _write(tmp_path / "child.yaml", "_BASE_: base.yaml\n")
    error = _train_config_error(capsys, tmp_path, config)
    assert "base.yaml:" in error and "YAML" in error


def test_empty_config(tmp_path, capsys):
    config = _write(tmp_path / "empty.yaml", "")
    error = _train_config_error(capsys, tmp_path, config)
    assert "empty.yaml: expected a YAML mapping of config keys, got an empty file" in error


def test_scalar_config(tmp_path, capsys):
    config = _write(tmp_path / "scalar.yaml", "42\n")
    error = _train_config_error(capsys, tmp_path, config)
    assert "scalar.yaml: expected a YAML mapping of config keys, got int" in error


def test_config_not_utf8(tmp_path, capsys):
    config = _write(tmp_path / "latin1.yaml", "OUTPUT_DIR: 'caf\xe9'\n".encode("latin-1"))
    error = _train_config_error(capsys, tmp_path, config)
    assert "latin1.yaml: not UTF-8 text" in error


def test_config_is_a_fifo(tmp_path, capsys):
    config = tmp_path / "fifo.yaml"
    os.mkfifo(config)
    error = _train_config_error(capsys, tmp_path, str(config))
    assert "fifo.yaml: expected a config file, got a FIFO" in error


def test_config_python_tag_is_refused_not_run(tmp_path, capsys):
    marker = tmp_path / "marker"
    config = _write(tmp_path / "tag.yaml", f"OUTPUT_DIR: !!python/object/apply:os.mkdir ['{marker}']\n")
    error = _train_config_error(capsys, tmp_path, config)
    assert "tag.yaml:1" in error and "python/object/apply" in error
    assert not marker.exists()


@pytest.mark.parametrize("key, name", [("MODEL.META_ARCHITECTURE", "FasterRCNN"),
                                       ("MODEL.PROPOSAL_GENERATOR.NAME", "XRPN")])
def test_config_names_an_unregistered_class(datasets, tmp_path, capsys, no_launch, key, name):
    error = error_line(capsys, ["train", "--config-file", CONFIG, *datasets, *FAST, key, name,
                                "OUTPUT_DIR", str(tmp_path / "out")])
    assert f"{key} '{name}' is not registered; expected one of [" in error
    assert not no_launch


# --- OUTPUT_DIR --------------------------------------------------------------------------

@pytest.mark.parametrize("command", [["train"], ["evaluate"]])
def test_output_dir_is_a_file(datasets, tmp_path, capsys, no_launch, command):
    output = _write(tmp_path / "out", "")
    error = error_line(capsys, [*command, "--config-file", CONFIG, *datasets, *FAST, "OUTPUT_DIR", output])
    assert f"{output}: the output folder (OUTPUT_DIR) is a file, not a folder" in error
    assert not no_launch


def test_unwritable_output_dir_found_before_training(datasets, tmp_path, capsys, no_launch):
    output = os.path.join(_write(tmp_path / "file", ""), "run")
    error = error_line(capsys, ["train", "--config-file", CONFIG, *datasets, *FAST, "OUTPUT_DIR", output])
    assert f"{output}: cannot write to the output folder (OUTPUT_DIR)" in error
    assert not no_launch


# --- tracker parameters ------------------------------------------------------------------

OUT_OF_RANGE = [
    ("sort", "max_age", "-5", "tracker parameter max_age=-5: expected an integer >= 0"),
    ("sort", "iou_threshold", "7", "tracker parameter iou_threshold=7.0: expected a number in [0, 1]"),
    ("jde", "det_threshold", "nan", "tracker parameter det_threshold=nan: expected a number in [0, 1]"),
]


@pytest.fixture(scope="module")
def det_sequence(tmp_path_factory):
    """A MOTChallenge sequence with public detections and no images."""
    root = tmp_path_factory.mktemp("public")
    return write_sequence(root, images=(), det="1,-1,10,10,20,30,0.9,-1,-1,-1\n2,-1,11,10,20,30,0.9,-1,-1,-1\n")


@pytest.mark.parametrize("tracker, name, value, expected", OUT_OF_RANGE)
def test_track_param_out_of_range(det_sequence, tmp_path, capsys, tracker, name, value, expected):
    out = tmp_path / "res"
    error = error_line(capsys, ["track", "--tracker", tracker, "--input", det_sequence, "--output", str(out),
                                "--param", f"{name}={value}"])
    assert expected in error
    assert not out.exists() or not os.listdir(out)


@pytest.mark.parametrize("tracker, name, value, expected", [
    ("sort", "max_age", -5, "tracker parameter max_age=-5: expected an integer >= 0"),
    ("sort", "iou_threshold", 7, "tracker parameter iou_threshold=7: expected a number in [0, 1]"),
    ("jde", "det_threshold", math.nan, "tracker parameter det_threshold=nan: expected a number in [0, 1]"),
])
def test_build_tracker_param_out_of_range(tracker, name, value, expected):
    with pytest.raises(trackers.ParamError) as e:
        trackers.build_tracker(tracker, **{name: value})
    assert expected in str(e.value)


def test_params_built_directly_are_checked():
    with pytest.raises(trackers.ParamError, match="max_dormant=0: expected an integer >= 1"):
        trackers.SiamMOTSolver(trackers.SiamMOTParams(max_dormant=0))


@pytest.mark.parametrize("tracker, params", [
    ("longterm", {"selection": "nearest"}),
    ("outrack", {"occlusion_sigma": "wide"}),
    ("jde", {"frame_rate": 0}),
    ("sort", {"score_threshold": math.inf}),
    ("siammot", {"class_agnostic": 2}),
])
def test_every_tracker_checks_its_params(tracker, params):
    with pytest.raises(trackers.ParamError, match=next(iter(params))):
        trackers.build_tracker(tracker, **params)


def test_config_tracker_params_checked_before_training(datasets, tmp_path, capsys, no_launch):
    error = error_line(capsys, ["train", "--config-file", CONFIG, *datasets, *FAST, "TRACKER.PARAMS",
                                "['det_threshold=2']", "OUTPUT_DIR", str(tmp_path / "out")])
    assert "tracker parameter det_threshold=2.0: expected a number in [0, 1]" in error
    assert not no_launch


# --- processes and machines --------------------------------------------------------------

@pytest.mark.parametrize("options, expected", [
    (["--num-gpus", "0"], "argument --num-gpus: expected an integer >= 1, got 0"),
    (["--num-machines", "0"], "argument --num-machines: expected an integer >= 1, got 0"),
    (["--machine-rank", "-1"], "argument --machine-rank: expected an integer >= 0, got -1"),
    (["--num-machines", "2", "--machine-rank", "2"], "--machine-rank 2: expected 0 to 1 (--num-machines 2)"),
])
def test_processes_and_machines_out_of_range(datasets, tmp_path, capsys, no_launch, options, expected):
    error = error_line(capsys, ["train", "--config-file", CONFIG, *options, *datasets, *FAST,
                                "OUTPUT_DIR", str(tmp_path / "out")])
    assert expected in error
    assert not no_launch


# --- bugs are not bad input --------------------------------------------------------------

@pytest.mark.parametrize("error", [ValueError, KeyError])
def test_a_bug_keeps_its_traceback(datasets, tmp_path, monkeypatch, error):
    def broken(names):
        raise error("a bug")

    monkeypatch.setattr(train, "check_registered", broken)
    with pytest.raises(error, match="a bug"):
        main(["train", "--config-file", CONFIG, *datasets, *FAST, "OUTPUT_DIR", str(tmp_path / "out")])
