"""Measure tracker update, inference, training and evaluation times on this machine and
write the benchmark page, BENCHMARKS.md at the repository root.

Examples::

    mot benchmark                                   # every benchmark, about 10 minutes on 2 cores
    mot benchmark --output output/benchmarks.md     # the page elsewhere
    mot benchmark --only tracker-update,evaluation --output partial.md
    mot benchmark --threads 4                       # torch threads of the model benchmarks

It runs ``benchmarks/results_page.py`` of the source checkout this package is installed
from (``pip install -e .``), which runs each benchmark script of ``benchmarks/`` as a
subprocess and writes, for each, what it measures, its command line and its tables; the
page names the machine (CPU, cores, torch and threads), the date and the total time.
Progress is printed as each benchmark finishes; a benchmark that fails ends the run
with the last lines of its error output and exit status 1, and no page is written.
"""
import argparse
import subprocess
import sys
from pathlib import Path

import mot_heads

from .common import int_at_least
from .errors import exit_on_bad_input

BENCHMARK_NAMES = "tracker-update, inference, training, evaluation, data-loading"


def results_page_script() -> Path:
    """benchmarks/results_page.py of the source checkout; without one, a FileNotFoundError."""
    script = Path(mot_heads.__file__).resolve().parents[1] / "benchmarks" / "results_page.py"
    if not script.is_file():
        raise FileNotFoundError(f"{script} not found: mot benchmark needs a source checkout of this project "
                                "installed with pip install -e .")
    return script


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", metavar="FILE.md", help="the page to write (default: BENCHMARKS.md at the "
                        "repository root)")
    parser.add_argument("--only", metavar="NAME[,NAME]", help=f"run only these benchmarks, of {BENCHMARK_NAMES} "
                        "(the page then says which ran)")
    parser.add_argument("--threads", type=int_at_least(1), metavar="N",
                        help="torch threads of the model benchmarks (default 2)")


def run(args: argparse.Namespace) -> int:
    with exit_on_bad_input():
        script = results_page_script()
    options = [item for option in ("output", "only", "threads") if getattr(args, option) is not None
               for item in (f"--{option}", str(getattr(args, option)))]
    return subprocess.run([sys.executable, str(script), *options]).returncode
