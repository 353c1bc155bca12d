"""Training pairs (I^t, I^{t+delta}) of SiamMOT (Shuai et al., CVPR 2021, Sec. 4.2), and
DMTrack's template-search pairs.

Mappers of :data:`MAPPER_REGISTRY`, picked by ``cfg.INPUT.TRAIN_MAPPER``:

- ``VideoPairMapper`` (video training): the second frame is drawn uniformly among the
  frames of the same video at most ``INPUT.PAIR.MAX_SECONDS`` away, in either direction.
- ``ImagePairMapper`` (image training): the second frame is the same image, cropped to
  a random fraction of its sides at a random position and rescaled back (a fake zoom and
  camera motion), and motion-blurred with probability ``INPUT.PAIR.MOTION_BLUR_PROB``.
- ``IdentityPairMapper`` and ``DetectionPairMapper`` (DMTrack): video pairs whose
  instances carry ``gt_identities`` (re-id batches), or -1 for every box (detection batches).

A dict whose video offers no second frame within the window (no ``video_id``, or an
image dataset such as CrowdHuman, whose every image is a one-frame video) trains as an
image pair under ``VideoPairMapper`` too, so video and image datasets mix.

Both frames then get the same Detectron2 augmentation (that of ``DatasetMapper``), drawn
once on the first frame. The output is the first frame as ``DatasetMapper`` maps it, its
``instances`` with two more fields, ``gt_track_ids`` (int64) and ``gt_visibility``
(float32), ``hidden_boxes`` (see ``identities.pop_annotations``), and ``"pair"``: the
second frame's dict, mapped alike. Identities may be
present in one frame only (absent targets).
"""
import copy
import logging
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np
import torch
from detectron2.config import configurable
from detectron2.data import DatasetCatalog, DatasetFromList, DatasetMapper
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T
from detectron2.structures import BoxMode

from ..errors import InputError
from .build import MAPPER_REGISTRY
from .identities import IdentityIndex, identity_scope, pop_annotations, tracked_instances

logger = logging.getLogger(__name__)

# Image pairs: a box with less than this fraction of its area left in the crop is
# dropped from the second frame (ours, not in the paper: it leaves out slivers at the border).
MIN_KEPT_FRACTION = 0.1


def crop_and_resize(image_size: Tuple[int, int], x0: int, y0: int, crop_w: int, crop_h: int) -> T.TransformList:
    """Crop ``(x0, y0, crop_w, crop_h)`` out of an image of ``image_size`` (h, w) and
    rescale it back to ``image_size``: the geometry of an image pair."""
    h, w = image_size
    return T.TransformList([T.CropTransform(x0, y0, crop_w, crop_h), T.ResizeTransform(crop_h, crop_w, h, w)])


class RandomCropZoom(T.Augmentation):
    """Crop a random fraction in ``scale_range`` of each side at a random position and
    rescale it back to the full size (image training, Sec. 4.2)."""

    def __init__(self, scale_range: Tuple[float, float]):
        super().__init__()
        self._init(locals())

    def get_transform(self, image):
        h, w = image.shape[:2]
        scale = np.random.uniform(*self.scale_range)
        crop_h, crop_w = max(1, round(scale * h)), max(1, round(scale * w))
        return crop_and_resize((h, w), np.random.randint(w - crop_w + 1), np.random.randint(h - crop_h + 1),
                               crop_w, crop_h)


