"""``mot train`` (a few iterations of the tiny detector on the tiny synthetic set), its
evaluation-only path through ``mot train --eval-only`` and ``mot evaluate --config-file``,
and their answers to bad input."""
import contextlib
import io
import json
import os
import subprocess
import sys

import pytest
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.modeling import build_model

from mot_heads.cli.common import load_config
from mot_heads.cli.main import main
from mot_heads.data import register_synthetic

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = os.path.join(REPO, "configs", "quick_schedules")
CONFIG = os.path.join(CONFIGS, "faster_rcnn_R18_FPN_GN_synthetic.yaml")
OTHER_CONFIG = os.path.join(CONFIGS, "reid_R18_synthetic.yaml")  # a ReID network: another architecture
PNG = b"\x89PNG\r\n\x1a\n"
# Fast: no data-loading processes, half-size test images, tracking scores only (no COCO).
FAST = ["DATALOADER.NUM_WORKERS", "0", "MODEL.DEVICE", "cpu", "INPUT.MIN_SIZE_TEST", "96", "TEST.EVALUATOR", "mot"]


@pytest.fixture(scope="module")
def datasets(synthetic_root):
    """The tiny synthetic set under names of this module, as config overrides."""
    train, val = register_synthetic(synthetic_root, prefix="clitrain")
    return ["DATASETS.TRAIN", f"('{train}',)", "DATASETS.TEST", f"('{val}',)"]


def run_quietly(argv):
    """``mot ARGV``'s exit status and stdout. Detectron2's loggers keep writing to the
    stream they were set up with: a StringIO, never closed, rather than pytest's capture."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(argv)
    return status, out.getvalue()


@pytest.fixture(scope="module")
def trained(datasets, tmp_path_factory):
    """OUTPUT_DIR and stdout of a 3-iteration training, evaluated at its end."""
    out = tmp_path_factory.mktemp("trained")
    status, stdout = run_quietly(["train", "--config-file", CONFIG, *datasets, *FAST, "SOLVER.MAX_ITER", "3",
                                  "SOLVER.IMS_PER_BATCH", "2", "OUTPUT_DIR", str(out)])
    assert status == 0
    return out, stdout


@pytest.fixture(scope="module")
def other_weights(tmp_path_factory):
    """An untrained ReID network's checkpoint."""
    folder = tmp_path_factory.mktemp("other")
    model = build_model(load_config(OTHER_CONFIG, ["MODEL.DEVICE", "cpu"]))
    DetectionCheckpointer(model, save_dir=str(folder)).save("reid_untrained")
    return str(folder / "reid_untrained.pth")


