"""The result files of tracking sequences into one folder, as ``mot track`` writes them.

For every sequence NAME the folder receives NAME.mp4 (the frames with each track drawn;
optional), NAME.txt (MOTChallenge results, or for a single target one
"x,y,w,h,confidence" line a frame), NAME.csv and NAME.json (:mod:`.track_files`).
Each file appears under its name only once it is complete. Ctrl-C ends the sequence in
progress, whose frames so far are written as NAME.partial.*; a complete NAME.* of an
earlier run is never replaced by a partial result, and the next complete run of NAME
removes NAME.partial.*. Ctrl-C while a sequence's files are written takes effect once
they are. One run at a time writes into a folder (:class:`~mot_heads.files.FolderLock`).
"""
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

from trackers import Tracks

from ..errors import InputError
from ..evaluation.mot_files import write_mot_results
from ..evaluation.sot_files import SOTSequence, write_sot_results
from ..files import FolderLock, atomic_path, temporary_path, writable_folder
from .drawing import TrackPainter
from .drivers import sot_output
from .track_files import frame_entries, write_tracks_csv, write_tracks_json
from .tracking import tracks_to_sequence
from .video_io import FrameSource, VideoWriter

DEFAULT_TRAIL_LENGTH = 20
RESULT_KINDS = ("mp4", "txt", "csv", "json")
PARTIAL = "partial"  # NAME.partial.*: the frames of the sequence Ctrl-C stopped
EXIT_EMPTY, EXIT_INTERRUPTED = 3, 130


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
