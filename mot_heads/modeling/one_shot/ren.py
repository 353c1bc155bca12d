"""CSTrack's reciprocal network (REN, Liang et al., IEEE TIP 2022, arXiv 2010.12138, Sec. III-B).

One shared neck feature F (B, C, H, W) becomes two task-specific features, index 1 for
detection and 2 for the identity embedding, as in the paper. F is average-pooled to a
fixed grid F' (6 x 10) and two convolution layers give M1, M2 (B, C, N'). Each task relates
its channels to its own (self-relation, Eq. 2) and to the other task's (cross-relation,
Eq. 3); a learnable lambda mixes the two C x C maps (Eq. 4), and the mixed map re-weights
the channels of a 1x1 convolution of F, added back to F as a residual.

Every relation map is a softmax over its last dimension: row i of W holds the weights
with which channel i gathers all C channels, and sums to 1.
"""
from typing import Dict, NamedTuple, Optional, Tuple

import torch
from detectron2.layers import ShapeSpec
from torch import nn

# Slope of the LeakyReLU closing M1 and M2 (ours: the authors' code; the paper only says "convolution").
LEAKY_SLOPE = 0.3


class RelationMaps(NamedTuple):
    """The C x C maps of one REN, each (B, C, C), named after the paper's symbols."""
    w1: torch.Tensor    # Eq. 4, detection
    w2: torch.Tensor    # Eq. 4, identity
    w_t1: torch.Tensor  # Eq. 2, self-relation of M1
    w_t2: torch.Tensor  # Eq. 2, self-relation of M2
    w_s1: torch.Tensor  # Eq. 3, M1 against M2
    w_s2: torch.Tensor  # Eq. 3, M2 against M1


def reciprocal_relation_maps(m1: torch.Tensor, m2: torch.Tensor, lambda1: torch.Tensor,
                             lambda2: torch.Tensor) -> RelationMaps:
    """Eq. 2-4 on the tensors M1, M2 (B, C, N') of the two tasks."""
    m1_t, m2_t = m1.transpose(1, 2), m2.transpose(1, 2)
    w_t1 = torch.softmax(torch.bmm(m1, m1_t), dim=-1)  # Eq. 2: W_T1 = row-softmax(M1 M1^T)
    w_t2 = torch.softmax(torch.bmm(m2, m2_t), dim=-1)  # Eq. 2: W_T2 = row-softmax(M2 M2^T)
    w_s1 = torch.softmax(torch.bmm(m1, m2_t), dim=-1)  # Eq. 3: W_S1 = row-softmax(M1 M2^T)
    w_s2 = torch.softmax(torch.bmm(m2, m1_t), dim=-1)  # Eq. 3: W_S2 = row-softmax(M2 M1^T)
    w1 = lambda1 * w_t1 + (1 - lambda1) * w_s1  # Eq. 4: W1 = lambda W_T1 + (1 - lambda) W_S1
    w2 = lambda2 * w_t2 + (1 - lambda2) * w_s2  # Eq. 4: W2 = lambda W_T2 + (1 - lambda) W_S2
    return RelationMaps(w1, w2, w_t1, w_t2, w_s1, w_s2)


