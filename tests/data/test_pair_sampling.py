"""SiamMOT's training pairs (Sec. 4.2): video pairs within a time window, image pairs
made by crop + rescale + motion blur, one Detectron2 augmentation for both frames."""

import cv2
import numpy as np
import pytest
import torch
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, DatasetMapper
from detectron2.structures import BoxMode

from mot_heads import add_mot_config
from mot_heads.data import (
    ImagePairMapper,
    VideoPairMapper,
    build_mot_train_loader,
    register_mot_folder,
    register_synthetic,
)
from mot_heads.data.pair_sampling import (
    MotionBlurTransform,
    RandomCropZoom,
    crop_and_resize,
    motion_blur_kernel,
    zoom_annotations,
)

from ..conftest import write_sequence

# A 64x48 video at 10 fps: object 1 stands still, object 2 moves right with visibility
# frame / 10, object 3 lies outside the image (an empty box once clipped).
STATIC_GT = "".join(
    f"{f},1,11,21,10,20,1,1,0.9\n{f},2,{1 + 2 * f},5,8,8,1,1,{f / 10}\n{f},3,101,5,8,8,1,1,1.0\n" for f in range(1, 9)
)
# MIN_SIZE_TRAIN 96 scales the 64x48 frames by 2 (to 128x96).
SMALL = ["INPUT.MIN_SIZE_TRAIN", (96,), "INPUT.MAX_SIZE_TRAIN", 1000]


def pair_cfg(*opts):
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_list(SMALL + list(opts))
    return cfg


def image_record(tmp_path, track_ids, name="image"):
    """A CrowdHuman-like dict: a textured 64x48 image, a one-frame video, boxes with
    ``track_ids`` (None: no track_id key) and an ignore region as the second annotation."""
    file_name = str(tmp_path / f"{name}.jpg")
    cv2.imwrite(file_name, np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8))
    annotations = [
        {"bbox": [4.0, 4.0, 20.0, 30.0], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0, "visibility": 0.5},
        {"bbox": [30.0, 4.0, 10.0, 10.0], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0, "iscrowd": 1},
        {"bbox": [36.0, 10.0, 20.0, 30.0], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0, "visibility": 1.0},
    ]
    for annotation, track_id in zip(annotations, track_ids or ()):
        annotation["track_id"] = track_id
    return {"file_name": file_name, "height": 48, "width": 64, "image_id": name, "video_id": name, "frame_idx": 1,
            "annotations": annotations}


@pytest.fixture(scope="module")
def datasets(synthetic_root, tmp_path_factory):
    """Names of the registered datasets: the tiny synthetic set, the static video, a
    CrowdHuman-like image set, and a video without track ids."""
    register_synthetic(synthetic_root, prefix="pairs")
    root = tmp_path_factory.mktemp("pairs")
    write_sequence(root / "static", length=8, gt=STATIC_GT)
    register_mot_folder("pairs_static", str(root / "static"))
    images = [image_record(root, [-1, -1, -1], name=f"img{i}") for i in range(2)]
    DatasetCatalog.register("pairs_images", lambda: images)
    no_ids = [dict(image_record(root, None), video_id="v", frame_idx=f, frame_rate=10) for f in (1, 2)]
    DatasetCatalog.register("pairs_no_ids", lambda: no_ids)
    return {"synthetic": "pairs_train", "static": "pairs_static", "images": "pairs_images", "no_ids": "pairs_no_ids"}


def by_id(record):
    instances = record["instances"]
    return {int(t): (b.tolist(), float(v)) for t, b, v in
            zip(instances.gt_track_ids, instances.gt_boxes.tensor, instances.gt_visibility)}


def test_video_pair_is_another_frame_of_the_video_within_max_seconds(datasets, tiny_synthetic):
    cfg = pair_cfg("DATASETS.TRAIN", (datasets["synthetic"],), "INPUT.PAIR.MAX_SECONDS", 0.5)
    assert tiny_synthetic.frame_rate == 10
    mapper = VideoPairMapper(cfg, is_train=True)
    offsets = []
    for seed in range(5):
        np.random.seed(seed)
        for record in DatasetCatalog.get(datasets["synthetic"]):
            out = mapper(record)
            pair = out["pair"]
            assert pair["video_id"] == record["video_id"] and pair["file_name"] != record["file_name"]
            assert pair["image"].shape == out["image"].shape and pair["image"].dtype == torch.uint8
            offsets.append(pair["frame_idx"] - record["frame_idx"])
    # frame rate 10 and 0.5 s: at most 5 frames away, either direction, never itself
    assert set(offsets) == set(range(-5, 0)) | set(range(1, 6))


