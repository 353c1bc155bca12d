"""The final tracking scores of training runs side by side, as a markdown table.

    python benchmarks/results_table.py --run "JDE=output/a" --run "+REN=output/b" [--class person]

Each run is a Detectron2 OUTPUT_DIR: its ``metrics.json`` gives the last evaluation with
tracking metrics (the MOT evaluator's, in percent) and box AP50 if the COCO evaluator ran,
the iterations trained and the median seconds per iteration ("-" for an evaluation-only
run, ``train_net.py --eval-only``, which records its evaluation there too).
"""
import argparse
import json
import os
import statistics
import sys
from typing import Dict, List, Optional

COLUMNS = ["HOTA", "DetA", "AssA", "MOTA", "IDF1", "IDSW", "FP", "FN"]
COUNTS = {"IDSW", "FP", "FN"}


def read_metrics(output_dir: str) -> List[dict]:
    path = os.path.join(output_dir, "metrics.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} does not exist: is {output_dir} the OUTPUT_DIR of a training run?")
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def run_row(output_dir: str, class_name: Optional[str] = None) -> Dict[str, float]:
    """The last tracking evaluation of a run (of ``class_name``, or all classes), its
    box AP50, iterations and median s/iter."""
    records = read_metrics(output_dir)
    suffix = f"-{class_name}" if class_name else ""
    evaluations = [r for r in records if f"tracking/MOTA{suffix}" in r]
    if not evaluations:
        raise ValueError(f"{output_dir}/metrics.json has no tracking/MOTA{suffix}: no MOT evaluation"
                         + (f" of class {class_name!r}" if class_name else ""))
    last = evaluations[-1]
    row = {c: last[f"tracking/{c}{suffix}"] for c in COLUMNS}
    row["AP50"] = last.get(f"bbox/AP50{suffix}" if not class_name else f"bbox/AP-{class_name}", float("nan"))
    training = [r for r in records if "time" in r]
    row["iterations"] = max((r["iteration"] for r in training), default=-1) + 1
    row["s/iter"] = statistics.median(r["time"] for r in training) if training else float("nan")
    return row


def markdown_table(rows: Dict[str, Dict[str, float]], ap_label: str = "AP50", timing: bool = True) -> str:
    """The rows as a markdown table; without the s/iter column unless ``timing``."""
    header = ["run", *COLUMNS, ap_label, "iterations", *(["s/iter"] if timing else [])]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, row in rows.items():
        cells = [label] + [f"{row[c]:.0f}" if c in COUNTS else f"{row[c]:.1f}" for c in COLUMNS]
        trained = row["iterations"] > 0
        cells += [f"{row['AP50']:.1f}", f"{row['iterations']:d}" if trained else "-"]
        if timing:
            cells.append(f"{row['s/iter']:.2f}" if trained else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", action="append", required=True, metavar="LABEL=OUTPUT_DIR",
                        help="a row: its label and the run's OUTPUT_DIR (repeat for more rows)")
    parser.add_argument("--class", dest="class_name", default=None,
                        help="scores of one class (e.g. person) instead of all classes; AP is then that class's AP")
    args = parser.parse_args(argv)
    rows = {}
    for spec in args.run:
        label, sep, output_dir = spec.partition("=")
        if not sep or not label or not output_dir:
            parser.error(f"--run {spec!r}: expected LABEL=OUTPUT_DIR")
        try:
            rows[label] = run_row(output_dir, args.class_name)
        except (OSError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    print(markdown_table(rows, f"AP-{args.class_name}" if args.class_name else "AP50"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
