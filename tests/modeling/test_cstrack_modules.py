"""CSTrack's REN (Eq. 2-4 by hand, maps, residual, lambda) and SAAN (shapes, attention maps by hand)."""
import pytest
import torch

from mot_heads.modeling.one_shot.ren import RelationEnhancement, TaskDecoupler, reciprocal_relation_maps
from mot_heads.modeling.one_shot.saan import ChannelAttention, ScaleAwareAttention, SpatialAttention


def close(maps, rows):
    """The first map of a batch against hand-computed rows, to 4 decimals."""
    return torch.allclose(maps[0], torch.tensor(rows), atol=1e-4)


def test_relation_maps_by_hand():
    t1 = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])  # C = 2 channels, N' = 2 cells
    t2 = torch.tensor([[[2.0, 0.0], [1.0, 1.0]]])
    maps = reciprocal_relation_maps(t1, t2, torch.tensor(0.25), torch.tensor(0.75))
    # softmax([1, 0]) = [0.7311, 0.2689], softmax([0, 2]) = [0.1192, 0.8808], softmax([0, 4]) = [0.0180, 0.9820]
    # Eq. 2: T1 T1^T = [[1, 0], [0, 4]], T2 T2^T = [[4, 2], [2, 2]]
    assert close(maps.w_t1, [[0.7311, 0.2689], [0.0180, 0.9820]])
    assert close(maps.w_t2, [[0.8808, 0.1192], [0.5, 0.5]])
    # Eq. 3: T1 T2^T = [[2, 1], [0, 2]], T2 T1^T = [[2, 0], [1, 2]]
    assert close(maps.w_s1, [[0.7311, 0.2689], [0.1192, 0.8808]])
    assert close(maps.w_s2, [[0.8808, 0.1192], [0.2689, 0.7311]])
    # Eq. 4: W1 = 0.25 W_T1 + 0.75 W_S1, W2 = 0.75 W_T2 + 0.25 W_S2
    # row 2 of W1: 0.25 * [0.0180, 0.9820] + 0.75 * [0.1192, 0.8808] = [0.0939, 0.9061]
    # row 2 of W2: 0.75 * [0.5, 0.5] + 0.25 * [0.2689, 0.7311] = [0.4422, 0.5578]
    assert close(maps.w1, [[0.7311, 0.2689], [0.0939, 0.9061]])
    assert close(maps.w2, [[0.8808, 0.1192], [0.4422, 0.5578]])


@pytest.mark.parametrize("size", [(24, 40), (5, 7)])  # larger and smaller than the 6 x 10 pooled grid
def test_ren_maps_are_row_stochastic_and_outputs_keep_shape(size):
    torch.manual_seed(0)
    ren = RelationEnhancement(8)
    features = torch.randn(2, 8, *size)
    maps = ren.relation_maps(features)
    for name, w in maps._asdict().items():
        assert w.shape == (2, 8, 8), name
        assert (w >= 0).all(), name
        assert torch.allclose(w.sum(dim=-1), torch.ones(2, 8), atol=1e-6), name
    det, ids = ren(features)
    assert det.shape == features.shape and ids.shape == features.shape
    assert not torch.allclose(det, ids)  # two different task-specific features


def test_ren_residual_at_initialisation():
    """The 1x1 projection starts as the identity: F_Ti = F + W_i F, as the authors' code."""
    torch.manual_seed(0)
    ren = RelationEnhancement(4)
    features = torch.randn(2, 4, 6, 9)
    maps = ren.relation_maps(features)
    det, ids = ren(features)
    flat = features.flatten(2)
    assert torch.allclose(det, features + (maps.w1 @ flat).view_as(features), atol=1e-6)
    assert torch.allclose(ids, features + (maps.w2 @ flat).view_as(features), atol=1e-6)


