"""Detection parts of the one-shot MOT models: CenterNet heatmap targets, losses and decoding
(Zhou et al., "Objects as Points", 2019; FairMOT, Zhang et al., IJCV 2021, Sec. 3.3).

Every object is a peak of a per-class heatmap on the output grid (stride R = 4 in FairMOT)
at the cell holding its centre; at that cell the model regresses the box size and the
sub-cell offset of the true centre (CenterNet Eq. 1-3), and the ID branch reads the
object's embedding there (FairMOT Sec. 3.4).

Tensors: boxes are XYXY in input pixels; maps are (B, C, H, W) on the output grid;
``indices`` are flat cell indices y * W + x into an H x W map; sizes and offsets are in
output cells.
"""
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

# CornerNet / CenterNet's radius lives in the tracker package (plain numpy, which the
# trackers cannot import from here: OUTrack's occlusion scores use it too); re-exported.
from trackers.gaussian import gaussian_radius  # noqa: F401

# CenterNet's `_sigmoid`: heatmap probabilities are clamped to [1e-4, 1 - 1e-4] before
# the logarithms of Eq. 1, so that saturated logits give a finite loss.
PROBABILITY_CLAMP = 1e-4
# Channels of the size head: CenterNet / FairMOT paper (w, h); FairMOT's released code
# (its `--ltrb` option, on by default) the distances from the centre to the four sides.
SIZE_CHANNELS = {"wh": 2, "ltrb": 4}


def _size_channels(size_format: str) -> int:
    if size_format not in SIZE_CHANNELS:
        raise ValueError(f"size_format must be one of {sorted(SIZE_CHANNELS)}, got {size_format!r}")
    return SIZE_CHANNELS[size_format]


# CenterNet's initial heatmap bias: a prior probability of 0.1 at every cell.
HEATMAP_PRIOR = 0.1


