#!/usr/bin/env python
"""Data-loading throughput (frames/s) of the synthetic generator, the MOTChallenge
reader, and the full train loader (reader + JPEG decode + augmentation + batching).

    python benchmarks/data_loading.py [--repeats 5] [--batches 50]

Prints a table of medians over the repeats.
"""
import argparse
import itertools
import os
import statistics
import tempfile
import time
from dataclasses import replace

from detectron2.config import get_cfg
from tabulate import tabulate

from mot_heads import add_mot_config
from mot_heads.data import SyntheticConfig, build_mot_train_loader, generate_dataset, load_mot_folder
from mot_heads.data.synthetic import register_synthetic

CONFIG = os.path.join(os.path.dirname(__file__), "..", "configs/quick_schedules/faster_rcnn_R18_FPN_GN_synthetic.yaml")


def median_rate(fn, frames, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return frames / statistics.median(times), statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batches", type=int, default=50, help="batches drawn from the train loader per repeat")
    args = parser.parse_args()
    config = SyntheticConfig()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        counter = itertools.count()
        frames = (config.train_sequences + config.val_sequences) * config.num_frames
        rate, sec = median_rate(
            lambda: generate_dataset(os.path.join(tmp, f"gen{next(counter)}"), config), frames, args.repeats
        )
        rows.append(["synthetic generator (render + write JPEG)", frames, f"{sec:.3f}", f"{rate:.0f}"])
        root = os.path.join(tmp, "gen0")
        train = os.path.join(root, "train")
        frames = config.train_sequences * config.num_frames
        rate, sec = median_rate(lambda: load_mot_folder(train, class_map={1: 0, 2: 1}), frames, args.repeats)
        rows.append(["MOTChallenge reader (seqinfo + gt + det -> dicts)", frames, f"{sec:.3f}", f"{rate:.0f}"])
        register_synthetic(root, prefix="bench")
        for workers in (0, 2):
            cfg = add_mot_config(get_cfg())
            cfg.merge_from_file(CONFIG)
            cfg.merge_from_list(["DATASETS.TRAIN", ("bench_train",), "DATALOADER.NUM_WORKERS", workers])
            loader = iter(build_mot_train_loader(cfg))
            next(loader)  # start workers, build the dataset
            frames = args.batches * cfg.SOLVER.IMS_PER_BATCH
            rate, sec = median_rate(lambda: [next(loader) for _ in range(args.batches)], frames, args.repeats)
            rows.append([f"train loader, DatasetMapper, {workers} workers", frames, f"{sec:.3f}", f"{rate:.0f}"])
    print(tabulate(rows, headers=["stage", "frames", "median s", "frames/s"], tablefmt="github"))


if __name__ == "__main__":
    main()
