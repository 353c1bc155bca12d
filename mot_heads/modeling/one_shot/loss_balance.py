"""Balance of the detection and ID losses of one-shot trackers, chosen by MODEL.ONE_SHOT."""
from typing import Dict

import torch
from torch import nn


class UncertaintyWeighting(nn.Module):
    """Task uncertainty weighting (Kendall et al., CVPR 2018) as JDE and FairMOT use it:
    L = 1/2 (exp(-s_det) L_det + exp(-s_id) L_id + s_det + s_id), with learnable log
    variances s (FairMOT's initial values -1.85 and -1.05)."""

    def __init__(self, det_log_var: float = -1.85, id_log_var: float = -1.05):
        super().__init__()
        self.det_log_var = nn.Parameter(torch.tensor(float(det_log_var)))
        self.id_log_var = nn.Parameter(torch.tensor(float(id_log_var)))

    def forward(self, det_loss: torch.Tensor, id_loss: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The three terms, to be summed (reported apart in training logs)."""
        return {
            "loss_det_weighted": 0.5 * torch.exp(-self.det_log_var) * det_loss,
            "loss_id_weighted": 0.5 * torch.exp(-self.id_log_var) * id_loss,
            "loss_uncertainty": 0.5 * (self.det_log_var + self.id_log_var),
        }


class FixedWeighting(nn.Module):
    """CSTrack's balance (Eq. 10): L = L_det + eta L_id, eta fixed (CSTrack: 0.02)."""

    def __init__(self, id_weight: float = 1.0):
        super().__init__()
        self.id_weight = id_weight

    def forward(self, det_loss: torch.Tensor, id_loss: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The two terms, to be summed (reported apart in training logs)."""
        return {"loss_det_weighted": det_loss, "loss_id_weighted": self.id_weight * id_loss}


def build_loss_balance(cfg) -> nn.Module:
    """The balance MODEL.ONE_SHOT asks for: task uncertainty (UNCERTAINTY_WEIGHTING) or a fixed ID weight."""
    one_shot = cfg.MODEL.ONE_SHOT
    if one_shot.UNCERTAINTY_WEIGHTING:
        return UncertaintyWeighting(one_shot.DET_LOG_VAR, one_shot.ID_LOG_VAR)
    return FixedWeighting(one_shot.ID_WEIGHT)
