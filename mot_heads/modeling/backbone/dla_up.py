"""DLA-34 with the up-sampling path of CenterNet (Zhou, Wang, Kraehenbuehl, "Objects as Points",
2019) and FairMOT, registered in Detectron2's ``BACKBONE_REGISTRY`` as ``build_dla_up_backbone``.

CenterNet, section "Implementation details" and Appendix A ("Model Architecture", Fig. 6): the
fully convolutional up-sampling version of DLA (Yu et al., "Deep Layer Aggregation", CVPR 2018,
"Dense Prediction Networks": interpolation by iterative deep aggregation), with every 3x3
convolution of the up-sampling stages replaced by a 3x3 deformable convolution (DCNv2: Zhu, Hu,
Lin, Dai, "Deformable ConvNets v2: More Deformable, Better Results", CVPR 2019).

Parts, each usable alone:

* :class:`ModulatedDeformConv2d`: DCNv2 on ``torchvision.ops.deform_conv2d`` (no compiled op).
* :class:`DeformableConv`: CenterNet's fusion block, 3x3 conv (deformable or plain) + norm + ReLU.
* :func:`bilinear_upsampling`: depthwise transposed conv initialised as bilinear interpolation.
* :class:`IDAUp`: fuses levels given finest first into one map at the finest stride.
* :class:`DLAUp`: CenterNet's sequence of IDAUps; refined features at every stride.
* :class:`DLAUpBackbone` (``build_dla_up_backbone``): :class:`~.dla.DLA` + :class:`DLAUp`.

Outputs of the backbone (DLA-34, ``UP_FIRST_LEVEL`` 2), named as DLA's stages (``upN`` has stride 2**N):

====== ====== ======== ===========================================================
name   stride channels what it is
====== ====== ======== ===========================================================
up2    4      64       level2..level5 aggregated at stride 4 (``dla_up.ida_2``)
up3    8      128      level3..level5 aggregated at stride 8 (``dla_up.ida_1``)
up4    16     256      level4 and level5 aggregated at stride 16 (``dla_up.ida_0``)
up5    32     512      level5 itself (CenterNet's DLAUp returns it as it is)
====== ====== ======== ===========================================================

CenterNet's and FairMOT's heads read one stride-4 map: a final ``IDAUp([64, 128, 256], [4, 8, 16],
64)`` over up2, up3, up4 (their ``ida_up``; ``last_level`` 5 leaves up5 out). That IDAUp belongs
to the model using this backbone, not to the backbone; its checkpoint keys are ``ida_up.*``.

FairMOT / CenterNet checkpoints (``pose_dla_dcn``): the module names here are those of the public
model, so ``base.*`` and ``dla_up.*`` map key for key onto ``backbone.base.*`` and
``backbone.dla_up.*``: ``dla_up.ida_{i}.proj_{k}.conv.weight`` / ``.conv.bias`` (the DCN),
``...conv.conv_offset_mask.weight`` / ``.bias`` (its offset and mask predictor),
``...actf.0.*`` (the BN), the same under ``node_{k}``, and ``dla_up.ida_{i}.up_{k}.weight``.
:func:`convert_fairmot_dla_weights` does the renaming (and drops what :func:`~.dla.convert_public_dla_weights`
drops from ``base``)::

    ckpt = torch.load("fairmot_dla34.pth", map_location="cpu", weights_only=True)  # runs nothing from the file
    torch.save({"model": convert_fairmot_dla_weights(ckpt["state_dict"])}, "fairmot_dla34_d2.pth")

With ``UP_DEFORMABLE: False`` the plain convs load ``conv.weight`` / ``conv.bias`` and the
``conv_offset_mask`` keys are reported unused.
"""
import math
from typing import Dict, List, Sequence

import torch
from detectron2.config import CfgNode as CN
from detectron2.layers import ShapeSpec
from detectron2.modeling.backbone import BACKBONE_REGISTRY, Backbone
from torch import nn
from torchvision.ops import deform_conv2d

