#!/usr/bin/env python
"""Each method's paper config on a CUDA GPU: training seconds per iteration at the paper's
input size, tracking frames per second at the paper's test size, and peak GPU memory.

    python benchmarks/gpu_check.py [--iterations 20] [--frames 100] [--methods SiamMOT,KDMOT]

For each method, the final stage of its recipe (``PAPER_CONFIGS``) trains ``--iterations``
iterations after a warm-up of ``WARMUP`` with the project's trainer (its loader, mapper,
batch, optimizer), from untrained weights of a fixed seed; the training short side is the
largest of the config's ``INPUT.MIN_SIZE_TRAIN`` (the paper's input size), the schedule
``SOLVER.MAX_ITER`` (no epochs). The trained model then tracks ``--frames`` frames of one
sequence with its config's test resize (the paper's test size) and tracker, as
``mot track`` does, from its own detections; DMTrack follows one target given by a box
at the frame's centre.
No dataset is needed: a synthetic set of people at MOT17's frame size (1920x1080) is
generated in a temporary folder, which each config resizes to its own sizes. KDMOT's
teacher is its untrained ReID network (same cost as a trained one).

The table gives the median seconds of the timed iterations, the median frames per second
of the tracked frames (the first one excluded: it builds the tracker) and the peak GPU
memory of each part (``torch.cuda.max_memory_allocated``). Without a CUDA GPU the script
says so in one line and exits 0.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from typing import List, Sequence

import cv2
import torch
from detectron2.data import DatasetCatalog
from tabulate import tabulate

from mot_heads.data import SyntheticConfig, generate_dataset, register_synthetic
from mot_heads.engine import MOTTrainer
from mot_heads.engine.video_tracking import VideoTracker
from speed_common import SEED, load_cfg
from training_speed import IterationSeconds, quiet_detectron2_log

# The final stage of each method's recipe, under configs/.
PAPER_CONFIGS = {
    "SiamMOT": "SiamMOT/siammot_EMM_DLA34_FPN_mot17.yaml",
    "CSTrack": "CSTrack/cstrack_DLA34_mix.yaml",
    "OUTrack": "OUTrack/outrack_DLA34_mot17.yaml",
    "KDMOT": "KDMOT/kdmot_DLA34_mot17.yaml",
    "DMTrack": "DMTrack/dmtrack_DLA34.yaml",
}
WARMUP = 2
PREFIX = "gpu_check"  # the synthetic set's registered names: <PREFIX>_train, <PREFIX>_val
FRAME_SIZE = (1920, 1080)  # MOT17's


def synthetic_set(root: str, frames: int, size=FRAME_SIZE, prefix: str = PREFIX) -> str:
    """Writes and registers (as ``<prefix>_train`` / ``<prefix>_val``) a synthetic set of
    people in ``size`` (width, height) frames, with a validation sequence of ``frames``
    frames; returns that sequence's image folder."""
    width, height = size
    generate_dataset(root, SyntheticConfig(seed=SEED, train_sequences=2, val_sequences=1, num_frames=frames,
                                           width=width, height=height, person_probability=1.0))
    if f"{prefix}_train" not in DatasetCatalog:
        register_synthetic(root, prefix=prefix)
    (sequence,) = os.listdir(os.path.join(root, "val"))
    return os.path.join(root, "val", sequence, "img1")


def paper_cfg(config: str, device: str, output_dir: str, iterations: int, prefix: str = PREFIX,
              opts: Sequence = ()):
    """``config`` on ``device``, untrained, for ``iterations`` iterations on ``<prefix>_train``
    (DMTrack's re-id datasets too) at its largest training short side, tracking with the
    model's own detections (SiamMOT's MOT17 stage tracks public ones, which the synthetic
    set lacks); ``opts`` last (e.g. smaller sizes for a smoke run)."""
    cfg = load_cfg(config, "MODEL.DEVICE", device)
    cfg.merge_from_list([
        "MODEL.WEIGHTS", "", "DATASETS.TRAIN", (f"{prefix}_train",), "DATASETS.TEST", (), "TEST.EVAL_PERIOD", 0,
        "SOLVER.EPOCHS", 0.0, "SOLVER.STEP_EPOCHS", (), "SOLVER.MAX_ITER", iterations, "SOLVER.STEPS", (),
        "SOLVER.CHECKPOINT_PERIOD", iterations + 1, "INPUT.MIN_SIZE_TRAIN", (max(cfg.INPUT.MIN_SIZE_TRAIN),),
        "TRACKER.PUBLIC_DETECTIONS", False, "OUTPUT_DIR", output_dir,
    ])
    if cfg.MODEL.DMTRACK.REID_DATASETS:  # DMTrack's re-id batches from the synthetic set too
        cfg.MODEL.DMTRACK.REID_DATASETS = (f"{prefix}_train",)
    cfg.merge_from_list(list(opts))
    return cfg


