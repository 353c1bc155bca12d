"""OUTrack's occlusion estimation (Liu et al., Neurocomputing 2022, Sec. 3.2.1).

Where one object covers most of another, the overlap of their boxes is a *valid
occlusion* (Eq. 9). A head beside the detection heads predicts a heatmap of the centres
of valid occlusions (a Gaussian at each, the max over pairs, Eq. 10; CenterNet's focal
loss, Eq. 11-12) and their sub-cell offsets (L1, Eq. 13), both divided by the number of
valid occlusions (Eq. 14). At inference its peaks are the occlusion centres that
OUTrack's tracker (``trackers/outrack.py``, Algorithm 1, Sec. 3.2.2) uses to find objects
the detector missed.

The targets are CenterNet's with the overlap boxes as one-class objects: sigma "is set
to be relative to the size of o_ij following the definition in [23]" (CornerNet: the
radius from the overlap's size, sigma = diameter / 6), and overlaps drawn on one cell
keep the maximum. The boxes paired are those
of every annotated object, hidden ones included (``hidden_objects``): the paper trains on
FairMOT's MOT17 labels, which keep pedestrians of any visibility, while our detection
targets leave out objects below the dataset's minimum visibility (their boxes come as
``hidden_boxes``, see ``data.identities.pop_annotations``). Without them, an object 91%
hidden is an occlusion target and the same object 90% hidden teaches "no occlusion".
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from .centernet import (
    HEATMAP_PRIOR, centernet_focal_loss, centernet_targets, heatmap_peaks, peak_centres, prediction_head,
    regression_l1_loss,
)


def valid_occlusions(boxes: torch.Tensor, threshold: float) -> torch.Tensor:
    """The overlaps o_ij of every pair i < j of (N, 4) XYXY ``boxes`` whose area exceeds
    ``threshold`` (tau) times the smaller box's area (Eq. 9): (K, 4) XYXY."""
    boxes = boxes.reshape(-1, 4)
    first, second = torch.triu_indices(len(boxes), len(boxes), offset=1, device=boxes.device)
    a, b = boxes[first], boxes[second]
    overlap = torch.cat([torch.maximum(a[:, :2], b[:, :2]), torch.minimum(a[:, 2:], b[:, 2:])], dim=1)
    sides = (overlap[:, 2:] - overlap[:, :2]).clamp(min=0)
    areas = (boxes[:, 2:] - boxes[:, :2]).prod(dim=1)
    smaller = torch.minimum(areas[first], areas[second])
    return overlap[sides.prod(dim=1) > threshold * smaller]


def occlusion_targets(boxes: torch.Tensor, output_size: Tuple[int, int], stride: int, threshold: float,
                      max_occlusions: int, min_overlap: float) -> Dict[str, torch.Tensor]:
    """Heatmap (1, H, W) of Eq. 10 and the ``indices`` / ``offset`` / ``mask`` of the
    valid occlusions of one image (see :func:`centernet_targets`)."""
    overlaps = valid_occlusions(boxes, threshold)
    count = len(overlaps)
    no_class = overlaps.new_zeros(count, dtype=torch.int64)
    no_identity = torch.full((count,), -1, dtype=torch.int64, device=boxes.device)
    targets = centernet_targets(overlaps, no_class, no_identity, 1, output_size, stride, max_occlusions, min_overlap)
    return {k: targets[k] for k in ("heatmap", "indices", "offset", "mask")}


