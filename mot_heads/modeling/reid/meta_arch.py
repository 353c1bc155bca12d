"""The ReID teacher of KDMOT (Zhang et al., ACM MM 2021): the bag-of-tricks baseline of
Luo et al. (CVPRW 2019, "Bag of Tricks and A Strong Baseline for Deep Person Re-ID").

A Detectron2 backbone (ResNet-50 by default, its last stage at stride 1, Sec. 3.4) ->
global average pooling -> f_t (batch-hard triplet loss, margin 0.3) -> BNNeck, a
BatchNorm1d without shift (Sec. 3.5) -> f_i -> a linear classifier without bias over the
training identities (cross-entropy with label smoothing 0.1, Sec. 3.3). Luo et al.'s
optional center loss (Sec. 3.6) is not built: it needs its own SGD optimiser (lr 0.5)
for the centres, which Detectron2's one-optimiser trainer does not give.

Inference: each image gives ``{"embedding": f_i L2-normalised}``, the baseline's test
setting (BNNeck output, cosine distance; ``MODEL.REID.TEST_FEATURE "before"`` gives
f_t). KDMOT's student calls :meth:`ReIDBaseline.embed_boxes` (or :func:`crop_boxes` +
:meth:`ReIDBaseline.embed_crops`) on its own batch: crops of the gt boxes cut by RoIAlign.
"""
import logging
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.data import DatasetCatalog
from detectron2.modeling import META_ARCH_REGISTRY, Backbone, build_backbone
from torch import nn
from torchvision.ops import roi_align

from ...data.reid import ReIDIdentityIndex
from ...errors import InputError
from .losses import batch_hard_triplet_loss

logger = logging.getLogger(__name__)


def set_last_stride(backbone: Backbone, feature: str, stride: int) -> None:
    """Luo et al.'s last stride (Sec. 3.4): with ``stride`` 1, the strided convolutions
    of the first block of the stage giving ``feature`` (Detectron2's ResNet names them
    res2..res5) run at stride 1; weights are unchanged (pretrained ones still load).
    Unlike ``MODEL.RESNETS.RES5_DILATION: 2``, no dilation (Luo et al.'s code)."""
    if stride not in (1, 2):
        raise InputError(f"MODEL.REID.LAST_STRIDE={stride}: expected 1 (Luo et al.) or 2 (the backbone's own)")
    if stride == 2:
        return
    stage = getattr(backbone, feature, None)
    if not isinstance(stage, nn.Sequential) or not hasattr(backbone, "_out_feature_strides"):
        raise InputError(f"MODEL.REID.LAST_STRIDE=1 needs a Detectron2 ResNet (build_resnet_backbone) whose stage "
                         f"{feature!r} is MODEL.REID.IN_FEATURE; got {type(backbone).__name__} (set LAST_STRIDE 2)")
    strided = [m for m in stage[0].modules() if isinstance(m, nn.Conv2d) and m.stride != (1, 1)]
    for conv in strided:
        conv.stride = (1, 1)
    if strided:
        backbone._out_feature_strides[feature] //= 2


def crop_boxes(images: torch.Tensor, boxes: List[torch.Tensor], size: Tuple[int, int] = (256, 128)) -> torch.Tensor:
    """(sum N_i, C, *size) crops of ``boxes[i]`` ((N_i, 4) x1, y1, x2, y2 in pixels) of
    ``images[i]`` ((B, C, H, W) float), by RoIAlign (aligned: a box of exactly ``size``
    pixels on integer edges returns those pixels; bigger boxes average
    ``ceil(box / size)`` samples a bin). KDMOT "crop[s] the image patch ... and then
    resize[s] it to 256 x 128" (Sec. 3.3.2) without naming the resampling; ours: RoIAlign."""
    boxes = [b.to(device=images.device, dtype=images.dtype).reshape(-1, 4) for b in boxes]
    return roi_align(images, boxes, output_size=tuple(size), spatial_scale=1.0, sampling_ratio=-1, aligned=True)


def count_identities(dataset_names: Sequence[str]) -> int:
    """Training identities of ``dataset_names``; 0 when there are none (an embedding model)
    or (with a warning) when some are not registered."""
    if not dataset_names:
        return 0
    missing = [n for n in dataset_names if n not in DatasetCatalog.list()]
    if missing:
        logger.warning("training datasets %s are not registered: ReIDBaseline is built without a classifier "
                       "(inference only; set MODEL.REID.NUM_IDENTITIES to train)", missing)
        return 0
    count = ReIDIdentityIndex(dataset_names).num_identities
    logger.info("%d training identities in %s (MODEL.REID.NUM_IDENTITIES)", count, list(dataset_names))
    return count


