"""Frames in from a video file, an image folder, a MOTChallenge sequence or a webcam; MP4 out.

    with open_frames("street.mp4") as source, \\
            VideoWriter("out/street.mp4", source.frame_rate, source.width, source.height) as out:
        for frame in source:          # BGR uint8 (H, W, 3)
            out.write(painter.draw(frame, tracks))

Bad input raises ``FileNotFoundError`` or :class:`~mot_heads.errors.InputError`
(``MOTFormatError`` for a broken seqinfo.ini) with the path and what was expected, so the
CLIs' ``exit_on_bad_input`` reports it in one line. A FIFO, a device or any other file
that is not a regular file is refused before it is opened (reading it could block).
"""
import contextlib
import math
import os
import re
from typing import Callable, Iterator, List, Optional, Union

import cv2
import numpy as np

from ..data.mot_challenge import check_images, find_sequences, read_seqinfo
from ..errors import InputError
from ..files import check_regular_file

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
# A plain image folder says nothing about time; 30 fps is the common camera rate.
DEFAULT_FRAME_RATE = 30.0
# FFmpeg's own log lines ("moov atom not found") would follow the one-line error on a file
# that is no video; OpenCV reads this once, when its FFmpeg backend opens its first file.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


def folder_name(folder: str) -> str:
    """The name of ``folder`` itself (``"."`` and trailing separators resolved)."""
    return os.path.basename(os.path.abspath(folder))


def natural_key(name: str) -> list:
    """Sort key that orders the digit runs of ``name`` as numbers ("2.jpg" before "10.jpg")."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


class FrameSource:
    """The frames of one sequence, with what a writer or a tracker needs to know about it.

    Attributes: ``name`` (the file stem, the folder's name, or ``webcam<index>``; results
    are named after it), ``frame_rate`` (fps),
    ``num_frames`` (for a video, the count its container declares, 0 when it declares
    none), ``width``, ``height``, ``sequence_dir`` (the MOTChallenge sequence folder it
    reads, None for other sources). Iterating yields BGR uint8 (H, W, 3) frames from the
    first one on, each time anew; ``close()`` (or leaving the ``with`` block) releases
    the iteration in progress. Build it with :func:`open_frames`.
    """

    def __init__(self, name: str, frame_rate: float, num_frames: int, width: int, height: int,
                 read_frames: Callable[[], Iterator[np.ndarray]]):
        self.name = name
        self.frame_rate = frame_rate
        self.num_frames = num_frames
        self.width = width
        self.height = height
        self.sequence_dir: Optional[str] = None
        self._read_frames = read_frames
        self._iteration: Optional[Iterator[np.ndarray]] = None

    def __iter__(self) -> Iterator[np.ndarray]:
        self.close()
        self._iteration = self._read_frames()
        return self._iteration

    def close(self) -> None:
        """Stop the iteration in progress, releasing its video capture."""
        if self._iteration is not None:
            self._iteration.close()
            self._iteration = None

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def is_webcam_index(source: str) -> bool:
    """Whether ``source`` names a webcam: all digits (``"0"``) and no such file or folder."""
    return source.isdigit() and not os.path.exists(source)


def open_frames(source: str, frame_rate: Optional[float] = None) -> FrameSource:
    """Open a video file, a folder of images, a MOTChallenge sequence folder or a webcam.

    A folder holding ``seqinfo.ini`` is a MOTChallenge sequence: its ``imDir`` images
    1..seqLength, its frameRate and size; it is named after the folder (as ``mot evaluate``
    names gt sequences), not seqinfo's ``name=``. Any other folder must hold images
    (.jpg, .jpeg, .png, .bmp), read in natural order of their names at
    ``DEFAULT_FRAME_RATE``. A webcam index (see :func:`is_webcam_index`) is opened with
    ``cv2.VideoCapture(int(source))`` and named ``webcam<index>``; its frames never end.
    Any other regular file is opened with ``cv2.VideoCapture`` as a video file.
    ``frame_rate``, when given, replaces the source's own rate. Images are decoded as
    they are iterated; a frame that fails to decode or whose size differs from the first
    (the seqinfo size for a sequence) raises an ``InputError`` naming the file.
    """
    if frame_rate is not None and not (math.isfinite(frame_rate) and frame_rate > 0):
        raise InputError(f"frame rate {frame_rate}: expected a positive finite number of frames per second")
    if is_webcam_index(source):
        opened = _open_capture(int(source), f"webcam{source}", f"webcam {source} could not be opened "
                               f"(cv2.VideoCapture({source}) gave no frame); expected the index of a connected camera")
    elif not os.path.exists(source):
        raise FileNotFoundError(
            f"{source}: no such file or folder; expected a video file, an image folder, a MOTChallenge sequence "
            "folder or a webcam index"
        )
    elif os.path.isfile(os.path.join(source, "seqinfo.ini")):
        opened = _open_sequence(source)
    elif os.path.isdir(source):
        opened = _open_image_folder(source)
    else:
        check_regular_file(source, "video file")
        opened = _open_capture(source, os.path.splitext(os.path.basename(source))[0],
                               f"{source}: could not be read as a video (cv2.VideoCapture gave no frame)")
    if frame_rate is not None:
        opened.frame_rate = float(frame_rate)
    return opened


def open_frame_sources(source: str, frame_rate: Optional[float] = None) -> List[FrameSource]:
    """The sources of ``source``: one per sequence folder when it is a folder of
    MOTChallenge sequence folders (no ``seqinfo.ini`` of its own), else
    ``[open_frames(source, frame_rate)]``."""
    if _holds_sequences(source):
        return [open_frames(folder, frame_rate) for folder in find_sequences(source)]
    return [open_frames(source, frame_rate)]


def _holds_sequences(folder: str) -> bool:
    """Whether ``folder`` holds MOTChallenge sequence folders rather than being one."""
    return (os.path.isdir(folder) and not os.path.isfile(os.path.join(folder, "seqinfo.ini"))
            and any(os.path.isfile(os.path.join(folder, name, "seqinfo.ini")) for name in os.listdir(folder)))


def _open_sequence(folder: str) -> FrameSource:
    info = read_seqinfo(folder)
    check_images(info, 1, info.seq_length)
    paths = [info.image_path(frame) for frame in range(1, info.seq_length + 1)]
    for path in paths:
        check_regular_file(path, "frame image")
    source = FrameSource(folder_name(folder), info.frame_rate, info.seq_length, info.width, info.height,
                         lambda: _read_images(paths, info.width, info.height))
    source.sequence_dir = folder
    return source


def _open_image_folder(folder: str) -> FrameSource:
    names = sorted(
        (n for n in os.listdir(folder)
         if n.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(folder, n))),
        key=natural_key,
    )
    if not names:
        raise InputError(
            f"{folder}: no images ({', '.join(IMAGE_EXTENSIONS)}) and no seqinfo.ini; expected an "
            f"image folder or a MOTChallenge sequence folder"
        )
    paths = [os.path.join(folder, n) for n in names]
    height, width = _read_image(paths[0]).shape[:2]
    return FrameSource(folder_name(folder), DEFAULT_FRAME_RATE, len(paths),
                       width, height, lambda: _read_images(paths, width, height))


def _read_image(path: str) -> np.ndarray:
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"{path}: could not be decoded as an image")
    return image


def _read_images(paths: List[str], width: int, height: int) -> Iterator[np.ndarray]:
    for path in paths:
        image = _read_image(path)
        if image.shape[:2] != (height, width):
            raise InputError(
                f"{path}: image is {image.shape[1]}x{image.shape[0]}, expected {width}x{height} "
                f"like the sequence's other frames"
            )
        yield image


@contextlib.contextmanager
def _quiet_opencv():
    """Silence OpenCV's log lines ("can't open camera by index") while probing a capture."""
    level = cv2.setLogLevel(0)  # 0: silent
    try:
        yield
    finally:
        cv2.setLogLevel(level)


