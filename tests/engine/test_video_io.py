"""Video input/output (mot_heads.engine.video_io) and track drawing (mot_heads.engine.drawing)."""
import os

import cv2
import numpy as np
import pytest

from mot_heads.engine.drawing import TrackPainter, track_color
from mot_heads.engine.video_io import DEFAULT_FRAME_RATE, VideoWriter, open_frames
from trackers import Tracks

from ..conftest import write_sequence


def write_video(path, num_frames=5, width=64, height=48, frame_rate=12.0):
    with VideoWriter(str(path), frame_rate, width, height) as writer:
        for i in range(num_frames):
            writer.write(np.full((height, width, 3), 40 * i, np.uint8))
    return writer


def write_images(folder, names, shape=(24, 32, 3)):
    os.makedirs(folder, exist_ok=True)
    for value, name in enumerate(names):
        cv2.imwrite(os.path.join(folder, name), np.full(shape, 20 * value, np.uint8))


def tracks(ids, boxes, classes=None):
    n = len(ids)
    return Tracks(np.array(ids), np.array(boxes, float).reshape(n, 4), np.ones(n),
                  np.zeros(n, np.int64) if classes is None else np.array(classes))


def test_video_round_trip(tmp_path):
    path = tmp_path / "out" / "clip.mp4"
    assert write_video(path, num_frames=5).frames_written == 5
    with open_frames(str(path)) as source:
        frames = list(source)
        assert (source.name, source.num_frames, source.width, source.height) == ("clip", 5, 64, 48)
        assert source.frame_rate == pytest.approx(12.0)
        assert len(list(source)) == 5  # each iteration starts again from the first frame
    assert len(frames) == 5
    assert all(f.shape == (48, 64, 3) and f.dtype == np.uint8 for f in frames)
    assert np.abs(frames[3].astype(int) - 120).mean() < 5  # mp4v is lossy
    assert open_frames(str(path), frame_rate=7).frame_rate == 7


def test_writer_checks_frames_and_path(tmp_path):
    with VideoWriter(str(tmp_path / "a.mp4"), 10, 32, 24) as writer:
        with pytest.raises(ValueError, match="a.mp4: frame 1 is uint8 \\(24, 30, 3\\)"):
            writer.write(np.zeros((24, 30, 3), np.uint8))
        with pytest.raises(ValueError, match="expected uint8"):
            writer.write(np.zeros((24, 32, 3), np.float32))
    with pytest.raises(OSError, match=str(tmp_path)):
        VideoWriter(str(tmp_path), 10, 32, 24)  # a folder cannot be opened as a file


def test_image_folder_natural_order(tmp_path):
    folder = tmp_path / "shots"
    write_images(str(folder), ["1.jpg", "2.png", "10.jpg"])
    (folder / "notes.txt").write_text("not an image")
    with open_frames(str(folder)) as source:
        assert (source.name, source.num_frames, source.width, source.height) == ("shots", 3, 32, 24)
        assert source.frame_rate == DEFAULT_FRAME_RATE
        means = [f.mean() for f in source]
    assert np.allclose(means, [0, 20, 40], atol=2)  # 1, 2, 10 rather than 1, 10, 2
    assert open_frames(str(folder), frame_rate=5.0).frame_rate == 5.0


def test_motchallenge_folder(tmp_path):
    seq = write_sequence(tmp_path, "MOT-X", length=4)
    with open_frames(seq) as source:
        assert (source.name, source.frame_rate, source.num_frames) == ("MOT-X", 10.0, 4)
        assert (source.width, source.height) == (64, 48)
        assert sum(1 for _ in source) == 4


def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.mp4: no such file"):
        open_frames(str(tmp_path / "nothing.mp4"))


def test_unreadable_video(tmp_path):
    path = tmp_path / "x.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match="x.mp4: could not be read as a video"):
        open_frames(str(path))


def test_empty_folder(tmp_path):
    with pytest.raises(ValueError, match=f"{tmp_path}: no images"):
        open_frames(str(tmp_path))


def test_undecodable_image(tmp_path):
    write_images(str(tmp_path), ["1.jpg"])
    (tmp_path / "2.jpg").write_bytes(b"not a jpeg")
    source = open_frames(str(tmp_path))
    with pytest.raises(ValueError, match="2.jpg: could not be decoded"):
        list(source)


def test_changing_frame_size(tmp_path):
    write_images(str(tmp_path), ["1.jpg"])
    write_images(str(tmp_path), ["2.jpg"], shape=(30, 32, 3))
    with pytest.raises(ValueError, match="2.jpg: image is 32x30, expected 32x24"):
        list(open_frames(str(tmp_path)))


def test_track_color_stable_and_distinct():
    colors = [track_color(i) for i in range(1, 51)]
    assert colors == [track_color(i) for i in reversed(range(1, 51))][::-1]
    assert len(set(colors)) == 50
    assert all(isinstance(c, int) and 0 <= c <= 255 for color in colors for c in color)
    # consecutive ids differ strongly
    assert min(np.abs(np.subtract(a, b)).max() for a, b in zip(colors, colors[1:])) > 60


def test_painter_draws_box_in_id_color_on_a_copy():
    frame = np.zeros((120, 160, 3), np.uint8)
    drawn = TrackPainter().draw(frame, tracks([7], [[20, 30, 80, 100]]), frame_index=1)
    assert not frame.any()
    color = track_color(7)
    for y, x in ((65, 20), (65, 80), (100, 50)):  # left, right, bottom edges
        assert tuple(drawn[y, x]) == color
    assert not drawn[65, 50].any()  # the inside is left alone
    assert drawn[:10, :10].any()  # the frame index


def test_painter_labels_class_names_only_for_several_classes():
    frame = np.zeros((120, 160, 3), np.uint8)
    one = TrackPainter(class_names=["person"]).draw(frame, tracks([1], [[20, 40, 60, 100]]))
    plain = TrackPainter().draw(frame, tracks([1], [[20, 40, 60, 100]]))
    named = TrackPainter(class_names=["person", "car"]).draw(frame, tracks([1], [[20, 40, 60, 100]], [1]))
    assert np.array_equal(one, plain)
    assert (named != plain).any()
    with pytest.raises(ValueError, match="class 2, expected 0..1"):
        TrackPainter(class_names=["person", "car"]).draw(frame, tracks([1], [[20, 40, 60, 100]], [2]))


def test_trails_are_bounded_and_forgotten():
    painter = TrackPainter(trail_length=3)
    frame = np.zeros((60, 80, 3), np.uint8)
    for step in range(5):
        painter.draw(frame, tracks([1, 2], [[step, 0, step + 10, 20], [40, 0, 50, 20]]))
    assert painter.trails[1].tolist() == [[7, 20], [8, 20], [9, 20]]  # bottom centres, last 3
    for _ in range(3):
        painter.draw(frame, tracks([2], [[40, 0, 50, 20]]))
    assert 1 in painter.trails  # unseen for exactly trail_length frames: kept
    painter.draw(frame, Tracks.empty())
    assert 1 not in painter.trails and 2 in painter.trails
    painter.reset()
    assert painter.trails == {}


def test_trail_is_drawn():
    painter = TrackPainter(trail_length=5)
    frame = np.zeros((100, 100, 3), np.uint8)
    painter.draw(frame, tracks([3], [[0, 10, 20, 40]]))
    drawn = painter.draw(frame, tracks([3], [[60, 10, 80, 40]]))
    assert drawn[40, 40].any()  # between the two bottom centres (10, 40) and (70, 40)
