"""Training triplets of SiamMOT's track head (Shuai et al., CVPR 2021, Sec. 5.2).

A triplet is (R^t, S^{t+delta}, R*^{t+delta}): a template box of frame t, its search
region in the next frame, and the target's box there. Templates are the box head's
training proposals of frame t (RPN proposals and gt boxes, already matched to gt by
Detectron2's ROI heads). Each is labelled:

* positive: it matches a gt whose identity is visible in the next frame with its centre
  inside the search region (v* = 1, target = that identity's box);
* hard: it matches a gt whose identity is absent there, but another object of the same
  class is inside the search region (a distractor; v* = 0);
* negative: a background template, or an absent identity with no distractor (v* = 0).
"""
from typing import Collection, Tuple

import torch
from detectron2.modeling.sampling import subsample_labels
from detectron2.structures import Instances

from .regions import search_regions

KINDS = ("positive", "hard", "negative")
POSITIVE, HARD, NEGATIVE = range(3)


def label_triplets(
    proposals: Instances, next_targets: Instances, num_classes: int, search_scale: float, min_visibility: float
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Kind of each proposal's triplet (POSITIVE, HARD or NEGATIVE) and its target box
    (the proposal's own box where there is no target)."""
    boxes = proposals.proposal_boxes.tensor
    kinds = torch.full((len(proposals),), NEGATIVE, dtype=torch.long, device=boxes.device)
    targets = boxes.clone()
    if not len(proposals) or not len(next_targets) or not proposals.has("gt_track_ids"):
        return kinds, targets
    foreground = proposals.gt_classes < num_classes
    regions = search_regions(boxes, search_scale)
    next_boxes = next_targets.gt_boxes.tensor
    centres = next_boxes.view(-1, 2, 2).mean(dim=1)
    inside = ((centres[None] >= regions[:, None, :2]) & (centres[None] <= regions[:, None, 2:])).all(dim=2)
    present = inside & (next_targets.gt_visibility >= min_visibility)[None]
    same_identity = (proposals.gt_track_ids[:, None] == next_targets.gt_track_ids[None]) & foreground[:, None]
    found = present & same_identity
    positive = found.any(dim=1)
    kinds[positive] = POSITIVE
    targets[positive] = next_boxes[found[positive].float().argmax(dim=1)]
    distractor = present & ~same_identity & (proposals.gt_classes[:, None] == next_targets.gt_classes[None])
    kinds[foreground & ~positive & distractor.any(dim=1)] = HARD
    return kinds, targets


def sample_triplets(kinds: torch.Tensor, allowed: Collection[str], num_samples: int, positive_fraction: float) -> torch.Tensor:
    """Indices of at most ``num_samples`` triplets of the ``allowed`` kinds, positives
    up to ``positive_fraction`` of them (Detectron2's sampler), hard and negative after."""
    unknown = set(allowed) - set(KINDS)
    if unknown:
        raise ValueError(f"MODEL.TRACK_HEAD.TRIPLETS: unknown kinds {sorted(unknown)}; expected some of {KINDS}")
    labels = torch.where(kinds == POSITIVE, 1, 0)
    for kind, name in enumerate(KINDS):
        if name not in allowed:
            labels[kinds == kind] = -1
    positive, negative = subsample_labels(labels, num_samples, positive_fraction, 0)
    return torch.cat([positive, negative])
