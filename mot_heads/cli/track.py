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
import contextlib
import dataclasses
import itertools
import math
import os
import signal
import sys
import threading
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
from ..engine.video_io import FrameSource, VideoWriter, folder_name, open_frame_sources, open_frames
from ..engine.video_tracking import VideoTracker
from ..evaluation.mot_files import write_mot_results
from ..evaluation.sot_files import SOTSequence, write_sot_results
from ..errors import InputError
from ..files import FolderLock, atomic_path, temporary_path, writable_folder
from .common import int_at_least, load_model
from .errors import exit_on_bad_input

DEFAULT_TRAIL_LENGTH = 20
# Trackers that track detections alone; the others need a model's outputs (siammot,
# outrack) or a first-frame target (longterm).
PUBLIC_TRACKERS = ("jde", "sort")
RESULT_KINDS = ("mp4", "txt", "csv", "json")
PARTIAL = "partial"  # NAME.partial.*: the frames of the sequence Ctrl-C stopped
EXIT_EMPTY, EXIT_INTERRUPTED = 3, 130


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
    """The output folder of ``mot track`` (its files: the module doc).

    :meth:`locked` checks and locks the folder for a run; :meth:`write_sequence` tracks
    one sequence into it. ``max_frames`` ends each sequence early. Ctrl-C ends the
    sequence in progress, whose frames so far are written as ``NAME.partial.*``, and sets
    ``interrupted``; Ctrl-C during a sequence's final writes takes effect once they are
    done. ``written`` lists the files of the complete sequences.
    """

    def __init__(self, folder: str, video: bool = True, trail_length: int = DEFAULT_TRAIL_LENGTH,
                 max_frames: Optional[int] = None):
        self.folder, self.video, self.trail_length, self.max_frames = folder, video, trail_length, max_frames
        self.written: List[str] = []
        self.complete: List[str] = []  # names of the complete sequences
        self.partial: Optional[Tuple[str, int, List[str]]] = None  # name, frames and files of the stopped one
        self.tracked_any = False
        self.interrupted = False

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """The output folder, created and checked for writing, is this run's alone during the block."""
        with FolderLock(writable_folder(self.folder), "mot track"):
            yield

    def write_sequence(self, name: str, steps: Iterable[Tuple[Optional[np.ndarray], Tracks]], num_frames: int = 0,
                       video_format: Optional[FrameSource] = None, labels: Optional[ClassLabels] = None,
                       single_target: bool = False) -> None:
        """Consume ``steps`` (each frame, None without images, and its tracks) of sequence ``name``.

        ``num_frames`` (0: unknown) sizes the progress bar; ``video_format`` gives the MP4's
        frame rate and size (None: no MP4); ``labels`` relabel the tracks' classes (None:
        written as they are); a single-target sequence's txt is in the SOT result format.
        """
        with contextlib.ExitStack() as stack:
            video_path = writer = None
            if self.video and video_format is not None:
                video_path = stack.enter_context(temporary_path(self._path(name, "mp4")))
                writer = VideoWriter(video_path, video_format.frame_rate, video_format.width, video_format.height)
            tracks_per_frame = self._track(name, steps, num_frames, writer, labels)
            if tracks_per_frame:  # else stopped before the first frame: nothing to write
                with _ctrl_c_deferred():
                    self._write_files(name, tracks_per_frame, video_path, labels, single_target)

    def _path(self, stem: str, kind: str) -> str:
        return os.path.join(self.folder, f"{stem}.{kind}")

    def _track(self, name: str, steps, num_frames: int, writer: Optional[VideoWriter],
               labels: Optional[ClassLabels]) -> List[Tracks]:
        """Each frame's tracks until the end, ``max_frames`` or Ctrl-C, the frames drawn into ``writer``."""
        painter = TrackPainter(self.trail_length, labels.names if labels else None)
        total = min(num_frames or math.inf, self.max_frames or math.inf)
        tracks_per_frame = []
        try:
            with writer or contextlib.nullcontext(), \
                    tqdm(total=None if math.isinf(total) else total, desc=name, unit="frame", disable=None) as progress:
                for frame, tracks in itertools.islice(steps, self.max_frames):
                    tracks_per_frame.append(tracks)
                    if writer is not None:
                        writer.write(painter.draw(frame, tracks, len(tracks_per_frame)))
                    progress.update()
        except KeyboardInterrupt:
            self.interrupted = True
        return tracks_per_frame

    def _write_files(self, name: str, tracks_per_frame: List[Tracks], video_path: Optional[str],
                     labels: Optional[ClassLabels], single_target: bool) -> None:
        """The files of sequence ``name`` (``NAME.partial.*`` after Ctrl-C): the txt, csv and
        json replace earlier ones all together, or none does; then the MP4 is renamed into
        place and the other, stale ``NAME.partial.*`` files are removed."""
        stem = f"{name}.{PARTIAL}" if self.interrupted else name
        if labels is not None:
            tracks_per_frame = [labels.relabel(tracks) for tracks in tracks_per_frame]
        entries = frame_entries(tracks_per_frame, labels.names_by_id if labels else {})
        paths = [self._path(stem, kind) for kind in ("txt", "csv", "json")]
        with contextlib.ExitStack() as stack:
            text_path, csv_path, json_path = (stack.enter_context(atomic_path(path)) for path in paths)
            if single_target:
                targets = [sot_output(tracks) for tracks in tracks_per_frame]
                boxes = [[math.nan] * 4 if t["sot_box"] is None else t["sot_box"] for t in targets]
                write_sot_results(text_path, SOTSequence(name, boxes, [t["sot_confidence"] for t in targets]))
            else:
                write_mot_results(text_path, tracks_to_sequence(tracks_per_frame, name, len(tracks_per_frame)))
            write_tracks_csv(csv_path, entries)
            write_tracks_json(json_path, entries)
        if video_path is not None:
            paths.insert(0, self._path(stem, "mp4"))
            os.replace(video_path, paths[0])
        for kind in RESULT_KINDS:
            stale = self._path(f"{name}.{PARTIAL}", kind)
            if stale not in paths:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(stale)
        self._record(name, tracks_per_frame, paths)

    def _record(self, name: str, tracks_per_frame: List[Tracks], paths: List[str]) -> None:
        """Count the written sequence ``name``; warn when no frame of it has a track."""
        if any(len(tracks) for tracks in tracks_per_frame):
            self.tracked_any = True
        else:
            print(f"warning: {name}: no track in any of its {len(tracks_per_frame)} frames (are all its "
                  "detections below the tracker's thresholds?)", file=sys.stderr)
        if self.interrupted:
            self.partial = (name, len(tracks_per_frame), paths)
        else:
            self.complete.append(name)
            self.written += paths

    def summary(self) -> str:
        """One line: what was written where; after Ctrl-C, what is complete and what partial."""
        count = len(self.complete)
        line = (f"wrote {_describe_files(self.written)} for {count}{' complete' if self.interrupted else ''} "
                f"sequence{'s' if count != 1 else ''} to {self.folder}")
        if not self.interrupted:
            return line
        if self.partial is not None:
            name, frames, paths = self.partial
            line += (f", and the first {frames} frame{'s' if frames != 1 else ''} of {name} as "
                     f"{', '.join(os.path.basename(path) for path in paths)}")
        return f"stopped by Ctrl-C; {line}"

    @property
    def exit_status(self) -> int:
        """130 after Ctrl-C; 3 when no frame of any sequence has a track; else 0."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        return 0 if self.tracked_any else EXIT_EMPTY


def _describe_files(paths: Sequence[str]) -> str:
    kinds = sorted({os.path.splitext(path)[1][1:] for path in paths}, key=RESULT_KINDS.index)
    return f"{len(paths)} files ({', '.join(kinds) or 'none'})"


@contextlib.contextmanager
def _ctrl_c_deferred() -> Iterator[None]:
    """Ctrl-C pressed during the block raises ``KeyboardInterrupt`` when the block ends, so
    that the files being written are finished (only the main thread handles signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pressed = []
    previous = signal.signal(signal.SIGINT, lambda *_: pressed.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pressed:
        raise KeyboardInterrupt


def check_output_names(names: Sequence[str]) -> None:
    """Refuse two sequences whose results would share a file name (names that differ only
    in case do on the file systems that ignore case)."""
    seen: Dict[str, str] = {}
    for name in names:
        other = seen.setdefault(name.casefold(), name)
        if other != name:
            raise InputError(f"sequences {other} and {name} map to one output name on file systems that ignore "
                             "case; rename one of them")


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
        cfg, model = load_model(args.config_file, args.opts)
        params = parse_param_strings([*cfg.TRACKER.PARAMS, *args.param])
        frame_rate = tracker_frame_rate(params, args.frame_rate)
        video_tracker = VideoTracker(cfg, model, params)
        labels = ClassLabels.of_config(cfg)
        for source, init_box in zip(sources, init_boxes):
            with source:
                steps = video_tracker.track(source, frame_rate or source.frame_rate, init_box)
                outputs.write_sequence(source.name, steps, source.num_frames, source, labels,
                                       video_tracker.single_target)
            if outputs.interrupted:
                return


def track_public(det_dir: str, outputs: TrackOutputs, tracker_name: str, params: dict,
                 frame_rate: Optional[float] = None) -> None:
    """Public mode: the ``det/det.txt`` of the sequence folder ``det_dir`` (or of every
    sequence folder in it) through a tracker, drawn on the sequence's images when it has
    them and ``outputs.video`` is on (else no image is read). Every det.txt is read and
    checked, and every tracker built, before the output folder is locked and written."""
    params = dict(params)
    tracker_rate = tracker_frame_rate(params, frame_rate)
    seq_dirs = [det_dir] if os.path.isfile(os.path.join(det_dir, "seqinfo.ini")) else find_sequences(det_dir)
    check_output_names([folder_name(seq_dir) for seq_dir in seq_dirs])
    sequences = []
    for seq_dir in seq_dirs:
        info = read_seqinfo(seq_dir)
        images = open_frames(seq_dir, frame_rate) if outputs.video and os.path.isfile(info.image_path(1)) else None
        tracker = build_tracker_for_video(tracker_name, tracker_rate or info.frame_rate, **params)
        sequences.append((folder_name(seq_dir), info, list(public_detections(info)), images, tracker))
    with outputs.locked():
        for name, info, records, images, tracker in sequences:
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
                raise InputError("config overrides (KEY VALUE) and --init-box need a model (--config-file); "
                                 "--tracker tracks public detections")
            else:
                track_public(args.input, outputs, args.tracker, parse_param_strings(args.param), args.frame_rate)
    except KeyboardInterrupt:  # between sequences or before the first: what was written stays
        outputs.interrupted = True
    print(outputs.summary())
    return outputs.exit_status
