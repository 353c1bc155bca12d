import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(REPO, "configs/quick_schedules/faster_rcnn_R18_FPN_GN_synthetic.yaml")


def _train(datasets_root, output_dir, *extra):
    env = dict(os.environ, DETECTRON2_DATASETS=datasets_root, OMP_NUM_THREADS="1")
    cmd = [sys.executable, os.path.join(REPO, "projects/train_net.py"), "--config-file", CONFIG, *extra,
           "OUTPUT_DIR", str(output_dir), "DATALOADER.NUM_WORKERS", "0"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_two_process_cpu_training(datasets_root, tmp_path):
    result = _train(datasets_root, tmp_path, "--num-gpus", "2",
                    "SOLVER.MAX_ITER", "3", "SOLVER.IMS_PER_BATCH", "2", "DATASETS.TEST", "()")
    assert result.returncode == 0, result.stderr[-3000:]
    log = open(tmp_path / "log.txt").read()
    assert "World size: 2" in log
    iterations = [json.loads(line)["iteration"] for line in open(tmp_path / "metrics.json")]
    assert iterations[-1] == 2
    assert os.path.isfile(tmp_path / "model_final.pth")
    # rank 1 wrote its own log: both processes trained
    assert os.path.isfile(tmp_path / "log.txt.rank1")


def test_unknown_dataset_fails_with_a_clear_message(datasets_root, tmp_path):
    result = _train(datasets_root, tmp_path, "SOLVER.MAX_ITER", "1", "DATASETS.TRAIN", "('mot17_train',)")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    # the last line; before it, on a machine without GPU, the warning that MODEL.DEVICE falls back to cpu
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("error: Dataset 'mot17_train' is not registered: its files were expected at")
    assert os.listdir(tmp_path) == []  # checked before anything started


@pytest.mark.slow
def test_two_process_evaluation_tracks_every_sequence(datasets_root, tmp_path):
    # Frames of a sequence are split between the processes; the MOT evaluator gathers them.
    trained = _train(datasets_root, tmp_path / "train", "SOLVER.MAX_ITER", "1", "DATASETS.TEST", "()")
    assert trained.returncode == 0, trained.stderr[-3000:]
    result = _train(datasets_root, tmp_path / "eval", "--num-gpus", "2", "--eval-only",
                    "MODEL.WEIGHTS", str(tmp_path / "train" / "model_final.pth"), "TEST.EVALUATOR", "mot")
    assert result.returncode == 0, result.stderr[-3000:]
    log = open(tmp_path / "eval" / "log.txt").read()
    assert "copypaste: HOTA,DetA,AssA" in log
    results = os.listdir(tmp_path / "eval" / "inference" / "synth_val")
    assert "synth-val-00.txt" in results and "mot_metrics.json" in results
    recorded = [json.loads(line) for line in open(tmp_path / "eval" / "metrics.json")]  # as training records
    assert len(recorded) == 1 and {"tracking/MOTA", "tracking/IDF1-person"} <= set(recorded[0])
