"""Tracking whole sequences into a :class:`~.track_outputs.TrackOutputs` folder: frame
sources through a model (:class:`~.video_tracking.VideoTracker`), or the public
detections (``det/det.txt``) of MOTChallenge sequences through a tracker."""
import dataclasses
import itertools
import os
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np

from trackers import Tracks, build_tracker_for_video

from ..data.mot_challenge import find_sequences, read_seqinfo
from ..errors import InputError
from .track_outputs import ClassLabels, TrackOutputs, check_output_names
from .tracking import public_detections
from .video_io import FrameSource, folder_name, open_frames
from .video_tracking import VideoTracker


def track_sources(video_tracker: VideoTracker, sources: Sequence[FrameSource],
                  init_boxes: Sequence[Optional[Sequence[float]]], outputs: TrackOutputs, labels: ClassLabels,
                  frame_rate: Optional[float] = None) -> None:
    """Each source (with its single target's first-frame box, or None) through
    ``video_tracker`` into ``outputs``, until all are done or Ctrl-C; the tracker runs at
    ``frame_rate``, else at each source's. With public detections, every source's
    det/det.txt is read and checked first."""
    given = [sequence_detections(s) if video_tracker.public_detections else None for s in sources]
    for source, init_box, boxes in zip(sources, init_boxes, given):
        with source:
            steps = video_tracker.track(source, frame_rate or source.frame_rate, init_box, boxes)
            outputs.write_sequence(source.name, steps, source.num_frames, source, labels, video_tracker.single_target)
        if outputs.interrupted:
            return


def sequence_detections(source: FrameSource) -> List[np.ndarray]:
    """The public detections (det/det.txt) of the MOTChallenge sequence ``source``
    reads: (K, 4) x1, y1, x2, y2 pixels a frame."""
    if source.sequence_dir is None:
        raise InputError(f"{source.name}: public detections come from a MOTChallenge sequence folder's det/det.txt; "
                         "this input is not a sequence folder (seqinfo.ini)")
    return [record.boxes for record in public_detections(read_seqinfo(source.sequence_dir))]


def track_public(det_dir: str, outputs: TrackOutputs, tracker_name: str, params: dict,
                 frame_rate: Optional[float] = None, tracker_rate: Optional[float] = None) -> None:
    """The ``det/det.txt`` of the sequence folder ``det_dir`` (or of every sequence folder
    in it) through a tracker, drawn on the sequence's images when it has them and
    ``outputs.video`` is on (else no image is read). ``frame_rate`` is the images' (default:
    seqinfo.ini's), ``tracker_rate`` the tracker's (default: seqinfo.ini's). Every det.txt
    is read and checked, and every tracker built, before the output folder is locked and
    written."""
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
