"""The seam between models and trackers: one record per frame in, one per frame out.

A model's per-frame output (or a line group of a MOTChallenge ``det.txt``) becomes a
:class:`Detections`; a tracker's ``update`` returns the :class:`Tracks` visible in that
frame. Both hold plain numpy arrays, boxes as x1, y1, x2, y2 in 0-based pixels.

``Detections.extras`` carries what only some methods produce, by these names:

- ``occlusion_centers`` (K, 2) x, y and ``occlusion_scores`` (K,): OUTrack's occlusion
  estimation peaks;
- ``track_ids`` (T,), ``track_boxes`` (T, 4) xyxy and ``track_scores`` (T,): boxes that
  the model itself propagated for live tracks (SiamMOT), with their visibility scores.

Arrays in ``extras`` are per frame, not per detection; trackers that need a field check
for it and say which one is missing.
"""
from dataclasses import dataclass, field
from typing import Dict, Optional

import numpy as np


class RecordError(ValueError):
    """A per-frame record that breaks the contract; the message says which field and row."""


def _check_boxes(boxes: np.ndarray, what: str) -> None:
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise RecordError(f"{what}: expected an (N, 4) array of x1, y1, x2, y2, got shape {boxes.shape}")
    bad = ~np.isfinite(boxes).all(axis=1)
    if bad.any():
        raise RecordError(f"{what}: row {int(np.argmax(bad))} is not finite: {boxes[bad][0].tolist()}")
    inverted = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    if inverted.any():
        raise RecordError(
            f"{what}: row {int(np.argmax(inverted))} has x2 < x1 or y2 < y1: {boxes[inverted][0].tolist()}"
        )


def _check_length(array: np.ndarray, n: int, what: str) -> None:
    if array.ndim != 1 or len(array) != n:
        raise RecordError(f"{what}: expected shape ({n},) to match the boxes, got {array.shape}")


@dataclass
class Detections:
    """What a tracker receives for one frame.

    boxes: (N, 4) float x1, y1, x2, y2; scores: (N,) in [0, 1]; classes: (N,) int >= 0
    (contiguous category ids); embeddings: optional (N, D) appearance features;
    extras: optional per-frame arrays (see the module docstring).
    Construction checks shapes, finiteness and box orientation, and raises
    :class:`RecordError` naming the bad row.
    """

    boxes: np.ndarray
    scores: np.ndarray
    classes: Optional[np.ndarray] = None
    embeddings: Optional[np.ndarray] = None
    extras: Dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self):
        self.boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        n = len(self.boxes)
        _check_boxes(self.boxes, "Detections.boxes")
        self.scores = np.asarray(self.scores, dtype=np.float64)
        _check_length(self.scores, n, "Detections.scores")
        if not np.isfinite(self.scores).all():
            raise RecordError(f"Detections.scores: row {int(np.argmax(~np.isfinite(self.scores)))} is not finite")
        self.classes = np.zeros(n, np.int64) if self.classes is None else np.asarray(self.classes)
        _check_length(self.classes, n, "Detections.classes")
        if n and (self.classes.dtype.kind not in "iu" or self.classes.min() < 0):
            raise RecordError(f"Detections.classes: expected non-negative integer class ids, got {self.classes}")
        self.classes = self.classes.astype(np.int64)
        if self.embeddings is not None:
            self.embeddings = np.asarray(self.embeddings, dtype=np.float64)
            if self.embeddings.ndim != 2 or len(self.embeddings) != n:
                raise RecordError(
                    f"Detections.embeddings: expected shape ({n}, D) to match the boxes, got {self.embeddings.shape}"
                )
            if not np.isfinite(self.embeddings).all():
                raise RecordError("Detections.embeddings: contains NaN or infinite values")

    def __len__(self) -> int:
        return len(self.boxes)

    def select(self, keep: np.ndarray) -> "Detections":
        """The detections at the indices or boolean mask ``keep``; extras are kept whole."""
        keep = np.asarray(keep)
        if keep.dtype == bool and keep.all():
            return self
        return Detections(
            self.boxes[keep], self.scores[keep], self.classes[keep],
            None if self.embeddings is None else self.embeddings[keep], self.extras,
        )

    def require_extra(self, name: str) -> np.ndarray:
        """The extra field ``name``, or a RecordError saying which tracker needs it."""
        if name not in self.extras:
            raise RecordError(f"Detections.extras: this tracker needs {name!r}, the record has {sorted(self.extras)}")
        return self.extras[name]


@dataclass
class Tracks:
    """What a tracker returns for one frame: the tracks it reports as visible.

    track_ids: (N,) int >= 1; boxes: (N, 4) x1, y1, x2, y2; scores: (N,); classes: (N,).
    """

    track_ids: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray

    def __len__(self) -> int:
        return len(self.track_ids)

    @staticmethod
    def empty() -> "Tracks":
        return Tracks(np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64))
