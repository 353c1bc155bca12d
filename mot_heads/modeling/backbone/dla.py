"""Deep Layer Aggregation backbone (Yu, Wang, Shelhamer, Darrell, "Deep Layer
Aggregation", CVPR 2018), registered in Detectron2's ``BACKBONE_REGISTRY``.

SiamMOT (Shuai et al., CVPR 2021) runs Faster R-CNN on DLA-34 + FPN
(``build_dla_fpn_backbone``); the one-shot trackers (FairMOT / CenterNet style) put their
own up-sampling path on the same base network (``DLA`` with ``out_features`` level0..level5).

Layout of the network (paper Sec. 3-4, Table 1 "DLA-34"):

=========== ======= ======== =========================================================
stage       stride  channels what it is
=========== ======= ======== =========================================================
base_layer  1       16       7x7 conv + norm + ReLU
level0      1       16       3x3 conv stage
level1      2       32       3x3 conv stage (stride 2)
level2      4       64       tree of depth 1 (hierarchical deep aggregation, HDA)
level3      8       128      tree of depth 2, aggregating the stage input (level root)
level4      16      256      tree of depth 2, level root
level5      32      512      tree of depth 1, level root
=========== ======= ======== =========================================================

Loading public ImageNet weights (``dla34`` of ucbdrive/dla, or timm's ``dla34``, which uses
the same names): the parameter names here are those of the public model, so a checkpoint maps
key for key, e.g. ``base_layer.0.weight`` (7x7 conv), ``base_layer.1.*`` (its BN),
``level0.0.weight`` / ``level0.1.*``, ``level1.0.weight`` / ``level1.1.*``,
``level{2..5}[.tree{1,2}]*.tree{1,2}.conv{1,2}.weight`` / ``.bn{1,2}.*`` (basic blocks),
``...root.conv.weight`` / ``...root.bn.*`` (aggregation nodes), ``...project.0.weight`` /
``...project.1.*`` (1x1 projections of the block's residual). Two groups are dropped:
``fc.*`` (the ImageNet classifier) and ``level3.project.*`` / ``level4.project.*``: in the
public code a tree of depth > 1 builds a projection whose output its sub-trees never use,
so it is not built here (its parameters would get no gradient, which breaks
``DistributedDataParallel`` with ``find_unused_parameters=False``, Detectron2's default).
:func:`convert_public_dla_weights` does both and adds the model's prefix::

    sd = torch.load("dla34-ba72cf86.pth", map_location="cpu", weights_only=True)  # runs nothing from the file
    torch.save({"model": convert_public_dla_weights(sd)}, "dla34_d2.pth")  # for MODEL.WEIGHTS

With ``NORM: FrozenBN`` the BN keys load into ``FrozenBatchNorm2d`` unchanged; with ``GN``
only the conv weights are meaningful.
"""
import math
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Type

import torch
from detectron2.config import CfgNode as CN
from detectron2.layers import FrozenBatchNorm2d, ShapeSpec, get_norm
from detectron2.modeling.backbone import BACKBONE_REGISTRY, Backbone
from detectron2.modeling.backbone.fpn import FPN, LastLevelMaxPool
from fvcore.nn.weight_init import c2_msra_fill
from torch import nn

from ...errors import InputError

__all__ = [
    "BasicBlock", "Root", "Tree", "DLA", "DLASpec", "DLA_SPECS", "STAGE_NAMES", "dla_spec", "make_norm",
    "add_dla_config", "build_dla_backbone", "build_dla_fpn_backbone", "convert_public_dla_weights",
]

# The stages in order; FREEZE_AT = N freezes the first N of them.
STAGE_NAMES = ("base_layer", "level0", "level1", "level2", "level3", "level4", "level5")


def make_norm(norm, channels: int) -> nn.Module:
    """A normalization layer from Detectron2's names ("BN", "SyncBN", "FrozenBN", "GN", ...).

    "GN" uses 32 groups as Detectron2, or gcd(32, channels) groups where ``channels`` is
    not a multiple of 32 (DLA's 16-channel first stages: 16 groups).
    """
    if norm == "GN":
        return nn.GroupNorm(math.gcd(32, channels), channels)
    layer = get_norm(norm, channels)
    if layer is None:
        raise InputError(f"DLA needs a normalization layer (BN, SyncBN, FrozenBN or GN); got norm={norm!r}")
    return layer


class BasicBlock(nn.Module):
    """Two 3x3 conv + norm layers with a residual connection (the block of DLA-34)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, norm="BN"):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = make_norm(norm, out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = make_norm(norm, out_channels)

    def forward(self, x: torch.Tensor, residual: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``residual`` (the input, projected where the block changes shape) is added before the last ReLU."""
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + (x if residual is None else residual))


