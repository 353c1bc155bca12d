#!/usr/bin/env python
"""One-shot model speed on CPU: per-frame inference time and parameters of the
JDE/FairMOT-style baseline, with CSTrack's REN, with its SAAN and with both, and the
overhead of the modules over the baseline.

    python benchmarks/oneshot_speed.py [--repeats N] [--threads 2]
        [--resolutions 1088x608,320x192] [--variants baseline,REN,SAAN,REN+SAAN]

Each resolution has its model. 1088x608, FairMOT's and CSTrack's test size: DLA-34 with
the deformable up path, configs/OneShot/fairmot_DLA34.yaml with
MODEL.ONE_SHOT.REN.ENABLED / SAAN.ENABLED switched on by options, all four rows with
CSTrack's 512-d embeddings (MODEL.ONE_SHOT.EMBED_DIM 512; FairMOT's own are 128-d) so
that they differ only by the modules; the REN+SAAN row is the model of
configs/CSTrack/cstrack_DLA34.yaml. 320x192, the tiny test size: ResNet-18-FPN with GN
and 128-d embeddings, the quick-schedule configs oneshot_, oneshot_REN_, oneshot_SAAN_
and cstrack_R18_FPN_GN_synthetic.yaml.

Inference: eval mode, no grad, untrained weights of a fixed seed, ``model([frame])`` on
one random frame of the resolution's size (fed as it is: the model does not resize).
The variants of a resolution take turns within each repeat; the table gives medians
after a warm-up frame (torchvision's deformable convolution makes a DLA-34 frame take
seconds on a CPU, hence few frames by default there), and the overhead of each variant
over the baseline of the same run (the baseline is always timed). Parameters: those
inference uses, and the total with the training-only ones: the identity classifier of
the ID loss (sized by MODEL.ONE_SHOT.ID_LOSS.NUM_IDENTITIES, 500 here, as no dataset is
registered to count identities) and the two uncertainty weights.
"""
import argparse
from typing import Dict, List, NamedTuple, Tuple

import torch
from tabulate import tabulate

from speed_common import SEED, describe_run, interleaved_medians, load_cfg, parse_resolutions, seeded_model

WARMUP = 1
NUM_IDENTITIES = 500
TRAINING_ONLY = ("id_loss.", "balance.")  # parameter name prefixes: ID classifier, uncertainty weights
REN = ("MODEL.ONE_SHOT.REN.ENABLED", True)
SAAN = ("MODEL.ONE_SHOT.SAAN.ENABLED", True)
VARIANTS = ("baseline", "REN", "SAAN", "REN+SAAN")
PAPER_FPS = 16.4  # CSTrack (TIP 2022) with REN and SAAN, on a GPU


class Setting(NamedTuple):
    model: str
    repeats: int  # timed frames per row unless --repeats says otherwise
    configs: Dict[str, Tuple[str, tuple]]  # variant: (config under configs/, options)


SETTINGS = {
    (1088, 608): Setting("DLA-34, 512-d", 3, {
        variant: ("OneShot/fairmot_DLA34.yaml", ("MODEL.ONE_SHOT.EMBED_DIM", 512) + switches)
        for variant, switches in zip(VARIANTS, ((), REN, SAAN, REN + SAAN))
    }),
    (320, 192): Setting("R18-FPN tiny, 128-d", 10, {
        variant: (f"quick_schedules/{name}_R18_FPN_GN_synthetic.yaml", ())
        for variant, name in zip(VARIANTS, ("oneshot", "oneshot_REN", "oneshot_SAAN", "cstrack"))
    }),
}


def parse_variants(text: str) -> List[str]:
    """Comma-separated variant names, in table order, with the baseline (an argparse ``type``)."""
    chosen = text.split(",")
    unknown = sorted(set(chosen) - set(VARIANTS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    return [v for v in VARIANTS if v == "baseline" or v in chosen]


def parameter_millions(model: torch.nn.Module) -> Tuple[float, float]:
    """Millions of parameters inference uses, and of all of them."""
    named = [(name, p.numel()) for name, p in model.named_parameters()]
    inference = sum(n for name, n in named if not name.startswith(TRAINING_ONLY))
    return inference / 1e6, sum(n for _, n in named) / 1e6


def resolution_rows(width: int, height: int, variants: List[str], repeats: int):
    """Table rows of one resolution, and each variant's seconds per frame."""
    setting = SETTINGS[(width, height)]
    models = {}
    for variant in variants:
        config_file, opts = setting.configs[variant]
        cfg = load_cfg(config_file, "MODEL.ONE_SHOT.ID_LOSS.NUM_IDENTITIES", NUM_IDENTITIES, *opts)
        models[variant] = seeded_model(cfg).eval()
    image = torch.randint(0, 256, (3, height, width), generator=torch.Generator().manual_seed(SEED)).float()
    frame = {"image": image, "height": height, "width": width}
    results = interleaved_medians({v: (lambda m=m: m([frame])) for v, m in models.items()}, repeats, WARMUP)
    seconds = {variant: median for variant, (median, _) in results.items()}
    rows = []
    for variant, model in models.items():
        inference, total = parameter_millions(model)
        overhead = f"{100 * (seconds[variant] / seconds['baseline'] - 1):+.1f}" if variant != "baseline" else ""
        rows.append([f"{width}x{height}", setting.model, variant, f"{inference:.2f}", f"{total:.2f}",
                     f"{1000 * seconds[variant]:.1f}", f"{1 / seconds[variant]:.3g}", overhead])
    return rows, seconds


def main():
    known = ", ".join(f"{w}x{h}" for w, h in SETTINGS)
    defaults = ", ".join(f"{s.repeats} at {w}x{h}" for (w, h), s in SETTINGS.items())
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, help=f"timed frames per row (default: {defaults})")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--resolutions", type=parse_resolutions, default=known.replace(" ", ""),
                        help=f"WIDTHxHEIGHT frames, comma-separated, of {known}")
    parser.add_argument("--variants", type=parse_variants, default=",".join(VARIANTS),
                        help=f"comma-separated, of {', '.join(VARIANTS)} (the baseline is always timed)")
    args = parser.parse_args()
    unknown = [f"{w}x{h}" for w, h in args.resolutions if (w, h) not in SETTINGS]
    if unknown:
        parser.error(f"--resolutions: no model for {', '.join(unknown)}; choose from {known}")
    describe_run(args.threads)
    repeats = {r: args.repeats or SETTINGS[r].repeats for r in args.resolutions}
    frames = ", ".join(f"{n} at {w}x{h}" for (w, h), n in repeats.items())
    print(f"weights: untrained (seed {SEED}), ID classifier for {NUM_IDENTITIES} identities; "
          f"median of frames ({frames}) after {WARMUP} warm-up frame\n")
    rows, summaries = [], []
    with torch.no_grad():
        for (width, height), n in repeats.items():
            resolution, seconds = resolution_rows(width, height, args.variants, n)
            rows += resolution
            if "REN+SAAN" in seconds:
                base, both = seconds["baseline"], seconds["REN+SAAN"]
                summaries.append(f"REN+SAAN at {width}x{height}: {100 * (both / base - 1):+.1f} % of the baseline's "
                                 f"frame time, {1 / base:.3g} -> {1 / both:.3g} fps (paper: {PAPER_FPS} fps with both)")
    print(tabulate(rows, tablefmt="github", disable_numparse=True, headers=[
        "frame", "model", "variant", "inference params (M)", "total params (M)", "ms/frame", "frames/s",
        "overhead vs baseline (%)",
    ]))
    for line in summaries:
        print(line)


if __name__ == "__main__":
    main()
