"""Running a tracker over one sequence and collecting its tracks as MOTChallenge rows."""
import os
from typing import Iterable, Iterator

import numpy as np

from trackers import Detections, Tracker, Tracks

from ..data.mot_challenge import SequenceInfo, read_public_detections
from ..evaluation.mot_files import MOTSequence


def run_tracker(tracker: Tracker, records: Iterable[Detections], name: str, seq_length: int) -> MOTSequence:
    """Feed ``records`` (one per frame, frames 1, 2, ...) to a freshly reset ``tracker``."""
    tracker.reset()
    return tracks_to_sequence((tracker.update(d) for d in records), name, seq_length)


def tracks_to_sequence(tracks_per_frame: Iterable[Tracks], name: str, seq_length: int) -> MOTSequence:
    """The tracks of frames 1, 2, ... as MOTChallenge rows: 1-based x, y, w, h boxes and
    the tracks' class ids in the class column."""
    frames, ids, boxes, scores, classes = [], [], [], [], []
    count = 0
    for count, tracks in enumerate(tracks_per_frame, start=1):
        frames.append(np.full(len(tracks), count))
        ids.append(tracks.track_ids)
        boxes.append(np.concatenate([tracks.boxes[:, :2] + 1, tracks.boxes[:, 2:] - tracks.boxes[:, :2]], axis=1))
        scores.append(tracks.scores)
        classes.append(tracks.classes)
    if count != seq_length:
        raise ValueError(f"sequence {name}: the tracker got {count} frames, seqLength is {seq_length}")
    return MOTSequence(
        name=name, seq_length=seq_length, frames=np.concatenate(frames), ids=np.concatenate(ids),
        boxes=np.concatenate(boxes), scores=np.concatenate(scores), classes=np.concatenate(classes),
        visibility=np.full(sum(map(len, frames)), -1.0),
    )


def public_detections(info: SequenceInfo) -> Iterator[Detections]:
    """One record per frame from ``det/det.txt`` of a sequence (frames without lines
    give empty records); checks every line (see ``read_public_detections``)."""
    path = os.path.join(info.directory, "det", "det.txt")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: missing; public-detection tracking needs det/det.txt")
    for frame in read_public_detections(path, info.seq_length):
        yield Detections(frame[:, :4], frame[:, 4])
