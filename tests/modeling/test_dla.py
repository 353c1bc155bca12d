"""DLA-34 backbone (Yu et al., CVPR 2018): shapes, the published parameter count, the public
checkpoint layout, norms, the FPN builder, freezing, errors and learning."""
import pytest
import torch
from detectron2.config import get_cfg
from detectron2.layers import FrozenBatchNorm2d, ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, build_backbone
from torch import nn

from mot_heads.modeling.backbone.dla import (
    DLA, STAGE_NAMES, add_dla_config, build_dla_backbone, convert_public_dla_weights,
)

LEVELS = ["level2", "level3", "level4", "level5"]
ALL_LEVELS = ["level0", "level1"] + LEVELS


def dla_cfg(**overrides):
    """A Detectron2 config with the DLA keys; ``overrides`` as "MODEL.X.Y" -> value."""
    cfg = add_dla_config(get_cfg())
    cfg.MODEL.BACKBONE.FREEZE_AT = 0
    for key, value in overrides.items():
        cfg.merge_from_list([key, value])
    return cfg


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_output_shapes_and_strides():
    model = DLA(out_features=LEVELS).eval()
    with torch.no_grad():
        outputs = model(torch.randn(2, 3, 64, 96))
    assert list(outputs) == LEVELS
    expected = {"level2": (64, 4), "level3": (128, 8), "level4": (256, 16), "level5": (512, 32)}
    for name, (channels, stride) in expected.items():
        assert outputs[name].shape == (2, channels, 64 // stride, 96 // stride)
        assert model.output_shape()[name] == ShapeSpec(channels=channels, stride=stride)
    assert model.size_divisibility == 32
    # the two conv stages too (CenterNet's up-sampling path reads all six)
    model = DLA(out_features=["level1", "level0"]).eval()  # returned in network order
    with torch.no_grad():
        outputs = model(torch.randn(1, 3, 64, 96))
    assert [(k, tuple(v.shape)) for k, v in outputs.items()] == [("level0", (1, 16, 64, 96)),
                                                                   ("level1", (1, 32, 32, 48))]
    assert not hasattr(model, "level2")  # stages after the last output are not built


def test_parameter_count_matches_published_dla34():
    """DLA-34 without its classifier has 15,229,104 parameters (BN). References:
    timm's and imgclsmob's (pytorchcv) dla34 count 15,742,104 = features + the 1x1-conv
    ImageNet classifier (512 * 1000 + 1000); the original ucbdrive/dla code has 15,783,832,
    41,728 more: the projections of level3 and level4 (64->128 and 128->256 1x1 conv + BN),
    built but never used, which we leave out; OpenVINO's model card lists 15.7344 M for the
    BN-folded graph (each BN's 2C parameters become the conv's C biases)."""
    model = DLA(out_features=ALL_LEVELS)
    features = count(model)
    assert features == 15_229_104
    assert features + 512 * 1000 + 1000 == 15_742_104
    unused_projections = (64 * 128 + 2 * 128) + (128 * 256 + 2 * 256)
    assert features + 513_000 + unused_projections == 15_783_832
    bn_channels = sum(m.num_features for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert round((features + 513_000 - bn_channels) / 1e6, 4) == 15.7344


def test_public_checkpoint_layout_loads():
    """A state dict with the public key layout (classifier and unused projections included)
    converts to our keys and loads strictly; the aggregation nodes have the public shapes."""
    model = DLA(out_features=ALL_LEVELS)
    public = {k: torch.randn_like(v.float()).to(v.dtype) for k, v in model.state_dict().items()}
    shapes = {k: tuple(v.shape) for k, v in public.items()}
    # Roots: level2 sees its two blocks (2 x 64); level3's last root its two blocks, the
    # first sub-tree and the downsampled stage input (128 * 3 + 64); level5: 512 * 2 + 256.
    assert shapes["level2.root.conv.weight"] == (64, 128, 1, 1)
    assert shapes["level3.tree1.root.conv.weight"] == (128, 256, 1, 1)
    assert shapes["level3.tree2.root.conv.weight"] == (128, 448, 1, 1)
    assert shapes["level4.tree2.root.conv.weight"] == (256, 896, 1, 1)
    assert shapes["level5.root.conv.weight"] == (512, 1280, 1, 1)
    assert shapes["base_layer.0.weight"] == (16, 3, 7, 7)
    assert shapes["level3.tree1.project.0.weight"] == (128, 64, 1, 1)
    for level, (cin, cout) in {"level3": (64, 128), "level4": (128, 256)}.items():
        public[f"{level}.project.0.weight"] = torch.randn(cout, cin, 1, 1)
        for stat in ("weight", "bias", "running_mean", "running_var"):
            public[f"{level}.project.1.{stat}"] = torch.randn(cout)
    public["fc.weight"], public["fc.bias"] = torch.randn(1000, 512, 1, 1), torch.randn(1000)
    converted = convert_public_dla_weights({"module." + k: v for k, v in public.items()}, prefix="")
    for norm in ("BN", "FrozenBN"):  # BN restores num_batches_tracked, FrozenBN has none
        fresh = DLA(norm=norm, out_features=ALL_LEVELS)
        fresh.load_state_dict(converted, strict=True)
        assert torch.equal(fresh.level5.root.conv.weight, public["level5.root.conv.weight"])
        assert torch.equal(fresh.level4.tree2.root.bn.running_var, public["level4.tree2.root.bn.running_var"])
    prefixed = convert_public_dla_weights(public)
    assert all(k.startswith("backbone.bottom_up.") for k in prefixed) and len(prefixed) == len(converted)


def test_group_norm_trains_with_batch_size_one():
    model = DLA(norm="GN", out_features=LEVELS).train()
    assert isinstance(model.base_layer[1], nn.GroupNorm) and model.base_layer[1].num_groups == 16  # 16 channels
    assert model.level5.root.bn.num_groups == 32
    outputs = model(torch.randn(1, 3, 32, 32))  # level5 is 1x1: BatchNorm could not train here
    assert outputs["level5"].shape == (1, 512, 1, 1)
    sum(o.mean() for o in outputs.values()).backward()
    # every parameter is reached (nothing unused, so DDP needs no find_unused_parameters)
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0, name


@pytest.mark.parametrize("norm, layer", [("FrozenBN", FrozenBatchNorm2d), ("SyncBN", nn.SyncBatchNorm)])
def test_other_norms(norm, layer):
    model = DLA(norm=norm, out_features=["level2"])
    assert isinstance(model.level2.tree1.bn1, layer)


def test_fpn_builder_gives_p2_to_p6():
    cfg = dla_cfg()
    cfg.MODEL.BACKBONE.NAME = "build_dla_fpn_backbone"
    cfg.MODEL.FPN.IN_FEATURES = LEVELS
    cfg.MODEL.FPN.OUT_CHANNELS = 64
    backbone = build_backbone(cfg).eval()
    assert backbone.size_divisibility == 32
    with torch.no_grad():
        outputs = backbone(torch.randn(1, 3, 64, 96))
    assert list(outputs) == ["p2", "p3", "p4", "p5", "p6"]
    for i, name in enumerate(outputs, start=2):
        assert backbone.output_shape()[name] == ShapeSpec(channels=64, stride=2 ** i)
        assert outputs[name].shape[:2] == (1, 64)
    assert outputs["p2"].shape[2:] == (16, 24) and outputs["p6"].shape[2:] == (1, 2)


def test_builders_are_registered_and_read_the_config():
    assert {"build_dla_backbone", "build_dla_fpn_backbone"} <= set(BACKBONE_REGISTRY._obj_map)
    cfg = dla_cfg(**{"MODEL.DLA.NORM": "GN", "MODEL.DLA.OUT_FEATURES": ["level3", "level4"]})
    cfg.MODEL.PIXEL_MEAN, cfg.MODEL.PIXEL_STD = [0.0], [1.0]  # one input channel
    model = build_dla_backbone(cfg, ShapeSpec(channels=1))
    assert model.base_layer[0].in_channels == 1
    assert isinstance(model.level3.tree2.root.bn, nn.GroupNorm)
    assert list(model.output_shape()) == ["level3", "level4"] and not hasattr(model, "level5")


def test_freeze_at():
    cfg = dla_cfg()
    cfg.MODEL.BACKBONE.FREEZE_AT = 3  # base_layer, level0, level1
    model = build_dla_backbone(cfg, ShapeSpec(channels=3))
    for name in STAGE_NAMES:
        stage = getattr(model, name)
        frozen = name in ("base_layer", "level0", "level1")
        assert all(p.requires_grad != frozen for p in stage.parameters()), name
        assert any(isinstance(m, FrozenBatchNorm2d) for m in stage.modules()) == frozen, name
    # the frozen stages really stay fixed in a training step
    before = model.level1[0].weight.clone()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=0.1)
    model(torch.randn(2, 3, 32, 32))["level2"].mean().backward()
    optimizer.step()
    assert torch.equal(model.level1[0].weight, before) and model.level1[0].weight.grad is None
    assert all(p.requires_grad for p in DLA(out_features=["level3"], freeze_at=0).parameters())
    with pytest.raises(ValueError, match="freeze_at"):
        DLA(freeze_at=8)


def test_clear_errors():
    with pytest.raises(ValueError, match=r"DLA-50 is not implemented; supported depths: \[34\]"):
        build_dla_backbone(dla_cfg(**{"MODEL.DLA.DEPTH": 50}), ShapeSpec(channels=3))
    with pytest.raises(KeyError, match="add_dla_config"):
        build_dla_backbone(get_cfg(), ShapeSpec(channels=3))
    with pytest.raises(ValueError, match="out_features"):
        DLA(out_features=["res5"])
    with pytest.raises(ValueError, match="normalization"):
        DLA(norm="")
    with pytest.raises(ValueError, match="divisible by 8; got 64x60"):
        DLA(out_features=["level3"])(torch.randn(1, 3, 64, 60))
    cfg = dla_cfg(**{"MODEL.DLA.OUT_FEATURES": ["level3", "level4", "level5"]})
    cfg.MODEL.FPN.IN_FEATURES = LEVELS
    cfg.MODEL.BACKBONE.NAME = "build_dla_fpn_backbone"
    with pytest.raises(ValueError, match=r"asks for \['level2'\]"):
        build_backbone(cfg)


@pytest.mark.slow
def test_training_step_lowers_loss():
    """A few steps of a tiny classification task on pooled level3 features (the network up
    to level3 holds every kind of stage: conv stages, a depth-1 tree, a depth-2 tree with a
    level root; kept small for CPU) lower the loss."""
    torch.manual_seed(0)
    backbone = DLA(out_features=["level3"])
    head = nn.Linear(128, 2)
    images = torch.randn(4, 3, 16, 16)
    labels = torch.tensor([0, 1, 0, 1])
    optimizer = torch.optim.Adam([*backbone.parameters(), *head.parameters()], lr=1e-3)

    def loss_fn():
        features = backbone(images)["level3"].mean(dim=(2, 3))
        return nn.functional.cross_entropy(head(features), labels)

    losses = []
    for _ in range(10):
        optimizer.zero_grad()
        loss = loss_fn()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert loss_fn().item() < 0.25 * losses[0], losses
