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
    # webcam 0 for 300 frames (or until Ctrl-C, which writes what was tracked so far)
    mot track --config-file CONFIG --input 0 --max-frames 300 --output output/webcam MODEL.WEIGHTS model_final.pth
    # one target (DMTrack) given by its box in the first frame
    mot track --config-file configs/quick_schedules/dmtrack_R18_FPN_GN_synthetic.yaml --input clip.mp4 \\
        --init-box 120,64,30,80 --output output/sot MODEL.WEIGHTS output/dmtrack/model_final.pth
    # public detections (every sequence's det/det.txt), no model
    mot track --tracker sort --input datasets/MOT17/train --output results/sort
    mot track --tracker jde --input datasets/MOT17/train --output results/jde --param second_association=true

--input is a video file, a folder of images, a MOTChallenge sequence folder (with
seqinfo.ini), a folder of such sequence folders (each tracked on its own) or a webcam
index (0, 1, ...). For every sequence NAME, --output receives:

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
"""
import argparse
import contextlib
import dataclasses
import itertools
import math
import os
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from detectron2.data import MetadataCatalog
from tqdm import tqdm

from trackers import Tracks, build_tracker_for_video, parse_param_strings

from ..data.mot_challenge import find_sequences, read_seqinfo
from ..engine.drawing import TrackPainter
from ..engine.online import sot_output
from ..engine.track_files import frame_entries, write_tracks_csv, write_tracks_json
from ..engine.tracking import public_detections, tracks_to_sequence
from ..engine.video_io import FrameSource, VideoWriter, open_frame_sources, open_frames
from ..engine.video_tracking import VideoTracker
from ..evaluation.mot_files import write_mot_results
from ..evaluation.sot_files import SOTSequence, write_sot_results
from .common import load_model
from .errors import exit_on_bad_input

DEFAULT_TRAIL_LENGTH = 20
# Trackers that track detections alone; the others need a model's outputs (siammot,
# outrack) or a first-frame target (longterm).
PUBLIC_TRACKERS = ("jde", "sort")


def _int_at_least(minimum: int):
    """An argparse type: an integer >= ``minimum``."""
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text}")
        return value
    return parse


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
                        "(created if missing); e.g. --output output/track")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="override a tracker parameter, repeatable; with a model it adds to TRACKER.PARAMS; "
                        "e.g. --param max_age=3 --param second_association=true (frame_rate defaults to the input's)")
    parser.add_argument("--init-box", metavar="X,Y,W,H",
                        help="single-target models (DMTrack) only, and required there: the target's box in the first "
                        "frame, top-left corner and size in pixels; e.g. --init-box 120,64,30,80")
    parser.add_argument("--max-frames", type=_int_at_least(1), metavar="N",
                        help="stop each sequence after N frames (a webcam otherwise runs until Ctrl-C); "
                        "e.g. --max-frames 300")
    parser.add_argument("--frame-rate", type=float, metavar="FPS",
                        help="frames per second of the input, for the tracker and the MP4 (default: the video's, "
                        "seqinfo.ini's, or 30); e.g. --frame-rate 25")
    parser.add_argument("--trail-length", type=_int_at_least(0), default=DEFAULT_TRAIL_LENGTH, metavar="N",
                        help=f"frames of trail drawn behind each track in the MP4, 0 for none (default "
                        f"{DEFAULT_TRAIL_LENGTH}); e.g. --trail-length 50")
    parser.add_argument("--no-video", action="store_true",
                        help="write no MP4, only the txt, csv and json files (faster); e.g. --no-video")
    parser.add_argument("opts", nargs=argparse.REMAINDER, metavar="KEY VALUE",
                        help="config overrides after the options (model mode), e.g. MODEL.WEIGHTS model_final.pth "
                        "TRACKER.PARAMS \"['start_threshold=0.7']\"")


@dataclasses.dataclass(frozen=True)
class ClassLabels:
    """How the tracks' classes (a model's contiguous class ids) are written, as
    ``MOTEvaluator`` writes them: the dataset's MOTChallenge class id of each (metadata
    ``mot_class_ids``; contiguous id + 1 where the metadata has none) and its name."""

    names: Sequence[str] = ()  # per contiguous id
    mot_ids: Sequence[int] = ()  # per contiguous id

    @classmethod
    def of_config(cls, cfg) -> "ClassLabels":
        """The labels of the config's first test dataset (none when it is not registered)."""
        if not cfg.DATASETS.TEST:
            return cls()
        metadata = MetadataCatalog.get(cfg.DATASETS.TEST[0])
        names = list(metadata.get("thing_classes", []))
        return cls(names, list(metadata.get("mot_class_ids", range(1, len(names) + 1))))

    @property
    def names_by_id(self) -> Dict[int, str]:
        return dict(zip(self.mot_ids, self.names))

    def relabel(self, tracks: Tracks) -> Tracks:
        """``tracks`` with MOTChallenge class ids."""
        ids = [self.mot_ids[c] if 0 <= c < len(self.mot_ids) else c + 1 for c in tracks.classes.tolist()]
        return dataclasses.replace(tracks, classes=np.array(ids, dtype=np.int64))