def prediction_head(in_channels: int, hidden: int, out_channels: int, prior: Optional[float] = None
                    ) -> nn.Sequential:
    """CenterNet / FairMOT head: 3x3 conv, ReLU, 1x1 conv.

    A heatmap head (``prior`` given) keeps PyTorch's default initialisation, its last bias
    set to log(prior / (1 - prior)); every other head starts from weights N(0, 0.001^2) and
    zero biases (``fill_fc_weights`` of CenterNet's and FairMOT's code, which skips the
    heatmap heads: at std 0.001 in both layers a head with few positives, such as OUTrack's
    occlusion heatmap, stays at its prior).
    """
    head = nn.Sequential(nn.Conv2d(in_channels, hidden, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(hidden, out_channels, 1))
    if prior is not None:
        nn.init.constant_(head[2].bias, math.log(prior / (1 - prior)))
        return head
    for layer in (head[0], head[2]):
        nn.init.normal_(layer.weight, std=0.001)
        nn.init.zeros_(layer.bias)
    return head


def gaussian_kernel(radius: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """exp(-(x^2 + y^2) / (2 sigma^2)) on the (2r + 1)^2 cells about the centre, with
    sigma = diameter / 6 = (2r + 1) / 6 (CenterNet's ``draw_umich_gaussian``); 1 at the centre."""
    steps = torch.arange(-radius, radius + 1, dtype=dtype)
    sigma = (2 * radius + 1) / 6
    return torch.exp(-(steps[:, None] ** 2 + steps[None, :] ** 2) / (2 * sigma ** 2))


def draw_gaussian(heatmap: torch.Tensor, center: Tuple[int, int], radius: int) -> torch.Tensor:
    """Writes the Gaussian of ``radius`` about the cell ``center`` = (x, y) into the (H, W)
    ``heatmap`` by element-wise max (CenterNet Sec. 3: "if two Gaussians of the same class
    overlap, we take the element-wise maximum"), cut at the map's borders. In place; returns
    the map."""
    height, width = heatmap.shape
    x, y = center
    x0, x1 = max(x - radius, 0), min(x + radius + 1, width)
    y0, y1 = max(y - radius, 0), min(y + radius + 1, height)
    if x0 >= x1 or y0 >= y1:
        return heatmap
    kernel = gaussian_kernel(radius, heatmap.dtype).to(heatmap.device)
    window = kernel[y0 - y + radius: y1 - y + radius, x0 - x + radius: x1 - x + radius]
    region = heatmap[y0:y1, x0:x1]
    torch.maximum(region, window, out=region)
    return heatmap


def centernet_targets(boxes: torch.Tensor, classes: torch.Tensor, identities: torch.Tensor, num_classes: int,
                      output_size: Tuple[int, int], stride: int, max_objects: int, min_overlap: float = 0.7,
                      size_format: str = "wh", exact_radius: bool = False) -> Dict[str, torch.Tensor]:
    """Training targets of one image (CenterNet Sec. 3, FairMOT Sec. 3.3).

    ``boxes`` (N, 4) XYXY in input pixels, ``classes`` (N,) in [0, num_classes),
    ``identities`` (N,) track ids (-1: none); ``output_size`` = (H, W) of the map at ``stride``.
    An object whose box has no area or whose centre p / R lies outside the map is skipped
    (FairMOT's code instead clamps the centre into the map). Returns, with K = ``max_objects``
    slots, the kept objects first and in input order:

    - ``heatmap`` (num_classes, H, W): Y of Eq. 1, a Gaussian at each integer centre
      p~ = floor(p / R) of radius max(0, int(gaussian_radius(ceil(h), ceil(w)))) on the
      object's size in cells, as CenterNet;
    - ``indices`` (K,) int64: y * W + x of p~;
    - ``size`` (K, 2) the box's (w, h) in cells (Eq. 3, s_k), or with ``size_format="ltrb"``
      (K, 4) the distances from p / R to its four sides (FairMOT's released code);
    - ``offset`` (K, 2): p / R - p~ (Eq. 2);
    - ``identities`` (K,) int64, -1 in empty slots; ``mask`` (K,) bool, True on objects;
    - ``objects`` (K,) int64: the row of ``boxes`` each slot holds, -1 in empty slots.
    """
    height, width = output_size
    channels = _size_channels(size_format)
    scaled = boxes.reshape(-1, 4) / stride
    sizes = scaled[:, 2:] - scaled[:, :2]
    centres = (scaled[:, :2] + scaled[:, 2:]) / 2
    keep = ((sizes > 0).all(dim=1) & (centres >= 0).all(dim=1)
            & (centres[:, 0] < width) & (centres[:, 1] < height))
    count = int(keep.sum())
    if count > max_objects:
        raise ValueError(f"{count} objects in the image but max_objects is {max_objects}: raise max_objects")
    classes = classes.reshape(-1)[keep].long()
    if count and (classes.min() < 0 or classes.max() >= num_classes):
        raise ValueError(f"class ids must lie in [0, {num_classes}), got {sorted(set(classes.tolist()))}")
    scaled, sizes, centres = scaled[keep], sizes[keep], centres[keep]
    cells = centres.floor()

    heatmap = boxes.new_zeros((num_classes, height, width))
    for cls, (x, y), (w, h) in zip(classes.tolist(), cells.long().tolist(), sizes.tolist()):
        radius = max(0, int(gaussian_radius(math.ceil(h), math.ceil(w), min_overlap, exact_radius)))
        draw_gaussian(heatmap[cls], (x, y), radius)

    if size_format == "wh":
        size_target = sizes
    else:
        size_target = torch.cat([centres - scaled[:, :2], scaled[:, 2:] - centres], dim=1)
    targets = {
        "heatmap": heatmap,
        "indices": boxes.new_zeros(max_objects, dtype=torch.int64),
        "size": boxes.new_zeros((max_objects, channels)),
        "offset": boxes.new_zeros((max_objects, 2)),
        "identities": torch.full((max_objects,), -1, dtype=torch.int64, device=boxes.device),
        "mask": torch.zeros(max_objects, dtype=torch.bool, device=boxes.device),
        "objects": torch.full((max_objects,), -1, dtype=torch.int64, device=boxes.device),
    }
    targets["indices"][:count] = (cells[:, 1] * width + cells[:, 0]).long()
    targets["size"][:count] = size_target
    targets["offset"][:count] = centres - cells  # Eq. 2: p / R - p~
    targets["identities"][:count] = identities.reshape(-1)[keep].long()
    targets["mask"][:count] = True
    targets["objects"][:count] = keep.nonzero()[:, 0]
    return targets


def gather_at(feature_map: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """The C-vector of each (B, C, H, W) map at the flat cells ``indices`` (B, K): (B, K, C)."""
    flat = feature_map.flatten(2)  # (B, C, H * W)
    picked = flat.gather(2, indices[:, None, :].expand(-1, flat.shape[1], -1))
    return picked.transpose(1, 2)


def centernet_focal_loss(pred_logits: torch.Tensor, target_heatmap: torch.Tensor, alpha: float = 2.0,
                         beta: float = 4.0) -> torch.Tensor:
    """Penalty-reduced pixel-wise focal loss (Eq. 1, CenterNet) of (B, C, H, W) logits
    against the Gaussian heatmaps, summed over the batch and divided by the number N of
    peaks (cells where Y = 1; by 1 where there are none, as CenterNet's code).

    Y^ = sigmoid(logits) clamped to [1e-4, 1 - 1e-4] as CenterNet's ``_sigmoid`` (no
    gradient flows through a clamped cell, as there).
    """
    prob = pred_logits.sigmoid().clamp(PROBABILITY_CLAMP, 1 - PROBABILITY_CLAMP)
    positive = target_heatmap == 1
    # Eq. 1, CenterNet: (1 - Y^)^a log(Y^) where Y = 1, (1 - Y)^b Y^^a log(1 - Y^) elsewhere.
    positive_term = (1 - prob).pow(alpha) * prob.log()
    negative_term = (1 - target_heatmap).pow(beta) * prob.pow(alpha) * (1 - prob).log()
    total = torch.where(positive, positive_term, negative_term).sum()
    return -total / positive.sum().clamp(min=1)


def regression_l1_loss(pred_map: torch.Tensor, indices: torch.Tensor, mask: torch.Tensor,
                       target: torch.Tensor) -> torch.Tensor:
    """L1 between the (B, C, H, W) map read at ``indices`` (B, K) and ``target`` (B, K, C)
    over the objects of ``mask`` (B, K) (Eq. 2-3, CenterNet).

    Normalised by (number of objects) x C, as the ``RegL1Loss`` of CenterNet's and FairMOT's
    code (the mask is expanded over channels before it is summed), which the loss weights of
    both (size 0.1, offset 1) were tuned with; Eq. 2-3 write 1 / N, i.e. C times more.
    0 without objects.
    """
    errors = (gather_at(pred_map, indices) - target).abs()[mask]  # (objects, C)
    return errors.sum() / max(errors.numel(), 1)


def decode_centernet(heatmap_logits: torch.Tensor, size: torch.Tensor, offset: torch.Tensor, k: int = 500,
                     stride: int = 4, size_format: str = "wh") -> Dict[str, torch.Tensor]:
    """Detections from the head's maps (CenterNet Sec. 4, FairMOT Sec. 3.5).

    Peaks: cells equal to the max of their 3x3 neighbourhood in their class (max-pool NMS,
    done on the logits, which orders cells as the sigmoid does without its saturation);
    the K best peaks over all classes and cells, K = min(k, C * H * W). Each becomes the box
    about p~ + offset with the size head's (w, h) or (l, t, r, b), scaled by ``stride`` to
    input pixels.

    Returns, with B images: ``boxes`` (B, K, 4) XYXY, ``scores`` (B, K) sigmoid scores (0 for
    suppressed cells, which fill K when there are fewer peaks), ``classes`` (B, K) and
    ``indices`` (B, K) the flat cells, to read embeddings with ``gather_at``.
    """
    channels = _size_channels(size_format)
    if size.shape[1] != channels:
        raise ValueError(f"size_format {size_format!r} needs {channels} size channels, got {size.shape[1]}")
    top_scores, classes, indices = heatmap_peaks(heatmap_logits, k)
    centres = peak_centres(indices, heatmap_logits.shape[-1], offset)
    extents = gather_at(size, indices)
    if size_format == "wh":
        extents = torch.cat([extents / 2, extents / 2], dim=2)
    boxes = torch.cat([centres - extents[..., :2], centres + extents[..., 2:]], dim=2) * stride
    return {"boxes": boxes, "scores": top_scores, "classes": classes, "indices": indices}


def heatmap_peaks(heatmap_logits: torch.Tensor, k: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The K = min(k, C * H * W) best peaks of (B, C, H, W) heatmap logits: cells equal to
    the max of their 3x3 neighbourhood in their class (max-pool NMS on the logits, which
    orders cells as the sigmoid does without its saturation). Returns their sigmoid
    ``scores`` (0 for suppressed cells, which fill K when there are fewer peaks),
    ``classes`` and flat cell ``indices``, each (B, K)."""
    _, num_classes, height, width = heatmap_logits.shape
    peaks = heatmap_logits == F.max_pool2d(heatmap_logits, kernel_size=3, stride=1, padding=1)
    scores = heatmap_logits.sigmoid().masked_fill(~peaks, 0)
    top_scores, top = scores.flatten(1).topk(min(k, num_classes * height * width), dim=1)
    return top_scores, top // (height * width), top % (height * width)


def peak_centres(indices: torch.Tensor, width: int, offset: torch.Tensor) -> torch.Tensor:
    """Sub-cell centres p~ + O^ (CenterNet Sec. 4) of the flat cells ``indices`` (B, K) of a
    map ``width`` cells wide, with the (B, 2, H, W) ``offset`` map: (B, K, 2) x, y in cells."""
    cells = torch.stack([indices % width, indices // width], dim=2).to(offset.dtype)
    return cells + gather_at(offset, indices)


@dataclass(frozen=True)
class CenterNetDetection:
    """The detection of the one-shot model (FairMOT Sec. 3.3, CenterNet): the widths of its
    stride-4 fusion and heads, its targets, losses (Eq. 1-3) and decoding."""
    num_classes: int = 1
    head_conv: int = 256
    fusion_deformable: bool = True
    fusion_norm: str = "BN"
    size_format: str = "wh"
    min_overlap: float = 0.7
    max_objects: int = 500
    focal_alpha: float = 2.0
    focal_beta: float = 4.0
    heatmap_weight: float = 1.0
    size_weight: float = 0.1
    offset_weight: float = 1.0
    topk_test: int = 500
    score_thresh_test: float = 0.05
    stride: int = 4

    @classmethod
    def from_config(cls, cfg) -> "CenterNetDetection":
        one_shot = cfg.MODEL.ONE_SHOT
        return cls(one_shot.NUM_CLASSES, one_shot.HEAD_CONV, one_shot.FUSION_DEFORMABLE, one_shot.FUSION_NORM,
                   one_shot.SIZE_FORMAT, one_shot.MIN_OVERLAP, one_shot.MAX_OBJECTS, one_shot.FOCAL_ALPHA,
                   one_shot.FOCAL_BETA, one_shot.HEATMAP_WEIGHT, one_shot.SIZE_WEIGHT, one_shot.OFFSET_WEIGHT,
                   one_shot.TOPK_TEST, one_shot.SCORE_THRESH_TEST)

    def heads(self, in_channels: int) -> Dict[str, nn.Sequential]:
        """The heatmap, size and offset heads on a fused map of ``in_channels``."""
        return {"heatmap": prediction_head(in_channels, self.head_conv, self.num_classes, HEATMAP_PRIOR),
                "size": prediction_head(in_channels, self.head_conv, _size_channels(self.size_format)),
                "offset": prediction_head(in_channels, self.head_conv, 2)}

    def targets(self, boxes: List[torch.Tensor], classes: List[torch.Tensor], identities: List[torch.Tensor],
                output_size: Tuple[int, int]) -> Dict[str, torch.Tensor]:
        """:func:`centernet_targets` of each image, stacked (B, ...)."""
        per_image = [centernet_targets(b, c, i, self.num_classes, output_size, self.stride, self.max_objects,
                                       self.min_overlap, self.size_format)
                     for b, c, i in zip(boxes, classes, identities)]
        return {k: torch.stack([t[k] for t in per_image]) for k in per_image[0]}

    def losses(self, maps: Dict[str, torch.Tensor], targets: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """The focal loss on the heatmap (Eq. 1) and the L1 losses on sizes and offsets (Eq. 2-3)."""
        return {
            "loss_heatmap": centernet_focal_loss(maps["heatmap"], targets["heatmap"], self.focal_alpha,
                                                 self.focal_beta),
            "loss_size": regression_l1_loss(maps["size"], targets["indices"], targets["mask"], targets["size"]),
            "loss_offset": regression_l1_loss(maps["offset"], targets["indices"], targets["mask"],
                                              targets["offset"]),
        }

    def weighted_sum(self, losses: Dict[str, torch.Tensor]) -> torch.Tensor:
        """L_det: the losses of :meth:`losses` weighted (FairMOT: heatmap 1, size 0.1, offset 1)."""
        return (self.heatmap_weight * losses["loss_heatmap"] + self.size_weight * losses["loss_size"]
                + self.offset_weight * losses["loss_offset"])

    def decode(self, maps: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """:func:`decode_centernet` of the maps, TOPK_TEST peaks an image."""
        return decode_centernet(maps["heatmap"], maps["size"], maps["offset"], self.topk_test, self.stride,
                                self.size_format)
