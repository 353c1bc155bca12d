"""``mot-sot-eval``: score single-object tracking results with the LaSOT, VOT-LT and OxUvA metrics.

Example::

    mot-sot-eval --gt-dir datasets/LaSOT_test --results-dir results/dmtrack \\
        --json scores.json --plot success.png

Every ``GT/<seq>/`` folder with a ``groundtruth.txt`` is a sequence; frames flagged in
``full_occlusion.txt``, ``out_of_view.txt`` (LaSOT) or ``absence.label`` (GOT-10k), or
whose line is ``nan,nan,nan,nan`` or ``0,0,0,0``, have no target. The tracker's output is
``RES/<seq>.txt``, one line per frame: ``x,y,w,h``, or ``x,y,w,h,confidence`` in every
file for the long-term metrics; ``nan`` or ``0,0,0,0`` reports the target absent.

Printed, in percent: LaSOT success AUC, precision at 20 px, normalised precision (at 0.2,
and its AUC over 0..0.5); OxUvA TPR, TNR and MaxGM; VOT-LT precision, recall and F-score
when the results carry confidences. COMBINED scores all sequences together, each
benchmark's way (mean curves for LaSOT and VOT-LT, pooled frames for OxUvA).
"""
import argparse
import os
import sys
from typing import Dict, List, Optional, Tuple

from tqdm import tqdm

from ..data.sot import find_sot_sequences
from ..evaluation.plots import plot_success
from ..evaluation.sot_evaluator import write_sot_metrics
from ..evaluation.sot_files import SOTFormatError, SOTSequence, read_sot_gt, read_sot_results
from ..evaluation.sot_metrics import compare_sequences, evaluate_sot, format_sot_table, mean_success_curve
from .errors import exit_on_bad_input


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mot-sot-eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gt-dir", required=True, metavar="GT",
                        help="folder of sequence folders, each with groundtruth.txt and optionally "
                        "full_occlusion.txt, out_of_view.txt or absence.label")
    parser.add_argument("--results-dir", required=True, metavar="RES",
                        help="folder of result files named <seq>.txt, one per gt sequence")
    parser.add_argument("--json", metavar="FILE",
                        help="also write the metrics as JSON: {sequence or COMBINED: {metric: percent or null}} "
                        "(e.g. --json scores.json)")
    parser.add_argument("--plot", metavar="FILE.png",
                        help="also write the success plot of COMBINED as a PNG, the results folder's name "
                        "in the legend (e.g. --plot success.png)")
    return parser


def read_folders(gt_dir: str, results_dir: str) -> Tuple[Dict[str, SOTSequence], Dict[str, SOTSequence]]:
    """Ground truth and results of every sequence, checked one to one."""
    if not os.path.isdir(results_dir):
        raise FileNotFoundError(f"{results_dir}: no such folder; expected one <seq>.txt result file per sequence")
    seq_dirs = {os.path.basename(d): d for d in find_sot_sequences(gt_dir)}
    files = {f[:-4] for f in os.listdir(results_dir) if f.endswith(".txt")}
    no_gt, no_result = sorted(files - set(seq_dirs)), sorted(set(seq_dirs) - files)
    if no_gt:
        raise SOTFormatError(f"{results_dir}: results for sequences without ground truth in {gt_dir}: "
                             f"{', '.join(no_gt)}")
    if no_result:
        raise SOTFormatError(f"{results_dir}: no <seq>.txt result file for the sequences {', '.join(no_result)}")
    gts, results = {}, {}
    for name in tqdm(sorted(seq_dirs), desc="reading", unit="seq", disable=None):
        gts[name] = read_sot_gt(seq_dirs[name])
        results[name] = read_sot_results(os.path.join(results_dir, f"{name}.txt"), name, len(gts[name]))
    return gts, results


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    with exit_on_bad_input():
        gts, results = read_folders(args.gt_dir, args.results_dir)
        frames = compare_sequences(gts, results, progress=True)
        metrics = evaluate_sot(frames)
        print(format_sot_table(metrics))
        try:
            if args.json:
                write_sot_metrics(metrics, args.json)
            if args.plot:
                tracker = os.path.basename(os.path.normpath(args.results_dir))
                plot_success({tracker: mean_success_curve(frames.values())}, args.plot)
        except OSError as e:
            raise ValueError(f"{e.filename or args.plot}: cannot write ({e.strerror})") from e
    return 0


if __name__ == "__main__":
    sys.exit(main())