def _open_capture(target: Union[str, int], name: str, unreadable: str) -> FrameSource:
    """A video file (path) or webcam (index) read with ``cv2.VideoCapture``; ``unreadable``
    is the error message when it gives no first frame."""
    with _quiet_opencv():
        capture = cv2.VideoCapture(target)
    try:
        ok, first = capture.read() if capture.isOpened() else (False, None)
        fps = capture.get(cv2.CAP_PROP_FPS)
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()
    if not ok:
        raise InputError(unreadable)
    frame_rate = fps if np.isfinite(fps) and fps > 0 else DEFAULT_FRAME_RATE
    return FrameSource(name, float(frame_rate), max(count, 0), first.shape[1], first.shape[0],
                       lambda: _read_video(target))


def _read_video(target: Union[str, int]) -> Iterator[np.ndarray]:
    capture = cv2.VideoCapture(target)
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            yield frame
    finally:
        capture.release()


class VideoWriter:
    """Writes BGR uint8 frames of one size to an MP4 file (fourcc mp4v).

    Creates the parent folder; raises ``OSError`` when OpenCV cannot open the file and
    ``ValueError`` for a frame of another size or type. ``frames_written`` counts the
    frames so far. Use it as a context manager, or call ``close()``.
    """

    def __init__(self, path: str, frame_rate: float, width: int, height: int):
        if not frame_rate > 0 or width <= 0 or height <= 0:
            raise ValueError(f"{path}: expected a positive frame rate and size, got {frame_rate} fps, {width}x{height}")
        self.path = path
        self.shape = (height, width, 3)
        self.frames_written = 0
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), float(frame_rate), (width, height))
        if not self._writer.isOpened():
            raise OSError(
                f"{path}: OpenCV could not open it for writing (MP4, fourcc mp4v, {width}x{height} at "
                f"{frame_rate} fps); expected a writable file path ending in .mp4"
            )

    def write(self, frame: np.ndarray) -> None:
        """Append one BGR uint8 frame of the writer's size."""
        if frame.shape != self.shape or frame.dtype != np.uint8:
            raise ValueError(
                f"{self.path}: frame {self.frames_written + 1} is {frame.dtype} {frame.shape}, expected uint8 "
                f"{self.shape} (BGR, the size the writer was opened with)"
            )
        self._writer.write(frame)
        self.frames_written += 1

    def close(self) -> None:
        """Finish the file."""
        self._writer.release()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
