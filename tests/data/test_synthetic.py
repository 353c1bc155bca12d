import filecmp
import os
from dataclasses import replace

import cv2
import numpy as np
import pytest

from mot_heads.data import load_mot_folder
from mot_heads.data.synthetic import (
    SyntheticObject,
    SyntheticSequence,
    generate_dataset,
    render_frame,
    shape_area,
)


def _car(track_id, x, depth, color):
    return SyntheticObject(
        track_id=track_id, category=1, center=np.array([x, 20.0]), velocity=np.zeros(2),
        size=np.array([40.0, 20.0]), depth=depth, colors=np.array([color, color], np.uint8),
        stripe_period=1.0,
    )


def test_visibility_of_a_hand_made_occlusion():
    # Car A (front) covers the left half of car B; car C leaves the frame by half.
    background = np.zeros((100, 200, 3), np.uint8)
    a = _car(1, 30.0, depth=0.9, color=(0, 0, 255))
    b = _car(2, 50.0, depth=0.1, color=(0, 255, 0))
    c = _car(3, 200.0, depth=0.5, color=(255, 0, 0))
    image, owner, visibility = render_frame(background, [a, b, c], np.zeros(2), (200, 100))
    np.testing.assert_allclose(visibility, [1.0, 0.5, 0.5])
    # B's hidden half shows A's colour, its visible half its own.
    assert (image[15, 35] == (0, 0, 255)).all() and (image[15, 65] == (0, 255, 0)).all()
    assert owner[15, 35] == 0 and owner[15, 65] == 1 and owner[15, 195] == 2
    assert shape_area(1, a.box(np.zeros(2))) == 800


def test_ellipse_area_matches_pi_r_r():
    assert shape_area(0, np.array([0.0, 0.0, 40.0, 100.0])) == pytest.approx(np.pi * 20 * 50, rel=0.01)


def test_gt_visibility_matches_rendered_occlusion(tiny_synthetic):
    config = replace(tiny_synthetic, pixel_noise=0.0, num_frames=30)
    sequence = SyntheticSequence(config, [7, 0, 0])
    partial = 0
    for _, owner, gt, _ in sequence.frames():
        ids = {obj.track_id: i for i, obj in enumerate(sequence.objects)}
        for row in gt:
            index = ids[row[1]]
            x1, y1 = int(np.floor(row[2] - 1)), int(np.floor(row[3] - 1))
            # visible pixels lie inside the object's box
            ys, xs = np.nonzero(owner == index)
            if len(xs):
                assert xs.min() >= x1 and ys.min() >= y1
            obj = sequence.objects[index]  # the whole shape, also outside the frame
            area = shape_area(obj.category, obj.box(np.round(sequence.camera)))
            assert row[8] == pytest.approx(len(xs) / area, abs=1e-6)
            partial += 0 < row[8] < 1
    assert partial > 10, "the set must contain partly occluded or truncated objects"


def test_generation_is_deterministic(tmp_path, synthetic_root, tiny_synthetic):
    again = str(tmp_path / "again")
    generate_dataset(again, tiny_synthetic)
    for split_seq in ("train/synth-train-00", "val/synth-val-00"):
        for rel in ("gt/gt.txt", "det/det.txt", "seqinfo.ini", "img1/000005.jpg"):
            assert filecmp.cmp(os.path.join(synthetic_root, split_seq, rel), os.path.join(again, split_seq, rel),
                               shallow=False)
    other = str(tmp_path / "other")
    generate_dataset(other, replace(tiny_synthetic, seed=4))
    assert not filecmp.cmp(os.path.join(synthetic_root, "train/synth-train-00/gt/gt.txt"),
                           os.path.join(other, "train/synth-train-00/gt/gt.txt"), shallow=False)


