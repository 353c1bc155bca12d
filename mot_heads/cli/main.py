"""``mot``: one command for every method of this project.

    mot demo-data --root datasets/synthetic
    mot train --config-file configs/quick_schedules/siammot_EMM_R18_FPN_GN_synthetic.yaml OUTPUT_DIR output/emm
    mot track --config-file CONFIG --input street.mp4 --output output/track MODEL.WEIGHTS output/emm/model_final.pth
    mot evaluate --gt-dir datasets/synthetic/val --results-dir output/track --plot-dir output/plots
    mot plot output/emm
    mot benchmark

``mot COMMAND --help`` explains every option of a command, with examples.
"""
import argparse
import importlib
import sys
from typing import List, Optional

# Sub-command: (module under mot_heads.cli, one-line summary). Each module has
# ``add_arguments(parser)`` and ``run(args) -> int``; its docstring is its --help text.
COMMANDS = {
    "train": ("train", "train or evaluate a model from a config (Detectron2's train_net.py)"),
    "track": ("track", "track a video, image folder, webcam or MOTChallenge sequences"),
    "evaluate": ("evaluate", "score result files (MOT or SOT), or evaluate a model on its test set"),
    "demo-data": ("demo_data", "write the synthetic video set (MOTChallenge and SOT layouts)"),
    "plot": ("plot", "plot a training run's metrics.json (losses and scores over iterations)"),
    "benchmark": ("benchmark", "measure speeds and write the benchmark page"),
}


def build_parser(command: Optional[str] = None) -> argparse.ArgumentParser:
    """The ``mot`` parser; only ``command``'s module is imported (and its options added),
    so that a command does not pay for the imports of the others."""
    parser = argparse.ArgumentParser(prog="mot", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, summary) in COMMANDS.items():
        sub = commands.add_parser(name, help=summary, formatter_class=argparse.RawDescriptionHelpFormatter)
        if name == command:
            module = importlib.import_module(f"{__package__}.{module_name}")
            sub.description = module.__doc__
            module.add_arguments(sub)
            sub.set_defaults(run=module.run)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
