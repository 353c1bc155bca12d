"""benchmarks/gpu_check.py: its CPU answer, its list of paper configs, and a CPU smoke run
of its per-method routine at a tiny size."""
import os

import pytest

from mot_heads import add_mot_config
from mot_heads.config import merge_config_file
from tests.benchmarks.test_benchmarks import BENCHMARKS, REPO, run_script

CONFIGS = REPO / "configs"
# Tiny sizes and batch for the CPU smoke run; the paper's sizes need a GPU.
TINY = ("INPUT.MIN_SIZE_TRAIN", (64,), "INPUT.MAX_SIZE_TRAIN", 96, "INPUT.MIN_SIZE_TEST", 64,
        "INPUT.MAX_SIZE_TEST", 96, "SOLVER.IMS_PER_BATCH", 2, "DATALOADER.NUM_WORKERS", 0)


@pytest.fixture
def gpu_check(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import gpu_check

    return gpu_check


def load(path):
    from detectron2.config import get_cfg

    cfg = add_mot_config(get_cfg())
    merge_config_file(cfg, str(path))
    return cfg


def test_without_a_gpu_it_says_so_in_one_line_and_exits_0():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the script runs the check")
    result = run_script("gpu_check.py")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "gpu_check: no CUDA GPU on this machine; nothing to check\n"


def test_paper_configs_are_the_final_stage_of_each_method(gpu_check):
    methods = {p.name for p in CONFIGS.iterdir() if p.is_dir()} - {"quick_schedules", "OneShot"}
    assert set(gpu_check.PAPER_CONFIGS) == methods
    for method, config in gpu_check.PAPER_CONFIGS.items():
        assert config.split("/")[0] == method and (CONFIGS / config).is_file(), config
        final = os.path.join(load(CONFIGS / config).OUTPUT_DIR, "model_final.pth")
        later = [p.name for p in (CONFIGS / method).glob("*.yaml")
                 if not p.name.startswith("Base-") and load(p).MODEL.WEIGHTS == final]
        assert later == [], f"{config} is not the last stage: {later} start from its {final}"


def test_unknown_method_is_refused_in_one_line():
    result = run_script("gpu_check.py", "--methods", "FairMOT")
    assert result.returncode == 2 and "unknown methods ['FairMOT']" in result.stderr.splitlines()[-1]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["CSTrack", "SiamMOT", "OUTrack", "KDMOT", "DMTrack"])
def test_per_method_routine_runs_on_cpu_at_a_tiny_size(gpu_check, method, tmp_path):
    sequence = gpu_check.synthetic_set(str(tmp_path / "synthetic"), frames=3, size=(96, 64),
                                       prefix="gpu_check_smoke")
    row = gpu_check.check_method(method, sequence, "cpu", str(tmp_path / "output"), iterations=1, frames=2,
                                 warmup=0, prefix="gpu_check_smoke", opts=TINY)
    cells = dict(zip(gpu_check.HEADERS, row))
    assert cells["config"] == gpu_check.PAPER_CONFIGS[method] and cells["batch"] == 2
    assert cells["train / test size (short/long)"] == "64/96, 64/96"
    assert float(cells["s/iter (median)"]) > 0 and float(cells["tracking fps (median)"]) > 0
    assert cells["train peak GiB"] == cells["tracking peak GiB"] == "n/a"
