#!/usr/bin/env python
"""Evaluation time of a synthetic sequence set: all of ``evaluate_mot``, its parts, and
reading / writing the MOTChallenge text files.

    python benchmarks/evaluation.py [--sequences 25] [--frames 200] [--repeats 3]

Setup, timed once and not part of the evaluation figures: the synthetic set's text files
(seqinfo.ini, gt.txt, and det.txt made from the gt by ``simulate_detections``; frames are
rendered for the gt's visibility, images are not written), then SORT over the public
detections as ``mot track --tracker sort`` runs it. Evaluated: the person class (1), cars (2) as
distractors. The table gives medians over the repeats.
"""
import argparse
import os
import statistics
import tempfile
import time

from tabulate import tabulate

from mot_heads.cli.evaluate import read_folders
from mot_heads.engine.sequence_tracking import track_folder
from mot_heads.data import SyntheticConfig
from mot_heads.data.synthetic import write_sequence
from mot_heads.evaluation import (
    combine_hota,
    evaluate_clear_identity,
    evaluate_hota,
    evaluate_mot,
    preprocess_sequence,
    write_mot_results,
)

CLASS_ID, DISTRACTORS = 1, (2,)


def median_seconds(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def seconds_once(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def make_set(root: str, config: SyntheticConfig, sequences: int) -> None:
    """``root/synth-bench-XX`` folders without images."""
    for i in range(sequences):
        write_sequence(config, os.path.join(root, f"synth-bench-{i:02d}"), [config.seed, 2, i], images=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequences", type=int, default=25)
    parser.add_argument("--frames", type=int, default=200, help="frames per sequence")
    parser.add_argument("--objects", type=int, default=SyntheticConfig.target_objects,
                        help="mean objects alive per frame (the synthetic set's default)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = SyntheticConfig(num_frames=args.frames, initial_objects=args.objects, target_objects=args.objects)
    frames = args.sequences * args.frames
    with tempfile.TemporaryDirectory() as tmp:
        gt_dir, res_dir, out_dir = (os.path.join(tmp, d) for d in ("gt", "res", "out"))
        setup = [
            ("setup: synthetic gt + det.txt (render, no images)", seconds_once(lambda: make_set(gt_dir, config, args.sequences))),
            ("setup: SORT on det.txt (mot track)", seconds_once(lambda: track_folder(gt_dir, res_dir, "sort", {}))),
        ]
        gts, results = read_folders(gt_dir, res_dir)
        names = sorted(gts)
        prepared = [preprocess_sequence(gts[n], results[n], CLASS_ID, DISTRACTORS) for n in names]

        def hota():
            combine_hota([evaluate_hota(s.gt_ids, s.tracker_ids, s.similarity) for s in prepared])

        def write():
            for name in names:
                write_mot_results(os.path.join(out_dir, f"{name}.txt"), results[name])

        timed = [
            ("evaluate_mot (preprocess + HOTA + CLEAR/Identity)",
             lambda: evaluate_mot(gts, results, CLASS_ID, DISTRACTORS)),
            ("part: MOTChallenge preprocessing alone",
             lambda: [preprocess_sequence(gts[n], results[n], CLASS_ID, DISTRACTORS) for n in names]),
            ("part: HOTA alone (per sequence + combined)", hota),
            ("part: CLEAR + Identity alone (motmetrics)", lambda: evaluate_clear_identity(prepared)),
            ("read gt.txt + results (mot evaluate's read_folders)", lambda: read_folders(gt_dir, res_dir)),
            ("write results (write_mot_results)", write),
        ]
        rows = [[stage, frames, f"{sec:.3f}", f"{frames / sec:.0f}"] for stage, sec in setup]
        for stage, fn in timed:
            sec = median_seconds(fn, args.repeats)
            rows.append([stage, frames, f"{sec:.3f}", f"{frames / sec:.0f}"])
    gt_rows = sum(len(g) for g in gts.values())
    res_rows = sum(len(r) for r in results.values())
    print(f"{args.sequences} sequences x {args.frames} frames, {gt_rows} gt rows ({gt_rows / frames:.1f} per frame), "
          f"{res_rows} result rows; medians over {args.repeats} repeats (setup rows: one run)")
    print(tabulate(rows, headers=["stage", "frames", "median s", "frames/s"], tablefmt="github"))


if __name__ == "__main__":
    main()
