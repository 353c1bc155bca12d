"""Track a video, an image folder, a webcam or MOTChallenge sequences, with a trained model
(--config-file) or with a tracker on the sequences' public detections (--tracker).

Examples::

    # a trained model; trailing KEY VALUE pairs override the config
    mot track --config-file configs/quick_schedules/siammot_EMM_R18_FPN_GN_synthetic.yaml \\
        --input street.mp4 --output output/track MODEL.WEIGHTS output/emm/model_final.pth
    # every sequence of a folder of MOTChallenge sequences, text files only, then score them
    mot track --config-file CONFIG --input datasets/synthetic/val --output output/val --no-video \\
        MODEL.WEIGHTS model_final.pth
    mot evaluate --gt-dir datasets/synthetic/val --results-dir output/val \\
        --classes 1,2 --class-names person,car --distractor-classes ""
    # webcam 0 for 300 frames (or until Ctrl-C, which writes the frames so far as webcam0.partial.*)
    mot track --config-file CONFIG --input 0 --max-frames 300 --output output/webcam MODEL.WEIGHTS model_final.pth
    # one target (DMTrack) given by its box in the first frame
    mot track --config-file configs/quick_schedules/dmtrack_R18_FPN_GN_synthetic.yaml --input clip.mp4 \\
        --init-box 120,64,30,80 --output output/sot MODEL.WEIGHTS output/dmtrack/model_final.pth
    # SiamMOT's tracks born from every sequence's public detections (det/det.txt), MOT17's protocol
    mot track --config-file configs/SiamMOT/siammot_EMM_DLA34_FPN_mot17.yaml --public-detections \\
        --input datasets/MOT17/test --output output/siammot_public --no-video MODEL.WEIGHTS model_final.pth
    # public detections (every sequence's det/det.txt), no model
    mot track --tracker sort --input datasets/MOT17/train --output results/sort
    mot track --tracker jde --input datasets/MOT17/train --output results/jde --param second_association=true

--input is a video file, a folder of images, a MOTChallenge sequence folder (with
seqinfo.ini), a folder of such sequence folders (each tracked on its own) or a webcam
index (0, 1, ...); a FIFO or a device is refused. For every sequence NAME (the video
file's stem, the folder's name, not seqinfo.ini's name=, or webcam<index>), --output
receives:

  NAME.mp4   the frames with each track's box, id (and class) in a colour of its own and
             its trail (not with --no-video; in public mode only for sequences with images)
  NAME.txt   MOTChallenge results "frame,id,x,y,w,h,score,class,-1,-1" for `mot evaluate`
             (class: the dataset's class id, 1 for the first class; -1 for public
             detections); for a single-target model, one "x,y,w,h,confidence" line a
             frame, "0,0,0,0,0" while the target is absent
  NAME.csv   frame,track_id,class_id,class_name,x,y,w,h,score (one row per track and frame)
  NAME.json  [{"frame": 1, "tracks": [{"track_id": ..., "class_id": ..., ...}]}, ...],
             one entry per frame, frames without tracks included

In the csv and json, frames count from 1 and x, y (the top-left corner) from 0 pixels.

Each file appears under its name only once it is complete. Ctrl-C stops the run: the
sequences finished before keep their files, and the frames of the sequence in progress
(a webcam's, say) are written as NAME.partial.mp4/.txt/.csv/.json; a complete NAME.* of
an earlier run is never replaced by a partial result (`mot evaluate` ignores
*.partial.txt), and the next complete run of NAME removes NAME.partial.*. Ctrl-C while
a sequence's files are written stops the run once they are. One run at a time writes
into an --output folder: a second one is refused.

Exit status: 0 done; 2 bad input (one "error:" line); 3 finished, but every result is
empty (no track in any frame; a warning names each such sequence, as it does when only
some are empty); 130 stopped by Ctrl-C.
"""
import argparse
import math
import sys
from typing import Dict, List, Optional

from trackers import parse_param_strings

