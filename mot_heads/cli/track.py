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

from trackers import TRACKERS, build_tracker_for_video, parse_param_strings

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
    """Track every sequence under ``det_dir``; returns the written result files.

    Every sequence's det.txt is read and checked before anything is tracked, so bad
    input writes no result file.
    """
    sequences = []
    for seq_dir in find_sequences(det_dir):
        info = read_seqinfo(seq_dir)
        sequences.append((os.path.basename(os.path.normpath(seq_dir)), info, list(public_detections(info))))
    written = []
    # disable=None: tqdm shows the bar only on a terminal, so stderr keeps error lines alone.
    for name, info, records in tqdm(sequences, desc="tracking", unit="seq", disable=None):
        tracker = build_tracker_for_video(tracker_name, info.frame_rate, **params)
        result = run_tracker(tracker, records, name, info.seq_length)
        result.classes[:] = -1  # det.txt has no class
        path = os.path.join(out_dir, f"{name}.txt")
        try:
            write_mot_results(path, result)
        except OSError as e:
            raise ValueError(f"{path}: cannot write ({e.strerror})") from e
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