def test_lambda_init_and_its_extremes():
    ren = RelationEnhancement(6, lambda_init=0.5)
    assert ren.lambda1.item() == 0.5 and ren.lambda2.item() == 0.5
    features = torch.randn(1, 6, 12, 20)
    with torch.no_grad():
        ren.lambda1.fill_(1.0)
        ren.lambda2.fill_(1.0)
        maps = ren.relation_maps(features)
        assert torch.equal(maps.w1, maps.w_t1) and torch.equal(maps.w2, maps.w_t2)  # self-relation alone
        ren.lambda1.fill_(0.0)
        ren.lambda2.fill_(0.0)
        maps = ren.relation_maps(features)
        assert torch.equal(maps.w1, maps.w_s1) and torch.equal(maps.w2, maps.w_s2)  # cross-relation alone


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


def test_spatial_attention_by_hand():
    attention = SpatialAttention()
    with torch.no_grad():
        attention.conv.weight.zero_()
        attention.conv.weight[0, 0, 3, 3] = 1.0  # + the channel mean
        attention.conv.weight[0, 1, 3, 3] = -0.5  # - half the channel max
    x = torch.tensor([[[[1.0, 4.0]], [[3.0, 0.0]]]])  # 2 channels, 1 x 2 locations
    # location 0: mean 2, max 3: sigmoid(2 - 1.5) = 0.6225; location 1: mean 2, max 4: sigmoid(0) = 0.5
    a = attention(x)
    assert a.shape == (1, 1, 1, 2)
    assert a[0, 0, 0].tolist() == pytest.approx([0.6225, 0.5], abs=1e-4)


def test_channel_attention_by_hand():
    attention = ChannelAttention(3)
    with torch.no_grad():
        attention.conv.weight.copy_(torch.tensor([[[0.0, 1.0, 0.5]]]))  # v_i + 0.5 v_{i+1}, zero padded
        attention.fc.weight.copy_(torch.eye(3))
    x = torch.tensor([[[[1.0, 3.0]], [[2.0, 2.0]], [[0.0, 8.0]]]])  # 3 channels, 1 x 2 locations
    # average [2, 2, 4] -> conv [3, 4, 4] -> LayerNorm (mean 11/3, var 2/9) [-1.4142, 0.7071, 0.7071]
    #   -> LeakyReLU(0.3) [-0.4243, 0.7071, 0.7071]
    # maximum [3, 2, 8] -> conv [4, 6, 8] -> LayerNorm (mean 6, var 8/3) [-1.2247, 0, 1.2247]
    #   -> LeakyReLU(0.3) [-0.3674, 0, 1.2247]
    # sigmoid of the sum [-0.7917, 0.7071, 1.9318] = [0.3118, 0.6698, 0.8735]
    a = attention(x)
    assert a.shape == (1, 3, 1, 1)
    assert a.flatten().tolist() == pytest.approx([0.3118, 0.6698, 0.8735], abs=1e-4)


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
    out = saan(make_levels(sizes))
    assert out.shape == (2, 32, *sizes[0])


def test_saan_paper_dimensions():
    saan = ScaleAwareAttention({"p3": 64, "p4": 128, "p5": 256})  # 512-d embedding, 256 channels a level
    assert saan(make_levels([(19, 34), (10, 17), (5, 9)], (64, 128, 256), batch=2)).shape == (2, 512, 19, 34)


def test_saan_attention_maps():
    torch.manual_seed(0)
    saan = ScaleAwareAttention({"p3": 8, "p4": 12, "p5": 16}, embed_dim=32, mid_channels=16)
    spatial, channel = saan.attention_maps(make_levels([(19, 34), (10, 17), (5, 9)]))
    assert list(spatial) == ["p3", "p4", "p5"]
    for name, a in spatial.items():
        assert a.shape == (2, 1, 19, 34), name
        assert ((a > 0) & (a < 1)).all(), name
    assert channel.shape == (2, 48, 1, 1)
    assert ((channel > 0) & (channel < 1)).all()


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