from ..engine.sequence_tracking import track_public, track_sources
from ..engine.track_outputs import DEFAULT_TRAIL_LENGTH, ClassLabels, TrackOutputs, check_output_names
from ..engine.video_io import FrameSource, open_frame_sources
from ..engine.video_tracking import VideoTracker
from ..errors import InputError
from .common import int_at_least, load_model
from .errors import exit_on_bad_input

# Trackers that track detections alone; the others need a model's outputs (siammot,
# outrack) or a first-frame target (longterm).
PUBLIC_TRACKERS = ("jde", "sort")


def frames_per_second(text: str) -> float:
    """An argparse type: a positive finite number of frames per second."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive finite number of frames per second, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--config-file", metavar="YAML",
                      help="track with the trained model of this config (weights: MODEL.WEIGHTS path.pth after "
                      "the options), e.g. --config-file configs/quick_schedules/siammot_EMM_R18_FPN_GN_synthetic.yaml")
    mode.add_argument("--tracker", choices=PUBLIC_TRACKERS, metavar="NAME",
                      help="instead of a model, track the public detections (det/det.txt) of MOTChallenge "
                      f"sequences with this tracker, one of {', '.join(PUBLIC_TRACKERS)}; e.g. --tracker sort")
    parser.add_argument("--input", required=True, metavar="SRC",
                        help="a video file, an image folder, a MOTChallenge sequence folder, a folder of sequence "
                        "folders or a webcam index; e.g. --input street.mp4, --input datasets/MOT17/train, --input 0 "
                        "(public mode: a sequence folder or a folder of them)")
    parser.add_argument("--output", required=True, metavar="DIR",
                        help="folder receiving NAME.mp4, NAME.txt, NAME.csv and NAME.json for every sequence "
                        "(created if missing; one run at a time); e.g. --output output/track")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="override a tracker parameter, repeatable; with a model it adds to TRACKER.PARAMS; "
                        "frame_rate=FPS is the tracker's frame rate for any tracker, as --frame-rate gives it "
                        "(default: the input's); e.g. --param max_age=3 --param second_association=true")
    parser.add_argument("--init-box", metavar="X,Y,W,H",
                        help="single-target models (DMTrack) only, and required there: the target's box in the first "
                        "frame, top-left corner and size in pixels, clipped to the frame (a negative x or y "
                        "after '=': --init-box=-8,64,30,80); e.g. --init-box 120,64,30,80")
    parser.add_argument("--public-detections", action="store_true",
                        help="model mode (SiamMOT): tracks are born only from each MOTChallenge sequence's "
                        "det/det.txt, as TRACKER.PUBLIC_DETECTIONS True does; e.g. --public-detections")
    parser.add_argument("--max-frames", type=int_at_least(1), metavar="N",
                        help="stop each sequence after N frames (a webcam otherwise runs until Ctrl-C); "
                        "e.g. --max-frames 300")
    parser.add_argument("--frame-rate", type=frames_per_second, metavar="FPS",
                        help="frames per second of the input, for the tracker and the MP4 (default: the video's, "
                        "seqinfo.ini's, or 30); e.g. --frame-rate 25")
    parser.add_argument("--trail-length", type=int_at_least(0), default=DEFAULT_TRAIL_LENGTH, metavar="N",
                        help=f"frames of trail drawn behind each track in the MP4, 0 for none (default "
                        f"{DEFAULT_TRAIL_LENGTH}); e.g. --trail-length 50")
    parser.add_argument("--no-video", action="store_true",
                        help="write no MP4, only the txt, csv and json files (faster); e.g. --no-video")
    parser.add_argument("opts", nargs=argparse.REMAINDER, metavar="KEY VALUE",
                        help="config overrides after the options (model mode), e.g. MODEL.WEIGHTS model_final.pth "
                        "TRACKER.PARAMS \"['start_threshold=0.7']\"")


def tracker_frame_rate(params: Dict[str, object], frame_rate: Optional[float]) -> Optional[float]:
    """Take ``frame_rate`` out of the tracker ``params`` (``--param frame_rate=FPS``): the
    tracker's frame rate, as ``--frame-rate`` (``frame_rate``) gives it to any tracker;
    None when neither gives one (the input's rate applies)."""
    if "frame_rate" not in params:
        return frame_rate
    text = params.pop("frame_rate")
    try:
        value = frames_per_second(str(text))
    except argparse.ArgumentTypeError as e:
        raise InputError(f"--param frame_rate={text}: {e}") from None
    if frame_rate is not None and value != frame_rate:
        raise InputError(f"--param frame_rate={text} and --frame-rate {frame_rate:g} differ; give the tracker's "
                         "frame rate once")
    return value


def parse_init_box(text: str, source: FrameSource) -> List[float]:
    """``--init-box x,y,w,h`` as x1, y1, x2, y2, clipped to the first frame of ``source``
    (said on stderr); a box off the frame, or less than a pixel wide or high on it, is refused."""
    try:
        x, y, w, h = (float(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"--init-box {text!r}: expected four comma-separated numbers x,y,w,h in pixels, "
                         f"such as 120,64,30,80") from None
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
        raise InputError(f"--init-box {text!r}: expected finite numbers and a positive width and height")
    frame = f"the first frame of {source.name} ({source.width}x{source.height} pixels)"
    if x >= source.width or y >= source.height or x + w <= 0 or y + h <= 0:
        raise InputError(f"--init-box {text!r}: the box lies outside {frame}")
    box = [max(x, 0.0), max(y, 0.0), min(x + w, float(source.width)), min(y + h, float(source.height))]
    if box[2] - box[0] < 1 or box[3] - box[1] < 1:
        raise InputError(f"--init-box {text!r}: the box is less than 1 pixel wide or high inside {frame}")
    if box != [x, y, x + w, y + h]:
        clipped = ",".join(f"{v:g}" for v in (box[0], box[1], box[2] - box[0], box[3] - box[1]))
        print(f"warning: --init-box {text}: clipped to {frame}: {clipped}", file=sys.stderr)
    return box


def track_with_model(args, outputs: TrackOutputs) -> None:
    """Model mode: every source of ``args.input`` through the model of ``args.config_file``.
    The inputs are checked, and the output folder locked, before the model is loaded."""
    sources = open_frame_sources(args.input, args.frame_rate)
    check_output_names([source.name for source in sources])
    init_boxes = [None if args.init_box is None else parse_init_box(args.init_box, s) for s in sources]
    with outputs.locked():
        public = ["TRACKER.PUBLIC_DETECTIONS", "True"] if args.public_detections else []
        cfg, model = load_model(args.config_file, [*args.opts, *public])
        params = parse_param_strings([*cfg.TRACKER.PARAMS, *args.param])
        frame_rate = tracker_frame_rate(params, args.frame_rate)
        track_sources(VideoTracker(cfg, model, params), sources, init_boxes, outputs, ClassLabels.of_config(cfg),
                      frame_rate)


def track_public_detections(args, outputs: TrackOutputs) -> None:
    """Public mode: the det/det.txt of the sequences of ``args.input`` through ``args.tracker``."""
    params = parse_param_strings(args.param)
    tracker_rate = tracker_frame_rate(params, args.frame_rate)
    track_public(args.input, outputs, args.tracker, params, args.frame_rate, tracker_rate)


def run(args) -> int:
    outputs = TrackOutputs(args.output, not args.no_video, args.trail_length, args.max_frames)
    try:
        with exit_on_bad_input():
            if args.tracker is None:
                track_with_model(args, outputs)
            elif args.opts or args.init_box or args.public_detections:
                raise InputError("config overrides (KEY VALUE), --init-box and --public-detections need a model "
                                 "(--config-file); --tracker tracks public detections")
            else:
                track_public_detections(args, outputs)
    except KeyboardInterrupt:  # between sequences or before the first: what was written stays
        outputs.interrupted = True
    print(outputs.summary())
    return outputs.exit_status
