#!/usr/bin/env python
"""Train each method's quick-schedule config on the synthetic set, evaluate it on the
held-out videos and write its scores into the method's page (projects/<Method>/README.md,
between the results markers).

    python benchmarks/method_results.py [--only SiamMOT[,DMTrack]] [--iterations 100] [--no-train]

The synthetic set is `mot demo-data`'s default one ($DETECTRON2_DATASETS/synthetic, else
datasets/synthetic; written when missing). Every run is `mot train` with seed 0, a short
schedule (--iterations, learning-rate steps at 80 % and 92 %) and one evaluation at its end,
in output/method_results/<Method>/; KDMOT first trains its ReID teacher. A run that fails
stops with its stderr's last lines and exit status 1, leaving the pages as they are.
--no-train rewrites the tables from the runs already there.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

from results_page import parse_only
from results_table import markdown_table, read_metrics, run_row
from speed_common import REPO

from mot_heads.cli.errors import exit_on_bad_input
from mot_heads.errors import InputError
from mot_heads.files import atomic_write, read_text

QUICK = "configs/quick_schedules"
OUTPUT = os.path.join(REPO, "output", "method_results")
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
STDERR_TAIL = 20  # lines of a failed run's stderr shown
SOT_COLUMNS = {  # SOTEvaluator key: column title
    "success_auc": "success AUC", "precision_20px": "precision (20 px)", "norm_precision": "norm. precision",
    "lt_fscore": "LT F-score", "lt_precision": "LT Pr", "lt_recall": "LT Re",
    "tpr": "TPR", "tnr": "TNR", "maxgm": "MaxGM",
}


class Stage(NamedTuple):
    name: str  # its folder under output/method_results/<Method>/
    config: str  # under configs/quick_schedules/
    options: Tuple[str, ...] = ()  # config overrides; "{teacher}" is the teacher stage's weights


class Method(NamedTuple):
    stages: Tuple[Stage, ...]  # the last one is scored
    table: Callable[[str, str], str]  # (label, OUTPUT_DIR) -> markdown


def mot_table(label: str, output_dir: str) -> str:
    """The last MOT evaluation of a run as a results_table.py row (scores, not timings)."""
    return markdown_table({label: run_row(output_dir)}, timing=False)


def trained_iterations(output_dir: str) -> int:
    """The iterations a run trained (0 for an evaluation only)."""
    return max((r["iteration"] for r in read_metrics(output_dir) if "time" in r), default=-1) + 1


def sot_table(label: str, output_dir: str) -> str:
    """The last SOT evaluation of a run, in percent, and its iterations."""
    scored = [r for r in read_metrics(output_dir) if "sot/success_auc" in r]
    if not scored:
        raise ValueError(f"{output_dir}/metrics.json has no sot/success_auc: no SOT evaluation")
    cells = [label] + [f"{scored[-1][f'sot/{key}']:.1f}" if f"sot/{key}" in scored[-1] else "-" for key in SOT_COLUMNS]
    cells.append(str(trained_iterations(output_dir)))
    header = ["run", *SOT_COLUMNS.values(), "iterations"]
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header), "| " + " | ".join(cells) + " |"])


TEACHER = Stage("teacher", "reid_R18_synthetic.yaml")
METHODS: Dict[str, Method] = {
    "SiamMOT": Method((Stage("emm", "siammot_EMM_R18_FPN_GN_synthetic.yaml", ("TEST.EVALUATOR", "coco,mot")),),
                      mot_table),
    "CSTrack": Method((Stage("cstrack", "cstrack_R18_FPN_GN_synthetic.yaml"),), mot_table),
    "OUTrack": Method((Stage("outrack", "outrack_R18_FPN_GN_synthetic.yaml"),), mot_table),
    "KDMOT": Method((TEACHER, Stage("student", "kdmot_R18_FPN_GN_synthetic.yaml",
                                    ("MODEL.ONE_SHOT.ID_LOSS.DISTILLATION.TEACHER_WEIGHTS", "{teacher}"))),
                    mot_table),
    "DMTrack": Method((Stage("dmtrack", "dmtrack_R18_FPN_GN_synthetic.yaml"),), sot_table),
}


def mot(*arguments: str) -> None:
    """Run ``mot ARGUMENTS`` from the repository root; a failure exits with its stderr's tail."""
    result = subprocess.run([sys.executable, "-m", "mot_heads.cli.main", *arguments], cwd=REPO,
                            capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join(result.stderr.splitlines()[-STDERR_TAIL:])
        print(f"error: mot {' '.join(arguments[:3])} ... failed (exit status {result.returncode}); "
              f"the last lines of its stderr:\n{tail}", file=sys.stderr)
        sys.exit(1)


def schedule(iterations: int) -> List[str]:
    steps = f"({round(0.8 * iterations)}, {round(0.92 * iterations)})"
    return ["SEED", "0", "SOLVER.MAX_ITER", str(iterations), "SOLVER.STEPS", steps, "SOLVER.WARMUP_ITERS",
            str(min(100, iterations // 4)), "TEST.EVAL_PERIOD", str(iterations), "DATALOADER.NUM_WORKERS", "0"]


def scored_run(method: str) -> str:
    """The OUTPUT_DIR of ``method``'s last stage, the run its table shows."""
    return os.path.join(OUTPUT, method, METHODS[method].stages[-1].name)


def train(method: str, iterations: int) -> None:
    """Train the stages of ``method``, each in its folder under output/method_results/<method>/."""
    folder = os.path.join(OUTPUT, method)
    shutil.rmtree(folder, ignore_errors=True)
    weights = {}
    for stage in METHODS[method].stages:
        output_dir = os.path.join(folder, stage.name)
        options = [option.format(**weights) for option in stage.options]
        start = time.perf_counter()
        mot("train", "--config-file", f"{QUICK}/{stage.config}", *schedule(iterations), *options,
            "OUTPUT_DIR", output_dir)
        print(f"  {method} {stage.name}: {(time.perf_counter() - start) / 60:.1f} min", flush=True)
        weights[stage.name] = os.path.join(output_dir, "model_final.pth")


def command(method: str, iterations: int, default_iterations: int) -> str:
    """The command line that regenerates ``method``'s table."""
    options = ["--iterations", str(iterations)] if iterations != default_iterations else []
    return " ".join(["python", "benchmarks/method_results.py", "--only", method, *options])


def section(method: str, output_dir: str, default_iterations: int) -> str:
    """The text between a page's markers: the table of the run in ``output_dir``, what it
    trained and the command that regenerates it."""
    config = f"{QUICK}/{METHODS[method].stages[-1].config}"
    iterations = trained_iterations(output_dir)
    regenerate = command(method, iterations, default_iterations)
    held_out = "one target of each held-out video" if METHODS[method].table is sot_table else "the held-out videos"
    return "\n".join([
        "", METHODS[method].table(f"`{os.path.basename(config)}`", output_dir), "",
        f"`{config}` trained {iterations} iterations (seed 0) on `mot demo-data`'s set and scored on {held_out}; "
        f"scores in percent. Regenerate with `{regenerate}`.", ""])


def write_page(method: str, text: str) -> None:
    """Replace what lies between the markers of ``method``'s page with ``text``."""
    path = os.path.join(REPO, "projects", method, "README.md")
    page = read_text(path, "method page")
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(page):
        raise InputError(f"{path}: no {BEGIN} ... {END} markers to write the results between")
    with atomic_write(path) as f:
        f.write(pattern.sub(lambda _: BEGIN + text + END, page))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", metavar="METHOD[,METHOD]", help=f"only these, of {', '.join(METHODS)}")
    parser.add_argument("--iterations", type=int, default=100, help="training iterations of every run")
    parser.add_argument("--no-train", action="store_true",
                        help="rewrite the tables from the runs in output/method_results")
    args = parser.parse_args(argv)
    with exit_on_bad_input():
        names = parse_only(args.only, METHODS, "method")
        if args.iterations < 10:
            raise InputError("--iterations must be at least 10")
    if not args.no_train:
        mot("demo-data")
    for i, method in enumerate(names, 1):
        if not args.no_train:
            print(f"[{i}/{len(names)}] {method} ...", flush=True)
            train(method, args.iterations)
        with exit_on_bad_input():
            write_page(method, section(method, scored_run(method), parser.get_default("iterations")))
        print(f"[{i}/{len(names)}] {method}: projects/{method}/README.md written", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
