"""SiamMOT's region-based Siamese tracker: pooling, motion model, training and propagation."""
from typing import Dict, List, Tuple

import torch
from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling.poolers import ROIPooler
from detectron2.structures import Boxes, Instances
from torch import nn

from ...errors import InputError
from ..poolers import with_fast_backward
from .emm import EMM
from .imm import IMM
from .regions import pool_regions, search_regions
from .triplets import POSITIVE, label_triplets, sample_triplets


def build_motion_model(cfg, in_channels: int) -> nn.Module:
    """The configured motion model: ``MODEL.TRACK_HEAD.NAME`` "EMM" or "IMM"."""
    head = cfg.MODEL.TRACK_HEAD
    common = dict(
        in_channels=in_channels, template_size=head.TEMPLATE_RESOLUTION, search_size=head.SEARCH_RESOLUTION,
        focal_alpha=head.FOCAL_ALPHA, focal_gamma=head.FOCAL_GAMMA,
    )
    if head.NAME == "EMM":
        return EMM(num_convs=head.EMM.NUM_CONVS, norm=head.EMM.NORM, window_weight=head.EMM.WINDOW_WEIGHT,
                   scale_sigma=head.EMM.SCALE_SIGMA, **common)
    if head.NAME == "IMM":
        return IMM(hidden_dim=head.IMM.HIDDEN_DIM, smooth_l1_beta=head.IMM.SMOOTH_L1_BETA, **common)
    raise InputError(f"MODEL.TRACK_HEAD.NAME={head.NAME!r}: expected 'EMM' or 'IMM'")


class SiamTrackHead(nn.Module):
    """Propagates boxes of frame t into frame t+delta (Sec. 3.1, Eq. 1).

    The template of a box R is its RoIAlign feature over R (EMM) or over its search
    region S (IMM, which compares the same region in both frames); the search feature
    is pooled over S = R expanded by r in the new frame. Both at R's FPN level.
    """

    @configurable
    def __init__(self, *, in_features: List[str], template_pooler: ROIPooler, search_pooler: ROIPooler,
                 motion_model: nn.Module, search_scale: float, template_on_search_region: bool, num_classes: int,
                 triplet_kinds: Tuple[str, ...], triplets_per_image: int, positive_fraction: float,
                 hard_fraction: float, min_visibility: float, loss_weight: float):
        super().__init__()
        self.in_features = in_features
        self.template_pooler, self.search_pooler = template_pooler, search_pooler
        self.motion_model = motion_model
        self.search_scale = search_scale
        self.template_on_search_region = template_on_search_region
        self.num_classes = num_classes
        self.triplet_kinds = tuple(triplet_kinds)
        self.triplets_per_image = triplets_per_image
        self.positive_fraction, self.hard_fraction = positive_fraction, hard_fraction
        self.min_visibility, self.loss_weight = min_visibility, loss_weight

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        head = cfg.MODEL.TRACK_HEAD
        in_features = cfg.MODEL.ROI_HEADS.IN_FEATURES
        scales = tuple(1.0 / input_shape[k].stride for k in in_features)
        channels = {input_shape[k].channels for k in in_features}
        if len(channels) != 1:
            raise ValueError(f"the track head needs features of one width, got {channels}")

        def pooler(resolution):
            return with_fast_backward(ROIPooler(resolution, scales, head.POOLER_SAMPLING_RATIO, head.POOLER_TYPE))

        return dict(
            in_features=in_features, template_pooler=pooler(head.TEMPLATE_RESOLUTION),
            search_pooler=pooler(head.SEARCH_RESOLUTION), motion_model=build_motion_model(cfg, channels.pop()),
            search_scale=head.SEARCH_REGION_SCALE, template_on_search_region=head.NAME == "IMM",
            num_classes=cfg.MODEL.ROI_HEADS.NUM_CLASSES, triplet_kinds=head.TRIPLETS,
            triplets_per_image=head.TRIPLETS_PER_IMAGE, positive_fraction=head.POSITIVE_FRACTION,
            hard_fraction=head.HARD_FRACTION,
            min_visibility=head.MIN_VISIBILITY, loss_weight=head.LOSS_WEIGHT,
        )

    def _levels(self, features: Dict[str, torch.Tensor]) -> List[torch.Tensor]:
        return [features[f] for f in self.in_features]

    def template_features(self, features: Dict[str, torch.Tensor], boxes: List[Boxes]) -> torch.Tensor:
        """Templates of the boxes of each image (one ``Boxes`` per image of the batch)."""
        regions = [Boxes(search_regions(b.tensor, self.search_scale)) for b in boxes] \
            if self.template_on_search_region else boxes
        return pool_regions(self.template_pooler, self._levels(features), regions, boxes)

    def search_features(self, features: Dict[str, torch.Tensor], boxes: List[Boxes]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Features of the search regions of the previous boxes, and the regions (XYXY)."""
        regions = [Boxes(search_regions(b.tensor, self.search_scale)) for b in boxes]
        pooled = pool_regions(self.search_pooler, self._levels(features), regions, boxes)
        return pooled, torch.cat([r.tensor for r in regions])

    def losses(self, features_t: Dict[str, torch.Tensor], features_next: Dict[str, torch.Tensor],
               proposals_t: List[Instances], targets_next: List[Instances]) -> Dict[str, torch.Tensor]:
        """Motion losses over triplets sampled from the box head's proposals of frame t."""
        templates, targets, visible = [], [], []
        for proposals, next_targets in zip(proposals_t, targets_next):
            kinds, target_boxes = label_triplets(
                proposals, next_targets, self.num_classes, self.search_scale, self.min_visibility
            )
            keep = sample_triplets(kinds, self.triplet_kinds, self.triplets_per_image, self.positive_fraction,
                                   self.hard_fraction)
            templates.append(proposals.proposal_boxes[keep])
            targets.append(target_boxes[keep])
            visible.append(kinds[keep] == POSITIVE)
        template_feats = self.template_features(features_t, templates)
        search_feats, search_boxes = self.search_features(features_next, templates)
        prev_boxes = torch.cat([b.tensor for b in templates])
        losses = self.motion_model.losses(
            template_feats, search_feats, prev_boxes, search_boxes, torch.cat(targets), torch.cat(visible)
        )
        return {k: v * self.loss_weight for k, v in losses.items()}

    def propagate(self, features: Dict[str, torch.Tensor], templates: torch.Tensor,
                  prev_boxes: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Boxes of frame t (one image, XYXY in the model's input frame) propagated into
        this frame with their cached templates: (boxes, visibility)."""
        search_feats, search_boxes = self.search_features(features, [Boxes(prev_boxes)])
        return self.motion_model.predict(templates, search_feats, prev_boxes, search_boxes)
