"""CSTrack's REN (Sec. III-B, Eq. 2-4) and SAAN (Sec. III-C), each checked against a plain
numpy transcription of the paper's text on random inputs."""
import math

import numpy as np
import pytest
import torch
from detectron2.config import get_cfg
from torch import nn

from mot_heads import add_mot_config
from mot_heads.modeling.one_shot.ren import RelationEnhancement, TaskDecoupler, reciprocal_relation_maps
from mot_heads.modeling.one_shot.saan import ChannelAttention, ScaleAwareAttention, SpatialAttention

PAPER_CONFIG = "configs/CSTrack/cstrack_DLA34.yaml"


def paper_cfg():
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_file(PAPER_CONFIG)
    return cfg


def numpy_of(tensor):
    return tensor.detach().double().numpy()


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def conv2d(x, weight, bias=None):
    """Zero-padded 'same' convolution of x (C_in, H, W) with weight (C_out, C_in, k, k)."""
    c_out, _, k, _ = weight.shape
    pad = k // 2
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    height, width = x.shape[1:]
    out = np.zeros((c_out, height, width))
    for o in range(c_out):
        for y in range(height):
            for x_ in range(width):
                out[o, y, x_] = (padded[:, y:y + k, x_:x_ + k] * weight[o]).sum()
        if bias is not None:
            out[o] += bias[o]
    return out


# --- REN, Sec. III-B -------------------------------------------------------------------


def relation_map(rows_a, rows_b):
    """w^{ij} = exp(m_a^i . m_b^j) / sum_j' exp(m_a^i . m_b^j') (Eq. 2 with a = b, Eq. 3 with a != b)."""
    channels = len(rows_a)
    w = np.zeros((channels, channels))
    for i in range(channels):
        denominator = sum(math.exp(rows_a[i] @ rows_b[j]) for j in range(channels))
        for j in range(channels):
            w[i, j] = math.exp(rows_a[i] @ rows_b[j]) / denominator
    return w


def test_relation_maps_are_eq_2_to_4():
    gen = torch.Generator().manual_seed(0)
    t1, t2 = torch.randn(2, 1, 5, 7, generator=gen, dtype=torch.float64)  # C = 5 channels, N' = 7
    lambda1, lambda2 = 0.3, 0.8
    maps = reciprocal_relation_maps(t1, t2, torch.tensor(lambda1, dtype=torch.float64),
                                    torch.tensor(lambda2, dtype=torch.float64))
    m1, m2 = numpy_of(t1[0]), numpy_of(t2[0])
    w_t1, w_t2 = relation_map(m1, m1), relation_map(m2, m2)  # Eq. 2, k = 1, 2
    w_s1, w_s2 = relation_map(m1, m2), relation_map(m2, m1)  # Eq. 3, (k, h) = (1, 2), (2, 1)
    expected = {
        "w_t1": w_t1, "w_t2": w_t2, "w_s1": w_s1, "w_s2": w_s2,
        "w1": lambda1 * w_t1 + (1 - lambda1) * w_s1,  # Eq. 4, k = 1
        "w2": lambda2 * w_t2 + (1 - lambda2) * w_s2,  # Eq. 4, k = 2
    }
    for name, w in expected.items():
        np.testing.assert_allclose(numpy_of(getattr(maps, name)[0]), w, rtol=1e-10, err_msg=name)