class OcclusionHead(nn.Module):
    """Occlusion heatmap and offset heads (3x3 conv, ReLU, 1x1 conv each), their losses
    and the decoding of occlusion centres."""

    def __init__(self, in_channels: int, hidden: int, threshold: float, max_occlusions: int, min_overlap: float,
                 focal_alpha: float, focal_beta: float, offset_weight: float, hidden_objects: bool = True,
                 loss_weight: float = 0.5, topk_test: int = 100, score_thresh_test: float = 0.1):
        """``loss_weight``: of the occlusion loss in the detection loss (Sec. 4.1: 0.5);
        ``topk_test`` peaks are decoded at inference, those above ``score_thresh_test`` kept."""
        super().__init__()
        self.hidden_objects, self.loss_weight = hidden_objects, loss_weight
        self.topk_test, self.score_thresh_test = topk_test, score_thresh_test
        self.heatmap = prediction_head(in_channels, hidden, 1, HEATMAP_PRIOR)
        self.offset = prediction_head(in_channels, hidden, 2)
        self.threshold, self.max_occlusions, self.min_overlap = threshold, max_occlusions, min_overlap
        self.focal_alpha, self.focal_beta, self.offset_weight = focal_alpha, focal_beta, offset_weight

    def forward(self, fused: torch.Tensor) -> Dict[str, torch.Tensor]:
        return {"heatmap": self.heatmap(fused), "offset": self.offset(fused)}

    def losses(self, maps: Dict[str, torch.Tensor], gt_boxes: List[torch.Tensor], stride: int,
               hidden_boxes: Optional[List[Optional[torch.Tensor]]] = None) -> Dict[str, torch.Tensor]:
        """Focal loss on the heatmap (Eq. 11-12) and L1 on the offsets at the occlusion
        centres (Eq. 13), each divided by the number of valid occlusions (Eq. 14; by the
        number of heatmap peaks, at least 1, for the focal loss, as CenterNet); the pairs of
        Eq. 9 are those of each image's ``gt_boxes`` and (with ``hidden_objects``) its
        ``hidden_boxes`` (None: none)."""
        if self.hidden_objects and hidden_boxes is not None:
            gt_boxes = [b if h is None else torch.cat([b, h.to(b)]) for b, h in zip(gt_boxes, hidden_boxes)]
        size = tuple(maps["heatmap"].shape[-2:])
        per_image = [occlusion_targets(b, size, stride, self.threshold, self.max_occlusions, self.min_overlap)
                     for b in gt_boxes]
        targets = {k: torch.stack([t[k] for t in per_image]) for k in per_image[0]}
        return {
            "loss_occlusion_heatmap": centernet_focal_loss(maps["heatmap"], targets["heatmap"], self.focal_alpha,
                                                           self.focal_beta),
            # Eq. 13-14: the L1 norm of each 2-vector error (regression_l1_loss divides by the channels too)
            "loss_occlusion_offset": self.offset_weight * maps["offset"].shape[1] * regression_l1_loss(
                maps["offset"], targets["indices"], targets["mask"], targets["offset"]),
        }

    @staticmethod
    def decode(maps: Dict[str, torch.Tensor], k: int, stride: int) -> Tuple[torch.Tensor, torch.Tensor]:
        """The K best occlusion peaks: centres (B, K, 2) x, y in input pixels, scores (B, K)."""
        scores, _, indices = heatmap_peaks(maps["heatmap"], k)
        return peak_centres(indices, maps["heatmap"].shape[-1], maps["offset"]) * stride, scores

    def results(self, maps: Dict[str, torch.Tensor], stride: int, image_sizes: Sequence[Tuple[int, int]],
                output_sizes: Sequence[Tuple[int, int]]) -> List[Dict[str, torch.Tensor]]:
        """Each image's kept occlusion peaks: ``centers`` (K, 2) x, y and ``scores`` (K,), in
        the pixels of its output size (height, width) rather than its input size."""
        centres, scores = self.decode(maps, self.topk_test, stride)
        results = []
        for image_centres, image_scores, (in_h, in_w), (out_h, out_w) in zip(centres, scores, image_sizes,
                                                                            output_sizes):
            keep = image_scores > self.score_thresh_test
            scale = image_centres.new_tensor([out_w / in_w, out_h / in_h])
            results.append({"centers": image_centres[keep] * scale, "scores": image_scores[keep]})
        return results


def build_occlusion_head(cfg, in_channels: int) -> Optional[OcclusionHead]:
    """OUTrack's occlusion head on a fused map of ``in_channels`` (MODEL.ONE_SHOT.OCCLUSION), or None."""
    one_shot = cfg.MODEL.ONE_SHOT
    occ = one_shot.OCCLUSION
    if not occ.ENABLED:
        return None
    return OcclusionHead(in_channels, occ.HEAD_CONV, occ.OVERLAP_THRESHOLD, occ.MAX_OCCLUSIONS, one_shot.MIN_OVERLAP,
                         one_shot.FOCAL_ALPHA, one_shot.FOCAL_BETA, occ.OFFSET_WEIGHT, occ.HIDDEN_OBJECTS,
                         occ.LOSS_WEIGHT, occ.TOPK_TEST, occ.SCORE_THRESH_TEST)