class TrackOutputs:
    """The output folder of ``mot track``: each sequence's MP4 (drawn as it is tracked),
    then its txt, csv and json files. ``max_frames`` ends each sequence early; Ctrl-C
    ends it too, its files are still written, and ``interrupted`` is set."""

    def __init__(self, folder: str, video: bool = True, trail_length: int = DEFAULT_TRAIL_LENGTH,
                 max_frames: Optional[int] = None):
        self.folder, self.video, self.trail_length, self.max_frames = folder, video, trail_length, max_frames
        self.written: List[str] = []
        self.sequences = 0
        self.interrupted = False

    def write_sequence(self, name: str, steps: Iterable[Tuple[Optional[np.ndarray], Tracks]], num_frames: int = 0,
                       video_format: Optional[FrameSource] = None, labels: Optional[ClassLabels] = None,
                       single_target: bool = False) -> None:
        """Consume ``steps`` (each frame, None without images, and its tracks) of sequence ``name``.

        ``num_frames`` (0: unknown) sizes the progress bar; ``video_format`` gives the MP4's
        frame rate and size (None: no MP4); ``labels`` relabel the tracks' classes (None:
        written as they are); a single-target sequence's txt is in the SOT result format.
        """
        try:
            os.makedirs(self.folder, exist_ok=True)
        except OSError as e:
            raise ValueError(f"{self.folder}: cannot create the output folder ({e.strerror})") from e
        painter = TrackPainter(self.trail_length, labels.names if labels else None)
        steps = itertools.islice(steps, self.max_frames)
        total = min(num_frames or math.inf, self.max_frames or math.inf)
        tracks_per_frame = []
        with contextlib.ExitStack() as stack:
            writer = None
            if self.video and video_format is not None:
                path = os.path.join(self.folder, f"{name}.mp4")
                writer = stack.enter_context(
                    VideoWriter(path, video_format.frame_rate, video_format.width, video_format.height))
                self.written.append(path)
            progress = stack.enter_context(
                tqdm(total=None if math.isinf(total) else total, desc=name, unit="frame", disable=None))
            try:
                for frame, tracks in steps:
                    tracks_per_frame.append(tracks)
                    if writer is not None:
                        writer.write(painter.draw(frame, tracks, len(tracks_per_frame)))
                    progress.update()
            except KeyboardInterrupt:
                self.interrupted = True
        self._write_track_files(name, tracks_per_frame, labels, single_target)
        self.sequences += 1

    def _write_track_files(self, name: str, tracks_per_frame: List[Tracks], labels: Optional[ClassLabels],
                           single_target: bool) -> None:
        if not tracks_per_frame:  # stopped before the first frame
            return
        if labels is not None:
            tracks_per_frame = [labels.relabel(tracks) for tracks in tracks_per_frame]
        base = os.path.join(self.folder, name)
        if single_target:
            targets = [sot_output(tracks) for tracks in tracks_per_frame]
            boxes = [[math.nan] * 4 if t["sot_box"] is None else t["sot_box"] for t in targets]
            write_sot_results(f"{base}.txt", SOTSequence(name, boxes, [t["sot_confidence"] for t in targets]))
        else:
            write_mot_results(f"{base}.txt", tracks_to_sequence(tracks_per_frame, name, len(tracks_per_frame)))
        entries = frame_entries(tracks_per_frame, labels.names_by_id if labels else {})
        write_tracks_csv(f"{base}.csv", entries)
        write_tracks_json(f"{base}.json", entries)
        self.written += [f"{base}.txt", f"{base}.csv", f"{base}.json"]

    def summary(self) -> str:
        """One line: what was written where (and whether Ctrl-C stopped the tracking)."""
        kinds = sorted({os.path.splitext(p)[1][1:] for p in self.written}, key=["mp4", "txt", "csv", "json"].index)
        line = (f"wrote {len(self.written)} files ({', '.join(kinds) or 'none'}) for {self.sequences} "
                f"sequence{'s' if self.sequences != 1 else ''} to {self.folder}")
        return f"stopped by Ctrl-C; {line}" if self.interrupted else line


