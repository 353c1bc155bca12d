"""SiamMOT's explicit motion model (EMM, Shuai et al., CVPR 2021, Sec. 3.3, Eq. 4-6).

The template f_R (T x T cells, pooled over R^t) is cross-correlated channel by channel
with the search feature f_S (S x S cells, pooled over S = R^t expanded about its centre,
in frame t+delta). Both grids have the same cell size, so the "valid" correlation gives an
(S - T + 1)^2 response whose cell j aligns the template with search cells j .. j+T-1. An
FCOS-style head turns it into a visibility map v and a map p of (l, t, r, b) distances
from each response location to the sides of the target box.

Tensors: boxes are XYXY image coordinates; ``locations`` (N, 2, H, W) hold the (x, y) of
each response cell; ``ltrb`` (N, 4, H, W) the distances, in image pixels.
"""
import math
from typing import Dict, Tuple

import torch
import torch.nn.functional as F
from detectron2.layers import Conv2d, get_norm
from fvcore.nn import sigmoid_focal_loss
from torch import nn

# Initial visibility probability of every location (ours: RetinaNet's / FCOS's prior).
VISIBILITY_PRIOR = 0.01
# Upper bound of the predicted log-distance (in search cells) before exp: an overflow guard
# only, far above any distance inside a search region (e^7 ~ 1100 cells).
MAX_LOG_DISTANCE = 7.0
# Avoids log(0) and 0 / 0 in the losses.
EPS = 1e-6


def cell_sizes(search_boxes: torch.Tensor, search_size: int) -> torch.Tensor:
    """(width, height) in pixels of one cell of the S x S search grid, (N, 2)."""
    return (search_boxes[:, 2:] - search_boxes[:, :2]) / search_size


def response_locations(search_boxes: torch.Tensor, template_size: int, search_size: int) -> torch.Tensor:
    """Image (x, y) of each response cell, (N, 2, H, W) with H = W = S - T + 1 (ours:
    the paper does not place the response locations).

    Aligned RoIAlign (ROIAlignV2) samples cell i of a grid over [x0, x1] at its centre
    x0 + (i + 0.5) * cell; response cell j puts the template's centre (T / 2 cells from
    its first side) at x0 + (j + T / 2) * cell, which is that cell's location.
    """
    size = search_size - template_size + 1
    steps = torch.arange(size, dtype=search_boxes.dtype, device=search_boxes.device) + template_size / 2
    coords = search_boxes[:, :2, None] + steps * cell_sizes(search_boxes, search_size)[:, :, None]  # (N, 2, size)
    xs = coords[:, 0, None, :].expand(-1, size, -1)
    ys = coords[:, 1, :, None].expand(-1, -1, size)
    return torch.stack([xs, ys], dim=1)


