#!/usr/bin/env python
"""Per-frame ``update`` time of SORT and the JDE cascade against detections per frame.

    python benchmarks/tracker_update.py [--frames 100] [--sizes 10,50,200,500]

A scene of N objects moving at constant velocity (boxes jittered by 1 px, 128-d
embeddings per identity plus noise) is tracked for a warm-up of 10 frames, then each
of ``--frames`` updates is timed; the table gives medians in milliseconds, pinned to
one core, beside the ``lap`` assignment of an N x N IoU cost alone, so the growth of
the tracker can be compared with that of the assignment.
"""
import argparse
import os
import statistics
import time

import numpy as np
from tabulate import tabulate

from trackers import Detections, build_tracker
from trackers.assignment import linear_assignment
from trackers.costs import iou_matrix

WARMUP = 10


def scene(num_objects: int, frames: int, embedding_dim: int, seed: int = 0):
    """Detections of ``frames`` frames of a scene of ``num_objects`` moving boxes."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(num_objects)))
    grid = np.stack(np.meshgrid(np.arange(side), np.arange(side)), -1).reshape(-1, 2)[:num_objects]
    start = grid * [80.0, 140.0] + 20
    velocity = rng.uniform(-2, 2, size=(num_objects, 2))
    identity = rng.normal(size=(num_objects, embedding_dim))
    records = []
    for t in range(frames):
        centre = start + t * velocity + rng.normal(0, 1, size=(num_objects, 2))
        boxes = np.concatenate([centre - [15, 30], centre + [15, 30]], axis=1)
        embeddings = identity + rng.normal(0, 0.3, size=identity.shape) if embedding_dim else None
        records.append(Detections(boxes, np.full(num_objects, 0.9), None, embeddings))
    return records


def median_ms(fn, inputs):
    times = []
    for item in inputs:
        start = time.perf_counter()
        fn(item)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def tracker_ms(name: str, records) -> float:
    tracker = build_tracker(name)
    for record in records[:WARMUP]:
        tracker.update(record)
    ms = median_ms(tracker.update, records[WARMUP:])
    if len(tracker.update(records[-1])) != len(records[-1]):
        raise RuntimeError(f"{name} lost objects of the benchmark scene; the timing would not be representative")
    return ms


def assignment_ms(records) -> float:
    pairs = [(a.boxes, b.boxes) for a, b in zip(records, records[1:])]
    return median_ms(lambda ab: linear_assignment(1.0 - iou_matrix(*ab), 0.5), pairs)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100, help="timed frames per measurement")
    parser.add_argument("--sizes", default="10,50,200,500", help="detections per frame, comma-separated")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    rows = []
    for n in map(int, args.sizes.split(",")):
        plain = scene(n, WARMUP + args.frames, 0)
        embedded = scene(n, WARMUP + args.frames, 128)
        rows.append([
            n, f"{tracker_ms('sort', plain):.3f}", f"{tracker_ms('jde', plain):.3f}",
            f"{tracker_ms('jde', embedded):.3f}", f"{assignment_ms(plain):.3f}",
        ])
    print(f"median ms per frame over {args.frames} frames, one core")
    print(tabulate(rows, headers=["detections", "SORT", "JDE", "JDE + 128-d emb.", "IoU + lap assignment only"],
                   tablefmt="github"))


if __name__ == "__main__":
    main()