class RelationEnhancement(nn.Module):
    """REN on one feature level: F (B, C, H, W) -> (F_det, F_id), both (B, C, H, W)."""

    def __init__(self, channels: int, pooled_size: Tuple[int, int] = (6, 10), lambda_init: float = 0.5):
        super().__init__()
        # F' = AvgPool(F) on a fixed H' x W' grid ((6, 10), Sec. IV-A), so that the cost of
        # Eq. 2-3 does not grow with the image.
        self.pool = nn.AdaptiveAvgPool2d(pooled_size)
        self.m1 = self._projection(channels)
        self.m2 = self._projection(channels)
        # Eq. 4's trade-off lambda_k, one per task, learnable and initialised to 0.5
        # (Sec. IV-A). Left unconstrained (ours: the authors' code; the paper gives no range).
        self.lambda1 = nn.Parameter(torch.tensor(float(lambda_init)))
        self.lambda2 = nn.Parameter(torch.tensor(float(lambda_init)))
        # Sec. III-B: "F_i is processed by one 1 x 1 convolution layer", which the maps
        # re-weight. Initialised to the identity (ours: the authors' code multiplies F itself,
        # which this is at initialisation).
        self.value = nn.Conv2d(channels, channels, kernel_size=1)
        with torch.no_grad():
            self.value.weight.copy_(torch.eye(channels)[:, :, None, None])
            self.value.bias.zero_()

    @staticmethod
    def _projection(channels: int) -> nn.Sequential:
        """M1 / M2: "different convolution layers" (Sec. III-B); ours: 3x3 conv + InstanceNorm
        + LeakyReLU as the authors' code. The normalisation puts M M^T on one scale whatever
        F's magnitude."""
        return nn.Sequential(
            nn.Conv2d(channels, channels, kernel_size=3, padding=1),
            nn.InstanceNorm2d(channels),
            nn.LeakyReLU(LEAKY_SLOPE),
        )

    def relation_maps(self, features: torch.Tensor) -> RelationMaps:
        """W1, W2 and the four maps they mix, each (B, C, C)."""
        pooled = self.pool(features)  # F'
        m1 = self.m1(pooled).flatten(2)  # M1, (B, C, N')
        m2 = self.m2(pooled).flatten(2)  # M2
        return reciprocal_relation_maps(m1, m2, self.lambda1, self.lambda2)

    def forward(self, features: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        maps = self.relation_maps(features)
        values = self.value(features).flatten(2)  # (B, C, HW)
        # Sec. III-B: F_Tk = F + W_k conv1x1(F) (reshaped to C x HW), the residual keeping
        # the shared information of F in both branches.
        det = features + torch.bmm(maps.w1, values).view_as(features)
        ids = features + torch.bmm(maps.w2, values).view_as(features)
        return det, ids


class TaskDecoupler(nn.Module):
    """One REN per feature level (Sec. III-B: REN runs on each level F_i of the neck):
    {level: F} -> ({level: F_det}, {level: F_id}); a level without a REN goes to both as it is."""

    def __init__(self, channels_per_level: Dict[str, int], pooled_size: Tuple[int, int] = (6, 10),
                 lambda_init: float = 0.5):
        super().__init__()
        self.rens = nn.ModuleDict({
            name: RelationEnhancement(channels, pooled_size, lambda_init)
            for name, channels in channels_per_level.items()
        })

    def forward(self, features: Dict[str, torch.Tensor]) -> Tuple[Dict[str, torch.Tensor], Dict[str, torch.Tensor]]:
        missing = [name for name in self.rens if name not in features]
        if missing:
            raise ValueError(f"TaskDecoupler: no feature for level(s) {missing}; expected {list(self.rens)}, "
                             f"got {list(features)}")
        det, ids = dict(features), dict(features)
        for name, ren in self.rens.items():
            det[name], ids[name] = ren(features[name])
        return det, ids


def build_task_decoupler(cfg, input_shapes: Dict[str, ShapeSpec]) -> Optional[TaskDecoupler]:
    """CSTrack's REN (MODEL.ONE_SHOT.REN) on the levels both branches read: the detection's
    IN_FEATURES and the ID branch's (SAAN.IN_FEATURES with SAAN, else IN_FEATURES); or None."""
    one_shot = cfg.MODEL.ONE_SHOT
    if not one_shot.REN.ENABLED:
        return None
    id_features = one_shot.SAAN.IN_FEATURES if one_shot.SAAN.ENABLED else one_shot.IN_FEATURES
    shared = [f for f in one_shot.IN_FEATURES if f in id_features]
    return TaskDecoupler({f: input_shapes[f].channels for f in shared}, tuple(one_shot.REN.POOLED_SIZE),
                         one_shot.REN.LAMBDA_INIT)
