"""DMTrack's one-shot detection targets and losses (Zhang et al., CVPR 2021, Eq. 1, 4-8).

Each template-search pair is a class-agnostic FCOS detection problem (Tian et al., ICCV
2019) on levels P3-P5 (strides 8, 16, 32) whose only object is the template's target in
the search image. A location is positive for a box when it lies inside the box, inside its
centre region of radius 1.5 strides (Eq. 1, "centre sampling") and when the largest of its
distances (l, t, r, b) to the box's sides falls in the level's size range; a location
claimed by several boxes takes the smallest. Losses per pair: focal classification, IoU
regression and BCE centre-ness, each summed over the locations of a level and weighted by
its lambda_n^m (Eq. 4-7); then the losses of the pairs of one search image are averaged
(cross-query loss, Eq. 8).

Tensors: boxes XYXY in search-image pixels; R locations over all levels, finest level
first, each level row-major; ``ltrb`` distances in pixels.
"""
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from detectron2.modeling.meta_arch.dense_detector import permute_to_N_HWA_K
from detectron2.structures import Boxes, pairwise_point_box_distance
from fvcore.nn import giou_loss, sigmoid_focal_loss

from ..siammot.emm import EPS, centerness, iou_loss

INF = float("inf")
# FCOS's ranges m_{i-1} <= max(l, t, r, b) <= m_i of P3, P4, P5 (P5 keeps all larger
# objects: DMTrack has no P6-P7, as the authors' ``regress_ranges``).
SIZE_RANGES = ((0.0, 64.0), (64.0, 128.0), (128.0, INF))
BOX_LOSSES = ("iou", "giou")
# lambda_n^m of Eq. 7: rows n = classification (alpha), regression (beta), centre-ness
# (gamma); columns m = P3, P4, P5. The paper gives no values; 1, as the authors' code.
UNIT_LOSS_WEIGHTS = ((1.0, 1.0, 1.0),) * 3


class FCOSTargets(NamedTuple):
    """Targets of the R locations of one search image."""
    labels: torch.Tensor      # (R,) bool, positive locations
    ltrb: torch.Tensor        # (R, 4) distances to the matched box's sides, 0 at negatives
    centerness: torch.Tensor  # (R,) centre-ness of the matched box, 0 at negatives
    matched: torch.Tensor     # (R,) int64 row of the matched box, -1 at negatives
    level: torch.Tensor       # (R,) int64 level of the location, 0 the finest