def test_ren_forward_is_sec_3b():
    """F' = AvgPool(F) on (H', W') = (6, 10) (Sec. IV-A); the relation maps of Eq. 2-4; a 1x1
    convolution of F re-weighted by W_k and added back to F: F_Tk = F + W_k conv1x1(F).

    The paper gives M1, M2 only as "different convolution layers" (ours: the authors'
    3x3 conv + InstanceNorm + LeakyReLU); they are set to the identity here so that the
    rest is the paper's text alone.
    """
    torch.manual_seed(0)
    channels, height, width = 3, 12, 20  # twice the pooled grid: each pooled cell is a 2 x 2 mean
    ren = RelationEnhancement(channels).double()
    ren.m1, ren.m2 = nn.Identity(), nn.Identity()
    with torch.no_grad():
        ren.lambda1.fill_(0.25)
        ren.lambda2.fill_(0.6)
        ren.value.weight.copy_(torch.randn(channels, channels, 1, 1))
        ren.value.bias.copy_(torch.randn(channels))
    features = torch.randn(1, channels, height, width, dtype=torch.float64)
    det, ids = ren(features)

    f = numpy_of(features[0])
    pooled = f.reshape(channels, 6, 2, 10, 2).mean(axis=(2, 4)).reshape(channels, 60)  # F', C x N'
    w_t, w_s = relation_map(pooled, pooled), relation_map(pooled, pooled)  # M1 = M2 = F' here
    weight, bias = numpy_of(ren.value.weight)[:, :, 0, 0], numpy_of(ren.value.bias)
    values = weight @ f.reshape(channels, -1) + bias[:, None]  # 1x1 conv of F, C x N
    for out, lam in ((det, 0.25), (ids, 0.6)):
        w = lam * w_t + (1 - lam) * w_s  # Eq. 4
        expected = f + (w @ values).reshape(channels, height, width)  # residual (Sec. III-B)
        np.testing.assert_allclose(numpy_of(out[0]), expected, rtol=1e-9, atol=1e-12)


def test_ren_constants_of_the_paper():
    """Sec. IV-A: "(H', W') = (6, 10)" and "lambda_1/2 = 0.5" at initialisation."""
    cfg = paper_cfg()
    ren_cfg = cfg.MODEL.ONE_SHOT.REN
    assert ren_cfg.ENABLED and tuple(ren_cfg.POOLED_SIZE) == (6, 10) and ren_cfg.LAMBDA_INIT == 0.5
    ren = RelationEnhancement(4, tuple(ren_cfg.POOLED_SIZE), ren_cfg.LAMBDA_INIT)
    assert ren.pool.output_size == (6, 10)
    assert ren.lambda1.item() == 0.5 and ren.lambda2.item() == 0.5
    assert ren.lambda1.requires_grad and ren.lambda2.requires_grad  # "a trainable parameter"


@pytest.mark.parametrize("size", [(24, 40), (5, 7)])  # larger and smaller than the 6 x 10 pooled grid
def test_ren_keeps_the_shape_of_any_level(size):
    torch.manual_seed(0)
    ren = RelationEnhancement(8)
    features = torch.randn(2, 8, *size)
    for name, w in ren.relation_maps(features)._asdict().items():
        assert w.shape == (2, 8, 8), name
    det, ids = ren(features)
    assert det.shape == features.shape and ids.shape == features.shape
    assert not torch.allclose(det, ids)  # two different task-specific features


def test_gradients_reach_both_lambdas_and_every_parameter():
    torch.manual_seed(0)
    ren = RelationEnhancement(8)
    features = torch.randn(2, 8, 12, 20)
    det, ids = ren(features)
    (det * torch.randn_like(det)).sum().add((ids * torch.randn_like(ids)).sum()).backward()
    assert ren.lambda1.grad.abs() > 0 and ren.lambda2.grad.abs() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in ren.parameters())


def test_task_decoupler_per_level():
    torch.manual_seed(0)
    decoupler = TaskDecoupler({"p3": 8, "p4": 16, "p5": 32})
    levels = {"p3": torch.randn(2, 8, 16, 24), "p4": torch.randn(2, 16, 8, 12), "p5": torch.randn(2, 32, 4, 6)}
    det, ids = decoupler(levels)
    assert list(det) == list(ids) == ["p3", "p4", "p5"]
    for name, x in levels.items():
        assert det[name].shape == x.shape and ids[name].shape == x.shape
        expected_det, expected_ids = decoupler.rens[name](x)
        assert torch.equal(det[name], expected_det) and torch.equal(ids[name], expected_ids)
    with pytest.raises(ValueError, match="p5"):
        decoupler({"p3": levels["p3"], "p4": levels["p4"]})
    p2 = torch.randn(2, 4, 32, 48)  # a level without a REN goes to both branches as it is
    det, ids = decoupler({"p2": p2, **levels})
    assert det["p2"] is p2 and ids["p2"] is p2 and list(det) == ["p2", "p3", "p4", "p5"]