def test_video_pair_window_in_frames_overrides_seconds(datasets):
    cfg = pair_cfg("DATASETS.TRAIN", (datasets["synthetic"],), "INPUT.PAIR.MAX_SECONDS", 0.5,
                   "INPUT.PAIR.MAX_FRAMES", 2)
    mapper = VideoPairMapper(cfg, is_train=True)
    np.random.seed(0)
    offsets = {mapper(r)["pair"]["frame_idx"] - r["frame_idx"] for r in DatasetCatalog.get(datasets["synthetic"])}
    assert offsets == {-2, -1, 1, 2}
    with pytest.raises(ValueError, match="MAX_FRAMES"):
        VideoPairMapper(pair_cfg("DATASETS.TRAIN", (datasets["synthetic"],), "INPUT.PAIR.MAX_FRAMES", -1))


def test_pairs_are_deterministic_given_the_seed(datasets):
    mapper = VideoPairMapper(pair_cfg("DATASETS.TRAIN", (datasets["synthetic"],)), is_train=True)
    record = DatasetCatalog.get(datasets["synthetic"])[4]
    runs = []
    for _ in range(2):
        np.random.seed(7)
        runs.append([mapper(record) for _ in range(3)])
    for a, b in zip(*runs):
        assert a["pair"]["frame_idx"] == b["pair"]["frame_idx"]
        assert torch.equal(a["pair"]["image"], b["pair"]["image"]) and torch.equal(a["image"], b["image"])


def test_first_frame_is_what_dataset_mapper_produces(datasets):
    cfg = pair_cfg("DATASETS.TRAIN", (datasets["synthetic"],))
    record = DatasetCatalog.get(datasets["synthetic"])[3]
    for mapper in (VideoPairMapper(cfg, is_train=True), ImagePairMapper(cfg, is_train=True)):
        for seed in range(3):
            np.random.seed(seed)
            expected = DatasetMapper(cfg, is_train=True)(record)
            np.random.seed(seed)
            out = mapper(record)
            assert set(out) == set(expected) | {"pair", "hidden_boxes"}
            assert set(out["pair"]) == set(expected) | {"hidden_boxes"}
            assert torch.equal(out["image"], expected["image"])
            assert torch.equal(out["instances"].gt_boxes.tensor, expected["instances"].gt_boxes.tensor)
            assert torch.equal(out["instances"].gt_classes, expected["instances"].gt_classes)
            assert out["instances"].gt_track_ids.dtype == torch.int64
            assert out["instances"].gt_visibility.dtype == torch.float32


def test_both_frames_get_the_same_resize_and_flip_and_fields_stay_aligned(datasets):
    mapper = VideoPairMapper(pair_cfg("DATASETS.TRAIN", (datasets["static"],)), is_train=True)
    record = DatasetCatalog.get(datasets["static"])[3]
    unflipped, flipped = [20.0, 40.0, 40.0, 80.0], [88.0, 40.0, 108.0, 80.0]  # object 1, scaled by 2
    flips = set()
    for seed in range(8):
        np.random.seed(seed)
        out = mapper(record)
        static = by_id(out)[1][0]
        assert static in (unflipped, flipped)
        flip = static == flipped
        flips.add(flip)
        for frame in (out, out["pair"]):
            assert tuple(frame["image"].shape) == (3, 96, 128)
            objects = by_id(frame)
            # object 3 is empty after clipping: dropped with its id and visibility
            assert sorted(objects) == [1, 2]
            assert objects[1] == (static, pytest.approx(0.9))
            f = frame["frame_idx"]
            x = 4.0 * f  # object 2: x = 2 f (0-based), scaled by 2
            assert objects[2][0] == ([128 - x - 16, 8.0, 128 - x, 24.0] if flip else [x, 8.0, x + 16, 24.0])
            assert objects[2][1] == pytest.approx(f / 10)
    assert flips == {True, False}


def test_crop_and_resize_moves_boxes_and_scales_visibility_by_the_kept_area():
    # Crop x 20..120, y 10..60 of a 200x100 image and rescale it back: 2x zoom.
    transform = crop_and_resize((100, 200), x0=20, y0=10, crop_w=100, crop_h=50)
    annotations = [
        {"bbox": [10, 20, 40, 30], "bbox_mode": BoxMode.XYWH_ABS, "visibility": 0.8, "track_id": 1},  # 3/4 kept
        {"bbox": [50, 20, 70, 30], "bbox_mode": BoxMode.XYXY_ABS, "track_id": 2},  # inside, no visibility
        {"bbox": [0, 10, 22, 10], "bbox_mode": BoxMode.XYWH_ABS, "visibility": 1.0, "track_id": 3},  # 2/22 kept
    ]
    zoomed = zoom_annotations(annotations, transform, (100, 200), min_kept_fraction=0.1)
    assert [a["track_id"] for a in zoomed] == [1, 2]
    np.testing.assert_allclose(zoomed[0]["bbox"], [0, 20, 60, 80])  # (-10, 10, 30, 40) * 2, clipped
    np.testing.assert_allclose(zoomed[1]["bbox"], [60, 20, 100, 40])
    assert zoomed[0]["bbox_mode"] == BoxMode.XYXY_ABS
    assert [a["visibility"] for a in zoomed] == pytest.approx([0.6, 1.0])
    assert annotations[0]["bbox"] == [10, 20, 40, 30], "the input annotations are left as they are"
    assert [a["track_id"] for a in zoom_annotations(annotations, transform, (100, 200), 0.05)] == [1, 2, 3]
    # the image goes through the same transform: pixel (x 30, y 15) lands at (20, 10)
    image = np.zeros((100, 200), np.uint8)
    image[14:17, 29:32] = 255
    zoomed_image = transform.apply_image(image)
    assert zoomed_image.shape == (100, 200) and (zoomed_image[10:12, 20:22] == 255).all()


