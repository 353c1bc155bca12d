"""DLA-34 with CenterNet's up-sampling path ("Objects as Points", App. A): the DCNv2
wiring by hand, the bilinear transposed conv, IDAUp / DLAUp against the public algorithm, the
FairMOT checkpoint layout, shapes, gradients, the config builder and errors."""
import pytest
import torch
import torch.nn.functional as F
from detectron2.config import get_cfg
from detectron2.layers import FrozenBatchNorm2d, ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, build_backbone
from torch import nn

import mot_heads.modeling.backbone  # noqa: F401  (registration by importing the package)
from mot_heads.modeling.backbone.dla import add_dla_config
from mot_heads.modeling.backbone.dla_up import (
    DeformableConv, DLAUp, DLAUpBackbone, IDAUp, ModulatedDeformConv2d, bilinear_upsampling,
    build_dla_up_backbone, convert_fairmot_dla_weights,
)

OUT = ["up2", "up3", "up4", "up5"]
CHANNELS = {"up2": 64, "up3": 128, "up4": 256, "up5": 512}
STRIDES = {"up2": 4, "up3": 8, "up4": 16, "up5": 32}


def dla_up_cfg(**overrides):
    """A Detectron2 config selecting the DLA-up backbone; ``overrides`` as "MODEL.X.Y" -> value."""
    cfg = add_dla_config(get_cfg())
    cfg.MODEL.BACKBONE.NAME = "build_dla_up_backbone"
    cfg.MODEL.BACKBONE.FREEZE_AT = 0
    for key, value in overrides.items():
        cfg.merge_from_list([key, value])
    return cfg


# --- the modulated deformable convolution (DCNv2) -------------------------------------------


def _deform_conv(in_channels=3, out_channels=4):
    torch.manual_seed(0)
    conv = ModulatedDeformConv2d(in_channels, out_channels, 3)
    with torch.no_grad():
        conv.bias.uniform_(-1, 1)  # the bias is added after the modulation
    return conv