# --- SAAN, Sec. III-C ------------------------------------------------------------------


def spatial_attention(x, weight):
    """SAM: "avg-pooling and max-pooling on channel dimension ... concatenated and processed
    by a 7 x 7 convolutional layer and a Sigmoid layer"."""
    pooled = np.stack([x.mean(axis=0), x.max(axis=0)])
    return sigmoid(conv2d(pooled, weight))[0]


def shared_network(v, attention):
    """CAM's "shared network consisting of a 1D convolutional layer and a fully-connected
    layer", with (ours, the authors' code) LayerNorm and LeakyReLU(0.3) between them."""
    conv_weight = numpy_of(attention.conv.weight)[0, 0]
    kernel = len(conv_weight)
    padded = np.pad(v, kernel // 2)
    mixed = np.array([padded[i:i + kernel] @ conv_weight for i in range(len(v))])
    normed = (mixed - mixed.mean()) / np.sqrt(mixed.var() + 1e-5)
    normed = normed * numpy_of(attention.norm.weight) + numpy_of(attention.norm.bias)
    return numpy_of(attention.fc.weight) @ np.where(normed > 0, normed, 0.3 * normed)


def channel_attention(x, attention):
    """CAM: global avg- and max-pooling, the shared network on each, "fused by element-wise
    addition and normalized by a Sigmoid layer"; one weight per channel (ours: "an attention
    map with only one channel" read as the C x 1 x 1 map of CBAM and the authors' code)."""
    avg, peak = x.mean(axis=(1, 2)), x.max(axis=(1, 2))
    return sigmoid(shared_network(avg, attention) + shared_network(peak, attention))


def test_spatial_attention_is_sec_3c():
    torch.manual_seed(0)
    attention = SpatialAttention().double()
    with torch.no_grad():
        attention.conv.weight.normal_()
    x = torch.randn(1, 4, 5, 6, dtype=torch.float64)
    np.testing.assert_allclose(numpy_of(attention(x)[0, 0]),
                               spatial_attention(numpy_of(x[0]), numpy_of(attention.conv.weight)), rtol=1e-10)


def test_channel_attention_is_sec_3c():
    torch.manual_seed(0)
    attention = ChannelAttention(6).double()
    with torch.no_grad():
        for p in attention.parameters():
            p.normal_()
    x = torch.randn(1, 6, 3, 4, dtype=torch.float64)
    expected = channel_attention(numpy_of(x[0]), attention)
    np.testing.assert_allclose(numpy_of(attention(x)).reshape(-1), expected, rtol=1e-9)


def test_saan_forward_is_sec_3c():
    """Per level a 3x3 conv (ours: ReLU after it, no norm here), a spatial map applied with a
    residual (X + X * A_s); the levels concatenated; a channel map applied likewise; "a 3 x 3
    convolution layer to map features to 512 channels" (embed_dim here). Levels already at
    stride 8, so that no resize enters (the resize order is the next test's)."""
    torch.manual_seed(0)
    saan = ScaleAwareAttention({"p3": 2, "p4": 3, "p5": 2}, embed_dim=4, mid_channels=3, norm="").double()
    with torch.no_grad():
        for p in saan.parameters():
            p.normal_(std=0.5)
    levels = {name: torch.randn(1, c, 4, 5, dtype=torch.float64) for name, c in (("p3", 2), ("p4", 3), ("p5", 2))}
    out = saan(levels)

    aligned = []
    for name, x in levels.items():
        conv = saan.level_convs[name]
        encoded = np.maximum(conv2d(numpy_of(x[0]), numpy_of(conv.weight), numpy_of(conv.bias)), 0)
        a_s = spatial_attention(encoded, numpy_of(saan.spatial[name].conv.weight))
        aligned.append(encoded + encoded * a_s)
    fused = np.concatenate(aligned)
    a_c = channel_attention(fused, saan.channel)
    fused = fused + fused * a_c[:, None, None]
    expected = conv2d(fused, numpy_of(saan.embed.weight), numpy_of(saan.embed.bias))
    np.testing.assert_allclose(numpy_of(out[0]), expected, rtol=1e-8, atol=1e-10)


def test_saan_upsamples_to_stride_8_before_the_3x3_conv():
    """Sec. III-C: "the features from the scale of 1/16 and 1/32 ... are upsampled to 1/8
    firstly. Then, a 3 x 3 convolutional layers are followed to encode the upsampled feature
    maps": every level's 3x3 conv sees the stride-8 grid (the stride-8 level has one too, as
    in Fig. 4)."""
    saan = ScaleAwareAttention({"p3": 8, "p4": 12, "p5": 16}, embed_dim=32, mid_channels=16)
    seen = {}
    for name, conv in saan.level_convs.items():
        conv.register_forward_hook(lambda module, inputs, output, name=name: seen.update({name: inputs[0].shape[-2:]}))
    saan(make_levels([(19, 34), (10, 17), (5, 9)]))
    assert seen == {name: (19, 34) for name in ("p3", "p4", "p5")}, f"3x3 conv input sizes {seen}"


def test_saan_embedding_is_512_d_in_the_paper_config():
    """Sec. III-C: "a 3 x 3 convolution layer to map features to 512 channels"."""
    cfg = paper_cfg()
    assert cfg.MODEL.ONE_SHOT.SAAN.ENABLED and cfg.MODEL.ONE_SHOT.EMBED_DIM == 512
    saan = ScaleAwareAttention({"p3": 64, "p4": 128, "p5": 256}, cfg.MODEL.ONE_SHOT.EMBED_DIM)
    assert saan.embed.out_channels == 512 and saan.embed.kernel_size == (3, 3)
    assert saan(make_levels([(19, 34), (10, 17), (5, 9)], (64, 128, 256), batch=1)).shape == (1, 512, 19, 34)


def make_levels(sizes, channels=(8, 12, 16), batch=2, requires_grad=False):
    gen = torch.Generator().manual_seed(0)
    return {name: torch.randn(batch, c, *size, generator=gen).requires_grad_(requires_grad)
            for name, c, size in zip(["p3", "p4", "p5"], channels, sizes)}


@pytest.mark.parametrize("sizes", [
    [(32, 48), (16, 24), (8, 12)],
    [(19, 34), (10, 17), (5, 9)],  # odd: 152 x 272 input, strides rounding up
])
def test_saan_output_at_stride_8(sizes):
    torch.manual_seed(0)
    saan = ScaleAwareAttention({"p3": 8, "p4": 12, "p5": 16}, embed_dim=32, mid_channels=16)
    assert saan(make_levels(sizes)).shape == (2, 32, *sizes[0])


def test_saan_attention_maps():
    torch.manual_seed(0)
    saan = ScaleAwareAttention({"p3": 8, "p4": 12, "p5": 16}, embed_dim=32, mid_channels=16)
    spatial, channel = saan.attention_maps(make_levels([(19, 34), (10, 17), (5, 9)]))
    assert list(spatial) == ["p3", "p4", "p5"]
    for name, a in spatial.items():
        assert a.shape == (2, 1, 19, 34), name  # one map per resolution ("learned individually")
    assert channel.shape == (2, 48, 1, 1)


def test_saan_gradients_reach_every_level_and_parameter():
    torch.manual_seed(0)
    saan = ScaleAwareAttention({"p3": 8, "p4": 12, "p5": 16}, embed_dim=32, mid_channels=16)
    levels = make_levels([(19, 34), (10, 17), (5, 9)], requires_grad=True)
    out = saan(levels)
    (out * torch.randn_like(out)).sum().backward()
    for name, x in levels.items():
        assert x.grad is not None and x.grad.abs().sum() > 0, name
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in saan.parameters())


def test_saan_rejects_missing_or_misordered_levels():
    saan = ScaleAwareAttention({"p3": 8, "p4": 12, "p5": 16}, embed_dim=32, mid_channels=16)
    levels = make_levels([(16, 24), (8, 12), (4, 6)])
    with pytest.raises(ValueError, match="p4"):
        saan({"p3": levels["p3"], "p5": levels["p5"]})
    with pytest.raises(ValueError, match="stride-8 level first"):
        saan({"p3": levels["p3"][:, :, :4, :6], "p4": levels["p4"], "p5": levels["p5"]})