def test_regeneration_is_skipped_and_foreign_folders_are_kept(tmp_path, synthetic_root, tiny_synthetic):
    stamp = os.path.getmtime(os.path.join(synthetic_root, "train/synth-train-00/gt/gt.txt"))
    generate_dataset(synthetic_root, tiny_synthetic)
    assert os.path.getmtime(os.path.join(synthetic_root, "train/synth-train-00/gt/gt.txt")) == stamp
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    with pytest.raises(FileExistsError, match="holds no synthetic.json"):
        generate_dataset(str(tmp_path / "mine"), tiny_synthetic)


def test_set_reads_back_with_motion_classes_and_turnover(synthetic_root, tiny_synthetic):
    dicts = load_mot_folder(os.path.join(synthetic_root, "train"), class_map={1: 0, 2: 1})
    assert len(dicts) == tiny_synthetic.train_sequences * tiny_synthetic.num_frames
    annotations = [a for d in dicts for a in d["annotations"]]
    assert {a["category_id"] for a in annotations} == {0, 1}
    image = cv2.imread(dicts[0]["file_name"])
    assert image.shape == (tiny_synthetic.height, tiny_synthetic.width, 3)
    # tracks move, and the set of identities changes (objects enter and leave)
    per_video = {}
    for d in dicts:
        per_video.setdefault(d["video_id"], []).append({a["track_id"]: a["bbox"] for a in d["annotations"]})
    moved = 0
    for frames in per_video.values():
        first, last = frames[0], frames[-1]
        moved += sum(np.abs(np.subtract(first[t][:2], last[t][:2])).max() > 3 for t in set(first) & set(last))
    assert moved > 0
    long_config = replace(tiny_synthetic, num_frames=120, pixel_noise=0.0)
    ids_per_frame = [{row[1] for row in gt} for _, _, gt, _ in SyntheticSequence(long_config, [1, 0, 0]).frames()]
    assert ids_per_frame[-1] - ids_per_frame[0], "new objects must enter"
    assert ids_per_frame[0] - ids_per_frame[-1], "objects must leave"


def test_a_sliver_narrower_than_the_written_precision_is_left_out_of_the_gt(tiny_synthetic):
    """An object 2e-5 px inside the frame would be written 0.0000 wide, which no reader
    accepts; 0.5 px inside it is a box."""
    config = replace(tiny_synthetic, num_frames=1, camera_motion=False, initial_objects=0, target_objects=0)
    sequence = SyntheticSequence(config, [3, 0, 0])
    for track_id, inside in ((1, 2e-5), (2, 0.5)):
        car = _car(track_id, -20.0 + inside, 0.5, (200, 0, 0))
        car.center = car.center + sequence.camera
        sequence.objects.append(car)
    (_, _, gt, _), = sequence.frames()
    assert [(row[1], round(row[4], 4)) for row in gt] == [(2, 0.5)]


def test_camera_motion_moves_the_background(tiny_synthetic):
    still = replace(tiny_synthetic, camera_motion=False, pixel_noise=0.0, initial_objects=0, target_objects=0)
    moving = replace(still, camera_motion=True)
    for config, should_move in ((still, False), (moving, True)):
        frames = [f[0] for f in SyntheticSequence(config, [2, 0, 0]).frames()]
        assert (not np.array_equal(frames[0], frames[-1])) == should_move


def test_gt_boxes_are_the_part_inside_the_frame(tiny_synthetic):
    config = replace(tiny_synthetic, num_frames=60, pixel_noise=0.0)
    rows = np.array([row for _, _, gt, _ in SyntheticSequence(config, [1, 0, 0]).frames() for row in gt])
    x, y, w, h, vis = rows[:, 2] - 1, rows[:, 3] - 1, rows[:, 4], rows[:, 5], rows[:, 8]
    assert (x >= 0).all() and (y >= 0).all() and (w > 0).all() and (h > 0).all()
    assert (x + w <= config.width + 1e-9).all() and (y + h <= config.height + 1e-9).all()
    at_border = (x == 0) | (x + w >= config.width - 1e-9)
    assert at_border.any() and (vis[at_border] < 1).any()  # entering or leaving: truncated