def fcos_locations(grid_sizes: Sequence[Tuple[int, int]], strides: Sequence[int],
                   device: Optional[torch.device] = None) -> List[torch.Tensor]:
    """Image (x, y) of every cell of each level, (H * W, 2) row-major: cell (i, j) of a level
    of stride s sits at (floor(s / 2) + j s, floor(s / 2) + i s) (Eq. 1)."""
    locations = []
    for (height, width), stride in zip(grid_sizes, strides):
        ys, xs = torch.meshgrid(torch.arange(height, device=device), torch.arange(width, device=device),
                                indexing="ij")
        locations.append((torch.stack([xs, ys], dim=2).reshape(-1, 2) * stride + stride // 2).float())
    return locations


def fcos_targets(boxes: torch.Tensor, locations: List[torch.Tensor], strides: Sequence[int],
                 size_ranges: Sequence[Tuple[float, float]] = SIZE_RANGES, center_radius: float = 1.5) -> FCOSTargets:
    """Class-agnostic FCOS targets of the (M, 4) target ``boxes`` of one search image at the
    ``locations`` of each level (see :func:`fcos_locations`)."""
    if not len(locations) == len(strides) == len(size_ranges):
        raise ValueError(f"{len(locations)} levels of locations, {len(strides)} strides and {len(size_ranges)} "
                         f"size ranges: one of each per level")
    points = torch.cat(locations)
    level = torch.repeat_interleave(torch.tensor([len(x) for x in locations], device=points.device))
    stride = points.new_tensor(strides)[level]
    low, high = points.new_tensor(size_ranges)[level].T
    boxes = Boxes(boxes.reshape(-1, 4).to(points))
    if len(boxes) == 0:  # the target is absent from the search image: every location is negative
        return FCOSTargets(torch.zeros(len(points), dtype=torch.bool, device=points.device),
                           points.new_zeros((len(points), 4)), points.new_zeros(len(points)),
                           torch.full((len(points),), -1, dtype=torch.int64, device=points.device), level)

    distances = pairwise_point_box_distance(points, boxes)  # (R, M, 4): l, t, r, b
    inside = distances.min(dim=2).values > 0
    # Eq. 1, DMTrack: the centre region |x - c_x| < r s, |y - c_y| < r s (r = 1.5 strides).
    offsets = (points[:, None, :] - boxes.get_centers()[None]).abs().max(dim=2).values
    near_centre = offsets < center_radius * stride[:, None]
    extent = distances.max(dim=2).values
    in_range = (extent >= low[:, None]) & (extent <= high[:, None])  # FCOS: m_{i-1} <= max(l, t, r, b) <= m_i
    # A location claimed by several boxes regresses the smallest (FCOS).
    smallest, matched = torch.where(inside & near_centre & in_range, boxes.area()[None], INF).min(dim=1)
    labels = torch.isfinite(smallest)
    ltrb = distances[torch.arange(len(points), device=points.device), matched] * labels[:, None]
    return FCOSTargets(labels, ltrb, centerness(ltrb), torch.where(labels, matched, -1), level)


def fcos_losses(cls_logits: torch.Tensor, ltrb: torch.Tensor, centerness_logits: torch.Tensor, targets: FCOSTargets,
                loss_weights: Sequence[Sequence[float]] = UNIT_LOSS_WEIGHTS, focal_alpha: float = 0.25,
                focal_gamma: float = 2.0, box_loss: str = "iou", normalize: bool = False,
                centerness_weighted_box: bool = False) -> Dict[str, torch.Tensor]:
    """The detection losses of one template-search pair from its (R,) classification logits,
    (R, 4) predicted distances in pixels and (R,) centre-ness logits: each term of Eq. 7,
    sum_m lambda_n^m L_n^m, with L_n^m the sum over the locations of level m (Eq. 4) or
    over its positives (Eq. 5-6). ``loss_weights``: lambda_n^m as (3, levels), see
    :data:`UNIT_LOSS_WEIGHTS`.

    Ours, off by default (FCOS's code, as the authors'): ``centerness_weighted_box``
    weights Eq. 5 at each positive by its centre-ness target; ``normalize`` divides Eq. 4
    and 6 by the number of positives (at least 1), Eq. 5 by that number or, weighted, by
    the sum of the weights. Without positives Eq. 5-6 give 0, still attached to the graph.
    """
    if box_loss not in BOX_LOSSES:
        raise ValueError(f"box_loss must be one of {BOX_LOSSES}, got {box_loss!r}")
    positive = targets.labels
    # lambda_n^m of each location's level m (Eq. 7)
    lambda_cls, lambda_box, lambda_ctr = cls_logits.new_tensor(loss_weights)[:, targets.level]
    # Eq. 4 (FCOS: alpha 0.25, gamma 2): focal loss at every location
    focal = sigmoid_focal_loss(cls_logits, positive.to(cls_logits.dtype), focal_alpha, focal_gamma, "none")
    loss_cls = (lambda_cls * focal).sum()
    if box_loss == "iou":
        per_location = iou_loss(ltrb[positive], targets.ltrb[positive])  # -ln IoU (UnitBox, as FCOS)
    else:
        per_location = giou_loss(_about_location(ltrb[positive]), _about_location(targets.ltrb[positive]))
    box_weights = targets.centerness[positive] if centerness_weighted_box else torch.ones_like(per_location)
    loss_box = (lambda_box[positive] * box_weights * per_location).sum()  # Eq. 5: at the positives
    # Eq. 6: BCE of the centre-ness logits against the targets at the positives
    bce = F.binary_cross_entropy_with_logits(centerness_logits[positive], targets.centerness[positive],
                                             reduction="none")
    loss_ctr = (lambda_ctr[positive] * bce).sum()
    if normalize:
        num_positive = positive.sum().clamp(min=1)
        box_normalizer = box_weights.sum().clamp(min=EPS) if centerness_weighted_box else num_positive
        loss_cls, loss_box, loss_ctr = loss_cls / num_positive, loss_box / box_normalizer, loss_ctr / num_positive
    return {"loss_fcos_cls": loss_cls, "loss_fcos_loc": loss_box, "loss_fcos_ctr": loss_ctr}


def _about_location(ltrb: torch.Tensor) -> torch.Tensor:
    """XYXY boxes relative to the location they are predicted at: (-l, -t, r, b)."""
    return torch.cat([-ltrb[:, :2], ltrb[:, 2:]], dim=1)


def cross_query_average(pair_losses: Dict[str, torch.Tensor], image_index: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Cross-query loss: each loss (Q,) of the Q pairs averaged over the I pairs (queries)
    of each search image (Eq. 8: L'_det = 1/I sum_i L_det), then over the images (ours)."""
    images, inverse = image_index.unique(return_inverse=True)
    pairs_per_image = torch.bincount(inverse, minlength=len(images))
    averaged = {}
    for name, values in pair_losses.items():
        if values.shape != image_index.shape:
            raise ValueError(f"{name}: {tuple(values.shape)} losses for {len(image_index)} pairs")
        per_image = values.new_zeros(len(images)).index_add(0, inverse, values) / pairs_per_image  # Eq. 8
        averaged[name] = per_image.mean()
    return averaged


class OneShotFCOSLoss:
    """DMTrack's detection loss over a batch of template-search pairs (Eq. 1, 4-8)."""

    def __init__(self, strides: Sequence[int] = (8, 16, 32), size_ranges: Sequence[Tuple[float, float]] = SIZE_RANGES,
                 center_radius: float = 1.5, loss_weights: Sequence[Sequence[float]] = UNIT_LOSS_WEIGHTS,
                 focal_alpha: float = 0.25, focal_gamma: float = 2.0, box_loss: str = "iou", normalize: bool = False,
                 centerness_weighted_box: bool = False):
        if len(size_ranges) != len(strides):
            raise ValueError(f"{len(size_ranges)} size ranges for {len(strides)} strides: one per level")
        if len(loss_weights) != 3 or any(len(w) != len(strides) for w in loss_weights):
            raise ValueError(f"loss weights (lambda_n^m, Eq. 7): expected 3 rows (classification, regression, "
                             f"centre-ness) of {len(strides)} levels, got {[len(w) for w in loss_weights]}")
        if box_loss not in BOX_LOSSES:
            raise ValueError(f"box_loss must be one of {BOX_LOSSES}, got {box_loss!r}")
        self.strides, self.size_ranges, self.center_radius = tuple(strides), tuple(size_ranges), center_radius
        self.loss_weights = tuple(tuple(float(v) for v in w) for w in loss_weights)
        self.focal_alpha, self.focal_gamma, self.box_loss = focal_alpha, focal_gamma, box_loss
        self.normalize, self.centerness_weighted_box = normalize, centerness_weighted_box

    def __call__(self, cls_logits: List[torch.Tensor], ltrb: List[torch.Tensor], centerness_logits: List[torch.Tensor],
                 target_boxes: List[torch.Tensor], image_index: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Per level, finest first: ``cls_logits`` (Q, 1, H, W), ``ltrb`` (Q, 4, H, W) in pixels,
        ``centerness_logits`` (Q, 1, H, W) of the Q pairs; ``target_boxes``: the (M, 4) target
        boxes of each pair (its template's box in the search image, M = 1 as a rule, M = 0
        when the target is absent); ``image_index`` (Q,): the search image of each pair."""
        if not len(cls_logits) == len(ltrb) == len(centerness_logits) == len(self.strides):
            raise ValueError(f"predictions on {len(cls_logits)}, {len(ltrb)}, {len(centerness_logits)} levels for "
                             f"strides {self.strides}")
        pairs = cls_logits[0].shape[0]
        if pairs == 0 or len(target_boxes) != pairs or image_index.shape != (pairs,):
            raise ValueError(f"need predictions, target boxes and an image index for each of at least one pair; got "
                             f"{pairs} predictions, {len(target_boxes)} target box sets, image index "
                             f"{tuple(image_index.shape)}")
        locations = fcos_locations([m.shape[-2:] for m in cls_logits], self.strides, cls_logits[0].device)
        flat_logits = torch.cat([permute_to_N_HWA_K(x, 1) for x in cls_logits], dim=1).squeeze(2)
        flat_ltrb = torch.cat([permute_to_N_HWA_K(x, 4) for x in ltrb], dim=1)
        flat_ctr = torch.cat([permute_to_N_HWA_K(x, 1) for x in centerness_logits], dim=1).squeeze(2)
        per_pair = [
            fcos_losses(flat_logits[q], flat_ltrb[q], flat_ctr[q],
                        fcos_targets(target_boxes[q], locations, self.strides, self.size_ranges, self.center_radius),
                        self.loss_weights, self.focal_alpha, self.focal_gamma, self.box_loss, self.normalize,
                        self.centerness_weighted_box)
            for q in range(pairs)
        ]
        stacked = {name: torch.stack([losses[name] for losses in per_pair]) for name in per_pair[0]}
        return cross_query_average(stacked, image_index)