def peak_gib(device: str) -> str:
    """The peak GPU memory since the last reset, in GiB; "n/a" off the GPU."""
    return f"{torch.cuda.max_memory_allocated() / 2 ** 30:.2f}" if device == "cuda" else "n/a"


def reset_peak(device: str) -> None:
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()


def tracking_seconds(cfg, model, images: List, device: str) -> List[float]:
    """Seconds of each frame after the first, tracked with the config's test resize and tracker."""
    tracker = VideoTracker(cfg, model.eval())
    height, width = images[0].shape[:2]
    init_box = (0.45 * width, 0.4 * height, 0.55 * width, 0.6 * height) if tracker.single_target else None
    seconds, start = [], time.perf_counter()
    with torch.no_grad():
        for _ in tracker.track(images, frame_rate=10.0, init_box=init_box):
            if device == "cuda":
                torch.cuda.synchronize()
            seconds.append(time.perf_counter() - start)
            start = time.perf_counter()
    return seconds[1:]


def check_method(method: str, sequence: str, device: str, output_root: str, iterations: int, frames: int,
                 warmup: int = WARMUP, prefix: str = PREFIX, opts: Sequence = ()) -> list:
    """The table row of one method: its paper config trained and then tracking ``frames``
    frames of ``sequence`` (an image folder) on ``device``."""
    cfg = paper_cfg(PAPER_CONFIGS[method], device, os.path.join(output_root, method), warmup + iterations,
                    prefix, opts)
    torch.manual_seed(SEED)
    quiet_detectron2_log()
    reset_peak(device)
    trainer = MOTTrainer(cfg)
    timer = IterationSeconds()
    trainer.register_hooks([timer])
    trainer.train()
    train_peak = peak_gib(device)
    images = [cv2.imread(os.path.join(sequence, name)) for name in sorted(os.listdir(sequence))[:frames]]
    reset_peak(device)
    seconds = tracking_seconds(cfg, trainer.model, images, device)
    inputs = cfg.INPUT
    sizes = f"{max(inputs.MIN_SIZE_TRAIN)}/{inputs.MAX_SIZE_TRAIN}, {inputs.MIN_SIZE_TEST}/{inputs.MAX_SIZE_TEST}"
    return [method, PAPER_CONFIGS[method], cfg.SOLVER.IMS_PER_BATCH, sizes,
            f"{statistics.median(timer.seconds[warmup:]):.3f}", train_peak,
            f"{1.0 / statistics.median(seconds):.1f}", peak_gib(device)]


HEADERS = ["method", "config", "batch", "train / test size (short/long)", "s/iter (median)", "train peak GiB",
           "tracking fps (median)", "tracking peak GiB"]


def parse_methods(text: str) -> List[str]:
    """Comma-separated keys of ``PAPER_CONFIGS``, in its order (an argparse ``type``)."""
    unknown = sorted(set(text.split(",")) - set(PAPER_CONFIGS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown methods {unknown}; choose from {', '.join(PAPER_CONFIGS)}")
    return [name for name in PAPER_CONFIGS if name in text.split(",")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=20, help="timed training iterations per method")
    parser.add_argument("--frames", type=int, default=100, help="tracked frames per method")
    parser.add_argument("--methods", type=parse_methods, default=",".join(PAPER_CONFIGS),
                        help=f"comma-separated, of {', '.join(PAPER_CONFIGS)}")
    args = parser.parse_args()
    if args.iterations < 1 or args.frames < 2:
        parser.error("--iterations must be positive and --frames at least 2")
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU on this machine; nothing to check")
        return 0
    print(f"torch {torch.__version__}, GPU: {torch.cuda.get_device_name()}; weights: seed {SEED}; median of "
          f"{args.iterations} iterations after {WARMUP} warm-up iterations; {args.frames} tracked frames\n")
    with tempfile.TemporaryDirectory() as tmp:
        sequence = synthetic_set(os.path.join(tmp, "synthetic"), args.frames)
        rows = [check_method(method, sequence, "cuda", os.path.join(tmp, "output"), args.iterations, args.frames)
                for method in args.methods]
    print(tabulate(rows, tablefmt="github", disable_numparse=True, headers=HEADERS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
