#!/usr/bin/env python
"""KDMOT against "two-step" tracking on CPU (the speed half of KDMOT's Table 2): the
per-frame time of the one-shot student, whose ID branch gives every detection's
embedding in the same pass, and of the same detector whose detections are cropped and
embedded by the ReID teacher instead (``MODEL.ONE_SHOT.TEST_EMBEDDINGS "teacher"``).

    python benchmarks/kdmot_speed.py [--repeats N] [--threads 2]
        [--resolutions 1088x608,320x192] [--boxes 20,100]

Each resolution has its pair. 1088x608: the DLA-34 student of
configs/KDMOT/kdmot_DLA34.yaml (2048-d) and its ResNet-50 teacher at 256x128
(configs/KDMOT/reid_R50_market1501.yaml). 320x192: the tiny student
(configs/quick_schedules/kdmot_R18_FPN_GN_synthetic.yaml, 512-d) and the tiny ResNet-18
teacher at 128x64. The teacher's cost grows with the detections a frame has, so both
models keep exactly N detections a frame (MODEL.ONE_SHOT.TOPK_TEST N, no score
threshold), for each N of --boxes (default: 20 and 100 at 1088x608, people in a
MOT17-like and a crowded frame; 5 and 20 at 320x192, about the synthetic set's count).

Inference: eval mode, no grad, untrained weights of a fixed seed, ``model([frame])`` on
one random frame; the two modes take turns within each repeat, medians after a warm-up
frame. Tracking (the same JDE tracker for both) is not timed.
"""
import argparse
from typing import Dict, NamedTuple, Sequence, Tuple

import torch
from tabulate import tabulate

from speed_common import SEED, describe_run, interleaved_medians, load_cfg, parse_resolutions, seeded_model

WARMUP = 1
MODES = {"KDMOT (one pass)": "head", "two-step (teacher on crops)": "teacher"}


class Setting(NamedTuple):
    student: str
    teacher: str
    config: str  # the student's config under configs/; it names the teacher's
    repeats: int
    boxes: Tuple[int, ...]


SETTINGS: Dict[Tuple[int, int], Setting] = {
    (1088, 608): Setting("DLA-34, 2048-d", "ResNet-50, 256x128", "KDMOT/kdmot_DLA34.yaml", 3, (20, 100)),
    (320, 192): Setting("R18-FPN tiny, 512-d", "ResNet-18, 128x64",
                        "quick_schedules/kdmot_R18_FPN_GN_synthetic.yaml", 10, (5, 20)),
}


def parse_counts(text: str) -> Tuple[int, ...]:
    """Comma-separated positive detection counts (an argparse ``type``)."""
    counts = tuple(int(n) for n in text.split(","))
    if min(counts) < 1:
        raise argparse.ArgumentTypeError("--boxes: counts must be positive")
    return counts


def resolution_rows(width: int, height: int, counts: Sequence[int], repeats: int):
    """Table rows of one resolution: each detection count, each mode."""
    setting = SETTINGS[(width, height)]
    image = torch.randint(0, 256, (3, height, width), generator=torch.Generator().manual_seed(SEED)).float()
    frame = {"image": image, "height": height, "width": width}
    rows = []
    for count in counts:
        models = {
            mode: seeded_model(load_cfg(setting.config, "MODEL.ONE_SHOT.TEST_EMBEDDINGS", source,
                                        "MODEL.ONE_SHOT.TOPK_TEST", count,
                                        "MODEL.ONE_SHOT.SCORE_THRESH_TEST", -1.0)).eval()
            for mode, source in MODES.items()
        }
        results = interleaved_medians({m: (lambda model=model: model([frame])) for m, model in models.items()},
                                      repeats, WARMUP)
        one_pass = results["KDMOT (one pass)"][0]
        for mode, (seconds, _) in results.items():
            rows.append([f"{width}x{height}", setting.student, setting.teacher, count, mode,
                         f"{1000 * seconds:.1f}", f"{1 / seconds:.3g}", f"{seconds / one_pass:.2f}"])
    return rows


def main():
    known = ", ".join(f"{w}x{h}" for w, h in SETTINGS)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, help="timed frames per row (default: 3 at 1088x608, 10 at 320x192)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--resolutions", type=parse_resolutions, default=known.replace(" ", ""),
                        help=f"WIDTHxHEIGHT frames, comma-separated, of {known}")
    parser.add_argument("--boxes", type=parse_counts, help="detections a frame, comma-separated "
                        "(default: 20,100 at 1088x608 and 5,20 at 320x192)")
    args = parser.parse_args()
    unknown = [f"{w}x{h}" for w, h in args.resolutions if (w, h) not in SETTINGS]
    if unknown:
        parser.error(f"--resolutions: no model for {', '.join(unknown)}; choose from {known}")
    describe_run(args.threads)
    print(f"weights: untrained (seed {SEED}); median of the timed frames after {WARMUP} warm-up frame\n")
    rows = []
    with torch.no_grad():
        for resolution in args.resolutions:
            setting = SETTINGS[resolution]
            rows += resolution_rows(*resolution, args.boxes or setting.boxes, args.repeats or setting.repeats)
    print(tabulate(rows, tablefmt="github", disable_numparse=True, headers=[
        "frame", "student", "teacher", "detections", "mode", "ms/frame", "frames/s", "time vs one pass",
    ]))


if __name__ == "__main__":
    main()