def motion_blur_kernel(length: int, angle: float) -> np.ndarray:
    """A normalised line of ``length`` pixels through the kernel's centre (the anchor of
    ``cv2.filter2D``), at ``angle`` degrees from the horizontal."""
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1
    rotation = cv2.getRotationMatrix2D((length // 2, length // 2), angle, 1.0)
    kernel = cv2.warpAffine(kernel, rotation, (length, length))
    return kernel / kernel.sum()


class MotionBlurTransform(T.Transform):
    """Convolve the image with ``kernel``; coordinates do not move."""

    def __init__(self, kernel: np.ndarray):
        super().__init__()
        self._set_attributes(locals())

    def apply_image(self, img: np.ndarray) -> np.ndarray:
        return cv2.filter2D(img, -1, self.kernel)

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        return coords


class RandomMotionBlur(T.Augmentation):
    """Linear motion blur of a random length in ``length_range`` (pixels; below 2 is no
    blur) and a random direction (image training, Sec. 4.2)."""

    def __init__(self, length_range: Tuple[int, int]):
        super().__init__()
        self._init(locals())

    def get_transform(self, image):
        length = np.random.randint(self.length_range[0], self.length_range[1] + 1)
        angle = np.random.uniform(0.0, 180.0)
        return MotionBlurTransform(motion_blur_kernel(length, angle)) if length > 1 else T.NoOpTransform()


def _area(box) -> float:
    return float((box[2] - box[0]) * (box[3] - box[1]))


def zoom_annotations(
    annotations: List[dict], transform: T.Transform, image_size: Tuple[int, int], min_kept_fraction: float
) -> List[dict]:
    """Annotations of the second frame of an image pair: each box through ``transform``
    and clipped to ``image_size`` (h, w) by Detectron2's ``transform_instance_annotations``,
    its visibility multiplied by the fraction of its area left in the image; boxes with
    less than ``min_kept_fraction`` left are dropped. ``annotations`` are not modified."""
    zoomed = []
    for annotation in annotations:
        full = transform.apply_box(np.array([BoxMode.convert(annotation["bbox"], annotation["bbox_mode"],
                                                             BoxMode.XYXY_ABS)]))[0]
        moved = utils.transform_instance_annotations(copy.deepcopy(annotation), transform, image_size)
        kept = _area(moved["bbox"]) / _area(full)
        if kept >= min_kept_fraction:
            moved["visibility"] = annotation.get("visibility", 1.0) * kept
            zoomed.append(moved)
    return zoomed


def _set_image_pair_identities(annotations: List[dict]) -> None:
    """Track ids when every annotation has one (>= 0), else the annotation's index
    (CrowdHuman marks a missing identity with -1)."""
    if not all(a.get("track_id", -1) >= 0 for a in annotations):
        for index, annotation in enumerate(annotations):
            annotation["track_id"] = index


@MAPPER_REGISTRY.register()
class ImagePairMapper(DatasetMapper):
    """Image training pairs (Sec. 4.2): the second frame is the first one cropped,
    rescaled back and maybe motion-blurred; see the module docstring for the output.

    ``visibility`` defaults to 1 for annotations without one.
    """

    @configurable
    def __init__(
        self,
        is_train: bool = True,
        *,
        crop_scale: Tuple[float, float],
        motion_blur_kernel: Tuple[int, int],
        motion_blur_prob: float,
        min_kept_fraction: float = MIN_KEPT_FRACTION,
        **kwargs,
    ):
        """Args beyond ``DatasetMapper``'s are the ``cfg.INPUT.PAIR`` keys (see config.py)
        and ``min_kept_fraction`` (see :func:`zoom_annotations`)."""
        if not is_train:
            raise ValueError(f"{type(self).__name__} builds training pairs: is_train must be True")
        if not 0 < crop_scale[0] <= crop_scale[1] <= 1:
            raise InputError(f"INPUT.PAIR.CROP_SCALE must be (low, high) with 0 < low <= high <= 1, got {crop_scale}")
        if not 0 <= motion_blur_kernel[0] <= motion_blur_kernel[1]:
            raise InputError(f"INPUT.PAIR.MOTION_BLUR_KERNEL must be (low, high) with 0 <= low <= high, "
                             f"got {motion_blur_kernel}")
        if not 0 <= motion_blur_prob <= 1:
            raise InputError(f"INPUT.PAIR.MOTION_BLUR_PROB must be in [0, 1], got {motion_blur_prob}")
        super().__init__(is_train, **kwargs)
        self.pair_augmentations = T.AugmentationList(
            [RandomCropZoom(crop_scale), T.RandomApply(RandomMotionBlur(motion_blur_kernel), motion_blur_prob)]
        )
        self.min_kept_fraction = min_kept_fraction
        logger.info(f"[{type(self).__name__}] Image-pair augmentations: {self.pair_augmentations}")

    @classmethod
    def from_config(cls, cfg, is_train: bool = True):
        if cfg.MODEL.MASK_ON or cfg.MODEL.KEYPOINT_ON or cfg.MODEL.LOAD_PROPOSALS:
            raise InputError(f"{cls.__name__} maps boxes only: MODEL.MASK_ON, MODEL.KEYPOINT_ON and "
                             "MODEL.LOAD_PROPOSALS must be False")
        return {
            **super().from_config(cfg, is_train),
            "crop_scale": tuple(cfg.INPUT.PAIR.CROP_SCALE),
            "motion_blur_kernel": tuple(cfg.INPUT.PAIR.MOTION_BLUR_KERNEL),
            "motion_blur_prob": cfg.INPUT.PAIR.MOTION_BLUR_PROB,
            "min_kept_fraction": cfg.INPUT.PAIR.MIN_KEPT_FRACTION,
        }

    def __call__(self, dataset_dict: dict) -> dict:
        if "annotations" not in dataset_dict:
            raise InputError(f"{dataset_dict.get('file_name')}: no annotations; training pairs need ground truth")
        first = copy.deepcopy(dataset_dict)
        image = utils.read_image(first["file_name"], format=self.image_format)
        utils.check_image_size(first, image)
        aug_input = T.AugInput(image)
        transforms = self.augmentations(aug_input)  # drawn once, applied to both frames
        second, second_image = self._second_frame(first, image)
        self._map_frame(first, aug_input.image, transforms)
        first["pair"] = self._map_frame(second, transforms.apply_image(second_image), transforms)
        return first

    def _second_frame(self, first: dict, image: np.ndarray) -> Tuple[dict, np.ndarray]:
        """The image pair of ``first`` (whose annotations get identities) and its image."""
        _set_image_pair_identities(first["annotations"])
        aug_input = T.AugInput(image)
        transform = self.pair_augmentations(aug_input)
        second = copy.deepcopy(first)
        if "public_detections" in second:  # x1, y1, x2, y2, score rows of the zoomed frame
            second["public_detections"][:, :4] = transform.apply_box(second["public_detections"][:, :4])
        second["annotations"] = zoom_annotations(first["annotations"], transform, image.shape[:2],
                                                 self.min_kept_fraction)
        return second, aug_input.image

    def _map_frame(self, record: dict, image: np.ndarray, transforms: T.TransformList) -> dict:
        """``DatasetMapper``'s output fields of ``record`` for its augmented ``image``."""
        record["image"] = torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))
        self._transform_annotations(record, transforms, image.shape[:2])
        return record

    def _transform_annotations(self, dataset_dict, transforms, image_shape):
        annotations = pop_annotations(dataset_dict, transforms, image_shape)
        dataset_dict["instances"] = tracked_instances(annotations, transforms, image_shape)


