"""DMTrack's dynamic convolutions (Zhang et al., CVPR 2021, arXiv 2104.12041, Eq. 2-3, Fig. 5).

DMTrack detects the target in a search image with an FCOS head whose classification and
regression towers carry dynamic 1x1 convolutions (d-convs): their weights and biases are
not learnt but generated, for each template, from the template's RoIAlign (7x7) features
by controllers (Eq. 2-3). One template-search pair thus runs the towers with its own
kernels, which is how the target's information enters the search field.

Controllers: one for each dynamic layer of each tower. With d-convs at the places "1+6"
of both the classification and the regression tower there are k = 2 x 2 = 4 of them (the
authors' code: ``controller_cls1``, ``controller_cls2``, ``controller_reg1``,
``controller_reg2``). Controller j is a 1x1 conv from the template's C channels to the
C_j^2 + C_j parameters of its layer, then global average pooling; its output is split into
the C_j x C_j weights and the C_j biases of the layer (Eq. 3).

Places (the "1+6" of Fig. 5): a tower is num_convs (4) x (3x3 conv + GN + ReLU) closed by a
1x1 conv reducing C to C_r channels (32 in the authors' code), i.e. num_convs + 1 static
layers. Place p is the input of static layer p; the last place, num_convs + 2, is the
output of the reduction. "1+6" puts one d-conv on the FPN feature before the first conv
and one after the reduction (as the authors' ``Cond_PreModulator`` and ``Cond_Modulator``).

Tensors: B template-search pairs; generated ``weights`` are (B, C_out, C_in), ``biases``
(B, C_out); several pairs may share one search image, whose features are then repeated.
"""
from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from detectron2.layers import Conv2d, get_norm
from detectron2.modeling.poolers import ROIPooler
from detectron2.structures import Boxes
from torch import nn

# Initial weights of the controllers and the static convs: N(0, 0.01^2), zero biases, as
# FCOS and the authors' code (``normal_init(..., std=0.01)``).
INIT_STD = 0.01

Kernels = Tuple[torch.Tensor, torch.Tensor]  # (weights (B, C_out, C_in), biases (B, C_out))


def dynamic_parameter_count(channels: int, layers: int = 1) -> int:
    """Parameters the controllers generate for ``layers`` dynamic 1x1 convs of ``channels``
    in and out: (C x 1 x 1 + 1) x C weights and biases each (Eq. 3, DMTrack)."""
    if channels < 1 or layers < 0:
        raise ValueError(f"need channels >= 1 and layers >= 0, got channels={channels}, layers={layers}")
    return layers * (channels * channels + channels)  # Eq. 2-3: C^g = n (C^2 + C)


def dynamic_conv1x1(features: torch.Tensor, weights: torch.Tensor, biases: torch.Tensor) -> torch.Tensor:
    """Sample b of ``features`` (B, C_in, H, W) through its own 1x1 conv ``weights[b]``
    (C_out, C_in) + ``biases[b]`` (C_out,): (B, C_out, H, W), one batched matrix product."""
    if features.dim() != 4 or weights.dim() != 3 or biases.dim() != 2:
        raise ValueError(f"expected features (B, C_in, H, W), weights (B, C_out, C_in), biases (B, C_out); got "
                         f"{tuple(features.shape)}, {tuple(weights.shape)}, {tuple(biases.shape)}")
    batch, in_channels, height, width = features.shape
    if weights.shape[0] != batch or biases.shape[0] != batch:
        raise ValueError(f"{batch} feature maps but kernels for {weights.shape[0]} and biases for {biases.shape[0]}")
    if weights.shape[2] != in_channels or biases.shape[1] != weights.shape[1]:
        raise ValueError(f"kernels {tuple(weights.shape)} and biases {tuple(biases.shape)} do not fit "
                         f"{in_channels} input channels")
    out = torch.baddbmm(biases[:, :, None], weights, features.flatten(2))  # W_b x + b_b at every cell
    return out.view(batch, weights.shape[1], height, width)


def parse_integration_places(spec: str, num_places: int) -> Tuple[int, ...]:
    """The places of the d-convs written as in Fig. 5, e.g. "1+6" -> (1, 6), ascending;
    places are 1 .. ``num_places``."""
    if not isinstance(spec, str):
        raise TypeError(f"integration places must be a string such as '1+6', got {type(spec).__name__}")
    tokens = [token.strip() for token in spec.split("+")]
    if not all(token.isdigit() for token in tokens):
        raise ValueError(f"integration places {spec!r}: expected place numbers joined by '+', such as '1+6'")
    places = [int(token) for token in tokens]
    outside = [p for p in places if not 1 <= p <= num_places]
    if outside:
        raise ValueError(f"integration places {spec!r}: {outside} outside 1..{num_places}")
    if len(set(places)) != len(places):
        raise ValueError(f"integration places {spec!r}: a place is repeated")
    return tuple(sorted(places))