def test_zero_initialised_offsets_and_masks_give_half_a_plain_conv():
    conv = _deform_conv()
    assert conv.conv_offset_mask.out_channels == 27  # 2 * 9 offsets + 9 masks
    assert not conv.conv_offset_mask.weight.any() and not conv.conv_offset_mask.bias.any()
    x = torch.randn(2, 3, 7, 9)
    plain = F.conv2d(x, conv.weight, padding=1)
    # offsets 0 sample the regular grid, masks sigmoid(0) = 0.5 scale every tap
    torch.testing.assert_close(conv(x), 0.5 * plain + conv.bias[:, None, None], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dy, dx", [(0.0, 1.0), (1.0, 0.0), (-1.0, 1.0)])
def test_one_pixel_offset_shifts_the_sampling(dy, dx):
    """The same offset at every tap (channels 2k = dy, 2k + 1 = dx) moves the whole 3x3 window:
    y(i, j) = 0.5 * conv(x)(i + dy, j + dx) + b, checked on the interior (no border effects)."""
    conv = _deform_conv()
    with torch.no_grad():
        conv.conv_offset_mask.bias[0:18:2] = dy
        conv.conv_offset_mask.bias[1:18:2] = dx
    x = torch.randn(1, 3, 8, 10)
    plain = F.conv2d(x, conv.weight, padding=1) * 0.5 + conv.bias[:, None, None]
    out = conv(x)
    sy, sx = int(dy), int(dx)
    torch.testing.assert_close(out[..., 1:-1, 1:-1], plain[..., 1 + sy:7 + sy, 1 + sx:9 + sx], rtol=1e-5, atol=1e-5)


def test_fractional_offset_interpolates_and_masks_scale_each_tap():
    conv = _deform_conv()
    with torch.no_grad():
        conv.conv_offset_mask.bias[1:18:2] = 0.5  # half a pixel right: the mean of two shifts
        conv.conv_offset_mask.bias[18:] = torch.logit(torch.tensor(0.75))  # mask channels come last
    x = torch.randn(1, 3, 8, 10)
    plain = F.conv2d(x, conv.weight, padding=1)
    expected = 0.75 * 0.5 * (plain[..., :-1] + plain[..., 1:]) + conv.bias[:, None, None]
    torch.testing.assert_close(conv(x)[..., 1:-1, 1:-2], expected[..., 1:-1, 1:-1], rtol=1e-5, atol=1e-5)


def test_deformable_conv_block_and_its_plain_variant():
    torch.manual_seed(0)
    block = DeformableConv(3, 8, deformable=True)
    plain = DeformableConv(3, 8, deformable=False, norm="GN")
    assert isinstance(block.conv, ModulatedDeformConv2d) and isinstance(block.actf[0], nn.BatchNorm2d)
    assert type(plain.conv) is nn.Conv2d and plain.conv.kernel_size == (3, 3)
    assert isinstance(plain.actf[0], nn.GroupNorm) and plain.actf[0].num_groups == 8
    # the plain variant's names are the deformable one's minus the offset / mask predictor
    names = {k for k in block.state_dict() if "conv_offset_mask" not in k}
    assert names == set(plain.state_dict()) | {"actf.0.running_mean", "actf.0.running_var",
                                                "actf.0.num_batches_tracked"}
    # both start alike: uniform weights within 1 / sqrt(fan_in), zero bias
    for conv in (block.conv, plain.conv):
        assert conv.weight.abs().max() <= 1 / 27 ** 0.5 and not conv.bias.any()
    x = torch.randn(2, 3, 6, 6)
    with torch.no_grad():
        block.conv.weight.copy_(plain.conv.weight)
        block.actf[0] = nn.GroupNorm(8, 8)  # same norm: the block is ReLU(GN(0.5 * conv)); GN undoes the 0.5
        torch.testing.assert_close(block(x), plain(x), rtol=1e-4, atol=1e-5)
    assert (plain(x) >= 0).all()


# --- bilinear transposed convolution -----------------------------------------------------------


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_bilinear_upsampling_of_constants_and_ramps(factor):
    up = bilinear_upsampling(3, factor)
    assert up.kernel_size == (2 * factor, 2 * factor) and up.stride == (factor, factor) and up.groups == 3
    assert up.bias is None and up.weight.requires_grad  # learned, bilinear at the start
    border = factor // 2  # rows / columns where a neighbour is missing (zero padding)
    with torch.no_grad():
        const = up(torch.full((1, 3, 5, 6), 2.0))
        assert const.shape == (1, 3, 5 * factor, 6 * factor)
        torch.testing.assert_close(const[..., border:-border, border:-border],
                                   torch.full_like(const[..., border:-border, border:-border], 2.0))
        # a ramp along x (3 * column in channel 0, -column in channel 1: channels independent)
        cols = torch.arange(6.0)
        ramp = torch.stack([3 * cols, -cols, torch.zeros(6)])[None, :, None, :].expand(1, 3, 5, 6)
        out = up(ramp)
    # output pixel o samples the input at (o + 1/2) / factor - 1/2
    coord = (torch.arange(6.0 * factor) + 0.5) / factor - 0.5
    expected = torch.stack([3 * coord, -coord, torch.zeros_like(coord)])[None, :, None, :].expand_as(out)
    inner = (..., slice(border, -border), slice(border, -border))
    torch.testing.assert_close(out[inner], expected[inner])
    # which is bilinear interpolation (align_corners=False) away from the border
    reference = F.interpolate(ramp, scale_factor=factor, mode="bilinear", align_corners=False)
    torch.testing.assert_close(out[inner], reference[inner])


def test_bilinear_kernel_of_factor_two():
    taps = torch.tensor([0.25, 0.75, 0.75, 0.25])
    torch.testing.assert_close(bilinear_upsampling(2, 2).weight[1, 0], torch.outer(taps, taps))


# --- IDAUp and DLAUp -----------------------------------------------------------------------------


def test_ida_up_by_hand():
    """a_0 = x_0, a_i = node_i(up_i(proj_i(x_i)) + a_{i-1}); each level upsampled straight to the finest stride."""
    torch.manual_seed(0)
    ida = IDAUp([4, 6, 8], [4, 8, 16], 4, deformable=False, norm="GN")
    assert ida.up_1.stride == (2, 2) and ida.up_2.stride == (4, 4)  # factors 8 / 4 and 16 / 4
    assert ida.proj_1.conv.in_channels == 6 and ida.proj_2.conv.in_channels == 8
    assert not hasattr(ida, "proj_0")  # the finest level enters as it is
    x = [torch.randn(2, 4, 16, 24), torch.randn(2, 6, 8, 12), torch.randn(2, 8, 4, 6)]
    a1 = ida.node_1(ida.up_1(ida.proj_1(x[1])) + x[0])
    a2 = ida.node_2(ida.up_2(ida.proj_2(x[2])) + a1)
    aggregates = ida.aggregate(x)
    assert len(aggregates) == 3 and aggregates[0] is x[0]
    torch.testing.assert_close(aggregates[1], a1)
    torch.testing.assert_close(ida(x), a2)
    assert ida(x).shape == (2, 4, 16, 24)


def test_ida_up_fuses_fpn_levels_of_equal_channels():
    """The one-shot model's use: four 64-channel levels (e.g. p2..p5 of a ResNet-FPN) to one stride-4 map."""
    ida = IDAUp([64] * 4, [4, 8, 16, 32], 64, deformable=True).eval()
    features = [torch.randn(1, 64, 64 // s, 96 // s) for s in (4, 8, 16, 32)]
    with torch.no_grad():
        assert ida(features).shape == (1, 64, 16, 24)


def _reference_dla_up(dla_up, levels):
    """The public DLAUp forward (CenterNet), written as it works there: each IDAUp overwrites
    the list in place, levels ``start + 1 ..`` becoming node outputs at the stride of ``start``."""
    layers, n = list(levels), len(levels)
    outputs = [layers[-1]]
    for i in range(n - 1):
        ida, start = getattr(dla_up, f"ida_{i}"), n - 2 - i
        for k in range(start + 1, n):
            m = k - start
            up = getattr(ida, f"up_{m}")(getattr(ida, f"proj_{m}")(layers[k]))
            layers[k] = getattr(ida, f"node_{m}")(up + layers[k - 1])
        outputs.insert(0, layers[-1])
    return outputs


def test_dla_up_matches_the_public_algorithm():
    torch.manual_seed(0)
    dla_up = DLAUp([4, 6, 8, 10], [4, 8, 16, 32], deformable=False, norm="GN")
    levels = [torch.randn(2, c, 64 // s, 64 // s) for c, s in zip([4, 6, 8, 10], [4, 8, 16, 32])]
    outputs = dla_up(levels)
    assert [tuple(o.shape) for o in outputs] == [(2, 4, 16, 16), (2, 6, 8, 8), (2, 8, 4, 4), (2, 10, 2, 2)]
    assert outputs[-1] is levels[-1]  # the coarsest level is returned as it is
    for ours, public in zip(outputs, _reference_dla_up(dla_up, levels)):
        torch.testing.assert_close(ours, public)


def test_dla_up_structure_and_parameter_count_match_centernet():
    """CenterNet's DLAUp on DLA-34 (channels 64..512): ida_0 = IDAUp(256, [256, 512]),
    ida_1 = IDAUp(128, [128, 256, 256]), ida_2 = IDAUp(64, [64, 128, 128, 128]); every up-sampling
    factor is 2. A DCN block (c_in -> o) has o c_in 9 + o (conv) + 27 c_in 9 + 27 (offsets and
    masks) + 2 o (BN) parameters, an up-sampling o 4 * 4."""
    dla_up = DLAUp([64, 128, 256, 512], [4, 8, 16, 32])
    idas = {"ida_0": (256, [512]), "ida_1": (128, [256, 256]), "ida_2": (64, [128, 128, 128])}

    def dcn(c_in, o):
        return o * c_in * 9 + o + 27 * c_in * 9 + 27 + 2 * o

    expected = 0
    for name, (o, coarser) in idas.items():
        ida = getattr(dla_up, name)
        for k, c_in in enumerate(coarser, start=1):
            assert getattr(ida, f"up_{k}").weight.shape == (o, 1, 4, 4)
            assert getattr(ida, f"proj_{k}").conv.weight.shape == (o, c_in, 3, 3)
            expected += dcn(c_in, o) + dcn(o, o) + o * 16
        assert not hasattr(ida, f"proj_{len(coarser) + 1}")
    assert not hasattr(dla_up, "ida_3")
    assert sum(p.numel() for p in dla_up.parameters()) == expected == 3_515_012


# --- the backbone --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def backbone():
    torch.manual_seed(0)
    return DLAUpBackbone().eval()


@pytest.mark.parametrize("height, width", [(64, 96), (32, 64), (64, 32)])
def test_backbone_output_shapes_and_strides(backbone, height, width):
    assert backbone.size_divisibility == 32
    with torch.no_grad():
        outputs = backbone(torch.randn(1, 3, height, width))
        level5 = backbone.base(torch.randn(1, 3, height, width))["level5"]
    assert list(outputs) == OUT
    for name in OUT:
        assert backbone.output_shape()[name] == ShapeSpec(channels=CHANNELS[name], stride=STRIDES[name])
        assert outputs[name].shape == (1, CHANNELS[name], height // STRIDES[name], width // STRIDES[name])
    assert outputs["up5"].shape == level5.shape


def test_gradients_reach_the_base_network_and_the_offset_convs():
    torch.manual_seed(0)
    backbone = DLAUpBackbone(deformable=True).train()
    outputs = backbone(torch.randn(2, 3, 32, 32))
    sum((o ** 2).mean() for o in outputs.values()).backward()
    offset_convs = [m for m in backbone.modules() if isinstance(m, ModulatedDeformConv2d)]
    assert len(offset_convs) == 2 * (1 + 2 + 3)  # proj + node of each IDAUp step
    for conv in offset_convs:
        assert conv.conv_offset_mask.weight.grad.abs().sum() > 0
    # every parameter is reached (nothing unused, so DDP needs no find_unused_parameters)
    for name, param in backbone.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0, name
    assert backbone.base.base_layer[0].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("deformable", [True, False])
def test_builder_reads_the_config(deformable):
    assert "build_dla_up_backbone" in BACKBONE_REGISTRY._obj_map
    cfg = dla_up_cfg(**{"MODEL.DLA.UP_DEFORMABLE": deformable, "MODEL.DLA.UP_NORM": "GN"})
    cfg.MODEL.BACKBONE.FREEZE_AT = 2  # base_layer, level0
    backbone = build_backbone(cfg).eval()
    assert isinstance(backbone, DLAUpBackbone)
    conv = backbone.dla_up.ida_2.node_3.conv
    assert isinstance(conv, ModulatedDeformConv2d) if deformable else type(conv) is nn.Conv2d
    assert isinstance(backbone.dla_up.ida_0.proj_1.actf[0], nn.GroupNorm)
    assert isinstance(backbone.base.level2.tree1.bn1, nn.BatchNorm2d)  # MODEL.DLA.NORM
    assert isinstance(backbone.base.level0[1], FrozenBatchNorm2d)
    assert not any(p.requires_grad for p in backbone.base.base_layer.parameters())
    with torch.no_grad():
        outputs = backbone(torch.randn(1, 3, 64, 64))
    assert [(k, tuple(v.shape)) for k, v in outputs.items()] == [
        ("up2", (1, 64, 16, 16)), ("up3", (1, 128, 8, 8)), ("up4", (1, 256, 4, 4)), ("up5", (1, 512, 2, 2))]


def test_first_level_and_input_channels_from_the_config():
    cfg = dla_up_cfg(**{"MODEL.DLA.UP_FIRST_LEVEL": 3, "MODEL.DLA.UP_DEFORMABLE": False})
    cfg.MODEL.PIXEL_MEAN, cfg.MODEL.PIXEL_STD = [0.0], [1.0]
    backbone = build_dla_up_backbone(cfg, ShapeSpec(channels=1)).eval()
    assert backbone.base.base_layer[0].in_channels == 1
    assert list(backbone.output_shape()) == ["up3", "up4", "up5"]
    assert hasattr(backbone.dla_up, "ida_1") and not hasattr(backbone.dla_up, "ida_2")
    with torch.no_grad():
        outputs = backbone(torch.randn(1, 1, 64, 32))
    assert outputs["up3"].shape == (1, 128, 8, 4)


def test_fairmot_checkpoint_layout_loads():
    """FairMOT's DLASeg keys (base.*, dla_up.*, ida_up.*, heads), with a DataParallel prefix,
    the ImageNet classifier and the unused projections of the base, load onto the backbone."""
    model = DLAUpBackbone()
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    # the public names and shapes (pose_dla_dcn.py: DeformConv = conv (DCN) + actf (BN, ReLU))
    assert shapes["dla_up.ida_0.proj_1.conv.weight"] == (256, 512, 3, 3)
    assert shapes["dla_up.ida_0.proj_1.conv.conv_offset_mask.weight"] == (27, 512, 3, 3)
    assert shapes["dla_up.ida_0.up_1.weight"] == (256, 1, 4, 4)
    assert shapes["dla_up.ida_1.proj_2.conv.bias"] == (128,)
    assert shapes["dla_up.ida_2.proj_3.conv.weight"] == (64, 128, 3, 3)
    assert shapes["dla_up.ida_2.node_3.actf.0.running_var"] == (64,)
    assert shapes["base.level5.root.conv.weight"] == (512, 1280, 1, 1)
    public = {"module." + k: torch.randn_like(v.float()).to(v.dtype) for k, v in model.state_dict().items()}
    extra = {"base.fc.weight": (1000, 512, 1, 1), "base.fc.bias": (1000,), "base.level3.project.0.weight":
             (128, 64, 1, 1), "base.level4.project.1.running_mean": (256,), "ida_up.up_2.weight": (64, 1, 8, 8),
             "hm.2.bias": (1,)}
    public.update({"module." + k: torch.randn(shape) for k, shape in extra.items()})
    converted = convert_fairmot_dla_weights(public)
    assert torch.equal(converted["ida_up.up_2.weight"], public["module.ida_up.up_2.weight"])
    assert "hm.2.bias" in converted
    backbone_keys = {k[len("backbone."):]: v for k, v in converted.items() if k.startswith("backbone.")}
    assert not any(k.startswith(("base.fc.", "base.level3.project.", "base.level4.project.")) for k in backbone_keys)
    fresh = DLAUpBackbone()
    fresh.load_state_dict(backbone_keys, strict=True)  # BatchNorm restores the dropped num_batches_tracked
    key = "dla_up.ida_1.node_2.conv.conv_offset_mask.weight"
    assert torch.equal(fresh.state_dict()[key], public["module." + key])
    assert torch.equal(fresh.base.level3.tree2.root.conv.weight, public["module.base.level3.tree2.root.conv.weight"])
    assert len(converted) == len(public) - 4 - sum(k.endswith("num_batches_tracked") for k in public)


@pytest.mark.slow
def test_deformable_ida_up_learns():
    """A few Adam steps fit a target map; the offset predictors leave zero (the DCN really learns)."""
    torch.manual_seed(0)
    ida = IDAUp([8, 8, 8], [4, 8, 16], 8, deformable=True, norm="GN")
    head = nn.Conv2d(8, 1, 1)
    features = [torch.randn(2, 8, 16 // s, 16 // s) for s in (1, 2, 4)]
    target = torch.roll(features[0][:, :1], shifts=1, dims=-1).relu()
    optimizer = torch.optim.Adam([*ida.parameters(), *head.parameters()], lr=1e-2)

    def loss_fn():
        return F.mse_loss(head(ida(features)), target)

    first = loss_fn().item()
    for _ in range(30):
        optimizer.zero_grad()
        loss_fn().backward()
        optimizer.step()
    assert loss_fn().item() < 0.1 * first
    assert ida.node_2.conv.conv_offset_mask.weight.abs().sum() > 0


def test_clear_errors():
    with pytest.raises(KeyError, match="add_dla_config"):
        build_dla_up_backbone(get_cfg(), ShapeSpec(channels=3))
    with pytest.raises(ValueError, match=r"UP_FIRST_LEVEL\) must be in \[1, 4\]"):
        build_backbone(dla_up_cfg(**{"MODEL.DLA.UP_FIRST_LEVEL": 5}))
    with pytest.raises(ValueError, match="even multiple"):
        IDAUp([8, 8], [4, 12], 8)
    with pytest.raises(ValueError, match="finest first"):
        IDAUp([8, 8], [8, 4], 8)
    with pytest.raises(ValueError, match="needs out_channels=8"):
        IDAUp([4, 8], [4, 8], 8)
    with pytest.raises(ValueError, match="at least two inputs"):
        IDAUp([8], [4], 8)
    ida = IDAUp([8, 8], [4, 8], 8, deformable=False)
    with pytest.raises(ValueError, match=r"upsampled \(8, 8\), but the finest input \(stride 4\) is \(16, 16\)"):
        ida([torch.randn(2, 8, 16, 16), torch.randn(2, 8, 4, 4)])
    with pytest.raises(ValueError, match="built for 2 inputs"):
        ida([torch.randn(2, 8, 16, 16)])
    with pytest.raises(ValueError, match="even factor"):
        bilinear_upsampling(4, 3)
    with pytest.raises(ValueError, match="odd kernel_size"):
        ModulatedDeformConv2d(4, 4, 2)
    with pytest.raises(ValueError, match="divisible by 32; got 64x48"):
        DLAUpBackbone(deformable=False)(torch.randn(1, 3, 64, 48))