def parse_init_box(text: str, source: FrameSource) -> List[float]:
    """``--init-box x,y,w,h`` as x1, y1, x2, y2, checked against the first frame of ``source``."""
    try:
        x, y, w, h = (float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--init-box {text!r}: expected four comma-separated numbers x,y,w,h in pixels, "
                         f"such as 120,64,30,80") from None
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
        raise ValueError(f"--init-box {text!r}: expected finite numbers and a positive width and height")
    if x >= source.width or y >= source.height or x + w <= 0 or y + h <= 0:
        raise ValueError(f"--init-box {text!r}: the box lies outside the first frame of {source.name} "
                         f"({source.width}x{source.height} pixels)")
    return [x, y, x + w, y + h]


def track_with_model(args, outputs: TrackOutputs) -> None:
    """Model mode: every source of ``args.input`` through the model of ``args.config_file``."""
    sources = open_frame_sources(args.input, args.frame_rate)
    init_boxes = [None if args.init_box is None else parse_init_box(args.init_box, s) for s in sources]
    cfg, model = load_model(args.config_file, args.opts)
    video_tracker = VideoTracker(cfg, model, parse_param_strings([*cfg.TRACKER.PARAMS, *args.param]))
    labels = ClassLabels.of_config(cfg)
    for source, init_box in zip(sources, init_boxes):
        with source:
            steps = video_tracker.track(source, source.frame_rate, init_box)
            outputs.write_sequence(source.name, steps, source.num_frames, source, labels,
                                   video_tracker.single_target)
        if outputs.interrupted:
            return


def track_public(det_dir: str, outputs: TrackOutputs, tracker_name: str, params: dict,
                 frame_rate: Optional[float] = None) -> None:
    """Public mode: the ``det/det.txt`` of the sequence folder ``det_dir`` (or of every
    sequence folder in it) through a tracker, drawn on the sequence's images when it has
    them. Every det.txt is read and checked before anything is written."""
    seq_dirs = [det_dir] if os.path.isfile(os.path.join(det_dir, "seqinfo.ini")) else find_sequences(det_dir)
    sequences = []
    for seq_dir in seq_dirs:
        info = read_seqinfo(seq_dir)
        images = open_frames(seq_dir, frame_rate) if os.path.isfile(info.image_path(1)) else None
        sequences.append((os.path.basename(os.path.normpath(seq_dir)), info, list(public_detections(info)), images))
    for name, info, records, images in sequences:
        tracker = build_tracker_for_video(tracker_name, frame_rate or info.frame_rate, **params)
        outputs.write_sequence(name, _public_steps(tracker, records, images), info.seq_length, images)
        if outputs.interrupted:
            return


def _public_steps(tracker, records, images: Optional[FrameSource]) -> Iterator[Tuple[Optional[np.ndarray], Tracks]]:
    """Each frame (None without images) with the tracks of its public detections, which have no class (-1)."""
    frames = itertools.repeat(None) if images is None else images
    for record, frame in zip(records, frames):
        tracks = tracker.update(record)
        yield frame, dataclasses.replace(tracks, classes=np.full(len(tracks), -1, dtype=np.int64))


def track_folder(det_dir: str, out_dir: str, tracker_name: str, params: dict) -> List[str]:
    """Track the public detections of every sequence under ``det_dir`` into ``out_dir``
    (no videos); returns the written files."""
    outputs = TrackOutputs(out_dir, video=False)
    track_public(det_dir, outputs, tracker_name, params)
    return outputs.written


def run(args) -> int:
    outputs = TrackOutputs(args.output, not args.no_video, args.trail_length, args.max_frames)
    try:
        with exit_on_bad_input():
            if args.tracker is None:
                track_with_model(args, outputs)
            elif args.opts or args.init_box:
                raise ValueError("config overrides (KEY VALUE) and --init-box need a model (--config-file); "
                                 "--tracker tracks public detections")
            else:
                track_public(args.input, outputs, args.tracker, parse_param_strings(args.param), args.frame_rate)
    except KeyboardInterrupt:  # between sequences or while loading: what was written stays
        outputs.interrupted = True
    print(outputs.summary())
    return 0