@META_ARCH_REGISTRY.register()
class ReIDBaseline(nn.Module):
    """Bag-of-tricks ReID baseline (see the module docstring); inputs are ``ReIDMapper``
    dicts: ``image`` (uint8 CHW, all of one size) and, in training, ``label``."""

    @configurable
    def __init__(self, *, backbone: Backbone, in_feature: str, num_identities: int, label_smoothing: float = 0.1,
                 triplet_margin: float = 0.3, id_weight: float = 1.0, triplet_weight: float = 1.0,
                 test_feature: str = "after", input_size: Tuple[int, int] = (256, 128), input_format: str = "RGB",
                 pixel_mean: Sequence[float], pixel_std: Sequence[float]):
        super().__init__()
        if test_feature not in ("after", "before"):
            raise InputError(f"MODEL.REID.TEST_FEATURE={test_feature!r}: expected 'after' or 'before' (BNNeck)")
        self.backbone, self.in_feature = backbone, in_feature
        channels = backbone.output_shape()[in_feature].channels
        self.bnneck = nn.BatchNorm1d(channels)
        self.bnneck.bias.requires_grad_(False)  # BNNeck has no shift (Sec. 3.5): bias stays 0
        self.classifier = None
        if num_identities:
            self.classifier = nn.Linear(channels, num_identities, bias=False)
            nn.init.normal_(self.classifier.weight, std=0.001)  # Luo et al.'s code
        self.label_smoothing, self.triplet_margin = label_smoothing, triplet_margin
        self.id_weight, self.triplet_weight, self.test_feature = id_weight, triplet_weight, test_feature
        self.input_size, self.input_format = tuple(input_size), input_format
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), False)

    @classmethod
    def from_config(cls, cfg):
        reid = cfg.MODEL.REID
        backbone = build_backbone(cfg)
        if reid.IN_FEATURE not in backbone.output_shape():
            raise InputError(f"MODEL.REID.IN_FEATURE={reid.IN_FEATURE!r}; the backbone gives "
                             f"{list(backbone.output_shape())} (MODEL.RESNETS.OUT_FEATURES)")
        set_last_stride(backbone, reid.IN_FEATURE, reid.LAST_STRIDE)
        return {
            "backbone": backbone, "in_feature": reid.IN_FEATURE,
            "num_identities": reid.NUM_IDENTITIES or count_identities(cfg.DATASETS.TRAIN),
            "label_smoothing": reid.LABEL_SMOOTHING, "triplet_margin": reid.TRIPLET_MARGIN,
            "id_weight": reid.ID_WEIGHT, "triplet_weight": reid.TRIPLET_WEIGHT, "test_feature": reid.TEST_FEATURE,
            "input_size": cfg.INPUT.REID.SIZE, "input_format": cfg.INPUT.FORMAT,
            "pixel_mean": cfg.MODEL.PIXEL_MEAN, "pixel_std": cfg.MODEL.PIXEL_STD,
        }

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def pooled_features(self, images: torch.Tensor) -> torch.Tensor:
        """f_t: the globally average-pooled backbone feature of (B, C, H, W) raw pixels."""
        features = self.backbone((images.to(self.device).float() - self.pixel_mean) / self.pixel_std)
        return features[self.in_feature].mean(dim=(2, 3))

    def embed_crops(self, crops: torch.Tensor, input_format: Optional[str] = None, normalize: bool = True
                    ) -> torch.Tensor:
        """(N, D) embeddings (L2-normalised unless ``normalize`` is False) of (N, 3, H, W)
        crops of raw pixel values (as :func:`crop_boxes` gives) in ``input_format`` (default:
        the model's INPUT.FORMAT; "RGB" and "BGR" are swapped to it). A frozen teacher runs
        in ``eval()`` mode."""
        if input_format is not None and input_format != self.input_format:
            if {input_format, self.input_format} != {"RGB", "BGR"}:
                raise ValueError(f"crops in {input_format}, the model reads {self.input_format}: expected RGB or BGR")
            crops = crops.flip(1)
        if not len(crops):
            return crops.new_zeros((0, self.bnneck.num_features), device=self.device)
        pooled = self.pooled_features(crops)
        features = self.bnneck(pooled) if self.test_feature == "after" else pooled
        return F.normalize(features, dim=1) if normalize else features

    def embed_boxes(self, images: torch.Tensor, boxes: List[torch.Tensor], input_format: Optional[str] = None,
                    normalize: bool = True) -> torch.Tensor:
        """Embeddings of ``boxes`` of ``images`` (see :func:`crop_boxes`), cut at the model's input size."""
        return self.embed_crops(crop_boxes(images.float(), boxes, self.input_size), input_format, normalize)

    def forward(self, batched_inputs: List[dict]):
        images = torch.stack([x["image"] for x in batched_inputs])
        if not self.training:
            return [{"embedding": e} for e in self.embed_crops(images)]
        if self.classifier is None:
            raise InputError("ReIDBaseline has no classifier: DATASETS.TRAIN was not registered when it was built "
                             "(set MODEL.REID.NUM_IDENTITIES or register the training datasets first)")
        if any("label" not in x for x in batched_inputs):
            raise InputError("ReIDBaseline trains on 'label', the training identity that INPUT.TRAIN_MAPPER "
                             "'ReIDMapper' gives")
        labels = torch.as_tensor([x["label"] for x in batched_inputs], device=self.device)
        if labels.max() >= self.classifier.out_features:
            raise InputError(f"training label {int(labels.max())}, but the classifier has "
                             f"{self.classifier.out_features} identities (MODEL.REID.NUM_IDENTITIES)")
        pooled = self.pooled_features(images)
        logits = self.classifier(self.bnneck(pooled))
        return {
            # ID loss with label smoothing (Sec. 3.3): PyTorch's q_i = (1 - eps) [i = y] + eps / N
            # is Luo et al.'s 1 - (N - 1) eps / N for the true class and eps / N for the others.
            "loss_id": self.id_weight * F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing),
            "loss_triplet": self.triplet_weight * batch_hard_triplet_loss(pooled, labels, self.triplet_margin),
        }
