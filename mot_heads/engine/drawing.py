"""Drawing tracks on frames: a box and label in each identity's colour, and its trail."""
import colorsys
from collections import deque
from typing import Deque, Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

from trackers import Tracks

_GOLDEN_RATIO_CONJUGATE = 0.618033988749895
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def track_color(track_id: int) -> Tuple[int, int, int]:
    """The BGR colour of ``track_id``: a function of the id alone.

    The hue steps by the golden ratio from one id to the next, so consecutive ids get
    far-apart hues and no two ids among the first hundreds share a colour.
    """
    hue = (int(track_id) * _GOLDEN_RATIO_CONJUGATE) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return int(round(b * 255)), int(round(g * 255)), int(round(r * 255))


def _text_color(background: Tuple[int, int, int]) -> Tuple[int, int, int]:
    """Black on light backgrounds, white on dark ones (BT.601 luma)."""
    b, g, r = background
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 140 else (255, 255, 255)


class TrackPainter:
    """Draws each frame's :class:`~trackers.Tracks` on a copy of the frame.

    Every track gets a rectangle and a filled label ("<id>", or "<id> <class name>" when
    ``class_names`` has more than one entry) in :func:`track_color` of its id, and a
    trail: a polyline through the bottom centres of its last ``trail_length`` boxes (the
    point where a pedestrian or a car meets the ground, so the trail is its path on the
    ground; 0 draws no trail). Trails are drawn for the tracks in the current frame; an
    id unseen for more than ``trail_length`` frames is forgotten, so memory stays
    bounded. One painter follows one sequence: call :meth:`draw` once per frame, in
    order, and :meth:`reset` before the next sequence.
    """

    def __init__(self, trail_length: int = 20, class_names: Optional[Sequence[str]] = None):
        if trail_length < 0:
            raise ValueError(f"trail_length must be >= 0, got {trail_length}")
        self.trail_length = trail_length
        self.class_names = list(class_names) if class_names is not None and len(class_names) > 1 else None
        self.reset()

    def reset(self) -> None:
        """Forget all trails and restart the frame count."""
        self._frame = 0
        self._trails: Dict[int, Deque[Tuple[int, int]]] = {}
        self._last_seen: Dict[int, int] = {}

    @property
    def trails(self) -> Dict[int, np.ndarray]:
        """The remembered trail of each id, as (K, 2) int arrays of x, y, oldest first."""
        return {i: np.array(points, dtype=np.int64).reshape(-1, 2) for i, points in self._trails.items()}

    def draw(self, frame: np.ndarray, tracks: Tracks, frame_index: Optional[int] = None) -> np.ndarray:
        """A copy of the BGR ``frame`` with ``tracks`` drawn; with ``frame_index``, also
        the text "frame <frame_index>" in the top-left corner."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"expected a BGR uint8 (H, W, 3) frame, got {frame.dtype} {frame.shape}")
        self._frame += 1
        canvas = frame.copy()
        # Lines and text grow with the frame: boxes 2 px wide at 540p, 4 px at 1080p.
        scale = max(frame.shape[0] / 1080.0, 0.35)
        thickness = max(int(round(4 * scale)), 1)
        boxes = np.round(tracks.boxes).astype(np.int64)
        feet = np.stack([(boxes[:, 0] + boxes[:, 2]) // 2, boxes[:, 3]], axis=1)
        for track_id, box, foot, cls in zip(tracks.track_ids.tolist(), boxes.tolist(), feet.tolist(),
                                            tracks.classes.astype(np.int64).tolist()):
            color = track_color(track_id)
            trail = self._extend_trail(track_id, tuple(foot))
            if len(trail) > 1:
                cv2.polylines(canvas, [np.array(trail, np.int32)], False, color, thickness, cv2.LINE_AA)
            cv2.rectangle(canvas, tuple(box[:2]), tuple(box[2:]), color, thickness)
            _put_label(canvas, self._label(track_id, cls), box[0], box[1], color, scale)
        self._forget_stale()
        if frame_index is not None:
            _put_label(canvas, f"frame {frame_index}", 0, 0, (0, 0, 0), scale)
        return canvas

    def _label(self, track_id: int, cls: int) -> str:
        if self.class_names is None:
            return str(track_id)
        if not 0 <= cls < len(self.class_names):
            raise ValueError(f"track {track_id} has class {cls}, expected 0..{len(self.class_names) - 1} "
                             f"(class_names: {self.class_names})")
        return f"{track_id} {self.class_names[cls]}"

    def _extend_trail(self, track_id: int, point: Tuple[int, int]) -> Deque[Tuple[int, int]]:
        trail = self._trails.setdefault(track_id, deque(maxlen=self.trail_length))
        trail.append(point)
        self._last_seen[track_id] = self._frame
        return trail

    def _forget_stale(self) -> None:
        stale = [i for i, seen in self._last_seen.items() if self._frame - seen > self.trail_length]
        for track_id in stale:
            del self._trails[track_id], self._last_seen[track_id]


def _put_label(image: np.ndarray, text: str, x: int, y: int, color: Tuple[int, int, int], scale: float) -> None:
    """``text`` on a filled ``color`` box whose bottom-left is (x, y), moved down inside
    the image when there is no room above."""
    x = max(x, 0)
    font_scale = 1.2 * scale
    thickness = max(int(round(2 * scale)), 1)
    (width, height), baseline = cv2.getTextSize(text, _FONT, font_scale, thickness)
    pad = max(thickness, 2)
    top = max(y - height - baseline - 2 * pad, 0)
    bottom = top + height + baseline + 2 * pad
    cv2.rectangle(image, (x, top), (x + width + 2 * pad, bottom), color, cv2.FILLED)
    cv2.putText(image, text, (x + pad, bottom - baseline - pad), _FONT, font_scale, _text_color(color),
                thickness, cv2.LINE_AA)
