"""Write the synthetic video set: rendered sequences with ground truth, in the MOTChallenge layout.

Examples::

    mot demo-data
    mot demo-data --root datasets/synthetic --seed 0
    mot demo-data --root datasets/tiny --train-sequences 2 --val-sequences 1 --num-frames 12 --no-camera-motion
    mot demo-data --root crowded/synthetic --initial-objects 14 --target-objects 16

Writes ROOT/train/synth-train-XX and ROOT/val/synth-val-XX, each with img1/, gt/gt.txt
(classes 1 person and 2 car, with visibility), det/det.txt (noisy public detections) and
seqinfo.ini, and ROOT/synthetic.json with the options. The set is a pure function of the
options: a ROOT already written with the same options is left as it is. Under
$DETECTRON2_DATASETS/synthetic (the default ROOT) it is registered as synth_train and
synth_val (MOT), synth_sot_train and synth_sot_val (SOT), which the quick_schedules
configs train and test on. Score tracks of its val/ sequences with
``mot evaluate --gt-dir ROOT/val --results-dir RES --classes 1,2 --class-names person,car
--distractor-classes ''``. The crowded example (about twice the objects) has valid
occlusions (OUTrack, Eq. 9) in 2 of 3 training frames against 1 in 6 by default; train on
it with ``DETECTRON2_DATASETS=crowded``.
"""
import argparse
import logging
import os

from ..data.builtin import datasets_root
from ..data.synthetic import SyntheticConfig, generate_dataset
from ..errors import InputError
from .errors import exit_on_bad_input

# Frames must hold the largest objects: cars up to SyntheticConfig.car_widths wide, and
# the false detections of det.txt (data/detection_noise.py) up to 60 x 150 pixels.
MIN_WIDTH, MIN_HEIGHT = SyntheticConfig().car_widths[1], 150
# Integer options, as the fields of SyntheticConfig they set.
SIZE_OPTIONS = {
    "train_sequences": "sequences in train/",
    "val_sequences": "sequences in val/",
    "num_frames": "frames per sequence",
    "width": f"image width in pixels, at least {MIN_WIDTH}",
    "height": f"image height in pixels, at least {MIN_HEIGHT}",
    "frame_rate": "frames per second (seqinfo.ini)",
    "initial_objects": "objects in the first frame",
    "target_objects": "mean number of objects in view that new arrivals keep up",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = SyntheticConfig()
    parser.add_argument("--root", default=os.path.join(datasets_root(), "synthetic"),
                        help="output folder (default $DETECTRON2_DATASETS/synthetic, else datasets/synthetic)")
    parser.add_argument("--seed", type=int, default=defaults.seed,
                        help=f"random seed: the same options write the same set (default {defaults.seed})")
    for field, what in SIZE_OPTIONS.items():
        parser.add_argument("--" + field.replace("_", "-"), type=int, default=getattr(defaults, field), metavar="N",
                            help=f"{what} (default {getattr(defaults, field)})")
    parser.add_argument("--no-camera-motion", action="store_true", help="keep the camera still")


def config_from_args(args: argparse.Namespace) -> SyntheticConfig:
    """The generation parameters the options give; sizes too small raise."""
    small = [f"--{field.replace('_', '-')}" for field in SIZE_OPTIONS if getattr(args, field) < 1]
    if small:
        raise InputError(f"{', '.join(small)} must be at least 1")
    if args.width < MIN_WIDTH or args.height < MIN_HEIGHT:
        raise InputError(f"--width {args.width} --height {args.height}: frames must be at least "
                         f"{MIN_WIDTH}x{MIN_HEIGHT} pixels, the size of the largest objects and false detections")
    sizes = {field: getattr(args, field) for field in SIZE_OPTIONS}
    return SyntheticConfig(seed=args.seed, camera_motion=not args.no_camera_motion, **sizes)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with exit_on_bad_input():
        config = config_from_args(args)
        try:
            os.makedirs(args.root, exist_ok=True)  # an unwritable root fails here, before the progress bar
            generate_dataset(args.root, config)
        except OSError as e:  # an unwritable root, or a non-empty one of something else
            message = str(e) if e.strerror is None else f"{e.filename or args.root}: cannot write ({e.strerror})"
            raise InputError(message) from e
    print(f"synthetic set in {args.root}: {config.train_sequences} train and {config.val_sequences} val sequences "
          f"of {config.num_frames} frames, {config.width}x{config.height}")
    return 0