def _grouped_correlation(inputs: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Each (sample, channel) map of ``inputs`` (N, C, H, W) correlated ("valid") with its
    own map of ``kernels`` (N, C, h, w): (N, C, H - h + 1, W - w + 1), one grouped conv."""
    n, c, height, width = inputs.shape
    if n == 0:  # grouped convolution does not accept zero groups
        return inputs.new_zeros((0, c, height - kernels.shape[-2] + 1, width - kernels.shape[-1] + 1))
    out = F.conv2d(inputs.reshape(1, n * c, height, width), kernels.reshape(n * c, 1, *kernels.shape[-2:]),
                   groups=n * c)
    return out.reshape(n, c, *out.shape[-2:])


class _DepthwiseXCorr(torch.autograd.Function):
    """The channel-wise correlation with its backward written as two more correlations.

    On CPU autograd's backward of a grouped conv with thousands of groups and 15x15 kernels
    takes over 20x its forward (64 triplets x 64 channels: 266 ms against 11 ms); this one
    is two more forward passes (47 ms):
    dL/dtemplate = corr(search, g), dL/dsearch = corr(g zero-padded by T - 1, flipped template).
    """

    @staticmethod
    def forward(ctx, search: torch.Tensor, template: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(search, template)
        return _grouped_correlation(search, template)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        search, template = ctx.saved_tensors
        pad_h, pad_w = template.shape[-2] - 1, template.shape[-1] - 1
        grad_search = _grouped_correlation(F.pad(grad, (pad_w, pad_w, pad_h, pad_h)), template.flip(-2, -1))
        return grad_search, _grouped_correlation(search, grad)


def depthwise_xcorr(search: torch.Tensor, template: torch.Tensor) -> torch.Tensor:
    """r = f_S * f_R: channel-wise "valid" cross-correlation of each search map with its
    own template (Sec. 3.3), (N, C, S - T + 1, S - T + 1)."""
    return _DepthwiseXCorr.apply(search, template)


def centerness(ltrb: torch.Tensor) -> torch.Tensor:
    """FCOS centre-ness sqrt(min(l, r) / max(l, r) * min(t, b) / max(t, b)) over dim 1
    (w(x, y) of Eq. 6); 0 outside the box, where a distance is negative."""
    pairs = ltrb.clamp(min=0).unflatten(1, (2, 2))  # [[l, t], [r, b]]
    ratios = pairs.min(dim=1).values / pairs.max(dim=1).values.clamp(min=EPS)
    return ratios.prod(dim=1).sqrt()


def track_targets(locations: torch.Tensor, target_boxes: torch.Tensor,
                  visible: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Targets of Eq. 6 at the response locations: v* (N, H, W), 1 strictly inside the
    target box R*^{t+delta} of a visible triplet ("within": the border left out is ours)
    and 0 elsewhere; p* = (l, t, r, b) distances to R* (N, 4, H, W); the centre-ness of
    R* at each location (N, H, W)."""
    xs, ys = locations.unbind(dim=1)
    box = target_boxes[:, :, None, None]
    ltrb = torch.stack([xs - box[:, 0], ys - box[:, 1], box[:, 2] - xs, box[:, 3] - ys], dim=1)
    labels = (ltrb.min(dim=1).values > 0) & visible[:, None, None]
    return labels.to(ltrb.dtype), ltrb, centerness(ltrb)


def cosine_window(locations: torch.Tensor, prev_boxes: torch.Tensor, half_extent: torch.Tensor) -> torch.Tensor:
    """C of Eq. 5: a Hann window centred on the centre of R^t, (N, H, W), reaching 0 at
    ``half_extent`` (N, 2) pixels from it along x and y and staying 0 beyond (the extent
    is ours: the paper names only a cosine window).

    With half the response grid's extent (see ``window_half_extent``) on the usual grid,
    centred on R^t, this is SiamFC's Hanning window: the outer product of
    ``torch.hann_window(H, periodic=False)``.
    """
    centres = (prev_boxes[:, :2] + prev_boxes[:, 2:]) / 2
    offsets = (locations - centres[:, :, None, None]) / half_extent[:, :, None, None]
    return (0.5 * (1 + torch.cos(math.pi * offsets.abs().clamp(max=1)))).prod(dim=1)


def window_half_extent(search_boxes: torch.Tensor, template_size: int, search_size: int) -> torch.Tensor:
    """Half the extent of the response grid, (S - T) / 2 cells, in pixels, (N, 2)."""
    return cell_sizes(search_boxes, search_size) * (search_size - template_size) / 2


def scale_penalty(ltrb: torch.Tensor, prev_boxes: torch.Tensor, sigma: float) -> torch.Tensor:
    """S of Eq. 5: a Gaussian of the relative change of width and height from R^t to the
    box predicted at each location, exp(-(log(w'/w)^2 + log(h'/h)^2) / (2 sigma^2)), (N, H, W).

    The paper only says "Gaussian" of "the relative scale (height / width) changes"; the
    log ratios of width and height are ours: growing and shrinking by one factor cost the
    same (the authors' code uses exp(0.1 * (1 - s_w * s_h)) instead, with
    s = max(ratio, 1 / ratio)), and so does sigma.
    """
    sizes = ltrb[:, :2] + ltrb[:, 2:]  # (l + r, t + b) = (w', h')
    prev_sizes = (prev_boxes[:, 2:] - prev_boxes[:, :2])[:, :, None, None]
    log_change = torch.log(sizes / prev_sizes)
    return torch.exp(-log_change.pow(2).sum(dim=1) / (2 * sigma ** 2))


def motion_penalty(locations: torch.Tensor, ltrb: torch.Tensor, prev_boxes: torch.Tensor, half_extent: torch.Tensor,
                   window_weight: float, scale_sigma: float) -> torch.Tensor:
    """eta = lambda * C + (1 - lambda) * S (Eq. 5, SiamMOT), (N, H, W)."""
    window = cosine_window(locations, prev_boxes, half_extent)
    return window_weight * window + (1 - window_weight) * scale_penalty(ltrb, prev_boxes, scale_sigma)


def decode_response(visibility: torch.Tensor, penalty: torch.Tensor, locations: torch.Tensor,
                    ltrb: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Eq. 4: (x*, y*) = argmax of v * eta; R^{t+delta} is the box p(x*, y*) and its
    visibility v(x*, y*) (before the penalty). Returns boxes (N, 4) and visibility (N,)."""
    best = (visibility * penalty).flatten(1).argmax(dim=1)  # Eq. 4, SiamMOT
    rows = torch.arange(len(best), device=best.device)
    centre = locations.flatten(2)[rows, :, best]
    distances = ltrb.flatten(2)[rows, :, best]
    boxes = torch.cat([centre - distances[:, :2], centre + distances[:, 2:]], dim=1)
    return boxes, visibility.flatten(1)[rows, best]


def iou_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """-ln(IoU) (UnitBox, as FCOS) of two boxes given as (l, t, r, b) distances from one
    location, (P, 4) each -> (P,)."""
    def area(ltrb):
        return (ltrb[:, 0] + ltrb[:, 2]) * (ltrb[:, 1] + ltrb[:, 3])

    intersection = area(torch.minimum(pred, target))
    union = area(pred) + area(target) - intersection
    return -torch.log((intersection / union).clamp(min=EPS))


class EMM(nn.Module):
    """Explicit motion model: depth-wise cross-correlation + FCOS-style head (Eq. 4-6).

    ``template`` (N, C, T, T) is pooled over the boxes R^t, ``search`` (N, C, S, S) over
    ``search_boxes`` in frame t+delta, at the same FPN level (equal cell sizes).
    """

    def __init__(self, in_channels: int, template_size: int = 15, search_size: int = 30, num_convs: int = 2,
                 norm: str = "GN", focal_alpha: float = 0.25, focal_gamma: float = 2.0,
                 window_weight: float = 0.4, scale_sigma: float = 0.4):
        super().__init__()
        self.template_size, self.search_size = template_size, search_size
        self.focal_alpha, self.focal_gamma = focal_alpha, focal_gamma
        self.window_weight, self.scale_sigma = window_weight, scale_sigma
        # "A 2-layer fully convolutional network, with stacks of 3x3 convolution kernels
        # and group normalization" (Sec. 4.2). Ours (the paper does not say whether v and p
        # share layers): as FCOS and the authors' code, each has its own tower of
        # num_convs - 1 3x3 conv + GN + ReLU, then a 3x3 prediction conv.
        self.visibility_tower = self._tower(in_channels, num_convs - 1, norm)
        self.distance_tower = self._tower(in_channels, num_convs - 1, norm)
        self.visibility = nn.Conv2d(in_channels, 1, kernel_size=3, padding=1)
        # Ours: p is predicted as log-distances in search cells, ltrb = exp(out) * cell,
        # positive and invariant to the region's scale (FCOS uses exp too, in strides).
        self.distances = nn.Conv2d(in_channels, 4, kernel_size=3, padding=1)
        for conv in [*self.visibility_tower, *self.distance_tower, self.visibility, self.distances]:
            nn.init.normal_(conv.weight, std=0.01)  # ours: FCOS / RetinaNet head initialisation
            if conv.bias is not None:
                nn.init.zeros_(conv.bias)
        nn.init.constant_(self.visibility.bias, -math.log((1 - VISIBILITY_PRIOR) / VISIBILITY_PRIOR))
        # Ours: start from "the template's box about each location" (T / 2 cells to each side).
        nn.init.constant_(self.distances.bias, math.log(template_size / 2))

    @staticmethod
    def _tower(channels: int, depth: int, norm: str) -> nn.Sequential:
        return nn.Sequential(*[
            Conv2d(channels, channels, kernel_size=3, padding=1, bias=not norm,
                   norm=get_norm(norm, channels), activation=F.relu)
            for _ in range(depth)
        ])

    def forward(self, template: torch.Tensor, search: torch.Tensor,
                search_boxes: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Visibility logits v (N, H, W) and distances p = (l, t, r, b) (N, 4, H, W) in
        image pixels (hence ``search_boxes``, which give the cell size)."""
        response = depthwise_xcorr(search, template)
        logits = self.visibility(self.visibility_tower(response)).squeeze(1)
        log_cells = self.distances(self.distance_tower(response)).clamp(max=MAX_LOG_DISTANCE)
        cells = cell_sizes(search_boxes, self.search_size).repeat(1, 2)  # (w, h, w, h) for (l, t, r, b)
        return logits, log_cells.exp() * cells[:, :, None, None]

    def losses(self, template, search, prev_boxes, search_boxes, target_boxes, visible) -> Dict[str, torch.Tensor]:
        """Eq. 6: focal loss on v at every location, IoU loss on p at the positive ones
        weighted by the target's centre-ness. Normalised as FCOS: the focal loss by the
        number of positive locations (at least 1), the IoU loss by the sum of their weights
        (ours: Sec. 3.4 sums over the triplets).
        ``prev_boxes`` is unused: EMM's targets live on the search grid alone."""
        logits, ltrb = self(template, search, search_boxes)
        locations = response_locations(search_boxes, self.template_size, self.search_size)
        labels, ltrb_targets, weights = track_targets(locations, target_boxes, visible)
        # Eq. 6, SiamMOT: sum_xy focal(v, v*) + sum_xy 1[v* = 1] w l_reg(p, p*). Without any
        # positive both sums are empty or over negatives only, and stay attached to the graph.
        loss_vis = sigmoid_focal_loss(logits, labels, self.focal_alpha, self.focal_gamma, reduction="sum")
        positive = labels.bool()
        weights = weights[positive]
        per_location = iou_loss(ltrb.permute(0, 2, 3, 1)[positive], ltrb_targets.permute(0, 2, 3, 1)[positive])
        return {
            "loss_track_vis": loss_vis / labels.sum().clamp(min=1),
            "loss_track_reg": (per_location * weights).sum() / weights.sum().clamp(min=EPS),
        }

    def predict(self, template, search, prev_boxes, search_boxes) -> Tuple[torch.Tensor, torch.Tensor]:
        """Boxes R^{t+delta} (N, 4) and visibility (N,) in [0, 1], decoded by Eq. 4 with
        the penalty of Eq. 5."""
        logits, ltrb = self(template, search, search_boxes)
        locations = response_locations(search_boxes, self.template_size, self.search_size)
        half_extent = window_half_extent(search_boxes, self.template_size, self.search_size)
        penalty = motion_penalty(locations, ltrb, prev_boxes, half_extent, self.window_weight, self.scale_sigma)
        return decode_response(logits.sigmoid(), penalty, locations, ltrb)
