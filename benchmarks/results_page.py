#!/usr/bin/env python
"""Run the benchmarks and write their tables, from one run on this machine, as a markdown
page (BENCHMARKS.md at the repository root unless --output says otherwise).

    python benchmarks/results_page.py [--output BENCHMARKS.md] [--only NAME[,NAME]] [--threads 2]
    mot benchmark                     # the same

Each benchmark script runs as a subprocess of this Python, from the repository root, with
the settings of ``BENCHMARKS`` (chosen for about 10 minutes in all on 2 cores); the page
holds, for each, what it measures, its command line, its wall time and its output as
printed (its tables are GitHub markdown). A benchmark that fails stops the run with its
stderr's last lines and exit status 1; the page is then not written. With --only, only the
named benchmarks run and the page says so.
"""
import argparse
import os
import shlex
import subprocess
import sys
import time
from datetime import datetime, timezone
from typing import Iterable, List, NamedTuple, Optional, Tuple

import torch

from mot_heads.cli.errors import exit_on_bad_input
from mot_heads.errors import InputError

from speed_common import REPO, cpu_model

STDERR_TAIL = 20  # lines of a failed benchmark's stderr shown


class Benchmark(NamedTuple):
    title: str
    script: str  # under benchmarks/
    options: Tuple[str, ...]
    measures: str
    threaded: bool = False  # takes --threads


BENCHMARKS = {
    "tracker-update": Benchmark(
        "Tracker update", "tracker_update.py", ("--frames", "100", "--sizes", "10,50,200,500"),
        "Per-frame `update` time of the SORT and JDE trackers against the number of detections a frame, "
        "beside the IoU assignment alone (one core)."),
    "inference": Benchmark(
        "Inference per frame", "inference_speed.py", ("--repeats", "5", "--resolutions", "320x192,640x384"),
        "Per-frame inference time of every method's tiny quick-schedule model (untrained weights of a fixed "
        "seed) at two resolutions: the model's own online work per frame, without the tracker's association.",
        threaded=True),
    "training": Benchmark(
        "Training per iteration", "training_speed.py", ("--iterations", "12", "--warmup", "4"),
        "Seconds per training iteration of every method's quick-schedule config with the project's trainer on "
        "a small synthetic set, data loading included.", threaded=True),
    "evaluation": Benchmark(
        "Evaluation", "evaluation.py", ("--sequences", "10", "--frames", "200", "--repeats", "3"),
        "Time to score tracking results with HOTA, CLEAR and Identity (`evaluate_mot`), its parts, and "
        "reading / writing MOTChallenge files."),
    "data-loading": Benchmark(
        "Data loading", "data_loading.py", ("--repeats", "3", "--batches", "20"),
        "Frames a second of the synthetic set's generator, the MOTChallenge reader and the train loader."),
}


def parse_only(text: Optional[str], choices: Iterable[str] = BENCHMARKS, kind: str = "benchmark") -> List[str]:
    """The ``choices`` (benchmarks) ``--only`` names, all when not given, in their order."""
    choices = list(choices)
    if text is None:
        return choices
    chosen = text.split(",")
    unknown = [name for name in chosen if name not in choices]
    if unknown:
        raise InputError(f"--only: no {kind} named {', '.join(map(repr, unknown))}; "
                         f"choose from {', '.join(choices)}")
    return [name for name in choices if name in chosen]


def arguments(benchmark: Benchmark, threads: int) -> List[str]:
    return [*benchmark.options, *(("--threads", str(threads)) if benchmark.threaded else ())]


def run_benchmark(benchmark: Benchmark, threads: int) -> Tuple[str, float]:
    """The benchmark's stdout and wall seconds; a failure exits with its stderr's tail."""
    command = [sys.executable, os.path.join(REPO, "benchmarks", benchmark.script), *arguments(benchmark, threads)]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0 or "\n|" not in "\n" + result.stdout:
        problem = f"exit status {result.returncode}" if result.returncode else "it printed no table"
        tail = "\n".join(result.stderr.splitlines()[-STDERR_TAIL:])
        print(f"error: {benchmark.script} failed ({problem}); the last lines of its stderr:\n{tail}", file=sys.stderr)
        sys.exit(1)
    return result.stdout, seconds


def as_markdown(output: str) -> str:
    """A benchmark's printed output: its tables as they are, every other line a paragraph."""
    blocks, table = [], []
    for line in output.strip().splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        if table:
            blocks.append("\n".join(table))
            table = []
        if line.strip():
            blocks.append(line)
    if table:
        blocks.append("\n".join(table))
    return "\n\n".join(blocks)


def regenerate_options(names: List[str], threads: int, default_threads: int) -> List[str]:
    """The options of this run that change the page (not where it is written)."""
    options = ["--only", ",".join(names)] if names != list(BENCHMARKS) else []
    return options + (["--threads", str(threads)] if threads != default_threads else [])


def page(names: List[str], sections: List[Tuple[Benchmark, str, float]], options: List[str], threads: int,
         total_seconds: float) -> str:
    """The markdown page of a run."""
    mot = shlex.join(["mot", "benchmark", *options])
    script = shlex.join(["python", "benchmarks/results_page.py", *options])
    lines = [
        "# Benchmarks", "",
        f"Generated by `{mot}` (equivalently `{script}`, from the repository root); do not edit by hand: "
        "run the command again to update it.", "",
        f"- Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {cpu_model()}, {os.cpu_count()} cores; Python {sys.version.split()[0]}, torch {torch.__version__} "
        f"with {threads} threads (`--threads`; the tracker update runs on one core)",
        f"- Total wall time: {total_seconds / 60:.1f} min",
    ]
    if names != list(BENCHMARKS):
        lines.append(f"- Partial run: only {', '.join(names)} (of {', '.join(BENCHMARKS)})")
    for benchmark, output, seconds in sections:
        command = shlex.join(["python", f"benchmarks/{benchmark.script}", *arguments(benchmark, threads)])
        lines += ["", f"## {benchmark.title}", "", benchmark.measures, "",
                  f"Command: `{command}` ({seconds:.0f} s)", "", as_markdown(output)]
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default=os.path.join(REPO, "BENCHMARKS.md"),
                        help="the page to write (default: BENCHMARKS.md at the repository root)")
    parser.add_argument("--only", metavar="NAME[,NAME]",
                        help=f"run only these benchmarks, of {', '.join(BENCHMARKS)} (the page says which ran)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the model benchmarks")
    args = parser.parse_args(argv)
    output = os.path.abspath(args.output)
    with exit_on_bad_input():
        names = parse_only(args.only)
        if args.threads < 1:
            raise InputError("--threads must be at least 1")
        if not os.path.isdir(os.path.dirname(output)):
            raise FileNotFoundError(f"--output {args.output}: its folder does not exist")
    start = time.perf_counter()
    sections = []
    for i, name in enumerate(names, 1):
        benchmark = BENCHMARKS[name]
        print(f"[{i}/{len(names)}] {name}: benchmarks/{benchmark.script} ...", flush=True)
        stdout, seconds = run_benchmark(benchmark, args.threads)
        print(f"[{i}/{len(names)}] {name}: done in {seconds:.0f} s", flush=True)
        sections.append((benchmark, stdout, seconds))
    options = regenerate_options(names, args.threads, parser.get_default("threads"))
    text = page(names, sections, options, args.threads, time.perf_counter() - start)
    with open(output, "w") as f:
        f.write(text)
    print(f"wrote {args.output} in {(time.perf_counter() - start) / 60:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
