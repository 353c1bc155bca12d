"""What the model speed benchmarks share: configs on CPU, models with seeded weights, the
description of the machine and run they print, and medians of calls that take turns.

The benchmarks run as ``python benchmarks/<name>.py``, which puts this folder on
``sys.path``; they import this module as ``speed_common``.
"""
import os
import platform
import shlex
import statistics
import sys
import time
from typing import Callable, Dict, Hashable, List, Tuple

import torch
from detectron2.config import get_cfg
from detectron2.modeling import build_model

from mot_heads import add_mot_config

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "configs")
WARMUP = 2
SEED = 0


def load_cfg(config_file: str, *opts):
    """The config ``config_file`` (a path under ``configs/``) on CPU with ``opts`` merged."""
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_file(os.path.join(CONFIGS, config_file))
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", *opts])
    return cfg


def seeded_model(cfg):
    """The model of ``cfg`` with the weights of ``SEED``."""
    torch.manual_seed(SEED)
    return build_model(cfg)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    except OSError:
        names = []
    return names[0] if names else platform.processor() or "unknown"


def parse_resolutions(text: str) -> List[Tuple[int, int]]:
    """``"WIDTHxHEIGHT,..."`` as (width, height) pairs (an argparse ``type``)."""
    return [tuple(map(int, r.lower().split("x"))) for r in text.split(",")]


def describe_run(threads: int) -> None:
    """Sets torch's thread count and prints the command, torch, threads and CPU."""
    torch.set_num_threads(threads)
    print(f"command: {shlex.join([sys.executable] + sys.argv)}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU: {cpu_model()}")


def interleaved_medians(calls: Dict[Hashable, Callable], repeats: int, warmup: int = WARMUP) -> dict:
    """Median seconds and last output of each call, after ``warmup`` calls each; the
    calls take turns in each repeat so that a change of machine load hits them alike."""
    for call in calls.values():
        for _ in range(warmup):
            call()
    times = {key: [] for key in calls}
    outputs = {}
    for _ in range(repeats):
        for key, call in calls.items():
            start = time.perf_counter()
            outputs[key] = call()
            times[key].append(time.perf_counter() - start)
    return {key: (statistics.median(times[key]), outputs[key]) for key in calls}