def _check_video_frame(dataset_name: str, record: dict) -> None:
    """A frame of a video of several frames needs a frame rate, annotations, identities."""
    where = f"dataset '{dataset_name}': {record['file_name']} (video {record['video_id']})"
    missing = [k for k in ("frame_rate", "annotations") if k not in record]
    if missing:
        raise InputError(f"{where} lacks {missing}; video pairs (SiamMOT Sec. 4.2) need them")
    if any(a.get("track_id", -1) < 0 for a in record["annotations"] if a.get("iscrowd", 0) == 0):
        raise InputError(f"{where}, frame {record['frame_idx']}: an annotation has no track_id (>= 0); "
                         "video pairs (SiamMOT Sec. 4.2) need identities")


def index_videos(dataset_names: Sequence[str]) -> Tuple[DatasetFromList, Dict[str, Tuple[np.ndarray, int]]]:
    """The frames of every video of several frames in ``dataset_names``, sorted by video
    and ``frame_idx`` in a serialized list, and ``video_id -> (sorted frame_idx, offset
    of the video's first frame in that list)``. One-frame videos are left out."""
    videos: Dict[str, Dict[int, Tuple[str, dict]]] = {}
    for name in dataset_names:
        for record in DatasetCatalog.get(name):
            if "video_id" not in record:
                continue
            if "frame_idx" not in record:
                raise InputError(f"dataset '{name}': {record['file_name']} has a video_id but no frame_idx")
            other_name, other = videos.setdefault(record["video_id"], {}).setdefault(
                record["frame_idx"], (name, record))
            if other["file_name"] != record["file_name"]:
                raise InputError(
                    f"video {record['video_id']} frame {record['frame_idx']} is both {other['file_name']} "
                    f"(dataset '{other_name}') and {record['file_name']} (dataset '{name}'); "
                    "video ids must be unique across the datasets"
                )
    records, index = [], {}
    for video_id, frames in videos.items():
        if len(frames) > 1:
            index[video_id] = (np.array(sorted(frames)), len(records))
            for frame_idx in index[video_id][0]:
                _check_video_frame(*frames[frame_idx])
                records.append(frames[frame_idx][1])
    # Detectron2 cannot serialize an empty list: image-only datasets (CrowdHuman) index no video.
    return DatasetFromList(records, copy=False, serialize=bool(records)), index


