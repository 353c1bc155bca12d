"""CSTrack's scale-aware attention network (SAAN, Liang et al., IEEE TIP 2022, arXiv 2010.12138,
Sec. III-C).

The identity embedding is read from three levels of the (REN-decoupled) neck, at strides 8,
16 and 32. The levels of strides 16 and 32 are upsampled to the stride-8 grid, each level
then gets a 3x3 conv and a spatial attention map that re-weights its locations; the levels
are concatenated, a channel attention map re-weights the channels, and a 3x3 conv gives the
embedding. Both attentions are applied with a residual: X + X * A.
"""
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from detectron2.layers import Conv2d, ShapeSpec, get_norm
from torch import nn

# Slope of the LeakyReLU inside the channel attention's shared layers (ours: the authors' code).
LEAKY_SLOPE = 0.3


class SpatialAttention(nn.Module):
    """A_s = sigmoid(conv_7x7([mean_c(X); max_c(X)])), (B, 1, H, W) for X (B, C, H, W):
    the average and the maximum over the channels (Sec. III-C), as CBAM's spatial attention
    (ours: no bias in the 7x7 conv, as CBAM)."""

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(pooled))


class ChannelAttention(nn.Module):
    """A_c = sigmoid(g(avg(X)) + g(max(X))), (B, C, 1, 1) for X (B, C, H, W), with global
    average and max pooling and g shared by both.

    g is a 1D conv across neighbouring channels (as ECA-Net; ours: kernel 3, the authors'
    code) then a fully connected layer over all channels (Sec. III-C). Between them,
    LayerNorm + LeakyReLU(0.3) (ours: the authors' code): the paper names only the conv and
    the FC, and without a nonlinearity two linear layers would collapse into one. The map
    holds one weight per channel (the paper's "attention map with only one channel" read
    as CBAM's and the authors' C x 1 x 1 map).
    """

    def __init__(self, channels: int, kernel_size: int = 3):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.norm = nn.LayerNorm(channels)
        self.fc = nn.Linear(channels, channels, bias=False)

    def _shared(self, pooled: torch.Tensor) -> torch.Tensor:
        """g on (B, C) pooled statistics."""
        mixed = self.conv(pooled[:, None, :])[:, 0]
        return self.fc(F.leaky_relu(self.norm(mixed), LEAKY_SLOPE))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self._shared(x.mean(dim=(2, 3))) + self._shared(x.amax(dim=(2, 3)))
        return torch.sigmoid(logits)[:, :, None, None]


class ScaleAwareAttention(nn.Module):
    """SAAN: {level: (B, C_l, H_l, W_l)} -> embedding map (B, embed_dim, H_8, W_8).

    ``in_channels`` lists the levels finest first: the first one (stride 8) sets the output
    grid, and every other level is resized to exactly its size, odd sizes included. As the
    one-shot model's ID head (see ``id_heads.py``) it reads the levels, not their fusion.
    """
    checkpoint_name, stride, reads_fused_map = "saan", 8, False

    def __init__(self, in_channels: Dict[str, int], embed_dim: int = 512, mid_channels: int = 256,
                 norm: str = "BN"):
        super().__init__()
        self.level_names = list(in_channels)
        # A 3x3 conv per level on the upsampled map (Sec. III-C) to mid_channels (ours: 256,
        # as the authors' code, and conv + norm + ReLU; the paper gives neither).
        self.level_convs = nn.ModuleDict({
            name: Conv2d(channels, mid_channels, kernel_size=3, padding=1, bias=not norm,
                         norm=get_norm(norm, mid_channels), activation=F.relu)
            for name, channels in in_channels.items()
        })
        self.spatial = nn.ModuleDict({name: SpatialAttention() for name in in_channels})
        self.channel = ChannelAttention(mid_channels * len(in_channels))
        # Sec. III-C: a 3x3 conv maps the fused features to the 512-d embedding (embed_dim)
        self.embed = nn.Conv2d(mid_channels * len(in_channels), embed_dim, kernel_size=3, padding=1)

    def _attend(self, levels: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, Dict[str, torch.Tensor], torch.Tensor]:
        """The embedding, the spatial maps {level: (B, 1, H_8, W_8)} and the channel map
        (B, L * mid_channels, 1, 1)."""
        missing = [name for name in self.level_names if name not in levels]
        if missing:
            raise ValueError(f"ScaleAwareAttention: no feature for level(s) {missing}; expected "
                             f"{self.level_names}, got {list(levels)}")
        size = levels[self.level_names[0]].shape[-2:]
        larger = [name for name in self.level_names[1:] if any(s > t for s, t in zip(levels[name].shape[-2:], size))]
        if larger:
            raise ValueError(f"ScaleAwareAttention: level(s) {larger} are larger than the first level "
                             f"{self.level_names[0]!r} ({tuple(size)}); list the stride-8 level first")
        aligned, spatial_maps = [], {}
        for name in self.level_names:
            x = levels[name]
            if x.shape[-2:] != size:
                # Sec. III-C: upsampling to stride 8 comes first, then the 3x3 conv. Bilinear, to the
                # exact stride-8 size (ours: the paper does not say how; the authors' code
                # uses learnt depthwise transposed convs (x2, x4) after the conv, which only
                # reach 2x / 4x the input size and so miss an odd stride-8 size).
                x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
            x = self.level_convs[name](x)
            spatial_maps[name] = self.spatial[name](x)
            aligned.append(x + x * spatial_maps[name])  # spatial attention with residual (Sec. III-C)
        fused = torch.cat(aligned, dim=1)
        channel_map = self.channel(fused)
        fused = fused + fused * channel_map  # channel attention with residual (Sec. III-C)
        return self.embed(fused), spatial_maps, channel_map

    def attention_maps(self, levels: Dict[str, torch.Tensor]) -> Tuple[Dict[str, torch.Tensor], torch.Tensor]:
        """The spatial maps {level: (B, 1, H_8, W_8)} and the channel map (B, L * mid_channels, 1, 1)."""
        _, spatial_maps, channel_map = self._attend(levels)
        return spatial_maps, channel_map

    def forward(self, levels: Dict[str, torch.Tensor], fused: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The embedding map of ``levels`` (``fused``, the ID head call's stride-4 map, is not read)."""
        return self._attend(levels)[0]


def build_saan(cfg, input_shapes: Dict[str, ShapeSpec]) -> Optional[ScaleAwareAttention]:
    """CSTrack's SAAN on SAAN.IN_FEATURES when MODEL.ONE_SHOT.SAAN is enabled; None: FairMOT's head."""
    one_shot = cfg.MODEL.ONE_SHOT
    if not one_shot.SAAN.ENABLED:
        return None
    return ScaleAwareAttention({f: input_shapes[f].channels for f in one_shot.SAAN.IN_FEATURES}, one_shot.EMBED_DIM,
                               norm=one_shot.FUSION_NORM)
