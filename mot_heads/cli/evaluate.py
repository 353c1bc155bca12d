"""``mot-eval``: score MOTChallenge result files with HOTA, CLEAR and Identity metrics.

Example::

    mot-eval --gt-dir datasets/MOT17/train --results-dir results/sort
    mot-eval --gt-dir datasets/MOT20/train --results-dir results/jde \\
        --distractor-classes 2,6,7,8,12 --json scores.json --csv scores.csv

Every ``GT/<seq>/`` folder with a ``seqinfo.ini`` is a sequence; its ground truth is
``GT/<seq>/gt/gt.txt`` and the tracker's output ``RES/<seq>.txt``, one to one. HOTA follows
TrackEval's definition, CLEAR and Identity come from motmetrics, both after TrackEval's
MOTChallenge preprocessing (boxes on distractors and zero-marked gt do not count).
Ratios are printed as percentages; COMBINED scores all sequences together.
"""
import argparse
import csv
import json
import logging
import os
import sys
from typing import Dict, List, Optional, Tuple

from tqdm import tqdm

from ..data.mot_challenge import MOT_IGNORE_CLASSES, MOTFormatError, find_sequences
from ..evaluation.mot_files import MOTSequence, read_mot_gt, read_mot_results
from ..evaluation.mot_metrics import METRIC_KEYS, evaluate_mot, format_table
from .errors import exit_on_bad_input


def _class_list(text: str) -> Tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated class ids such as 2,7,8,12, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mot-eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gt-dir", required=True, metavar="GT",
                        help="folder of sequence folders, each with seqinfo.ini and gt/gt.txt "
                        "(e.g. datasets/MOT17/train)")
    parser.add_argument("--results-dir", required=True, metavar="RES",
                        help="folder of result files named <seq>.txt, one per gt sequence "
                        "(e.g. results/sort, as written by mot-track)")
    parser.add_argument("--json", metavar="FILE",
                        help="also write the metrics as JSON: {sequence or COMBINED: {metric: value}} "
                        "(e.g. --json scores.json)")
    parser.add_argument("--csv", metavar="FILE",
                        help="also write the metrics as CSV, one row per sequence and one for COMBINED "
                        "(e.g. --csv scores.csv)")
    parser.add_argument("--class-id", type=int, default=1, metavar="ID",
                        help="the gt class evaluated (default 1, pedestrian); result rows of another "
                        "class > 0 are dropped and counted, rows of class -1 or 0 are kept")
    parser.add_argument("--distractor-classes", type=_class_list, default=MOT_IGNORE_CLASSES, metavar="IDS",
                        help="gt classes whose matched result boxes are ignored (default "
                        f"{','.join(map(str, MOT_IGNORE_CLASSES))} as TrackEval for MOT16/17; "
                        "use 2,6,7,8,12 for MOT20, '' for none)")
    return parser


def read_folders(gt_dir: str, results_dir: str) -> Tuple[Dict[str, MOTSequence], Dict[str, MOTSequence]]:
    """Ground truth and results of every sequence, checked one to one."""
    if not os.path.isdir(results_dir):
        raise FileNotFoundError(
            f"{results_dir}: no such folder; expected one <seq>.txt result file per sequence"
        )
    seq_dirs = find_sequences(gt_dir)
    names = {os.path.basename(os.path.normpath(d)): d for d in seq_dirs}
    files = {f[:-4] for f in os.listdir(results_dir) if f.endswith(".txt")}
    no_gt, no_result = sorted(files - set(names)), sorted(set(names) - files)
    if no_gt:
        raise MOTFormatError(
            f"{results_dir}: results for sequences without ground truth in {gt_dir}: {', '.join(no_gt)}"
        )
    if no_result:
        raise MOTFormatError(
            f"{results_dir}: no <seq>.txt result file for the sequences {', '.join(no_result)}"
        )
    gts, results = {}, {}
    for name in tqdm(sorted(names), desc="reading", unit="seq", disable=None):
        gts[name] = read_mot_gt(names[name])
        path = os.path.join(results_dir, f"{name}.txt")
        results[name] = read_mot_results(path, name, gts[name].seq_length)
    return gts, results


def write_json(path: str, metrics: Dict[str, Dict]) -> None:
    with open(path, "w") as f:
        json.dump(metrics, f, indent=2)
        f.write("\n")


def write_csv(path: str, metrics: Dict[str, Dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["sequence", *METRIC_KEYS])
        for name, row in metrics.items():
            writer.writerow([name, *(row[k] for k in METRIC_KEYS)])


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    log = logging.getLogger("mot_heads.evaluation")
    handler = logging.StreamHandler()  # what preprocessing removed, per sequence
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        with exit_on_bad_input():
            gts, results = read_folders(args.gt_dir, args.results_dir)
            metrics = evaluate_mot(gts, results, args.class_id, args.distractor_classes, progress=True)
            print(format_table(metrics))
            for path, write in ((args.json, write_json), (args.csv, write_csv)):
                if path:
                    try:
                        write(path, metrics)
                    except OSError as e:
                        raise ValueError(f"{path}: cannot write ({e.strerror})") from e
    finally:
        log.removeHandler(handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
