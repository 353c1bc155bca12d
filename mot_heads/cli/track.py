"""``mot-track``: track the public detections of MOTChallenge-layout sequences.

Example::

    mot-track --det-dir datasets/MOT17/train --out-dir results/sort --tracker sort
    mot-track --det-dir datasets/synthetic/val --out-dir results/jde --tracker jde \\
        --param track_buffer=60 --param second_association=true

Every ``DET_DIR/<seq>/det/det.txt`` (with ``DET_DIR/<seq>/seqinfo.ini``) is tracked and
written to ``OUT_DIR/<seq>.txt`` in the MOTChallenge result format, ready for ``mot-eval``.
"""
import argparse
import os
import sys
from typing import List, Optional

from tqdm import tqdm

from trackers import TRACKERS, build_tracker, parse_param_strings

from ..data.mot_challenge import find_sequences, read_seqinfo
from ..engine.tracking import public_detections, run_tracker
from ..evaluation.mot_files import write_mot_results
from .errors import exit_on_bad_input


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mot-track", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--det-dir", required=True, metavar="SEQS",
                        help="folder of sequence folders, each with seqinfo.ini and det/det.txt")
    parser.add_argument("--out-dir", required=True, metavar="RES",
                        help="where <seq>.txt result files are written (created if missing)")
    parser.add_argument("--tracker", required=True, choices=sorted(TRACKERS),
                        help="tracker by registered name, e.g. sort or jde")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="override a tracker parameter, repeatable (e.g. --param max_age=3); "
                        "frame_rate defaults to each sequence's seqinfo.ini frameRate")
    return parser


def track_folder(det_dir: str, out_dir: str, tracker_name: str, params: dict) -> List[str]:
    """Track every sequence under ``det_dir``; returns the written result files."""
    written = []
    sequences = find_sequences(det_dir)
    for seq_dir in tqdm(sequences, desc="tracking", unit="seq"):
        info = read_seqinfo(seq_dir)
        overrides = dict(params)
        if "frame_rate" in TRACKERS[tracker_name].Params.__dataclass_fields__:
            overrides.setdefault("frame_rate", info.frame_rate)
        tracker = build_tracker(tracker_name, **overrides)
        name = os.path.basename(os.path.normpath(seq_dir))
        result = run_tracker(tracker, public_detections(info), name, info.seq_length)
        path = os.path.join(out_dir, f"{name}.txt")
        write_mot_results(path, result)
        written.append(path)
    return written


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    with exit_on_bad_input():
        written = track_folder(args.det_dir, args.out_dir, args.tracker, parse_param_strings(args.param))
    print(f"wrote {len(written)} result files to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