@MAPPER_REGISTRY.register()
class VideoPairMapper(ImagePairMapper):
    """Video training pairs (Sec. 4.2): the second frame is drawn uniformly among the
    other frames of the same video at most ``round(max_seconds * frame_rate)`` frames
    away, or ``max_frames`` frames when that is > 0 (OUTrack's pairs: 20); a dict whose video offers none trains as an image pair (see the module
    docstring). The videos of ``dataset_names`` are indexed at construction."""

    @configurable
    def __init__(self, is_train: bool = True, *, dataset_names: Sequence[str], max_seconds: float,
                 max_frames: int = 0, **kwargs):
        if max_seconds < 0:
            raise InputError(f"INPUT.PAIR.MAX_SECONDS must be >= 0, got {max_seconds}")
        if max_frames < 0:
            raise InputError(f"INPUT.PAIR.MAX_FRAMES must be >= 0, got {max_frames}")
        super().__init__(is_train, **kwargs)
        self.dataset_names = tuple(dataset_names)
        self.max_seconds, self.max_frames = max_seconds, max_frames
        self._frames, self._videos = index_videos(dataset_names)

    @classmethod
    def from_config(cls, cfg, is_train: bool = True):
        return {
            **super().from_config(cfg, is_train),
            "dataset_names": cfg.DATASETS.TRAIN,
            "max_seconds": cfg.INPUT.PAIR.MAX_SECONDS,
            "max_frames": cfg.INPUT.PAIR.MAX_FRAMES,
        }

    def _second_frame(self, first: dict, image: np.ndarray) -> Tuple[dict, np.ndarray]:
        """Another frame of ``first``'s video within the window, and its image."""
        if first.get("video_id") not in self._videos:
            return super()._second_frame(first, image)
        frames, offset = self._videos[first["video_id"]]
        frame_idx = first["frame_idx"]
        own = np.searchsorted(frames, frame_idx)
        if own == len(frames) or frames[own] != frame_idx:
            raise ValueError(f"{first['file_name']}: frame {frame_idx} of video {first['video_id']} is not in "
                             f"the datasets {self.dataset_names} indexed by {type(self).__name__}")
        window = self.max_frames or round(self.max_seconds * first["frame_rate"])
        low = np.searchsorted(frames, frame_idx - window)
        high = np.searchsorted(frames, frame_idx + window, side="right")
        if high - low < 2:  # no other frame within the window
            return super()._second_frame(first, image)
        position = low + np.random.randint(high - low - 1)
        second = self._frames[offset + position + (position >= own)]
        second_image = utils.read_image(second["file_name"], format=self.image_format)
        utils.check_image_size(second, second_image)
        if second_image.shape != image.shape:
            raise InputError(f"{second['file_name']} is {second_image.shape[:2]} but {first['file_name']} of the "
                             f"same video is {image.shape[:2]}; a video's frames must have one size")
        return second, second_image


@MAPPER_REGISTRY.register()
class IdentityPairMapper(VideoPairMapper):
    """``VideoPairMapper`` whose two frames' instances also carry ``gt_identities`` (an
    :class:`IdentityIndex` over ``cfg.DATASETS.TRAIN``): DMTrack's template-search pairs,
    which train its re-id branch by identity classification. Frames of a video and images
    with an ``identity_scope`` (JDE lists, person-search sets) carry their identities, an
    image pair of either keeps them in both frames; other image pairs carry -1."""

    @configurable
    def __init__(self, is_train: bool = True, *, identities: IdentityIndex, **kwargs):
        super().__init__(is_train, **kwargs)
        self.identities = identities

    @classmethod
    def from_config(cls, cfg, is_train: bool = True):
        return {**super().from_config(cfg, is_train), "identities": IdentityIndex(cfg.DATASETS.TRAIN)}

    def __call__(self, dataset_dict: dict) -> dict:
        """Identities are looked up before an image pair renumbers the track ids."""
        if "annotations" not in dataset_dict:
            return super().__call__(dataset_dict)
        annotations = [dict(a, identity=self._identity(dataset_dict, a)) for a in dataset_dict["annotations"]]
        return super().__call__(dict(dataset_dict, annotations=annotations))

    def _identity(self, record: dict, annotation: dict) -> int:
        if "identity" in annotation:
            return annotation["identity"]
        known = record.get("video_id") in self._videos or "identity_scope" in record
        return self.identities(identity_scope(record), annotation.get("track_id", -1)) if known else -1

    def _transform_annotations(self, dataset_dict, transforms, image_shape):
        annotations = pop_annotations(dataset_dict, transforms, image_shape)
        dataset_dict["instances"] = tracked_instances(annotations, transforms, image_shape,
                                                      [self._identity(dataset_dict, a) for a in annotations])


@MAPPER_REGISTRY.register()
class DetectionPairMapper(VideoPairMapper):
    """Template-search pairs for detection only (DMTrack's SOT and COCO batches): as
    ``VideoPairMapper``, every box's ``gt_identities`` -1, so the re-id loss has no term;
    masks and keypoints of the annotations (COCO's) are dropped."""

    def __call__(self, dataset_dict: dict) -> dict:
        if "annotations" not in dataset_dict:
            return super().__call__(dataset_dict)
        annotations = [{k: v for k, v in a.items() if k not in ("segmentation", "keypoints")}
                       for a in dataset_dict["annotations"]]
        return super().__call__(dict(dataset_dict, annotations=annotations))

    def _transform_annotations(self, dataset_dict, transforms, image_shape):
        annotations = pop_annotations(dataset_dict, transforms, image_shape)
        dataset_dict["instances"] = tracked_instances(annotations, transforms, image_shape, [-1] * len(annotations))
