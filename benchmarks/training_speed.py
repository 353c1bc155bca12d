#!/usr/bin/env python
"""Training seconds per iteration of every method's tiny quick-schedule config on CPU, as
``projects/train_net.py`` trains it on the synthetic set.

    python benchmarks/training_speed.py [--iterations 12] [--warmup 4] [--threads 2]
        [--methods siammot-emm,jde,dmtrack] [--data-root datasets/synthetic]

Each config of configs/quick_schedules/ trains ``--warmup`` + ``--iterations``
iterations with the project's trainer (``MOTTrainer``: its data loader, with the
config's workers, mapper and batch, its optimizer and hooks), from weights of a fixed
seed, on the training sequences of the synthetic set in ``--data-root`` (its train/
folder, as ``python -m mot_heads.data.synthetic`` writes it) or, without it, of a small
one generated in a temporary folder. An iteration is timed from the start of its step to
the end of its hooks: data loading included, as a user sees it. The table gives the
median of the iterations after the warm-up. KDMOT's teacher is the untrained tiny ReID
network (no MODEL.ONE_SHOT.ID_LOSS.DISTILLATION.TEACHER_WEIGHTS): its cost is that of a
trained one.
"""
import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from typing import List

import torch
from detectron2.engine import HookBase
from tabulate import tabulate

from mot_heads.data import MAPPER_REGISTRY, SyntheticConfig, generate_dataset, register_synthetic
from mot_heads.data.pair_sampling import ImagePairMapper
from mot_heads.engine import MOTTrainer

from speed_common import QUICK_SCHEDULES, SEED, describe_run, load_cfg, parse_methods

PREFIX = "training_speed"  # the synthetic set's registered names: <PREFIX>_train (trained on), <PREFIX>_val
SMALL_SET = SyntheticConfig(train_sequences=2, val_sequences=1, num_frames=20)


class IterationSeconds(HookBase):
    """Wall seconds of each iteration: the step (data loading included) and the hooks before this one."""

    def __init__(self):
        self.seconds: List[float] = []
        self._start = 0.0

    def before_step(self):
        self._start = time.perf_counter()

    def after_step(self):
        self.seconds.append(time.perf_counter() - self._start)


def batch_size(cfg) -> str:
    """SOLVER.IMS_PER_BATCH, in frame pairs for the mappers that pair frames."""
    batch = cfg.SOLVER.IMS_PER_BATCH
    if issubclass(MAPPER_REGISTRY.get(cfg.INPUT.TRAIN_MAPPER), ImagePairMapper):
        return f"{batch} pairs ({2 * batch} frames)"
    return f"{batch} frames"


def input_size(cfg) -> str:
    """The training frames' size: the short sides drawn from, the cap on the long side."""
    sides = cfg.INPUT.MIN_SIZE_TRAIN
    return f"short side {min(sides)}-{max(sides)}, long <= {cfg.INPUT.MAX_SIZE_TRAIN}"


def quiet_detectron2_log() -> None:
    """Detectron2's training log (which ``DefaultTrainer`` sends to stdout when nothing
    set it up) on stderr, so that stdout holds only the table."""
    log = logging.getLogger("detectron2")
    if not log.handlers:
        log.setLevel(logging.INFO)
        log.addHandler(logging.StreamHandler(sys.stderr))
        log.propagate = False


def method_row(name: str, iterations: int, warmup: int, output_root: str) -> list:
    """The table row of one method: its config trained ``warmup + iterations`` times."""
    label, config = QUICK_SCHEDULES[name]
    output_dir = os.path.join(output_root, name)
    os.makedirs(output_dir)
    cfg = load_cfg(f"quick_schedules/{config}", "DATASETS.TRAIN", (f"{PREFIX}_train",), "DATASETS.TEST", (),
                   "SOLVER.MAX_ITER", warmup + iterations, "SOLVER.STEPS", (), "OUTPUT_DIR", output_dir)
    torch.manual_seed(SEED)
    quiet_detectron2_log()
    trainer = MOTTrainer(cfg)
    timer = IterationSeconds()
    trainer.register_hooks([timer])
    trainer.train()
    seconds = statistics.median(timer.seconds[warmup:])
    return [label, config, batch_size(cfg), input_size(cfg), f"{seconds:.3f}", len(timer.seconds[warmup:])]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=12, help="timed iterations per method")
    parser.add_argument("--warmup", type=int, default=4, help="iterations before the timed ones")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--methods", type=parse_methods, default=",".join(QUICK_SCHEDULES),
                        help=f"comma-separated, of {', '.join(QUICK_SCHEDULES)}")
    parser.add_argument("--data-root", help="a synthetic set (train/ and val/ folders) to train on "
                        "(default: a small one generated in a temporary folder)")
    args = parser.parse_args()
    if args.iterations < 1 or args.warmup < 0:
        parser.error("--iterations must be positive and --warmup not negative")
    if args.data_root and not os.path.isdir(os.path.join(args.data_root, "train")):
        parser.error(f"--data-root {args.data_root}: no train/ folder of sequences "
                     "(write one with python -m mot_heads.data.synthetic)")
    describe_run(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        data_root = args.data_root
        if data_root is None:
            data_root = os.path.join(tmp, "synthetic")
            generate_dataset(data_root, SMALL_SET)
        register_synthetic(data_root, prefix=PREFIX)
        print(f"weights: seed {SEED}; median of {args.iterations} iterations after {args.warmup} warm-up iterations; "
              f"synthetic set: {'--data-root' if args.data_root else 'generated'} "
              f"({len(os.listdir(os.path.join(data_root, 'train')))} training sequences)\n")
        rows = [method_row(name, args.iterations, args.warmup, os.path.join(tmp, "output")) for name in args.methods]
    print(tabulate(rows, tablefmt="github", disable_numparse=True, headers=[
        "method", "config", "batch (SOLVER.IMS_PER_BATCH)", "input size", "s/iter (median)", "iterations timed",
    ]))


if __name__ == "__main__":
    main()