from ...errors import InputError
from .dla import DLA, convert_public_dla_weights, make_norm

__all__ = [
    "ModulatedDeformConv2d", "DeformableConv", "bilinear_upsampling", "IDAUp", "DLAUp", "DLAUpBackbone",
    "build_dla_up_backbone", "convert_fairmot_dla_weights",
]

# The last DLA level the up path reads (stride 32), as CenterNet.
LAST_LEVEL = 5


def _init_conv(weight: torch.Tensor, bias: torch.Tensor) -> None:
    """DCNv2's initialisation of the convolution (the public DCN module): weights uniform in
    +-1 / sqrt(fan_in), bias 0. Used for the plain 3x3 conv too, so both variants start alike."""
    bound = 1.0 / math.sqrt(weight[0].numel())
    nn.init.uniform_(weight, -bound, bound)
    nn.init.zeros_(bias)


class ModulatedDeformConv2d(nn.Module):
    """k x k modulated deformable convolution, stride 1, "same" padding (DCNv2, section
    "Modulated Deformable Modules"):

        y(p) = sum_k w_k * x(p + p_k + dp_k) * dm_k + b,

    x sampled bilinearly (zero outside the map). The offsets dp_k = (dy_k, dx_k) and modulation
    scalars dm_k = sigmoid(.) come, at every output position, from a plain k x k conv of the
    input (``conv_offset_mask``, 3 k^2 channels: for kernel position k in row-major order, channel
    2k is dy_k, 2k + 1 is dx_k, channel 2 k^2 + k is dm_k before the sigmoid; the layout of the
    public DCNv2 module and of ``torchvision.ops.deform_conv2d``). That conv starts at zero
    (DCNv2, same section: dp_k and dm_k start at 0 and 0.5), so the layer starts as a plain conv
    scaled by 0.5.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"ModulatedDeformConv2d needs an odd kernel_size ('same' padding); got {kernel_size}")
        self.kernel_size, self.padding = kernel_size, kernel_size // 2
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels))
        _init_conv(self.weight, self.bias)
        self.conv_offset_mask = nn.Conv2d(in_channels, 3 * kernel_size ** 2, kernel_size, padding=self.padding)
        nn.init.zeros_(self.conv_offset_mask.weight)
        nn.init.zeros_(self.conv_offset_mask.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        taps = self.kernel_size ** 2
        offset, mask = self.conv_offset_mask(x).split([2 * taps, taps], dim=1)
        return deform_conv2d(x, offset, self.weight, self.bias, padding=(self.padding, self.padding),
                             mask=torch.sigmoid(mask))

    def extra_repr(self) -> str:
        out_channels, in_channels = self.weight.shape[:2]
        return f"{in_channels}, {out_channels}, kernel_size={self.kernel_size}"


class DeformableConv(nn.Module):
    """CenterNet's ``DeformConv`` block: 3x3 conv -> norm -> ReLU (Objects as Points, App. A: every
    convolution of the up-sampling stages is a 3x3 deformable convolution).

    ``deformable``: the conv is a :class:`ModulatedDeformConv2d`; else a plain 3x3 ``nn.Conv2d``
    with the same weight and bias names (for CPU-sized models and for FPN inputs). The attribute
    names (``conv``, ``actf``) are those of the public code, so checkpoints map key for key.
    """

    def __init__(self, in_channels: int, out_channels: int, deformable: bool = True, norm="BN"):
        super().__init__()
        if deformable:
            self.conv = ModulatedDeformConv2d(in_channels, out_channels, 3)
        else:
            self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
            _init_conv(self.conv.weight, self.conv.bias)
        self.actf = nn.Sequential(make_norm(norm, out_channels), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.actf(self.conv(x))


def bilinear_upsampling(channels: int, factor: int) -> nn.ConvTranspose2d:
    """A learnable upsampling by ``factor`` (even): a depthwise ``ConvTranspose2d`` (kernel
    2 * factor, stride factor, padding factor / 2, no bias, as CenterNet's IDAUp) initialised as
    bilinear interpolation (DLA, "Dense Prediction Networks": the upsampling of interpolation IDA
    is learned and starts as bilinear; the kernel of FCN, Long et al. 2015).

    The 1-D kernel is the tent 1 - |t - (factor - 1/2)| / factor, t = 0 .. 2 factor - 1, and the 2-D
    kernel its outer product. An (H, W) map becomes (factor H, factor W), output pixel o taking
    the input at coordinate (o + 1/2) / factor - 1/2: exactly ``F.interpolate(mode="bilinear",
    align_corners=False)``, except in the outer factor / 2 rows and columns, where the missing
    neighbour counts as 0 instead of repeating the edge.
    """
    if factor < 2 or factor % 2:
        raise ValueError(f"bilinear_upsampling needs an even factor >= 2 (the output is factor x the input "
                         f"only then); got {factor}")
    up = nn.ConvTranspose2d(channels, channels, 2 * factor, stride=factor, padding=factor // 2, groups=channels,
                            bias=False)
    taps = torch.arange(2 * factor, dtype=up.weight.dtype)
    tent = 1 - (taps - (factor - 0.5)).abs() / factor
    with torch.no_grad():
        up.weight.copy_(torch.outer(tent, tent).expand_as(up.weight))
    return up


class IDAUp(nn.Module):
    """Iterative deep aggregation up (DLA Sec. 3.1, Eq. 1; interpolation IDA of its "Dense
    Prediction Networks"), as CenterNet's ``IDAUp``: fuses n >= 2 maps into one at the finest stride.

    Inputs are given finest first: ``x_0`` at stride ``in_strides[0]`` with ``out_channels``
    channels (it enters as it is), then ``x_1 .. x_{n-1}`` at coarser strides, each an even multiple
    of ``in_strides[0]`` (strides may repeat: DLAUp feeds two maps at one stride). With

        a_0 = x_0,    a_i = node_i(up_i(proj_i(x_i)) + a_{i-1}),    i = 1 .. n-1,

    ``proj_i`` a :class:`DeformableConv` to ``out_channels``, ``up_i`` :func:`bilinear_upsampling`
    straight to the finest stride (factor ``in_strides[i] / in_strides[0]``, one transposed conv,
    as CenterNet) and ``node_i`` a :class:`DeformableConv` of the sum (CenterNet sums; the DLA
    paper's aggregation node concatenates, Sec. 3.3), :meth:`forward` returns a_{n-1} and
    :meth:`aggregate` all of a_0 .. a_{n-1}. Each input needs a size of exactly its stride ratio
    times the finest input's size (true of backbone levels on an input divisible by the coarsest stride).
    """

    def __init__(self, in_channels: Sequence[int], in_strides: Sequence[int], out_channels: int,
                 deformable: bool = True, norm="BN"):
        super().__init__()
        if len(in_channels) != len(in_strides) or len(in_channels) < 2:
            raise ValueError(f"IDAUp needs at least two inputs, one stride per input; got in_channels "
                             f"{list(in_channels)}, in_strides {list(in_strides)}")
        if in_channels[0] != out_channels:
            raise ValueError(f"IDAUp's finest input is not projected, so it needs out_channels={out_channels} "
                             f"channels; got in_channels[0]={in_channels[0]}")
        finest = in_strides[0]
        for i in range(1, len(in_channels)):
            if in_strides[i] % finest or (in_strides[i] // finest) % 2:
                raise ValueError(f"IDAUp in_strides must be given finest first, each an even multiple of the "
                                 f"first; got {list(in_strides)}")
            self.add_module(f"proj_{i}", DeformableConv(in_channels[i], out_channels, deformable, norm))
            self.add_module(f"up_{i}", bilinear_upsampling(out_channels, in_strides[i] // finest))
            self.add_module(f"node_{i}", DeformableConv(out_channels, out_channels, deformable, norm))
        self.in_strides = list(in_strides)

    def aggregate(self, features: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        """a_0 .. a_{n-1} (see the class docstring), all at the finest stride; ``features`` finest first."""
        if len(features) != len(self.in_strides):
            raise ValueError(f"IDAUp was built for {len(self.in_strides)} inputs (strides {self.in_strides}); "
                             f"got {len(features)}")
        aggregates = [features[0]]
        for i in range(1, len(features)):
            up = getattr(self, f"up_{i}")(getattr(self, f"proj_{i}")(features[i]))
            if up.shape[-2:] != aggregates[-1].shape[-2:]:
                raise ValueError(f"IDAUp input {i} (stride {self.in_strides[i]}) is {tuple(features[i].shape[-2:])}, "
                                 f"upsampled {tuple(up.shape[-2:])}, but the finest input (stride "
                                 f"{self.in_strides[0]}) is {tuple(aggregates[-1].shape[-2:])}")
            aggregates.append(getattr(self, f"node_{i}")(up + aggregates[-1]))
        return aggregates

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """The fused map (stride ``in_strides[0]``, ``out_channels``); ``features`` finest first."""
        return self.aggregate(features)[-1]


class DLAUp(nn.Module):
    """CenterNet's ``DLAUp`` (Objects as Points, App. A, Fig. 6: the up-sampling stages of its
    DLA-34): IDA-up refinement of n levels (finest first) from the coarsest down.

    ``ida_0`` fuses levels n-2 and n-1 at the stride of level n-2; ``ida_i`` fuses level n-2-i with
    the aggregates a_1 .. a_i of ``ida_{i-1}`` (whose strides, channels and number grow by one each
    step) at the stride of level n-2-i. :meth:`forward` returns, finest first, the last aggregate of
    ``ida_{n-2}``, ..., ``ida_0`` and the coarsest level unchanged: one map per input stride, with
    the input's channels.
    """

    def __init__(self, in_channels: Sequence[int], in_strides: Sequence[int], deformable: bool = True, norm="BN"):
        super().__init__()
        channels, strides = list(in_channels), list(in_strides)
        if len(channels) != len(strides) or len(channels) < 2:
            raise ValueError(f"DLAUp needs at least two levels, one stride per level; got in_channels "
                             f"{channels}, in_strides {strides}")
        self.num_levels = len(channels)
        for i in range(self.num_levels - 1):
            j = self.num_levels - 2 - i
            self.add_module(f"ida_{i}", IDAUp(channels[j:], strides[j:], channels[j], deformable, norm))
            # the aggregates replace levels j+1.. as inputs of the next IDAUp
            channels[j + 1:] = [channels[j]] * (self.num_levels - 1 - j)
            strides[j + 1:] = [strides[j]] * (self.num_levels - 1 - j)

    def forward(self, features: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        if len(features) != self.num_levels:
            raise ValueError(f"DLAUp was built for {self.num_levels} levels; got {len(features)}")
        layers = list(features)
        outputs = [layers[-1]]
        for i in range(self.num_levels - 1):
            j = self.num_levels - 2 - i
            layers[j:] = getattr(self, f"ida_{i}").aggregate(layers[j:])
            outputs.insert(0, layers[-1])
        return outputs


class DLAUpBackbone(Backbone):
    """DLA (:class:`~.dla.DLA`, as ``base``) + :class:`DLAUp` (as ``dla_up``) over level
    ``first_level`` .. level5; outputs ``up{first_level}`` .. ``up5`` (stride 2**N, the channels of
    DLA's levelN; see the module docstring). Inputs need H and W divisible by 32.

    ``norm`` and ``freeze_at`` are DLA's (cfg.MODEL.DLA.NORM, cfg.MODEL.BACKBONE.FREEZE_AT); the
    up path has its own ``up_norm`` and is never frozen.
    """

    def __init__(self, depth: int = 34, norm="BN", first_level: int = 2, deformable: bool = True, up_norm="BN",
                 in_channels: int = 3, freeze_at: int = 0):
        super().__init__()
        if not 1 <= first_level < LAST_LEVEL:
            raise InputError(f"DLA-up first_level (cfg.MODEL.DLA.UP_FIRST_LEVEL) must be in [1, {LAST_LEVEL - 1}] "
                             f"(output stride 2 to 16); got {first_level}")
        levels = [f"level{i}" for i in range(first_level, LAST_LEVEL + 1)]
        self.base = DLA(depth=depth, norm=norm, out_features=levels, in_channels=in_channels, freeze_at=freeze_at)
        shapes = self.base.output_shape()
        self.dla_up = DLAUp([shapes[f].channels for f in levels], [shapes[f].stride for f in levels],
                            deformable=deformable, norm=up_norm)
        self._in_features = levels
        self._out_features = [f"up{i}" for i in range(first_level, LAST_LEVEL + 1)]
        self._out_feature_channels = {o: shapes[f].channels for o, f in zip(self._out_features, levels)}
        self._out_feature_strides = {o: shapes[f].stride for o, f in zip(self._out_features, levels)}

    @property
    def size_divisibility(self) -> int:
        return self.base.size_divisibility

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        levels = self.base(x)
        outputs = self.dla_up([levels[f] for f in self._in_features])
        return dict(zip(self._out_features, outputs))


@BACKBONE_REGISTRY.register()
def build_dla_up_backbone(cfg: CN, input_shape: ShapeSpec) -> DLAUpBackbone:
    """:class:`DLAUpBackbone` from cfg.MODEL.DLA (DEPTH, NORM, UP_FIRST_LEVEL, UP_DEFORMABLE, UP_NORM;
    see :func:`~.dla.add_dla_config`) and cfg.MODEL.BACKBONE.FREEZE_AT. MODEL.DLA.OUT_FEATURES is
    not read: the up path takes level UP_FIRST_LEVEL .. level5."""
    if "DLA" not in cfg.MODEL:
        raise KeyError("cfg.MODEL.DLA is missing: call mot_heads.modeling.backbone.dla.add_dla_config(cfg) "
                       "before merging a config that uses a DLA backbone")
    dla = cfg.MODEL.DLA
    return DLAUpBackbone(depth=dla.DEPTH, norm=dla.NORM, first_level=dla.UP_FIRST_LEVEL, deformable=dla.UP_DEFORMABLE,
                         up_norm=dla.UP_NORM, in_channels=input_shape.channels, freeze_at=cfg.MODEL.BACKBONE.FREEZE_AT)


def convert_fairmot_dla_weights(state_dict: Dict[str, torch.Tensor], depth: int = 34,
                                prefix: str = "backbone.") -> Dict[str, torch.Tensor]:
    """Keys of a FairMOT / CenterNet ``DLASeg`` state dict (DLA-34 + DCN up path) for
    :class:`DLAUpBackbone` built as ``backbone``: ``base.*`` goes through
    :func:`~.dla.convert_public_dla_weights` (classifier and unused projections dropped) to
    ``{prefix}base.*``; ``dla_up.*`` becomes ``{prefix}dla_up.*``, without BN's
    ``num_batches_tracked``. A DataParallel ``module.`` is stripped. The other keys (the final
    ``ida_up.*``, the heads ``hm.*``, ``wh.*``, ``reg.*``, ``id.*``) are returned as they are, for
    the model that owns those parts."""
    base, converted = {}, {}
    for key, value in state_dict.items():
        key = key[len("module."):] if key.startswith("module.") else key
        if key.startswith("base."):
            base[key[len("base."):]] = value
        elif key.startswith("dla_up."):
            if not key.endswith(".num_batches_tracked"):
                converted[prefix + key] = value
        else:
            converted[key] = value
    converted.update(convert_public_dla_weights(base, depth=depth, prefix=prefix + "base."))
    return converted
