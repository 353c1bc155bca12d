"""Training triplets of SiamMOT's track head (Shuai et al., CVPR 2021, Sec. 3.4 and 5.2).

A triplet is (R^t, S^{t+delta}, R*^{t+delta}): a template box of frame t, its search
region in the next frame, and the target's box there. Templates are the box head's
training proposals of frame t (the 256 regions sampled from the RPN's output, gt boxes
included, matched to gt by Detectron2's ROI heads): "we sample 256 image regions from
the output of the RPN to train them" (Sec. 4.2). Each is labelled (Sec. 5.2):

* positive: R^t includes a person (it matches a gt) and S^{t+delta} includes the same
  person (v* = 1, target = that identity's box);
* hard: R^t includes a person but S^{t+delta} does not include it (v* = 0);
* negative: R^t does not include a person (a background proposal; v* = 0).

S "includes" an identity (ours: the paper gives no test) when its next box has its
centre inside S and a visibility of at least ``min_visibility``.
"""
from typing import Collection, Tuple

import torch
from detectron2.structures import Instances

from ...errors import InputError
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
    if not len(proposals) or not proposals.has("gt_track_ids"):
        return kinds, targets
    foreground = proposals.gt_classes < num_classes
    kinds[foreground] = HARD
    if not len(next_targets):
        return kinds, targets
    regions = search_regions(boxes, search_scale)
    next_boxes = next_targets.gt_boxes.tensor
    centres = next_boxes.view(-1, 2, 2).mean(dim=1)
    inside = ((centres[None] >= regions[:, None, :2]) & (centres[None] <= regions[:, None, 2:])).all(dim=2)
    present = inside & (next_targets.gt_visibility >= min_visibility)[None]
    found = present & (proposals.gt_track_ids[:, None] == next_targets.gt_track_ids[None]) & foreground[:, None]
    positive = found.any(dim=1)
    kinds[positive] = POSITIVE
    targets[positive] = next_boxes[found[positive].float().argmax(dim=1)]
    return kinds, targets


def sample_triplets(kinds: torch.Tensor, allowed: Collection[str], num_samples: int, positive_fraction: float,
                    hard_fraction: float) -> torch.Tensor:
    """Indices of the triplets of the ``allowed`` kinds drawn at random: at most
    ``positive_fraction`` x ``num_samples`` positive ones and ``hard_fraction`` x
    ``num_samples`` hard ones, then negative ones up to ``num_samples`` in all (the mix
    of the authors' sampler; the paper gives none)."""
    if not allowed or set(allowed) - set(KINDS):
        raise InputError(f"MODEL.TRACK_HEAD.TRIPLETS {tuple(allowed)}: expected one or more of {KINDS}")
    if positive_fraction + hard_fraction > 1:
        raise InputError(f"MODEL.TRACK_HEAD.POSITIVE_FRACTION + HARD_FRACTION must be at most 1, got "
                         f"{positive_fraction} + {hard_fraction}")
    quotas = {POSITIVE: int(num_samples * positive_fraction), HARD: int(num_samples * hard_fraction)}
    chosen = []
    for kind, name in enumerate(KINDS):
        if name not in allowed:
            continue
        rows = torch.nonzero(kinds == kind, as_tuple=True)[0]
        quota = quotas.get(kind, num_samples - sum(len(c) for c in chosen))
        chosen.append(rows[torch.randperm(len(rows), device=rows.device)[:quota]])
    return torch.cat(chosen)
