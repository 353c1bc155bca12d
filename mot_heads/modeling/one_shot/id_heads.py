"""ID heads of the one-shot model: the dense embedding map its ID branch reads at object centres.

An ID head is called as ``head(levels, fused)``: the ID branch's backbone levels (REN's ID
features when REN is on) and their fusion at stride 4, and returns the embedding map at its
``stride``. ``reads_fused_map`` says which of the two it reads; ``checkpoint_name`` is the
model's attribute for it, the prefix of its weights in checkpoints. FairMOT's head is the
model's own; CSTrack's SAAN (``saan.py``) replaces it.
"""
from typing import Dict

import torch
from torch import nn

from .centernet import prediction_head


class FairMOTIDHead(nn.Sequential):
    """FairMOT's ID head (Sec. 3.4): 3x3 conv, ReLU, 1x1 conv on the fused stride-4 map,
    one embedding a cell."""
    checkpoint_name, stride, reads_fused_map = "id_head", 4, True

    def __init__(self, in_channels: int, hidden: int, embed_dim: int):
        super().__init__(*prediction_head(in_channels, hidden, embed_dim))

    def forward(self, levels: Dict[str, torch.Tensor], fused: torch.Tensor) -> torch.Tensor:
        return super().forward(fused)

