#!/usr/bin/env python
"""Per-frame inference time of every method's tiny quick-schedule model on CPU, at two
resolutions, in one table.

    python benchmarks/inference_speed.py [--repeats 5] [--threads 2]
        [--resolutions 320x192,640x384] [--methods siammot-emm,jde,dmtrack]

Each model is built from its config in configs/quick_schedules/ (untrained weights of a
fixed seed, eval mode, no grad) and given one random frame of each resolution, fed at
that size (no test-time resize). The timed call is the model's own per-frame work, as
it runs online; the trackers' association is timed by tracker_update.py:

- SiamMOT (EMM, IMM): ``track_frame`` with 10 live tracks (random boxes, templates taken
  beforehand) plus ``track_templates`` of the propagated boxes, as siammot_speed.py;
- the one-shot models (JDE/FairMOT baseline, CSTrack, OUTrack, KDMOT's student, whose
  teacher only trains): ``model([frame])``, detections with their embeddings;
- DMTrack: ``detect_candidates`` of a target whose template ``init_template`` took from
  one frame beforehand.

The models of a resolution take turns within each repeat; the table gives medians after
the warm-up frames.
"""
import argparse
from typing import Callable, Dict, List, NamedTuple

import numpy as np
import torch
from tabulate import tabulate

from speed_common import (
    QUICK_SCHEDULES, SEED, WARMUP, describe_run, interleaved_medians, load_cfg, parse_methods, parse_resolutions,
    random_boxes, random_frame, seeded_model, tracking_step,
)

LIVE_TRACKS = 10
NUM_IDENTITIES = 500  # the ID classifiers' size when no training set is registered to count identities


def detect(model, frame: dict, rng: np.random.Generator) -> Callable:
    """The one-shot models' frame: detections and embeddings in one pass."""
    return lambda: model([frame])


def track_live_boxes(model, frame: dict, rng: np.random.Generator) -> Callable:
    """SiamMOT's frame: detections and ``LIVE_TRACKS`` tracks propagated, their templates refreshed."""
    return tracking_step(model, frame, frame, random_boxes(rng, LIVE_TRACKS, frame["width"], frame["height"]))


def follow_template(model, frame: dict, rng: np.random.Generator) -> Callable:
    """DMTrack's frame: the candidates of one target, its template taken beforehand."""
    template = model.init_template(frame, random_boxes(rng, 1, frame["width"], frame["height"])[0].tolist())
    return lambda: model.detect_candidates(frame, template)


class Inference(NamedTuple):
    per_frame: Callable  # (model, frame, rng) -> the timed call
    options: tuple = ()  # config options


ONE_SHOT_IDENTITIES = ("MODEL.ONE_SHOT.ID_LOSS.NUM_IDENTITIES", NUM_IDENTITIES)
INFERENCE: Dict[str, Inference] = {
    "siammot-emm": Inference(track_live_boxes),
    "siammot-imm": Inference(track_live_boxes),
    "jde": Inference(detect, ONE_SHOT_IDENTITIES),
    "cstrack": Inference(detect, ONE_SHOT_IDENTITIES),
    "outrack": Inference(detect),
    "kdmot": Inference(detect),
    "dmtrack": Inference(follow_template, ("MODEL.DMTRACK.NUM_IDENTITIES", NUM_IDENTITIES)),
}


def resolution_rows(width: int, height: int, methods: List[str], repeats: int) -> List[list]:
    """Table rows of one resolution, one per method."""
    frame = random_frame(width, height)
    calls = {}
    for name in methods:
        _, config = QUICK_SCHEDULES[name]
        inference = INFERENCE[name]
        model = seeded_model(load_cfg(f"quick_schedules/{config}", *inference.options)).eval()
        calls[name] = inference.per_frame(model, frame, np.random.default_rng(SEED))  # the same boxes for each
    results = interleaved_medians(calls, repeats)
    return [[*QUICK_SCHEDULES[name], f"{width}x{height}", f"{1000 * seconds:.1f}", f"{1 / seconds:.2f}"]
            for name, (seconds, _) in results.items()]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="timed frames per row")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--resolutions", type=parse_resolutions, default="320x192,640x384",
                        help="WIDTHxHEIGHT frames, comma-separated")
    parser.add_argument("--methods", type=parse_methods, default=",".join(QUICK_SCHEDULES),
                        help=f"comma-separated, of {', '.join(QUICK_SCHEDULES)}")
    args = parser.parse_args()
    describe_run(args.threads)
    print(f"weights: untrained (seed {SEED}); median of {args.repeats} frames after {WARMUP} warm-up frames; "
          f"SiamMOT with {LIVE_TRACKS} live tracks\n")
    rows = []
    with torch.no_grad():
        for width, height in args.resolutions:
            rows += resolution_rows(width, height, args.methods, args.repeats)
    print(tabulate(rows, tablefmt="github", disable_numparse=True,
                   headers=["method", "config", "resolution", "ms/frame", "frames/s"]))


if __name__ == "__main__":
    main()
