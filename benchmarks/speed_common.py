"""What the model speed benchmarks share: the methods' tiny configs, configs on CPU, models
with seeded weights, random frames and boxes, SiamMOT's per-frame tracking step, the
description of the machine and run they print, and medians of calls that take turns.

The benchmarks run as ``python benchmarks/<name>.py``, which puts this folder on
``sys.path``; they import this module as ``speed_common``.
"""
import argparse
import os
import platform
import shlex
import statistics
import sys
import time
from typing import Callable, Dict, Hashable, List, Tuple

import numpy as np
import torch
from detectron2.config import get_cfg
from detectron2.modeling import build_model

from mot_heads import add_mot_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "configs")
WARMUP = 2
SEED = 0
# Every method's tiny model: name on the command line -> (label, config under configs/quick_schedules/).
QUICK_SCHEDULES = {
    "siammot-emm": ("SiamMOT-EMM", "siammot_EMM_R18_FPN_GN_synthetic.yaml"),
    "siammot-imm": ("SiamMOT-IMM", "siammot_IMM_R18_FPN_GN_synthetic.yaml"),
    "jde": ("JDE/FairMOT (one-shot baseline)", "oneshot_R18_FPN_GN_synthetic.yaml"),
    "cstrack": ("CSTrack (REN+SAAN)", "cstrack_R18_FPN_GN_synthetic.yaml"),
    "outrack": ("OUTrack", "outrack_R18_FPN_GN_synthetic.yaml"),
    "kdmot": ("KDMOT (student)", "kdmot_R18_FPN_GN_synthetic.yaml"),
    "dmtrack": ("DMTrack", "dmtrack_R18_FPN_GN_synthetic.yaml"),
}


def load_cfg(config_file: str, *opts):
    """The config ``config_file`` (a path under ``configs/``) on CPU with ``opts`` merged;
    a KDMOT teacher's config, named relative to the repository, is found from any folder,
    and untrained (its cost is a trained one's)."""
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_file(os.path.join(CONFIGS, config_file))
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", *opts])
    distillation = cfg.MODEL.ONE_SHOT.ID_LOSS.DISTILLATION
    distillation.ALLOW_RANDOM_TEACHER, distillation.TEACHER_WEIGHTS = True, ""
    if distillation.TEACHER_CONFIG:
        distillation.TEACHER_CONFIG = os.path.join(REPO, distillation.TEACHER_CONFIG)
    return cfg


def seeded_model(cfg):
    """The model of ``cfg`` with the weights of ``SEED``."""
    torch.manual_seed(SEED)
    return build_model(cfg)


def random_frame(width: int, height: int) -> dict:
    """A test-time input dict of one random ``width`` x ``height`` frame of ``SEED``, fed
    at that size (no test-time resize)."""
    image = torch.randint(0, 256, (3, height, width), generator=torch.Generator().manual_seed(SEED)).float()
    return {"image": image, "height": height, "width": width}


def random_boxes(rng: np.random.Generator, count: int, width: int, height: int) -> torch.Tensor:
    """``count`` XYXY boxes inside the image, 3-20 % of its width and 10-40 % of its height."""
    size = rng.uniform([0.03 * width, 0.1 * height], [0.2 * width, 0.4 * height], size=(count, 2))
    corner = rng.uniform(size=(count, 2)) * ([width, height] - size)
    return torch.as_tensor(np.concatenate([corner, corner + size], axis=1), dtype=torch.float32)


def tracking_step(model, previous: dict, frame: dict, boxes: torch.Tensor):
    """A call that tracks ``boxes`` (templates from ``previous``) into ``frame`` with a
    SiamMOT model and refreshes their templates; returns the frame's detections."""
    classes = torch.zeros(len(boxes), dtype=torch.long)
    _, _, _, state = model.track_frame(previous, boxes.new_zeros((0, 4)), torch.zeros(0), classes[:0])
    templates = model.track_templates(state, boxes)

    def step():
        detections, propagated, _, state = model.track_frame(frame, boxes, templates, classes)
        model.track_templates(state, propagated)
        return detections

    return step


def cpu_model() -> str:
    """The CPU's model name, as /proc/cpuinfo or the platform gives it."""
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    except OSError:
        names = []
    return names[0] if names else platform.processor() or "unknown"


def parse_resolutions(text: str) -> List[Tuple[int, int]]:
    """``"WIDTHxHEIGHT,..."`` as (width, height) pairs (an argparse ``type``)."""
    return [tuple(map(int, r.lower().split("x"))) for r in text.split(",")]


def parse_methods(text: str) -> List[str]:
    """Comma-separated names of ``QUICK_SCHEDULES``, in its order (an argparse ``type``)."""
    chosen = text.split(",")
    unknown = sorted(set(chosen) - set(QUICK_SCHEDULES))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown methods {unknown}; choose from {', '.join(QUICK_SCHEDULES)}")
    return [name for name in QUICK_SCHEDULES if name in chosen]


def describe_run(threads: int) -> None:
    """Sets torch's thread count and prints the command (the script relative to the
    repository), torch, threads and CPU."""
    torch.set_num_threads(threads)
    script = os.path.relpath(os.path.abspath(sys.argv[0]), REPO)
    print(f"command: {shlex.join(['python', script, *sys.argv[1:]])}")
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