class TemplateController(nn.Module):
    """Template features -> the weights and biases of k dynamic layers (Eq. 2-3).

    ``layer_channels`` holds C_j of each dynamic layer served, one controller each
    (k = its length). The default is the paper's k = 4 for "1+6" on C = 256 with C_r = 32:
    classification tower places 1 and 6, then regression tower places 1 and 6, i.e.
    ``cls_tower.dynamic_channels + reg_tower.dynamic_channels``.
    """

    def __init__(self, in_channels: int = 256, layer_channels: Sequence[int] = (256, 32, 256, 32),
                 strides: Sequence[int] = (8, 16, 32), pooler_resolution: int = 7, sampling_ratio: int = 0,
                 pooler_type: str = "ROIAlignV2"):
        super().__init__()
        if not layer_channels:
            raise ValueError("TemplateController needs at least one dynamic layer to generate")
        self.layer_channels = tuple(layer_channels)
        self.strides = tuple(strides)
        # RoIAlign of the template box to 7 x 7 (DMTrack) on the FPN level Detectron2's
        # ROIPooler assigns to its size (ours: the paper does not say which level).
        self.pooler = ROIPooler(pooler_resolution, tuple(1.0 / s for s in strides), sampling_ratio, pooler_type)
        self.controllers = nn.ModuleList(
            nn.Conv2d(in_channels, dynamic_parameter_count(c), kernel_size=1) for c in self.layer_channels)
        for controller in self.controllers:
            nn.init.normal_(controller.weight, std=INIT_STD)
            nn.init.zeros_(controller.bias)

    def forward(self, features: List[torch.Tensor], boxes: List[Boxes]) -> List[Kernels]:
        """``features``: FPN levels of the template images, finest first, (N, C, H, W) each;
        ``boxes``: the template boxes of each image (XYXY). Returns, for each dynamic layer,
        (weights, biases) of all B templates, in the order of the boxes."""
        if len(features) != len(self.strides):
            raise ValueError(f"{len(features)} feature levels given for strides {self.strides}")
        return self.generate(self.pooler(features, boxes))

    def generate(self, template_features: torch.Tensor) -> List[Kernels]:
        """Kernels from the RoIAlign features (B, C, 7, 7) of B templates."""
        # Sec. 3.3: theta = GAP(Conv1x1(F_z)), C^g values in all (Eq. 2). Both are linear, so
        # pooling first gives the same theta with 1 / 49 of the products.
        pooled = template_features.mean(dim=(2, 3), keepdim=True)
        kernels = []
        for channels, controller in zip(self.layer_channels, self.controllers):
            theta = controller(pooled).flatten(1)  # (B, C^2 + C)
            weights, biases = theta.split([channels * channels, channels], dim=1)  # Eq. 3: C^2 weights, C biases
            kernels.append((weights.view(-1, channels, channels), biases))
        return kernels


class DynamicTower(nn.Module):
    """An FCOS tower (classification or regression) with d-convs at the given places.

    Static layers: ``num_convs`` x (3x3 conv + GN + ReLU) on C channels, then a 1x1 conv to
    ``reduced_channels`` (the authors' ``downsampler``); shared by all FPN levels, as FCOS.
    A d-conv (generated 1x1 conv + ReLU, as the authors' code) sits at each place of
    ``integration`` (see the module docstring); its kernels are the same on every level.
    """

    def __init__(self, channels: int = 256, num_convs: int = 4, reduced_channels: int = 32,
                 integration: str = "1+6", norm: str = "GN"):
        super().__init__()
        self.convs = nn.ModuleList(
            Conv2d(channels, channels, kernel_size=3, padding=1, bias=not norm, norm=get_norm(norm, channels),
                   activation=F.relu)
            for _ in range(num_convs))
        self.reduce = nn.Conv2d(channels, reduced_channels, kernel_size=1)
        for conv in [*self.convs, self.reduce]:
            nn.init.normal_(conv.weight, std=INIT_STD)
            if conv.bias is not None:
                nn.init.zeros_(conv.bias)
        self.places = parse_integration_places(integration, num_convs + 2)
        self.out_channels = reduced_channels
        last_place = num_convs + 2
        self.dynamic_channels = [reduced_channels if p == last_place else channels for p in self.places]

    def forward(self, features: List[torch.Tensor], kernels: Sequence[Kernels]) -> List[torch.Tensor]:
        """``features``: FPN levels of the search image of each pair, (B, C, H, W) each;
        ``kernels``: (weights, biases) of the pairs for each place, in place order."""
        if len(kernels) != len(self.places):
            raise ValueError(f"the tower has d-convs at places {self.places} but {len(kernels)} kernels were given")
        for (weights, _), channels in zip(kernels, self.dynamic_channels):
            if weights.shape[1:] != (channels, channels):
                raise ValueError(f"d-conv kernels of the places {self.places} must be {self.dynamic_channels} "
                                 f"channels wide, got {[tuple(w.shape[1:]) for w, _ in kernels]}")
        at_place = dict(zip(self.places, kernels))
        return [self._run(level, at_place) for level in features]

    def _run(self, x: torch.Tensor, at_place: Dict[int, Kernels]) -> torch.Tensor:
        static = [*self.convs, self.reduce]
        for place in range(1, len(static) + 2):
            if place in at_place:
                x = F.relu(dynamic_conv1x1(x, *at_place[place]))
            if place <= len(static):
                x = static[place - 1](x)
        return x
