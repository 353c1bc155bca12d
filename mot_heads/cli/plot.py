"""``mot plot``: plot a training run's metrics.json as PNGs.

Examples::

    mot plot output/emm
    mot plot output/emm --out figures/emm

OUTPUT_DIR is a Detectron2 OUTPUT_DIR (the one ``mot train`` wrote), holding
``metrics.json``. Written: ``losses.png`` (total_loss and every loss_* over iterations),
``learning_rate.png``, and ``evaluation.png`` when the run was evaluated (one subplot per
evaluator: tracking, bbox, sot, reid, ...). The paths written are printed, one a line.
"""
import argparse
import os

from ..evaluation.plots import plot_training_curves
from ..files import writable_folder
from .errors import exit_on_bad_input


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("output_dir", metavar="OUTPUT_DIR",
                        help="the run's Detectron2 OUTPUT_DIR, holding metrics.json (e.g. output/emm)")
    parser.add_argument("--out", metavar="DIR",
                        help="folder the PNGs are written to, created if missing (default OUTPUT_DIR/plots)")


def run(args: argparse.Namespace) -> int:
    with exit_on_bad_input():
        out = args.out or os.path.join(args.output_dir, "plots")
        paths = plot_training_curves(args.output_dir, writable_folder(out, "plot folder (--out)"))
    for path in paths:
        print(path)
    return 0