def test_unusable_epoch_schedule_one_sentence_before_any_run(datasets, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--config-file", CONFIG, *datasets, *FAST, "OUTPUT_DIR", str(tmp_path / "out"),
              "SOLVER.STEP_EPOCHS", "(20,)"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: SOLVER.STEP_EPOCHS=(20,) needs SOLVER.EPOCHS > 0 (else set SOLVER.STEPS in iterations)"]
    assert not os.path.exists(tmp_path / "out")


@pytest.mark.slow
def test_training_writes_checkpoint_metrics_and_plots(trained):
    out, stdout = trained
    assert os.path.isfile(out / "model_final.pth")
    records = [json.loads(line) for line in open(out / "metrics.json")]
    assert [r["iteration"] for r in records if "total_loss" in r][-1] == 2
    assert "tracking/HOTA" in records[-1]  # the evaluation at the end of training
    plots = sorted(os.listdir(out / "plots"))
    assert plots == ["evaluation.png", "learning_rate.png", "losses.png"]
    for name in plots:
        path = out / "plots" / name
        assert os.path.getsize(path) > 0 and open(path, "rb").read(8) == PNG
        assert f"wrote {path}" in stdout.splitlines()


@pytest.mark.slow
def test_train_eval_only(trained, datasets, tmp_path):
    out, _ = trained
    status, _ = run_quietly(["train", "--config-file", CONFIG, "--eval-only", *datasets, *FAST,
                             "MODEL.WEIGHTS", str(out / "model_final.pth"), "OUTPUT_DIR", str(tmp_path)])
    assert status == 0
    records = [json.loads(line) for line in open(tmp_path / "metrics.json")]  # as training records
    assert len(records) == 1 and {"tracking/MOTA", "tracking/IDF1-person"} <= set(records[0])
    assert "synth-val-00.txt" in os.listdir(tmp_path / "inference" / "clitrain_val")
    assert not os.path.exists(tmp_path / "plots")


@pytest.mark.slow
def test_evaluate_a_model(trained, datasets, tmp_path):
    out, _ = trained
    status, stdout = run_quietly(["evaluate", "--config-file", CONFIG, *datasets, *FAST,
                                  "MODEL.WEIGHTS", str(out / "model_final.pth"), "OUTPUT_DIR", str(tmp_path)])
    assert status == 0
    lines = stdout.splitlines()
    heading = f"results on clitrain_val (also in {tmp_path / 'metrics.json'}):"
    printed = dict(line.split() for line in lines[lines.index(heading) + 1:])
    recorded = json.loads(open(tmp_path / "metrics.json").read())
    for key in ("tracking/HOTA", "tracking/MOTA", "tracking/IDSW", "tracking/HOTA-car"):
        assert float(printed[key]) == pytest.approx(recorded[key], abs=0.005)


# Each: (config file, overrides, what the error says).
def _missing_config(tmp_path, other_weights):
    return str(tmp_path / "nope.yaml"), [], "nope.yaml: no such config file"


def _unknown_key(tmp_path, other_weights):
    return CONFIG, ["SOLVER.NO_SUCH_KEY", "1"], "Non-existent key: SOLVER.NO_SUCH_KEY"


def _unregistered_train_set(tmp_path, other_weights):
    return CONFIG, ["DATASETS.TRAIN", "('mot17_train',)"], (
        "Dataset 'mot17_train' is not registered: its files were expected at")


def _unregistered_test_set(tmp_path, other_weights):
    return CONFIG, ["DATASETS.TEST", "('my_videos',)"], "Dataset 'my_videos' is not registered: register it first"


def _missing_weights(tmp_path, other_weights):
    return CONFIG, ["MODEL.WEIGHTS", str(tmp_path / "w.pth")], "w.pth: no such weights file (MODEL.WEIGHTS)"


def _other_architecture(tmp_path, other_weights):
    return CONFIG, ["MODEL.WEIGHTS", other_weights], "reid_untrained.pth: weights of another architecture"


@pytest.mark.parametrize("command", [["train"], ["train", "--eval-only"], ["evaluate"]])
@pytest.mark.parametrize("breaks", [_missing_config, _unknown_key, _unregistered_train_set, _unregistered_test_set,
                                    _missing_weights, _other_architecture])
def test_bad_input_one_sentence_exit_2_before_any_run(datasets, other_weights, tmp_path, capsys, command, breaks):
    if command != ["train"] and breaks is _unregistered_train_set:
        pytest.skip("an evaluation reads DATASETS.TEST only")
    config, overrides, expected = breaks(tmp_path, other_weights)
    with pytest.raises(SystemExit) as e:
        main([*command, "--config-file", config, *datasets, *FAST, "OUTPUT_DIR", str(tmp_path / "out"), *overrides])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and expected in err[0], err
    assert not os.path.exists(tmp_path / "out")  # nothing started


@pytest.mark.slow
def test_eval_only_needs_every_parameter(trained, datasets, tmp_path, capsys):
    """Detector weights cover SiamMOT's detector but not its track head: fine to start a
    training from, refused for an evaluation."""
    out, _ = trained
    siammot = os.path.join(CONFIGS, "siammot_EMM_R18_FPN_GN_synthetic.yaml")
    with pytest.raises(SystemExit) as e:
        main(["train", "--config-file", siammot, "--eval-only", *datasets, *FAST,
              "MODEL.WEIGHTS", str(out / "model_final.pth"), "OUTPUT_DIR", str(tmp_path / "out")])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model_final.pth: weights of another architecture" in err[0]
    assert "roi_heads.track_head" in err[0]


def test_command_line_reports_weights_of_another_architecture_in_one_line(datasets_root, other_weights, tmp_path):
    """Outside pytest, with logging as the command sets it up: the checkpointer's warnings
    must not reach stderr."""
    proc = subprocess.run(
        [sys.executable, "-m", "mot_heads.cli.main", "train", "--config-file", CONFIG,
         "MODEL.WEIGHTS", other_weights, "MODEL.DEVICE", "cpu", "OUTPUT_DIR", str(tmp_path / "out")],
        env=dict(os.environ, DETECTRON2_DATASETS=datasets_root), capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "reid_untrained.pth: weights of another architecture" in err[0], proc.stderr
    assert proc.stdout == ""


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for option in ("--config-file", "--eval-only", "--resume", "--num-gpus", "--num-machines", "--machine-rank",
                   "--dist-url", "KEY VALUE"):
        assert option in text
    assert "Examples" in text and "mot train --config-file" in text