def test_random_crop_zoom_draws_the_fraction_of_each_side_inside_the_image():
    np.random.seed(0)
    for _ in range(10):
        crop, resize = RandomCropZoom((0.5, 0.5)).get_transform(np.zeros((100, 200, 3), np.uint8)).transforms
        assert (crop.w, crop.h) == (100, 50) and 0 <= crop.x0 <= 100 and 0 <= crop.y0 <= 50
        assert (resize.h, resize.w, resize.new_h, resize.new_w) == (50, 100, 100, 200)


def test_motion_blur_follows_its_direction_and_keeps_shape_and_dtype():
    kernel = motion_blur_kernel(7, 0.0)
    assert kernel.sum() == pytest.approx(1.0) and (kernel[3] > 0).all() and kernel[[0, 1, 2, 4, 5, 6]].sum() == 0
    rows = np.repeat(np.arange(0, 250, 10, dtype=np.uint8)[:, None], 25, axis=1)  # horizontal stripes
    horizontal = MotionBlurTransform(kernel)
    assert np.array_equal(horizontal.apply_image(rows), rows), "a horizontal blur keeps horizontal stripes"
    blurred = horizontal.apply_image(np.ascontiguousarray(np.stack([rows.T] * 3, axis=2)))
    assert blurred.shape == (25, 25, 3) and blurred.dtype == np.uint8 and not np.array_equal(blurred[..., 0], rows.T)
    assert horizontal.apply_coords(np.array([[3.0, 4.0]])).tolist() == [[3.0, 4.0]]


def test_image_pair_blurs_and_takes_ids_from_annotation_indices(tmp_path):
    record = image_record(tmp_path, None)
    no_blur = ImagePairMapper(pair_cfg("INPUT.PAIR.CROP_SCALE", (1.0, 1.0), "INPUT.PAIR.MOTION_BLUR_PROB", 0.0), True)
    blur = ImagePairMapper(pair_cfg("INPUT.PAIR.CROP_SCALE", (1.0, 1.0), "INPUT.PAIR.MOTION_BLUR_PROB", 1.0,
                                    "INPUT.PAIR.MOTION_BLUR_KERNEL", (5, 5)), True)
    np.random.seed(0)
    out = no_blur(record)
    # the ignore region (index 1) is dropped; the others keep their index as identity
    assert by_id(out) == by_id(out["pair"]) and sorted(by_id(out)) == [0, 2]
    assert torch.equal(out["image"], out["pair"]["image"]), "a full-size crop without blur is the same image"
    np.random.seed(0)
    out = blur(record)
    assert out["pair"]["image"].shape == out["image"].shape and out["pair"]["image"].dtype == torch.uint8
    assert not torch.equal(out["image"], out["pair"]["image"])
    assert by_id(out) == by_id(out["pair"])
    # public detections (x1, y1, x2, y2, score) follow the zoom: half of each side, twice the size
    detected = dict(record, public_detections=np.array([[36, 10, 56, 40, 0.9]], np.float32))
    zoom = ImagePairMapper(pair_cfg("INPUT.PAIR.CROP_SCALE", (0.5, 0.5)), True)(detected)["pair"]["public_detections"]
    np.testing.assert_allclose([zoom[0, 2] - zoom[0, 0], zoom[0, 3] - zoom[0, 1], zoom[0, 4]], [40, 60, 0.9])
    # track ids are used when the dict has them
    assert sorted(by_id(no_blur(image_record(tmp_path, [7, 8, 9])))) == [7, 9]