class Root(nn.Module):
    """Aggregation node (paper Sec. 3.3): N(x_1..x_n) = ReLU(norm(W [x_1; ...; x_n])), a
    1x1 conv over the concatenated children; with ``residual`` the first child is added
    before the ReLU (the residual node of Sec. 3.3)."""

    def __init__(self, in_channels: int, out_channels: int, residual: bool = False, norm="BN"):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn = make_norm(norm, out_channels)
        self.residual = residual

    def forward(self, children: Sequence[torch.Tensor]) -> torch.Tensor:
        out = self.bn(self.conv(torch.cat(list(children), dim=1)))
        if self.residual:
            out = out + children[0]
        return torch.relu(out)


class Tree(nn.Module):
    """Hierarchical deep aggregation (HDA, paper Sec. 3.2, Fig. 2(d)-(f)) of ``depth``.

    A tree of depth 1 is two blocks in series aggregated by a :class:`Root`; a tree of depth
    d > 1 is a tree of depth d - 1 (``tree1``) followed by one (``tree2``) whose root also
    aggregates the output of ``tree1`` and the extra children handed down: the aggregation
    node of each level feeds the next block ("deep" aggregation), and all roots of one stage
    see the earlier outputs. With ``level_root`` the stage's (downsampled) input is a child of
    the last root too. ``stride`` > 1 downsamples the block path by a strided conv and the
    residual and level-root paths by max pooling.
    """

    def __init__(self, depth: int, block: Type[nn.Module], in_channels: int, out_channels: int, stride: int = 1,
                 level_root: bool = False, root_dim: int = 0, residual_root: bool = False, norm="BN"):
        super().__init__()
        if depth < 1:
            raise ValueError(f"a DLA tree has depth >= 1; got {depth}")
        root_dim = root_dim or 2 * out_channels  # the root of a depth-1 tree sees its two blocks
        if level_root:
            root_dim += in_channels
        self.depth, self.level_root = depth, level_root
        self.downsample = nn.MaxPool2d(stride, stride=stride) if stride > 1 else None
        self.project = None
        if depth == 1:
            self.tree1 = block(in_channels, out_channels, stride, norm=norm)
            self.tree2 = block(out_channels, out_channels, 1, norm=norm)
            self.root = Root(root_dim, out_channels, residual_root, norm=norm)
            if in_channels != out_channels:  # the residual of tree1 changes channels
                self.project = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False),
                                             make_norm(norm, out_channels))
        else:
            self.tree1 = Tree(depth - 1, block, in_channels, out_channels, stride,
                              residual_root=residual_root, norm=norm)
            self.tree2 = Tree(depth - 1, block, out_channels, out_channels, 1,
                              root_dim=root_dim + out_channels, residual_root=residual_root, norm=norm)

    def forward(self, x: torch.Tensor, children: Sequence[torch.Tensor] = ()) -> torch.Tensor:
        """``children``: outputs handed down by enclosing trees, aggregated by the last root."""
        bottom = x if self.downsample is None else self.downsample(x)
        children = [*children, bottom] if self.level_root else list(children)
        if self.depth == 1:
            residual = bottom if self.project is None else self.project(bottom)
            x1 = self.tree1(x, residual)
            x2 = self.tree2(x1)
            return self.root([x2, x1, *children])
        x1 = self.tree1(x)
        return self.tree2(x1, children=[*children, x1])


class DLASpec(NamedTuple):
    """One DLA variant (paper Table 1): tree depths / conv counts and channels per stage."""

    levels: Tuple[int, ...]
    channels: Tuple[int, ...]
    block: Type[nn.Module]
    residual_root: bool


# Only DLA-34 is implemented: BasicBlock, no residual roots (the public DLA-34 sets
# residual_root=False; the deeper bottleneck variants set it).
DLA_SPECS: Dict[int, DLASpec] = {
    34: DLASpec(levels=(1, 1, 1, 2, 2, 1), channels=(16, 32, 64, 128, 256, 512), block=BasicBlock,
                residual_root=False),
}


def dla_spec(depth: int) -> DLASpec:
    """The spec of DLA-``depth``, or a ValueError naming the supported depths."""
    if depth not in DLA_SPECS:
        raise InputError(f"DLA-{depth} is not implemented; supported depths: {sorted(DLA_SPECS)} "
                         f"(set cfg.MODEL.DLA.DEPTH to one of them)")
    return DLA_SPECS[depth]


def _check_freeze_at(freeze_at: int) -> None:
    if not 0 <= freeze_at <= len(STAGE_NAMES):
        raise InputError(f"DLA freeze_at (cfg.MODEL.BACKBONE.FREEZE_AT) must be in [0, {len(STAGE_NAMES)}]; "
                         f"got {freeze_at}")


