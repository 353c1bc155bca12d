#!/usr/bin/env python
"""SiamMOT speed on CPU: per-frame time of the detector alone, of detector + IMM and of
detector + EMM with 10 and 50 live tracks, and training time per iteration.

    python benchmarks/siammot_speed.py [--repeats 10] [--train-repeats 5] [--threads 2]
        [--resolutions 320x192,960x540] [--skip-training]

Inference (eval mode, no grad, untrained weights of a fixed seed): one random frame per
resolution, fed at that size (INPUT.MIN/MAX_SIZE_TEST set to its sides; the tiny configs'
own are 192/320). "detector" is the EMM model's plain detection ``model([frame])``; a
tracking row is ``track_frame`` with N live tracks (random boxes, templates taken on a
previous frame) plus ``track_templates`` of the propagated boxes, the per-frame work of
the SiamMOT driver without its solver. The IMM model is built with the same seed, so its
detector weights are the EMM model's. The rows take turns within each repeat; the table
gives medians after a warm-up, and the overhead of a tracking row over the detector row
of the same run.

Training: one batch of the synthetic set (a small one generated in a temporary folder)
through forward, backward and an SGD step, repeated; single frames for the detector,
frame pairs for SiamMOT.
"""
import argparse
import itertools
import statistics
import tempfile
import time

import numpy as np
import torch
from detectron2.data.detection_utils import build_augmentation
from detectron2.engine import SimpleTrainer
from detectron2.solver import build_lr_scheduler, build_optimizer
from detectron2.utils.events import EventStorage
from tabulate import tabulate

from mot_heads.engine.video_tracking import model_input
from mot_heads.data import SyntheticConfig, build_mot_train_loader, generate_dataset, register_synthetic

from speed_common import (
    SEED, WARMUP, describe_run, interleaved_medians, load_cfg, parse_resolutions, random_boxes, seeded_model,
    tracking_step,
)

DETECTOR = "quick_schedules/faster_rcnn_R18_FPN_GN_synthetic.yaml"
EMM = "quick_schedules/siammot_EMM_R18_FPN_GN_synthetic.yaml"
IMM = "quick_schedules/siammot_IMM_R18_FPN_GN_synthetic.yaml"
TRACKS = (10, 50)
GOAL = 0.25  # the EMM track head may add at most this fraction to the detector's frame time


def inference_rows(width: int, height: int, repeats: int):
    """Table rows of one resolution and the EMM overhead at the largest track count."""
    opts = ["INPUT.MIN_SIZE_TEST", min(width, height), "INPUT.MAX_SIZE_TEST", max(width, height)]
    emm_cfg = load_cfg(EMM, *opts)
    emm, imm = seeded_model(emm_cfg).eval(), seeded_model(load_cfg(IMM, *opts)).eval()
    (augmentation,) = build_augmentation(emm_cfg, is_train=False)
    rng = np.random.default_rng(SEED)
    previous, frame = (
        model_input(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), augmentation, emm_cfg.INPUT.FORMAT)
        for _ in range(2)
    )
    calls = {("detector", 0): lambda: emm([frame])[0]["instances"]}
    for name, model in (("IMM", imm), ("EMM", emm)):
        for n in TRACKS:
            calls[(f"detector + {name}", n)] = tracking_step(model, previous, frame, random_boxes(rng, n, width, height))
    results = interleaved_medians(calls, repeats)
    detector_seconds = results[("detector", 0)][0]
    rows = []
    for (name, n), (seconds, detections) in results.items():
        overhead = f"{100 * (seconds / detector_seconds - 1):+.1f}" if n else ""
        rows.append([f"{width}x{height}", name, n, f"{1000 * seconds:.1f}", f"{1 / seconds:.2f}", overhead,
                     len(detections)])
    return rows, results[("detector + EMM", TRACKS[-1])][0] / detector_seconds - 1


def train_seconds(cfg, batch, repeats: int) -> float:
    """Median seconds of a training step (forward, backward, SGD step) on ``batch``."""
    model = seeded_model(cfg)
    optimizer = build_optimizer(cfg, model)
    build_lr_scheduler(cfg, optimizer)  # sets iteration 0's warm-up learning rate
    trainer = SimpleTrainer(model, itertools.repeat(batch), optimizer)
    times = []
    with EventStorage():
        for i in range(WARMUP + repeats):
            start = time.perf_counter()
            trainer.run_step()
            times.append(time.perf_counter() - start)
    return statistics.median(times[WARMUP:])


def training_rows(repeats: int):
    """One row per tiny config: frames per iteration, s/iter and frames/s."""
    rows = []
    with tempfile.TemporaryDirectory() as root:
        generate_dataset(root, SyntheticConfig(train_sequences=2, val_sequences=1, num_frames=20))
        register_synthetic(root, prefix="bench")
        for label, config_file in (("Faster R-CNN (detector)", DETECTOR), ("SiamMOT-EMM", EMM), ("SiamMOT-IMM", IMM)):
            cfg = load_cfg(config_file, "DATASETS.TRAIN", ("bench_train",), "DATALOADER.NUM_WORKERS", 0)
            batch = next(iter(build_mot_train_loader(cfg)))
            frames = len(batch) + sum("pair" in x for x in batch)
            seconds = train_seconds(cfg, batch, repeats)
            rows.append([label, frames, f"{seconds:.3f}", f"{frames / seconds:.2f}"])
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10, help="timed frames per inference row")
    parser.add_argument("--train-repeats", type=int, default=5, help="timed iterations per training row")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--resolutions", type=parse_resolutions, default="320x192,960x540",
                        help="WIDTHxHEIGHT frames, comma-separated")
    parser.add_argument("--skip-training", action="store_true", help="time inference only")
    args = parser.parse_args()
    describe_run(args.threads)
    print(f"weights: untrained (seed {SEED}); median of {args.repeats} frames after {WARMUP} warm-up frames\n")
    rows, overheads = [], []
    with torch.no_grad():
        for width, height in args.resolutions:
            resolution_rows, overhead = inference_rows(width, height, args.repeats)
            rows += resolution_rows
            overheads.append((f"{width}x{height}", overhead))
    print(tabulate(rows, tablefmt="github", disable_numparse=True, headers=[
        "frame", "model", "live tracks", "ms/frame", "frames/s", "track head overhead (%)", "detections",
    ]))
    for resolution, overhead in overheads:
        verdict = "meets" if overhead <= GOAL else "misses"
        print(f"EMM at {TRACKS[-1]} tracks, {resolution}: {100 * overhead:+.1f} % of the detector's frame time: "
              f"{verdict} the goal of <= {100 * GOAL:.0f} % (paper: 31 %, 23.0 -> 17.6 fps)")
    if not args.skip_training:
        print(f"\ntraining: median of {args.train_repeats} iterations after {WARMUP} warm-up iterations, one fixed batch, "
              "tiny configs' training sizes (short side 160-224)")
        print(tabulate(training_rows(args.train_repeats), tablefmt="github",
                       headers=["config", "frames/iter", "s/iter", "frames/s"]))


if __name__ == "__main__":
    main()