def test_dicts_without_another_frame_fall_back_to_image_pairs(datasets):
    cfg = pair_cfg("DATASETS.TRAIN", (datasets["synthetic"], datasets["images"]), "INPUT.PAIR.CROP_SCALE", (0.5, 0.9))
    mapper = VideoPairMapper(cfg, is_train=True)
    image = DatasetCatalog.get(datasets["images"])[0]
    frame = DatasetCatalog.get(datasets["synthetic"])[0]
    without_video = {k: v for k, v in frame.items() if k != "video_id"}
    np.random.seed(0)
    for record in (image, without_video):
        out = mapper(record)
        assert out["pair"]["file_name"] == record["file_name"]
        assert out["pair"]["image"].shape == out["image"].shape
        assert not torch.equal(out["pair"]["image"], out["image"]), "the image pair is cropped and rescaled"
        assert set(by_id(out["pair"])) <= set(by_id(out))
    assert sorted(by_id(mapper(image))) == [0, 2]  # CrowdHuman-like: ids from annotation indices
    images_only = VideoPairMapper(pair_cfg("DATASETS.TRAIN", (datasets["images"],)), is_train=True)
    assert images_only(image)["pair"]["file_name"] == image["file_name"]  # no video at all: image pairs only
    assert "video_id" not in mapper(without_video)["pair"]
    assert mapper(frame)["pair"]["frame_idx"] != frame["frame_idx"]  # a video frame still pairs in its video
    zero_window = VideoPairMapper(pair_cfg("DATASETS.TRAIN", (datasets["synthetic"],), "INPUT.PAIR.MAX_SECONDS", 0.0),
                                  is_train=True)
    assert zero_window(frame)["pair"]["frame_idx"] == frame["frame_idx"]


def test_clear_errors(datasets):
    with pytest.raises(ValueError, match=r"dataset 'pairs_no_ids': .*image.jpg \(video v\), frame 1: .*no track_id"):
        VideoPairMapper(pair_cfg("DATASETS.TRAIN", (datasets["no_ids"],)), is_train=True)
    mapper = VideoPairMapper(pair_cfg("DATASETS.TRAIN", (datasets["synthetic"],)), is_train=True)
    frame = DatasetCatalog.get(datasets["synthetic"])[0]
    with pytest.raises(ValueError, match=r"frame 99 of video synth-train-00 is not in the datasets \('pairs_train',\)"):
        mapper(dict(frame, frame_idx=99))
    with pytest.raises(ValueError, match="000001.jpg: no annotations"):
        mapper({k: v for k, v in frame.items() if k != "annotations"})
    with pytest.raises(ValueError, match="CROP_SCALE"):
        ImagePairMapper(pair_cfg("INPUT.PAIR.CROP_SCALE", (0.5, 1.5)), is_train=True)
    with pytest.raises(ValueError, match="MASK_ON"):
        ImagePairMapper(pair_cfg("MODEL.MASK_ON", True), is_train=True)


def test_train_loader_batches_pairs(datasets):
    cfg = pair_cfg("DATASETS.TRAIN", (datasets["synthetic"],), "INPUT.TRAIN_MAPPER", "VideoPairMapper",
                   "SOLVER.IMS_PER_BATCH", 2, "DATALOADER.NUM_WORKERS", 0)
    batch = next(iter(build_mot_train_loader(cfg)))
    assert len(batch) == 2
    for record in batch:
        pair = record["pair"]
        assert pair["video_id"] == record["video_id"] and pair["image"].shape == record["image"].shape
        for frame in (record, pair):
            instances = frame["instances"]
            assert len(instances.gt_track_ids) == len(instances.gt_visibility) == len(instances.gt_boxes)


def test_identity_pairs_carry_the_identities_of_both_frames(datasets, tiny_synthetic):
    """DMTrack's template-search pairs: any frames of a video apart, identities from the
    one index over the training datasets (the same track -> the same identity); image
    pairs (no other frame) get none."""
    from mot_heads.data.identities import IdentityIndex
    from mot_heads.data.pair_sampling import IdentityPairMapper

    names = (datasets["synthetic"], datasets["images"])
    cfg = pair_cfg("DATASETS.TRAIN", names, "INPUT.PAIR.MAX_FRAMES", 100000)
    mapper = IdentityPairMapper(cfg, is_train=True)
    index = IdentityIndex(names)
    offsets = set()
    for seed in range(5):
        np.random.seed(seed)
        for record in DatasetCatalog.get(datasets["synthetic"]):
            out = mapper(record)
            for frame in (out, out["pair"]):
                expected = [index(record["video_id"], int(t)) for t in frame["instances"].gt_track_ids]
                assert frame["instances"].gt_identities.tolist() == expected and min(expected) >= 0
            offsets.add(abs(out["pair"]["frame_idx"] - record["frame_idx"]))
    # 12-frame videos at 10 fps: offsets beyond the default 1 s window (10 frames) occur
    assert offsets == set(range(1, tiny_synthetic.num_frames))
    image_pair = mapper(DatasetCatalog.get(datasets["images"])[0])
    assert (image_pair["instances"].gt_identities == -1).all()
    assert (image_pair["pair"]["instances"].gt_identities == -1).all()
