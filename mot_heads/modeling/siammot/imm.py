"""SiamMOT's implicit motion model (IMM, Shuai et al., CVPR 2021, Sec. 3.2)."""
from typing import Dict, Tuple

import torch
from detectron2.modeling.box_regression import Box2BoxTransform
from fvcore.nn import sigmoid_focal_loss, smooth_l1_loss
from torch import nn

# Eq. 2: m = [(x' - x) / w, (y' - y) / h, log(w' / w), log(h' / h)] about the box centres,
# which is Detectron2's box transform with unit weights.
MOTION_CODER = Box2BoxTransform(weights=(1.0, 1.0, 1.0, 1.0))


class IMM(nn.Module):
    """MLP on the concatenated search-region features of frames t and t+delta,
    predicting the visibility confidence v and the motion m of Eq. 2.

    ``template`` is the search region's feature in frame t (IMM compares the same
    region in both frames), ``search`` the one in frame t+delta.
    """

    def __init__(self, in_channels: int, template_size: int = 15, search_size: int = 15, hidden_dim: int = 512,
                 focal_alpha: float = 0.25, focal_gamma: float = 2.0, smooth_l1_beta: float = 1.0):
        super().__init__()
        if template_size != search_size:
            raise ValueError(f"IMM concatenates two pooled regions of one size; got {template_size} and {search_size}")
        # "A 2-layer MLP with 512 hidden neurons" (Sec. 4.2), read as two hidden layers of
        # hidden_dim (ours), as Detectron2's 2fc box head, then linear predictors of v (a
        # logit) and m.
        self.mlp = nn.Sequential(
            nn.Flatten(), nn.Linear(2 * in_channels * template_size ** 2, hidden_dim), nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, hidden_dim), nn.ReLU(inplace=True),
        )
        self.visibility = nn.Linear(hidden_dim, 1)
        self.motion = nn.Linear(hidden_dim, 4)
        nn.init.normal_(self.motion.weight, std=0.001)  # ours, as Detectron2's box regressor
        nn.init.zeros_(self.motion.bias)
        nn.init.constant_(self.visibility.bias, -4.6)  # ours: prior 0.01, as RetinaNet's classifier
        self.focal_alpha, self.focal_gamma, self.smooth_l1_beta = focal_alpha, focal_gamma, smooth_l1_beta

    def forward(self, template: torch.Tensor, search: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(visibility logits (N,), motion (N, 4))."""
        hidden = self.mlp(torch.cat([template, search], dim=1))
        return self.visibility(hidden).squeeze(1), self.motion(hidden)

    def losses(self, template, search, prev_boxes, search_boxes, target_boxes, visible) -> Dict[str, torch.Tensor]:
        """Eq. 3: focal loss on v for every triplet, smooth L1 on m for the visible ones.
        Averaged over triplets and over visible triplets (ours: Sec. 3.4 sums over the
        triplets, which would tie the learning rate to their number)."""
        logits, motion = self(template, search)
        count = max(len(logits), 1)
        loss_vis = sigmoid_focal_loss(logits, visible.float(), self.focal_alpha, self.focal_gamma, "sum") / count
        targets = MOTION_CODER.get_deltas(prev_boxes[visible], target_boxes[visible])
        loss_reg = smooth_l1_loss(motion[visible], targets, self.smooth_l1_beta, "sum") / max(int(visible.sum()), 1)
        return {"loss_track_vis": loss_vis, "loss_track_reg": loss_reg}

    def predict(self, template, search, prev_boxes, search_boxes) -> Tuple[torch.Tensor, torch.Tensor]:
        """Boxes in frame t+delta decoded from m (Eq. 2) and their visibility in [0, 1]."""
        logits, motion = self(template, search)
        return MOTION_CODER.apply_deltas(motion, prev_boxes), logits.sigmoid()