class DLA(Backbone):
    """DLA base network as a Detectron2 backbone; outputs the stages in ``out_features``
    ("level0".."level5", strides 1, 2, 4, 8, 16, 32). Stages after the last requested one
    are not built. Inputs must have H and W divisible by ``size_divisibility``.
    """

    def __init__(self, depth: int = 34, norm="BN",
                 out_features: Sequence[str] = ("level2", "level3", "level4", "level5"),
                 in_channels: int = 3, freeze_at: int = 0):
        super().__init__()
        _check_freeze_at(freeze_at)  # before the (slow) build
        spec = dla_spec(depth)
        levels, channels = spec.levels, spec.channels
        unknown = [f for f in out_features if f not in STAGE_NAMES[1:]]
        if unknown or not out_features:
            raise InputError(f"DLA out_features must be a non-empty subset of {list(STAGE_NAMES[1:])}; "
                             f"got {list(out_features)}")
        self._out_features = [f for f in STAGE_NAMES if f in out_features]  # in network order
        last = STAGE_NAMES.index(self._out_features[-1])

        self.base_layer = self._conv_stage(in_channels, channels[0], 1, kernel_size=7, norm=norm)
        strides, widths = {}, {}
        for index, name in enumerate(STAGE_NAMES[1:last + 1]):
            prev = channels[max(index - 1, 0)]
            stride = 1 if index == 0 else 2
            if index < 2:  # level0, level1: plain conv stages
                stage = self._conv_stage(prev, channels[index], levels[index], stride=stride, norm=norm)
            else:  # level2..level5: aggregation trees; level3 onwards aggregate their input too
                stage = Tree(levels[index], spec.block, prev, channels[index], stride, level_root=index > 2,
                             residual_root=spec.residual_root, norm=norm)
            self.add_module(name, stage)
            strides[name] = 2 ** index
            widths[name] = channels[index]
        self._out_feature_strides = {f: strides[f] for f in self._out_features}
        self._out_feature_channels = {f: widths[f] for f in self._out_features}
        self._max_stride = strides[STAGE_NAMES[last]]

        for module in self.modules():  # the public model's init: He normal, fan-out
            if isinstance(module, nn.Conv2d):
                c2_msra_fill(module)
        self.freeze(freeze_at)

    @staticmethod
    def _conv_stage(in_channels: int, out_channels: int, convs: int, stride: int = 1, kernel_size: int = 3,
                    norm="BN") -> nn.Sequential:
        """``convs`` x (conv, norm, ReLU), the first with ``stride``; indexed as the public model."""
        layers: List[nn.Module] = []
        for i in range(convs):
            layers += [nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, kernel_size,
                                 stride=stride if i == 0 else 1, padding=kernel_size // 2, bias=False),
                       make_norm(norm, out_channels), nn.ReLU(inplace=True)]
        return nn.Sequential(*layers)

    @property
    def size_divisibility(self) -> int:
        # A tree's strided conv rounds an odd size up and its max pooling rounds it down, so
        # every strided stage needs an even input.
        return self._max_stride

    def stages(self) -> List[Tuple[str, nn.Module]]:
        """(name, module) of the built stages, in order."""
        return [(name, getattr(self, name)) for name in STAGE_NAMES if hasattr(self, name)]

    def freeze(self, freeze_at: int = 0) -> "DLA":
        """Freeze the first ``freeze_at`` stages of :data:`STAGE_NAMES` (1: base_layer, 2: + level0,
        ..., 7: all), as Detectron2's ResNet: no gradients, BatchNorm turned into FrozenBatchNorm2d."""
        _check_freeze_at(freeze_at)
        for name, stage in self.stages()[:freeze_at]:
            for param in stage.parameters():
                param.requires_grad = False
            setattr(self, name, FrozenBatchNorm2d.convert_frozen_batchnorm(stage))
        return self

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        if x.dim() != 4:
            raise ValueError(f"DLA takes a (N, C, H, W) tensor; got shape {tuple(x.shape)}")
        height, width = x.shape[-2:]
        if height % self._max_stride or width % self._max_stride:
            raise ValueError(f"DLA needs H and W divisible by {self._max_stride}; got {height}x{width} "
                             f"(pad the input, as Detectron2's ImageList does with size_divisibility)")
        outputs = {}
        for name, stage in self.stages():
            x = stage(x)
            if name in self._out_features:
                outputs[name] = x
        return outputs


def _dead_projections(levels: Sequence[int], channels: Sequence[int]) -> List[str]:
    """Key prefixes of the projections the public code builds in trees of depth > 1 but never
    uses (see the module docstring)."""
    prefixes = []
    for index in range(2, len(levels)):
        prefix, depth = f"level{index}.", levels[index]
        while depth > 1 and channels[index - 1] != channels[index]:
            prefixes.append(prefix + "project.")
            prefix, depth = prefix + "tree1.", depth - 1
    return prefixes


def convert_public_dla_weights(state_dict: Dict[str, torch.Tensor], depth: int = 34,
                               prefix: str = "backbone.bottom_up.") -> Dict[str, torch.Tensor]:
    """Keys of a public ImageNet DLA checkpoint (ucbdrive/dla or timm) for this module: drops
    ``fc.*``, the unused projections and BN's ``num_batches_tracked`` counters (BatchNorm2d
    restores them, FrozenBatchNorm2d has none), strips a DataParallel ``module.`` and prepends
    ``prefix`` (``backbone.bottom_up.`` for the FPN backbone, ``backbone.`` for plain DLA)."""
    spec = dla_spec(depth)
    dead = tuple(_dead_projections(spec.levels, spec.channels))
    converted = {}
    for key, value in state_dict.items():
        key = key[len("module."):] if key.startswith("module.") else key
        if key.startswith("fc.") or key.startswith(dead) or key.endswith(".num_batches_tracked"):
            continue
        converted[prefix + key] = value
    return converted


def add_dla_config(cfg: CN) -> CN:
    """Add cfg.MODEL.DLA (in place) and return ``cfg``."""
    cfg.MODEL.DLA = CN()
    # Depth of the network (Yu et al. 2018, Table 1); only DLA-34 is implemented, the
    # backbone of SiamMOT and of the FairMOT-style one-shot trackers.
    cfg.MODEL.DLA.DEPTH = 34
    # Normalization: "BN" as the paper; "GN" to train from scratch with small batches;
    # "FrozenBN" with pretrained ImageNet weights; "SyncBN" for multi-GPU training.
    cfg.MODEL.DLA.NORM = "BN"
    # Stages returned ("level0".."level5", strides 1..32); FPN reads level2..level5.
    # cfg.MODEL.BACKBONE.FREEZE_AT = N freezes the first N of base_layer, level0, ..., level5.
    cfg.MODEL.DLA.OUT_FEATURES = ["level2", "level3", "level4", "level5"]
    # The up-sampling path of CenterNet / FairMOT (build_dla_up_backbone, dla_up.py).
    # Finest level it returns, N for stride 2**N: CenterNet's and FairMOT's down ratio 4 is 2.
    cfg.MODEL.DLA.UP_FIRST_LEVEL = 2
    # Its 3x3 convs are modulated deformable convs (DCNv2), as CenterNet's DLA-34 ("Objects as
    # Points", Implementation details and App. A); False: plain 3x3 convs (cheaper on CPU).
    cfg.MODEL.DLA.UP_DEFORMABLE = True
    # Normalization after each of its convs: "BN" as CenterNet and FairMOT; "GN" to train
    # from scratch with small batches.
    cfg.MODEL.DLA.UP_NORM = "BN"
    return cfg


@BACKBONE_REGISTRY.register()
def build_dla_backbone(cfg: CN, input_shape: ShapeSpec) -> DLA:
    """DLA from cfg.MODEL.DLA (see :func:`add_dla_config`) and cfg.MODEL.BACKBONE.FREEZE_AT."""
    if "DLA" not in cfg.MODEL:
        raise KeyError("cfg.MODEL.DLA is missing: call mot_heads.modeling.backbone.dla.add_dla_config(cfg) "
                       "before merging a config that uses a DLA backbone")
    dla = cfg.MODEL.DLA
    return DLA(depth=dla.DEPTH, norm=dla.NORM, out_features=dla.OUT_FEATURES, in_channels=input_shape.channels,
               freeze_at=cfg.MODEL.BACKBONE.FREEZE_AT)


@BACKBONE_REGISTRY.register()
def build_dla_fpn_backbone(cfg: CN, input_shape: ShapeSpec) -> FPN:
    """Detectron2's FPN (cfg.MODEL.FPN) on DLA, with a max-pooled P6, as ``build_resnet_fpn_backbone``."""
    bottom_up = build_dla_backbone(cfg, input_shape)
    missing = [f for f in cfg.MODEL.FPN.IN_FEATURES if f not in bottom_up.output_shape()]
    if missing:
        raise InputError(f"cfg.MODEL.FPN.IN_FEATURES {list(cfg.MODEL.FPN.IN_FEATURES)} asks for {missing}, "
                         f"which cfg.MODEL.DLA.OUT_FEATURES {list(cfg.MODEL.DLA.OUT_FEATURES)} does not give")
    return FPN(bottom_up=bottom_up, in_features=cfg.MODEL.FPN.IN_FEATURES, out_channels=cfg.MODEL.FPN.OUT_CHANNELS,
               norm=cfg.MODEL.FPN.NORM, top_block=LastLevelMaxPool(), fuse_type=cfg.MODEL.FPN.FUSE_TYPE)
